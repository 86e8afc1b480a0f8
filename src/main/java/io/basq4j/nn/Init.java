package io.basq4j.nn;

import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import java.util.SplittableRandom;

/**
 * Where and how layers create their parameters: the device and a seeded random stream, so that a
 * model built twice from the same seed has identical weights. Tensors are created with no scope
 * open semantics: callers hand them straight to {@link Module} registration, which owns them.
 */
public final class Init {
    private final Device device;
    private final SplittableRandom rng;

    public Init(Device device, long seed) {
        this.device = device;
        this.rng = new SplittableRandom(seed);
    }

    /** CPU tensors from the given seed. */
    public static Init cpu(long seed) {
        return new Init(Device.CPU, seed);
    }

    public Device device() {
        return device;
    }

    /** Values drawn uniformly from [-bound, bound]. */
    public Tensor uniform(double bound, int... dims) {
        long n = 1;
        for (int d : dims) {
            n *= d;
        }
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        }
        return Tensor.of(device, a, dims).detach();
    }

    /**
     * PyTorch's default for convolution and linear weights (kaiming uniform with a = sqrt(5)):
     * uniform in +-1/sqrt(fanIn); also its default for a linear bias.
     */
    public Tensor fanIn(int fanIn, int... dims) {
        return uniform(1.0 / Math.sqrt(fanIn), dims);
    }

    public Tensor full(float value, int... dims) {
        return Tensor.full(device, value, dims).detach();
    }

    public Tensor zeros(int... dims) {
        return full(0f, dims);
    }

    public Tensor ones(int... dims) {
        return full(1f, dims);
    }
}
