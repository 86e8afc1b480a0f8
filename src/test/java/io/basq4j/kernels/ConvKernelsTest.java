package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * conv.h: conv2d forward, bwd_data and bwd_filter on every path (depthwise, pointwise, im2col;
 * small and large depthwise planes; chunked and single-image GEMMs), the linear layer and
 * sgemm, against float64 loops written here.
 *
 * <p>Tolerance: 1e-5 of max|reference| everywhere. The longest reductions here are 4096
 * terms (pointwise bwd_filter over 16 images of 16x16); float32 sums of that length with
 * standard-normal terms stay near 1e-6 of the scale, so no case needs more.
 */
class ConvKernelsTest {
    private static final double RTOL = 1e-5;

    /** One convolution: sizes, stride, padding, groups. */
    record Conv(int N, int Cin, int H, int W, int Cout, int KH, int KW, int sh, int sw, int ph, int pw, int G) {
        int Ho() {
            return (H + 2 * ph - KH) / sh + 1;
        }

        int Wo() {
            return (W + 2 * pw - KW) / sw + 1;
        }

        int nx() {
            return N * Cin * H * W;
        }

        int ny() {
            return N * Cout * Ho() * Wo();
        }

        int nw() {
            return Cout * (Cin / G) * KH * KW;
        }

        long ws() {
            return CpuKernels.basq_conv2d_workspace_floats(N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, G);
        }

        int fwd(FloatPointer x, FloatPointer w, FloatPointer y, FloatPointer ws) {
            return CpuKernels.basq_conv2d_fwd(x, w, y, ws, N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, G);
        }

        int bwdData(FloatPointer dy, FloatPointer w, FloatPointer dx, FloatPointer ws) {
            return CpuKernels.basq_conv2d_bwd_data(dy, w, dx, ws, N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, G);
        }

        int bwdFilter(FloatPointer x, FloatPointer dy, FloatPointer dw, FloatPointer ws) {
            return CpuKernels.basq_conv2d_bwd_filter(x, dy, dw, ws, N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, G);
        }

        @Override
        public String toString() {
            return String.format("N%d Cin%d %dx%d Cout%d k%dx%d s%d,%d p%d,%d g%d", N, Cin, H, W, Cout, KH, KW, sh, sw,
                    ph, pw, G);
        }
    }

    /** Reference results in float64: y = conv(x, w); dx, dw the gradients of sum(y * dy). */
    static final class Ref {
        final double[] y, dx, dw;

        Ref(Conv c, float[] x, float[] w, float[] dy) {
            int Ho = c.Ho(), Wo = c.Wo(), Cig = c.Cin / c.G, Cog = c.Cout / c.G;
            y = new double[c.ny()];
            dx = new double[c.nx()];
            dw = new double[c.nw()];
            for (int n = 0; n < c.N; n++)
                for (int co = 0; co < c.Cout; co++) {
                    int g = co / Cog;
                    for (int oh = 0; oh < Ho; oh++)
                        for (int ow = 0; ow < Wo; ow++) {
                            int yi = ((n * c.Cout + co) * Ho + oh) * Wo + ow;
                            double acc = 0, d = dy[yi];
                            for (int ci = 0; ci < Cig; ci++)
                                for (int kh = 0; kh < c.KH; kh++) {
                                    int ih = oh * c.sh - c.ph + kh;
                                    if (ih < 0 || ih >= c.H) continue;
                                    for (int kw = 0; kw < c.KW; kw++) {
                                        int iw = ow * c.sw - c.pw + kw;
                                        if (iw < 0 || iw >= c.W) continue;
                                        int xi = ((n * c.Cin + g * Cig + ci) * c.H + ih) * c.W + iw;
                                        int wi = ((co * Cig + ci) * c.KH + kh) * c.KW + kw;
                                        acc += (double) x[xi] * w[wi];
                                        dx[xi] += d * w[wi];
                                        dw[wi] += d * x[xi];
                                    }
                                }
                            y[yi] = acc;
                        }
                }
        }
    }

    /** Runs the three kernels on fresh random data and compares them with the reference. */
    private static void check(Conv c, long seed) {
        Random rnd = new Random(seed);
        float[] x = randn(rnd, c.nx()), w = randn(rnd, c.nw()), dy = randn(rnd, c.ny());
        Ref ref = new Ref(c, x, w, dy);
        long wsn = c.ws();
        assertTrue(wsn >= 0, c + ": workspace " + wsn);
        // Outputs and workspace start as NaN: every output must be written, no stale scratch read.
        FloatPointer ws = out(Math.toIntExact(wsn));
        FloatPointer py = out(c.ny()), pdx = out(c.nx()), pdw = out(c.nw());
        ok(c.fwd(ptr(x), ptr(w), py, ws), "conv2d_fwd " + c);
        assertClose("conv fwd " + c, ref.y, get(py, c.ny()), RTOL);
        ok(c.bwdData(ptr(dy), ptr(w), pdx, ws), "conv2d_bwd_data " + c);
        assertClose("conv bwd_data " + c, ref.dx, get(pdx, c.nx()), RTOL);
        ok(c.bwdFilter(ptr(x), ptr(dy), pdw, ws), "conv2d_bwd_filter " + c);
        assertClose("conv bwd_filter " + c, ref.dw, get(pdw, c.nw()), RTOL);
        assertNonTrivial("y " + c, ref.y);
        assertNonTrivial("dw " + c, ref.dw);
    }

    private static void checkAll(Conv[] cases, long seed) {
        for (Conv c : cases) check(c, seed++);
    }

    @Test
    void pointwise() {
        checkAll(new Conv[] {
                new Conv(2, 16, 8, 8, 24, 1, 1, 1, 1, 0, 0, 1),
                new Conv(1, 7, 1, 1, 9, 1, 1, 1, 1, 0, 0, 1),     // batch 1, HW 1
                new Conv(70, 3, 1, 1, 5, 1, 1, 1, 1, 0, 0, 1),    // HW 1: one transposed GEMM
                new Conv(64, 300, 1, 1, 200, 1, 1, 1, 1, 0, 0, 1), // HW 1, GEMM split over threads
                new Conv(5, 12, 4, 4, 10, 1, 1, 1, 1, 0, 0, 1),   // small HW, one GEMM per image
                new Conv(33, 6, 3, 2, 7, 1, 1, 1, 1, 0, 0, 1),    // ragged last chunk
                new Conv(1, 16, 20, 20, 32, 1, 1, 1, 1, 0, 0, 1), // one image: GEMM split over threads
                new Conv(16, 32, 16, 16, 24, 1, 1, 1, 1, 0, 0, 1), // bwd_filter reduces over 4096
                new Conv(9, 4, 5, 5, 6, 1, 1, 1, 1, 0, 0, 2),     // grouped 1x1 (im2col path)
                new Conv(7, 300, 2, 2, 256, 1, 1, 1, 1, 0, 0, 1), // big weights: images packed per GEMM
        }, 100);
    }

    @Test
    void depthwise() {
        checkAll(new Conv[] {
                new Conv(2, 8, 7, 7, 8, 3, 3, 1, 1, 1, 1, 8),
                new Conv(2, 8, 5, 9, 8, 3, 3, 2, 2, 1, 1, 8),
                new Conv(3, 6, 7, 6, 6, 3, 3, 2, 2, 1, 1, 6),
                new Conv(4, 5, 16, 16, 5, 3, 3, 1, 1, 1, 1, 5),
                new Conv(4, 5, 16, 16, 5, 3, 3, 2, 2, 1, 1, 5),
                new Conv(3, 4, 1, 1, 4, 3, 3, 1, 1, 1, 1, 4),     // 1x1 plane, only the centre tap
                new Conv(2, 4, 2, 2, 4, 3, 3, 2, 2, 1, 1, 4),
                new Conv(2, 4, 9, 8, 4, 5, 5, 2, 3, 2, 1, 4),     // 5x5, unequal strides
                new Conv(2, 4, 6, 6, 4, 3, 3, 1, 1, 3, 0, 4),     // padding larger than the kernel half
                new Conv(1, 5, 4, 4, 5, 3, 3, 3, 3, 3, 3, 5),
                new Conv(2, 3, 8, 8, 3, 3, 3, 2, 2, 0, 0, 3),     // no padding, last input row unused
                new Conv(2, 3, 4, 4, 3, 3, 3, 1, 1, 1, 1, 3),
                new Conv(2, 3, 2, 3, 3, 3, 3, 1, 1, 1, 1, 3),     // tiny planes: tap table
                new Conv(2, 3, 11, 13, 3, 3, 3, 2, 2, 1, 1, 3),   // odd sizes, stride 2
                new Conv(2, 3, 12, 10, 3, 3, 3, 2, 2, 0, 0, 3),
                new Conv(2, 3, 10, 12, 3, 3, 3, 2, 2, 2, 1, 3),
                new Conv(2, 3, 9, 9, 3, 3, 3, 1, 2, 1, 1, 3),     // unequal strides
                new Conv(2, 3, 9, 9, 3, 3, 3, 2, 1, 1, 1, 3),
                new Conv(2, 3, 9, 9, 3, 3, 3, 3, 3, 1, 1, 3),     // stride 3
                new Conv(2, 3, 6, 6, 3, 5, 5, 1, 1, 2, 2, 3),     // 5x5 on narrow rows
                new Conv(2, 3, 70, 66, 3, 3, 3, 1, 1, 1, 1, 3),   // large planes: bounds-checked loops
                new Conv(2, 3, 71, 65, 3, 3, 3, 2, 2, 1, 1, 3),
                new Conv(1, 2, 70, 70, 2, 5, 5, 2, 1, 2, 2, 2),
                new Conv(1, 2, 40, 40, 2, 9, 9, 1, 1, 4, 4, 2),   // 81 taps: blocked bwd_filter
                new Conv(1, 2, 12, 12, 2, 9, 9, 1, 2, 4, 1, 2),
        }, 200);
    }

    @Test
    void generalIm2col() {
        checkAll(new Conv[] {
                new Conv(2, 6, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1),     // 3x3 stride 1
                new Conv(3, 6, 9, 8, 8, 3, 3, 2, 2, 1, 1, 1),     // 3x3 stride 2
                new Conv(2, 3, 17, 17, 8, 7, 7, 2, 2, 3, 3, 1),   // 7x7 stride 2 pad 3 stem
                new Conv(2, 3, 32, 32, 16, 3, 3, 2, 2, 1, 1, 1),  // 3x3 stride 2 stem
                new Conv(2, 8, 7, 7, 12, 3, 3, 1, 1, 1, 1, 2),    // groups 2, Cin != Cout
                new Conv(2, 8, 7, 5, 12, 3, 3, 2, 1, 1, 0, 4),    // groups 4, unequal stride and padding
                new Conv(3, 8, 30, 30, 8, 3, 3, 2, 2, 1, 1, 2),
                new Conv(40, 4, 3, 3, 6, 2, 2, 1, 1, 0, 0, 1),    // even kernel, many small images
                new Conv(3, 4, 4, 4, 4, 5, 5, 1, 1, 1, 1, 1),     // kernel larger than the input
                new Conv(2, 3, 5, 5, 4, 5, 5, 1, 1, 0, 0, 1),     // kernel = input: output 1x1
                new Conv(2, 4, 6, 7, 5, 1, 3, 1, 1, 0, 1, 1),     // 1x3
                new Conv(2, 4, 7, 6, 5, 3, 1, 2, 1, 1, 0, 1),     // 3x1
                new Conv(2, 4, 6, 6, 6, 1, 1, 2, 2, 0, 0, 1),     // 1x1 stride 2 (not the pointwise path)
                new Conv(1, 16, 20, 20, 32, 3, 3, 1, 1, 1, 1, 1), // one image: GEMM split over threads
                new Conv(1, 1, 6, 6, 1, 3, 3, 1, 1, 1, 1, 1),     // one channel, groups 1
                new Conv(5, 64, 4, 4, 128, 3, 3, 1, 1, 1, 1, 1),  // big weights, small HW: images packed per GEMM
                new Conv(5, 64, 5, 5, 128, 3, 3, 2, 2, 1, 1, 1),  // ragged last chunk
                new Conv(5, 192, 3, 3, 192, 3, 3, 1, 1, 1, 1, 2), // packed and grouped
        }, 300);
    }

    /** Finite differences of L = sum(y * r): bwd_data and bwd_filter are the true gradients of fwd. */
    @Test
    void gradientsMatchFiniteDifferences() {
        Conv[] cases = {new Conv(2, 4, 6, 5, 6, 3, 3, 2, 1, 1, 1, 2), new Conv(2, 3, 6, 6, 3, 3, 3, 1, 1, 1, 1, 3),
                new Conv(2, 5, 3, 3, 4, 1, 1, 1, 1, 0, 0, 1)};
        Random rnd = new Random(400);
        for (Conv c : cases) {
            float[] x = randn(rnd, c.nx()), w = randn(rnd, c.nw()), r = randn(rnd, c.ny());
            FloatPointer ws = out(Math.toIntExact(c.ws()));
            FloatPointer pdx = out(c.nx()), pdw = out(c.nw());
            ok(c.bwdData(ptr(r), ptr(w), pdx, ws), "bwd_data");
            ok(c.bwdFilter(ptr(x), ptr(r), pdw, ws), "bwd_filter");
            float[] dx = get(pdx, c.nx()), dw = get(pdw, c.nw());
            // L is linear in x and in w, so a large step has no truncation error; only the float32
            // rounding of y (about 1e-7 of |y|, summed over ny terms) divided by 2h remains.
            float h = 0.25f;
            double scaleX = Math.max(1, maxAbs(dx)), scaleW = Math.max(1, maxAbs(dw));
            for (int k = 0; k < 12; k++) {
                int i = rnd.nextInt(c.nx());
                double fd = (loss(c, bump(x, i, h), w, r, ws) - loss(c, bump(x, i, -h), w, r, ws)) / (2 * h);
                assertEquals(fd, dx[i], 1e-4 * scaleX, c + ": dL/dx[" + i + "]");
                int j = rnd.nextInt(c.nw());
                fd = (loss(c, x, bump(w, j, h), r, ws) - loss(c, x, bump(w, j, -h), r, ws)) / (2 * h);
                assertEquals(fd, dw[j], 1e-4 * scaleW, c + ": dL/dw[" + j + "]");
            }
        }
    }

    private static float[] bump(float[] a, int i, float h) {
        float[] b = a.clone();
        b[i] += h;
        return b;
    }

    private static double loss(Conv c, float[] x, float[] w, float[] r, FloatPointer ws) {
        FloatPointer py = out(c.ny());
        ok(c.fwd(ptr(x), ptr(w), py, ws), "fwd");
        float[] y = get(py, c.ny());
        double l = 0;
        for (int i = 0; i < y.length; i++) l += (double) y[i] * r[i];
        return l;
    }

    /** The thread count at call time may differ from the one at workspace time; results agree. */
    @Test
    void threadCountDoesNotChangeResultsOrRestoreBlasThreads() {
        Conv[] cases = {new Conv(8, 12, 6, 6, 10, 3, 3, 1, 1, 1, 1, 1), new Conv(8, 12, 4, 4, 10, 1, 1, 1, 1, 0, 0, 1),
                new Conv(8, 12, 6, 6, 12, 3, 3, 2, 2, 1, 1, 12)};
        int omp = CpuKernels.basq_num_threads(), blas = CpuKernels.basq_blas_num_threads();
        Random rnd = new Random(500);
        try {
            for (Conv c : cases) {
                float[] x = randn(rnd, c.nx()), w = randn(rnd, c.nw()), dy = randn(rnd, c.ny());
                Ref ref = new Ref(c, x, w, dy);
                FloatPointer ws = out(Math.toIntExact(c.ws()));
                for (int t : new int[] {1, omp + 1}) {
                    CpuKernels.basq_set_num_threads(t);
                    FloatPointer py = out(c.ny()), pdx = out(c.nx()), pdw = out(c.nw());
                    ok(c.fwd(ptr(x), ptr(w), py, ws), "fwd");
                    ok(c.bwdData(ptr(dy), ptr(w), pdx, ws), "bwd_data");
                    ok(c.bwdFilter(ptr(x), ptr(dy), pdw, ws), "bwd_filter");
                    String at = c + " threads " + t;
                    assertClose("fwd " + at, ref.y, get(py, c.ny()), RTOL);
                    assertClose("bwd_data " + at, ref.dx, get(pdx, c.nx()), RTOL);
                    assertClose("bwd_filter " + at, ref.dw, get(pdw, c.nw()), RTOL);
                }
            }
        } finally {
            CpuKernels.basq_set_num_threads(omp);
        }
        assertEquals(blas, CpuKernels.basq_blas_num_threads(), "BLAS thread count restored after the calls");
    }

    @Test
    void workspaceSizes() {
        // Depthwise and pointwise with HW == 1 need none; the others need some.
        assertEquals(0, new Conv(4, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 8).ws());
        assertEquals(0, new Conv(4, 8, 1, 1, 6, 1, 1, 1, 1, 0, 0, 1).ws());
        assertTrue(new Conv(4, 8, 9, 9, 6, 3, 3, 1, 1, 1, 1, 1).ws() > 0);
        assertTrue(new Conv(4, 8, 4, 4, 6, 1, 1, 1, 1, 0, 0, 1).ws() > 0);
        // Invalid arguments (output size < 1, groups not dividing Cin): negative.
        assertTrue(new Conv(4, 8, 2, 2, 6, 3, 3, 1, 1, 0, 0, 1).ws() < 0);
        assertTrue(new Conv(4, 6, 5, 5, 8, 3, 3, 1, 1, 1, 1, 4).ws() < 0);
    }

    @Test
    void badArgumentsReturnEinval() {
        FloatPointer a = out(4096);
        Conv[] bad = {
                new Conv(0, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1),  // N = 0
                new Conv(1, -4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1), // Cin < 0
                new Conv(1, 4, 0, 5, 4, 3, 3, 1, 1, 1, 1, 1),  // H = 0
                new Conv(1, 4, 5, 5, 0, 3, 3, 1, 1, 1, 1, 1),  // Cout = 0
                new Conv(1, 4, 5, 5, 4, 0, 3, 1, 1, 1, 1, 1),  // KH = 0
                new Conv(1, 4, 5, 5, 4, 3, 3, 0, 1, 1, 1, 1),  // stride 0
                new Conv(1, 4, 5, 5, 4, 3, 3, 1, 1, -1, 1, 1), // negative padding
                new Conv(1, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 0),  // groups 0
                new Conv(1, 6, 5, 5, 4, 3, 3, 1, 1, 1, 1, 4),  // Cin % groups != 0
                new Conv(1, 4, 5, 5, 6, 3, 3, 1, 1, 1, 1, 4),  // Cout % groups != 0
                new Conv(1, 4, 2, 5, 4, 3, 3, 1, 1, 0, 1, 1),  // output height < 1
                new Conv(1, 4, 5, 2, 4, 3, 5, 1, 1, 1, 1, 4),  // output width < 1 (depthwise)
        };
        for (Conv c : bad) {
            assertEquals(CpuKernels.EINVAL, c.fwd(a, a, a, a), "fwd " + c);
            assertEquals(CpuKernels.EINVAL, c.bwdData(a, a, a, a), "bwd_data " + c);
            assertEquals(CpuKernels.EINVAL, c.bwdFilter(a, a, a, a), "bwd_filter " + c);
        }
        Conv good = new Conv(1, 4, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1);
        assertTrue(good.ws() > 0);
        assertEquals(CpuKernels.EINVAL, good.fwd(a, a, a, null), "missing workspace");
        assertEquals(CpuKernels.EINVAL, good.fwd(null, a, a, a), "missing x");
        assertEquals(CpuKernels.EINVAL, good.bwdFilter(a, a, null, a), "missing dw");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_linear_fwd(a, a, null, a, 0, 3, 3), "linear N = 0");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_linear_bwd(a, a, a, a, null, a, 2, 3, 3), "linear dw NULL");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_sgemm(2, 0, 2, 2, 2, 1f, a, 2, a, 2, 0f, a, 2), "transA 2");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_sgemm(0, 0, 2, 3, 4, 1f, a, 3, a, 3, 0f, a, 3), "lda < K");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_sgemm(0, 1, 2, 3, 4, 1f, a, 4, a, 3, 0f, a, 3), "ldb < K");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_sgemm(0, 0, 2, 3, 4, 1f, a, 4, a, 3, 0f, a, 2), "ldc < N");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_sgemm(0, 0, -1, 3, 4, 1f, a, 4, a, 3, 0f, a, 3), "M < 0");
    }

    // ---------------------------------------------------------------- linear and sgemm

    @Test
    void linearForwardAndBackward() {
        int[][] shapes = {{5, 7, 3}, {1, 1, 1}, {64, 300, 200}, {130, 17, 9}};
        Random rnd = new Random(600);
        for (int[] s : shapes) {
            int N = s[0], IN = s[1], OUT = s[2];
            float[] x = randn(rnd, N * IN), w = randn(rnd, OUT * IN), b = randn(rnd, OUT), dy = randn(rnd, N * OUT);
            double[] y = new double[N * OUT], yb = new double[N * OUT], dx = new double[N * IN],
                    dw = new double[OUT * IN], db = new double[OUT];
            for (int n = 0; n < N; n++)
                for (int o = 0; o < OUT; o++) {
                    double acc = 0;
                    for (int i = 0; i < IN; i++) acc += (double) x[n * IN + i] * w[o * IN + i];
                    y[n * OUT + o] = acc;
                    yb[n * OUT + o] = acc + b[o];
                    double d = dy[n * OUT + o];
                    db[o] += d;
                    for (int i = 0; i < IN; i++) {
                        dx[n * IN + i] += d * w[o * IN + i];
                        dw[o * IN + i] += d * x[n * IN + i];
                    }
                }
            String at = String.format(" N%d IN%d OUT%d", N, IN, OUT);
            FloatPointer py = out(N * OUT);
            ok(CpuKernels.basq_linear_fwd(ptr(x), ptr(w), ptr(b), py, N, IN, OUT), "linear_fwd");
            assertClose("linear y+b" + at, yb, get(py, N * OUT), RTOL);
            py = out(N * OUT);
            ok(CpuKernels.basq_linear_fwd(ptr(x), ptr(w), null, py, N, IN, OUT), "linear_fwd no bias");
            assertClose("linear y" + at, y, get(py, N * OUT), RTOL);
            FloatPointer pdx = out(N * IN), pdw = out(OUT * IN), pdb = out(OUT);
            ok(CpuKernels.basq_linear_bwd(ptr(x), ptr(w), ptr(dy), pdx, pdw, pdb, N, IN, OUT), "linear_bwd");
            assertClose("linear dx" + at, dx, get(pdx, N * IN), RTOL);
            assertClose("linear dw" + at, dw, get(pdw, OUT * IN), RTOL);
            assertClose("linear db" + at, db, get(pdb, OUT), RTOL);
            pdw = out(OUT * IN);
            ok(CpuKernels.basq_linear_bwd(ptr(x), ptr(w), ptr(dy), null, pdw, null, N, IN, OUT), "linear_bwd dw only");
            assertClose("linear dw only" + at, dw, get(pdw, OUT * IN), RTOL);
        }
    }

    @Test
    void sgemmAllTransposes() {
        // M, N, K; the larger ones are split over threads by columns (N >= M) or by rows.
        int[][] shapes = {{13, 17, 19}, {1, 1, 1}, {70, 90, 60}, {130, 40, 60}, {3, 5, 0}};
        Random rnd = new Random(700);
        for (int[] s : shapes) {
            int M = s[0], N = s[1], K = s[2];
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    // Stored shapes with padded leading dimensions.
                    int ar = ta == 0 ? M : K, ac = ta == 0 ? K : M, lda = ac + 3;
                    int br = tb == 0 ? K : N, bc = tb == 0 ? N : K, ldb = bc + 2;
                    int ldc = N + 1;
                    float[] A = randn(rnd, Math.max(1, ar * lda)), B = randn(rnd, Math.max(1, br * ldb));
                    float[] C = randn(rnd, M * ldc);
                    float alpha = 0.75f, beta = -0.5f;
                    double[] ref = new double[M * ldc];
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < ldc; j++) {
                            if (j >= N) {
                                ref[i * ldc + j] = C[i * ldc + j]; // padding columns untouched
                                continue;
                            }
                            double acc = 0;
                            for (int k = 0; k < K; k++) {
                                double av = ta == 0 ? A[i * lda + k] : A[k * lda + i];
                                double bv = tb == 0 ? B[k * ldb + j] : B[j * ldb + k];
                                acc += av * bv;
                            }
                            ref[i * ldc + j] = alpha * acc + beta * C[i * ldc + j];
                        }
                    FloatPointer pc = ptr(C);
                    ok(CpuKernels.basq_sgemm(ta, tb, M, N, K, alpha, ptr(A), lda, ptr(B), ldb, beta, pc, ldc),
                            "sgemm");
                    assertClose(String.format("sgemm ta%d tb%d M%d N%d K%d", ta, tb, M, N, K), ref,
                            get(pc, M * ldc), RTOL);
                }
        }
    }
}
