package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/** elementwise.h: ReLU, add/axpy/scale/fill/copy, sum of squares, dropout. */
class ElementwiseKernelsTest {
    /** Sizes: tiny, odd, and above the OpenMP threshold. */
    private static final int[] SIZES = {1, 7, 1000, 200_003};

    @Test
    void reluForwardAndBackward() {
        Random rnd = new Random(11);
        for (int n : SIZES) {
            float[] x = randn(rnd, n);
            if (n > 3) x[3] = 0f;  // the boundary: relu(0) = 0 and no gradient passes
            float[] dy = randn(rnd, n);
            FloatPointer y = out(n), dx = out(n);
            ok(CpuKernels.basq_relu_fwd(ptr(x), y, n), "relu_fwd");
            float[] yr = new float[n], dxr = new float[n];
            for (int i = 0; i < n; i++) {
                yr[i] = x[i] > 0 ? x[i] : 0f;
                dxr[i] = x[i] > 0 ? dy[i] : 0f;
            }
            assertExact("relu y n=" + n, yr, get(y, n));
            ok(CpuKernels.basq_relu_bwd(y, ptr(dy), dx, n), "relu_bwd");
            assertExact("relu dx (from y) n=" + n, dxr, get(dx, n));
            ok(CpuKernels.basq_relu_bwd(ptr(x), ptr(dy), dx, n), "relu_bwd");
            assertExact("relu dx (from x) n=" + n, dxr, get(dx, n));
            if (n > 1) assertNonTrivial("relu dx", dxr);
        }
    }

    @Test
    void addAxpyScaleFillCopy() {
        Random rnd = new Random(12);
        for (int n : SIZES) {
            float[] a = randn(rnd, n), b = randn(rnd, n);
            FloatPointer y = out(n);
            ok(CpuKernels.basq_add(ptr(a), ptr(b), y, n), "add");
            float[] sum = new float[n];
            for (int i = 0; i < n; i++) sum[i] = a[i] + b[i];
            assertExact("add n=" + n, sum, get(y, n));

            float alpha = -0.37f;
            FloatPointer yy = ptr(b);
            ok(CpuKernels.basq_axpy(alpha, ptr(a), yy, n), "axpy");
            double[] axpy = new double[n];
            for (int i = 0; i < n; i++) axpy[i] = b[i] + (double) alpha * a[i];
            assertClose("axpy n=" + n, axpy, get(yy, n), 1e-6);

            FloatPointer xs = ptr(a);
            ok(CpuKernels.basq_scale(xs, 2.5f, n), "scale");
            float[] sc = new float[n];
            for (int i = 0; i < n; i++) sc[i] = a[i] * 2.5f;
            assertExact("scale n=" + n, sc, get(xs, n));

            FloatPointer f = out(n);
            ok(CpuKernels.basq_fill(f, 4.25f, n), "fill");
            float[] four = new float[n];
            Arrays.fill(four, 4.25f);
            assertExact("fill n=" + n, four, get(f, n));

            FloatPointer c = out(n);
            ok(CpuKernels.basq_copy(ptr(a), c, n), "copy");
            assertExact("copy n=" + n, a, get(c, n));
        }
        // n = 0 is a valid no-op
        ok(CpuKernels.basq_fill(out(1), 1f, 0), "fill n=0");
    }

    @Test
    void sumSquaresInDoubleAndReproducible() {
        Random rnd = new Random(13);
        for (int n : new int[] {1, 5, 1000, 1_000_003}) {
            float[] x = randn(rnd, n, 3.0, 0.5);
            double ref = 0;
            for (float v : x) ref += (double) v * v;
            FloatPointer o = out(1);
            ok(CpuKernels.basq_sum_squares(ptr(x), n, o), "sum_squares");
            float got = o.get();
            // relative to the value itself: the accumulation is in double
            assertEquals(ref, got, 2e-7 * ref, "sum_squares n=" + n);
        }
        // the same bits whatever the thread count
        float[] x = randn(rnd, 300_001);
        FloatPointer px = ptr(x);
        int threads = CpuKernels.basq_num_threads();
        try {
            FloatPointer o1 = out(1), o2 = out(1);
            CpuKernels.basq_set_num_threads(1);
            ok(CpuKernels.basq_sum_squares(px, x.length, o1), "sum_squares 1 thread");
            CpuKernels.basq_set_num_threads(Math.max(2, threads));
            ok(CpuKernels.basq_sum_squares(px, x.length, o2), "sum_squares n threads");
            assertEquals(Float.floatToIntBits(o1.get()), Float.floatToIntBits(o2.get()), "reproducible sum");
        } finally {
            CpuKernels.basq_set_num_threads(threads);
        }
        ok(CpuKernels.basq_sum_squares(ptr(new float[0]), 0, out(1)), "sum_squares n=0");
    }

    @Test
    void dropoutMaskScaleAndReproducibility() {
        Random rnd = new Random(14);
        int n = 200_003;
        float p = 0.3f;
        float[] x = randn(rnd, n);
        FloatPointer px = ptr(x), y = out(n);
        BytePointer mask = new BytePointer(n);
        ok(CpuKernels.basq_dropout_fwd(px, y, mask, n, p, 1234L, 0L), "dropout_fwd");
        byte[] m = get(mask, n);
        float[] yv = get(y, n);
        float scale = (float) (1.0 / (1.0 - p));
        int kept = 0;
        for (int i = 0; i < n; i++) {
            assertTrue(m[i] == 0 || m[i] == 1, "mask is 0/1");
            kept += m[i];
            float expect = x[i] * (float) m[i] * scale;
            if (expect != yv[i]) assertEquals(expect, yv[i], 0f, "dropout y at " + i);
        }
        // keep fraction 0.7 within 5 standard deviations
        double sd = Math.sqrt(n * p * (1 - p));
        assertEquals(n * (1 - p), kept, 5 * sd, "kept count");
        // masks of neighbours are not trivially correlated: runs of equal decisions look random
        int changes = 0;
        for (int i = 1; i < n; i++) if (m[i] != m[i - 1]) changes++;
        assertEquals(2.0 * n * p * (1 - p), changes, 5 * Math.sqrt(n), "mask transitions");

        // stateless: the same seed gives the same mask, split calls with offsets give the same stream
        BytePointer mask2 = new BytePointer(n);
        ok(CpuKernels.basq_dropout_fwd(px, out(n), mask2, n, p, 1234L, 0L), "dropout again");
        assertArrayEquals(m, get(mask2, n), "same seed, same mask");
        int split = 77_777;
        BytePointer a = new BytePointer(split), b = new BytePointer(n - split);
        ok(CpuKernels.basq_dropout_fwd(px, out(split), a, split, p, 1234L, 0L), "dropout head");
        ok(CpuKernels.basq_dropout_fwd(ptr(Arrays.copyOfRange(x, split, n)), out(n - split), b, n - split, p, 1234L,
                split), "dropout tail");
        byte[] joined = new byte[n];
        System.arraycopy(get(a, split), 0, joined, 0, split);
        System.arraycopy(get(b, n - split), 0, joined, split, n - split);
        assertArrayEquals(m, joined, "offset continues the stream");
        BytePointer other = new BytePointer(n);
        ok(CpuKernels.basq_dropout_fwd(px, out(n), other, n, p, 1235L, 0L), "dropout other seed");
        assertFalse(Arrays.equals(m, get(other, n)), "another seed, another mask");

        // backward: dy * mask * scale
        float[] dy = randn(rnd, n);
        FloatPointer dx = out(n);
        ok(CpuKernels.basq_dropout_bwd(ptr(dy), mask, dx, n, p), "dropout_bwd");
        float[] dxr = new float[n];
        for (int i = 0; i < n; i++) dxr[i] = dy[i] * (float) m[i] * scale;
        assertExact("dropout dx", dxr, get(dx, n));
    }

    @Test
    void dropoutEdgeProbabilities() {
        Random rnd = new Random(15);
        int n = 1001;
        float[] x = randn(rnd, n);
        FloatPointer y = out(n);
        BytePointer mask = new BytePointer(n);
        ok(CpuKernels.basq_dropout_fwd(ptr(x), y, mask, n, 0f, 9L, 0L), "dropout p=0");
        assertExact("p=0 is the identity", x, get(y, n));
        for (byte b : get(mask, n)) assertEquals(1, b);
        ok(CpuKernels.basq_dropout_fwd(ptr(x), y, mask, n, 1f, 9L, 0L), "dropout p=1");
        assertExact("p=1 drops all", new float[n], get(y, n));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_dropout_fwd(ptr(x), y, mask, n, 1.5f, 9L, 0L));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_dropout_fwd(ptr(x), y, mask, n, -0.1f, 9L, 0L));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_dropout_fwd(ptr(x), y, mask, n, Float.NaN, 9L, 0L));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_dropout_bwd(ptr(x), mask, y, n, 2f));
    }

    @Test
    void negativeSizesAreRejected() {
        FloatPointer a = out(4), b = out(4), c = out(4);
        BytePointer m = new BytePointer(4);
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_relu_fwd(a, b, -1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_relu_bwd(a, b, c, -1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_add(a, b, c, -1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_axpy(1f, a, b, -1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_scale(a, 1f, -1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_fill(a, 1f, -1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_copy(a, b, -1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_sum_squares(a, -1, b));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_dropout_fwd(a, b, m, -1, 0.5f, 1L, 0L));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_dropout_bwd(a, m, b, -1, 0.5f));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_relu_fwd(null, b, 4));
    }
}
