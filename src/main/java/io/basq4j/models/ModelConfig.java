package io.basq4j.models;

import io.basq4j.nn.quant.QuantBits;
import io.basq4j.tensor.Device;
import java.util.Arrays;

/**
 * How to build a supernet. Defaults: width 1.0, divisor 8, input 224 x 224 with 3 channels,
 * 1000 classes, 2 bits, L = 7 clip branches with the l2 decays of SPEC 5, dropout 0.2, seed 0, CPU.
 *
 * <p>{@code l2} holds one weight decay per branch (the searched hyper-parameter); the model itself
 * does not use it, the trainer reads it to build the optimizer groups. When {@code branches} is
 * not 7 and no list is given, the first {@code branches} entries of the default list are used
 * (more than 7 branches need an explicit list).
 */
public record ModelConfig(double widthMultiplier, int divisor, int resolution, int inChannels, int classes,
        int bits, int branches, double[] l2, float dropout, long seed, Device device) {

    /** SPEC 5: the l2 decay of each branch's upper bound. */
    public static final double[] DEFAULT_L2 = {1e-2, 5e-3, 1e-3, 5e-4, 1e-4, 5e-5, 1e-5};

    public ModelConfig {
        if (!(widthMultiplier > 0) || Double.isInfinite(widthMultiplier)) {
            throw new IllegalArgumentException("width multiplier " + widthMultiplier + " must be positive");
        }
        if (divisor < 1) {
            throw new IllegalArgumentException("width divisor " + divisor + " must be at least 1");
        }
        if (resolution < 1) {
            throw new IllegalArgumentException("resolution " + resolution + " must be at least 1");
        }
        if (inChannels < 1) {
            throw new IllegalArgumentException("input channels " + inChannels + " must be at least 1");
        }
        if (classes < 1) {
            throw new IllegalArgumentException("classes " + classes + " must be at least 1");
        }
        QuantBits.check(bits);
        if (branches < 1) {
            throw new IllegalArgumentException("branches " + branches + " must be at least 1");
        }
        if (l2 == null) {
            if (branches > DEFAULT_L2.length) {
                throw new IllegalArgumentException(branches + " branches need an explicit list of " + branches
                        + " l2 values (the default list has " + DEFAULT_L2.length + ")");
            }
            l2 = Arrays.copyOf(DEFAULT_L2, branches);
        } else {
            if (l2.length != branches) {
                throw new IllegalArgumentException(l2.length + " l2 values for " + branches + " branches");
            }
            l2 = l2.clone();
        }
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new IllegalArgumentException("dropout " + dropout + " outside [0, 1)");
        }
        if (device == null) {
            device = Device.CPU;
        }
    }

    /** The defaults (ImageNet-sized MobileNet-v2 input, 2 bits, 7 branches). */
    public static ModelConfig defaults() {
        return new ModelConfig(1.0, 8, 224, 3, 1000, 2, 7, null, 0.2f, 0L, Device.CPU);
    }

    @Override
    public double[] l2() {
        return l2.clone();
    }

    public ModelConfig withWidth(double w) {
        return new ModelConfig(w, divisor, resolution, inChannels, classes, bits, branches, l2, dropout, seed, device);
    }

    public ModelConfig withDivisor(int d) {
        return new ModelConfig(widthMultiplier, d, resolution, inChannels, classes, bits, branches, l2, dropout, seed,
                device);
    }

    public ModelConfig withResolution(int r) {
        return new ModelConfig(widthMultiplier, divisor, r, inChannels, classes, bits, branches, l2, dropout, seed,
                device);
    }

    public ModelConfig withInChannels(int c) {
        return new ModelConfig(widthMultiplier, divisor, resolution, c, classes, bits, branches, l2, dropout, seed,
                device);
    }

    public ModelConfig withClasses(int k) {
        return new ModelConfig(widthMultiplier, divisor, resolution, inChannels, k, bits, branches, l2, dropout, seed,
                device);
    }

    public ModelConfig withBits(int b) {
        return new ModelConfig(widthMultiplier, divisor, resolution, inChannels, classes, b, branches, l2, dropout,
                seed, device);
    }

    /** Sets the number of branches; the l2 list is reset to the default's first entries. */
    public ModelConfig withBranches(int l) {
        return new ModelConfig(widthMultiplier, divisor, resolution, inChannels, classes, bits, l, null, dropout, seed,
                device);
    }

    /** Sets the l2 list and the number of branches to its length. */
    public ModelConfig withL2(double... values) {
        return new ModelConfig(widthMultiplier, divisor, resolution, inChannels, classes, bits, values.length, values,
                dropout, seed, device);
    }

    public ModelConfig withDropout(float p) {
        return new ModelConfig(widthMultiplier, divisor, resolution, inChannels, classes, bits, branches, l2, p, seed,
                device);
    }

    public ModelConfig withSeed(long s) {
        return new ModelConfig(widthMultiplier, divisor, resolution, inChannels, classes, bits, branches, l2, dropout,
                s, device);
    }

    public ModelConfig withDevice(Device d) {
        return new ModelConfig(widthMultiplier, divisor, resolution, inChannels, classes, bits, branches, l2, dropout,
                seed, d);
    }

    /**
     * The reference's {@code _make_divisible}: {@code v} rounded to the nearest multiple of the
     * divisor, at least the divisor, and never more than 10% below {@code v}.
     */
    public static int makeDivisible(double v, int divisor) {
        int nv = Math.max(divisor, (int) (v + divisor / 2.0) / divisor * divisor);
        if (nv < 0.9 * v) {
            nv += divisor;
        }
        return nv;
    }

    /** {@code c * widthMultiplier} made divisible by the divisor. */
    public int scaled(int c) {
        return makeDivisible(c * widthMultiplier, divisor);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelConfig m && m.widthMultiplier == widthMultiplier && m.divisor == divisor
                && m.resolution == resolution && m.inChannels == inChannels && m.classes == classes && m.bits == bits
                && m.branches == branches && Arrays.equals(m.l2, l2) && m.dropout == dropout && m.seed == seed
                && m.device == device;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(new Object[] {widthMultiplier, divisor, resolution, inChannels, classes, bits, branches,
            Arrays.hashCode(l2), dropout, seed, device});
    }

    @Override
    public String toString() {
        return "ModelConfig[width=" + widthMultiplier + ", divisor=" + divisor + ", resolution=" + resolution
                + ", inChannels=" + inChannels + ", classes=" + classes + ", bits=" + bits + ", branches=" + branches
                + ", l2=" + Arrays.toString(l2) + ", dropout=" + dropout + ", seed=" + seed + ", device=" + device
                + "]";
    }
}
