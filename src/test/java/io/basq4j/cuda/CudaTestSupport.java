package io.basq4j.cuda;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.basq4j.tensor.Backend;
import io.basq4j.tensor.Backends;
import io.basq4j.tensor.CudaBackend;
import io.basq4j.tensor.CudaMath;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Shape;
import io.basq4j.tensor.Tensor;
import java.util.Random;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;

/**
 * Helpers of the CUDA tests: the backend (or a skip with the one-line reason), tensor pairs
 * holding the same data on the CPU and on the GPU, and comparisons that name the worst element.
 */
final class CudaTestSupport {
    private CudaTestSupport() {
    }

    /**
     * The CUDA backend with TF32 off and direct-sum convolutions (float32 parity with the CPU), or
     * the test is skipped with the reason.
     */
    static CudaBackend cuda() {
        assumeTrue(Backends.cudaAvailable(), () -> "CUDA not usable here: " + Backends.cudaProblem());
        CudaBackend b = (CudaBackend) Backends.cuda();
        CudaMath.setTf32(CudaMath.Tf32.OFF);
        CudaMath.setAlgorithms(CudaMath.Algorithms.DIRECT_SUM);
        return b;
    }

    static Backend cpu() {
        return Backends.cpu();
    }

    /** The same tensor on both devices. */
    record Pair(Tensor c, Tensor g) {
        float[] cpuData() {
            return c.toFloatArray();
        }

        float[] gpuData() {
            return g.toFloatArray();
        }
    }

    static Pair pair(float[] data, int... dims) {
        Tensor c = Tensor.of(Device.CPU, data, dims);
        return new Pair(c, c.to(Device.CUDA));
    }

    static Pair longs(long[] data, int... dims) {
        Tensor c = Tensor.ofLongs(Device.CPU, data, dims);
        return new Pair(c, c.to(Device.CUDA));
    }

    /** Outputs: NaN-filled float tensors (an unwritten element shows). */
    static Pair out(int... dims) {
        Tensor c = Tensor.empty(Device.CPU, dims).fill(Float.NaN);
        Tensor g = Tensor.empty(Device.CUDA, dims).fill(Float.NaN);
        return new Pair(c, g);
    }

    static Pair empty(DType t, int... dims) {
        return new Pair(Tensor.empty(Shape.of(dims), t, Device.CPU), Tensor.empty(Shape.of(dims), t, Device.CUDA));
    }

    static Pair scalar(float v) {
        return pair(new float[] {v}, 1);
    }

    static byte[] bytes(Tensor t) {
        byte[] a = new byte[Math.toIntExact(t.numel())];
        try (BytePointer p = new BytePointer(a.length)) {
            t.backend().toHost(t, p, a.length);
            p.get(a);
        }
        return a;
    }

    static int[] ints(Tensor t) {
        int[] a = new int[Math.toIntExact(t.numel())];
        try (IntPointer p = new IntPointer(a.length)) {
            t.backend().toHost(t, p, (long) a.length * 4);
            p.get(a);
        }
        return a;
    }

    static float[] randn(Random r, int n, double scale, double shift) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale + shift);
        }
        return a;
    }

    static float[] randn(Random r, int n) {
        return randn(r, n, 1, 0);
    }

    static float[] uniform(Random r, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return a;
    }

    static int numel(int... dims) {
        long n = 1;
        for (int d : dims) {
            n *= d;
        }
        return Math.toIntExact(n);
    }

    /** |e - a| <= rtol * max(1, max|e|) for every element; no NaN in a. */
    static void assertClose(String what, float[] e, float[] a, double rtol) {
        if (e.length != a.length) {
            fail(what + ": length " + a.length + ", expected " + e.length);
        }
        double scale = 1;
        for (float v : e) {
            scale = Math.max(scale, Math.abs(v));
        }
        int worst = -1;
        double worstErr = -1;
        for (int i = 0; i < e.length; i++) {
            double err = Math.abs((double) e[i] - a[i]);
            if (Float.isNaN(a[i]) != Float.isNaN(e[i])) {
                err = Double.POSITIVE_INFINITY;
            } else if (Float.isNaN(a[i])) {
                err = 0;
            }
            if (err > worstErr) {
                worstErr = err;
                worst = i;
            }
        }
        if (worstErr > rtol * scale) {
            fail(String.format("%s: element %d is %s, expected %s (|diff| %.3g > tol %.3g)", what, worst, a[worst],
                    e[worst], worstErr, rtol * scale));
        }
    }

    /** |e - a| <= rtol * max(|e|, tiny) relative to the tensor's own largest value (small gradients). */
    static void assertCloseScaled(String what, float[] e, float[] a, double rtol) {
        double scale = 0;
        for (float v : e) {
            scale = Math.max(scale, Math.abs(v));
        }
        if (scale == 0) {
            scale = 1;
        }
        float[] es = new float[e.length];
        float[] as = new float[a.length];
        for (int i = 0; i < e.length; i++) {
            es[i] = (float) (e[i] / scale);
        }
        for (int i = 0; i < a.length; i++) {
            as[i] = (float) (a[i] / scale);
        }
        assertClose(what + " (relative to max " + (float) scale + ")", es, as, rtol);
    }

    /** Bitwise-equal floats (-0 == 0; NaN == NaN). */
    static void assertExact(String what, float[] e, float[] a) {
        if (e.length != a.length) {
            fail(what + ": length " + a.length + ", expected " + e.length);
        }
        for (int i = 0; i < e.length; i++) {
            if (!(e[i] == a[i]) && !(Float.isNaN(e[i]) && Float.isNaN(a[i]))) {
                fail(what + ": element " + i + " is " + a[i] + ", expected " + e[i]);
            }
        }
    }

    /**
     * As assertClose, but up to maxFlips elements may differ by at most one quantization level
     * (maxStep): a value within an ulp of a rounding tie may round either way when a scale was
     * computed in another order or with a fused multiply-add.
     */
    static void assertCloseLevels(String what, float[] e, float[] a, double rtol, double maxStep, int maxFlips) {
        double scale = 1;
        for (float v : e) {
            scale = Math.max(scale, Math.abs(v));
        }
        int flips = 0;
        for (int i = 0; i < e.length; i++) {
            double err = Math.abs((double) e[i] - a[i]);
            if (err <= rtol * scale) {
                continue;
            }
            if (err <= maxStep * (1 + 1e-4) + rtol * scale && ++flips <= maxFlips) {
                continue;
            }
            fail(String.format("%s: element %d is %s, expected %s (%d level flips so far, %d allowed)", what, i,
                    a[i], e[i], flips, maxFlips));
        }
    }
}
