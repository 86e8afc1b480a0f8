package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;

/** pool.h: average, global average and max pooling, and the flexible skip of SPEC 2. */
class PoolKernelsTest {
    /** N, C, H, W, k, s. */
    private static final int[][] AVG = {{2, 3, 8, 8, 2, 2}, {1, 1, 7, 9, 2, 2}, {3, 2, 7, 6, 3, 2}, {2, 2, 5, 5, 3, 1},
            {1, 3, 10, 11, 2, 3}, {2, 4, 6, 6, 1, 1}, {16, 32, 33, 32, 2, 2}};

    @Test
    void averagePoolingForwardAndBackward() {
        Random rnd = new Random(31);
        for (int[] a : AVG) {
            int N = a[0], C = a[1], H = a[2], W = a[3], k = a[4], s = a[5];
            int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
            int n = N * C * H * W, m = N * C * Ho * Wo;
            float[] x = randn(rnd, n), dy = randn(rnd, m);
            double[] y = new double[m], dx = new double[n];
            for (int p = 0; p < N * C; p++)
                for (int ho = 0; ho < Ho; ho++)
                    for (int wo = 0; wo < Wo; wo++) {
                        double acc = 0;
                        int o = (p * Ho + ho) * Wo + wo;
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int xi = (p * H + ho * s + i) * W + wo * s + j;
                                acc += x[xi];
                                dx[xi] += dy[o] / (k * k);
                            }
                        y[o] = acc / (k * k);
                    }
            String at = String.format(" %dx%dx%dx%d k%d s%d", N, C, H, W, k, s);
            FloatPointer py = out(m), pdx = out(n);
            ok(CpuKernels.basq_avgpool_fwd(ptr(x), py, N, C, H, W, k, s), "avgpool_fwd");
            assertClose("avgpool y" + at, y, get(py, m), 1e-6);
            ok(CpuKernels.basq_avgpool_bwd(ptr(dy), pdx, N, C, H, W, k, s), "avgpool_bwd");
            assertClose("avgpool dx" + at, dx, get(pdx, n), 1e-6);
            assertNonTrivial("avgpool dx", dx);
        }
        FloatPointer a = out(16);
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_avgpool_fwd(a, a, 1, 1, 2, 2, 3, 1), "k > H");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_avgpool_fwd(a, a, 1, 1, 4, 4, 2, 0), "s = 0");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_avgpool_bwd(a, a, -1, 1, 4, 4, 2, 2), "N < 0");
    }

    @Test
    void globalAveragePooling() {
        Random rnd = new Random(32);
        int[][] shapes = {{1, 1, 1}, {2, 3, 49}, {4, 5, 1}, {64, 80, 49}};
        for (int[] sh : shapes) {
            int N = sh[0], C = sh[1], HW = sh[2], n = N * C * HW;
            float[] x = randn(rnd, n, 1.0, 0.3), dy = randn(rnd, N * C);
            double[] y = new double[N * C], dx = new double[n];
            for (int p = 0; p < N * C; p++) {
                for (int i = 0; i < HW; i++) {
                    y[p] += x[p * HW + i];
                    dx[p * HW + i] = (double) dy[p] / HW;
                }
                y[p] /= HW;
            }
            FloatPointer py = out(N * C), pdx = out(n);
            ok(CpuKernels.basq_global_avgpool_fwd(ptr(x), py, N, C, HW), "global_avgpool_fwd");
            assertClose("gap y", y, get(py, N * C), 1e-6);
            ok(CpuKernels.basq_global_avgpool_bwd(ptr(dy), pdx, N, C, HW), "global_avgpool_bwd");
            assertClose("gap dx", dx, get(pdx, n), 1e-6);
        }
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_global_avgpool_fwd(out(1), out(1), 1, 1, 0));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_global_avgpool_bwd(out(1), out(1), 1, -1, 1));
    }

    /** N, C, H, W, k, s, p. */
    private static final int[][] MAX = {{2, 3, 8, 8, 3, 2, 1}, {1, 1, 7, 9, 3, 2, 1}, {2, 2, 6, 7, 2, 2, 0},
            {1, 2, 5, 5, 3, 1, 1}, {2, 1, 5, 4, 2, 1, 1}, {1, 1, 1, 1, 1, 1, 0}, {1, 2, 1, 1, 3, 1, 1},
            {1, 1, 2, 3, 3, 1, 1}, {2, 3, 9, 13, 3, 3, 0}, {1, 2, 6, 10, 4, 2, 2}, {8, 16, 56, 56, 3, 2, 1}};

    @Test
    void maxPoolingForwardAndBackward() {
        Random rnd = new Random(33);
        for (int[] a : MAX) {
            int N = a[0], C = a[1], H = a[2], W = a[3], k = a[4], s = a[5], p = a[6];
            int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
            int n = N * C * H * W, m = N * C * Ho * Wo;
            // all negative: a zero padding value would win if padding took part
            float[] x = randn(rnd, n, 1.0, -5.0);
            float[] dy = randn(rnd, m);
            float[] y = new float[m];
            int[] idx = new int[m];
            double[] dx = new double[n];
            for (int pl = 0; pl < N * C; pl++)
                for (int ho = 0; ho < Ho; ho++)
                    for (int wo = 0; wo < Wo; wo++) {
                        float best = Float.NEGATIVE_INFINITY;
                        int bi = -1;
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int h = ho * s - p + i, w = wo * s - p + j;
                                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                                float v = x[(pl * H + h) * W + w];
                                if (v > best) {
                                    best = v;
                                    bi = h * W + w;
                                }
                            }
                        int o = (pl * Ho + ho) * Wo + wo;
                        y[o] = best;
                        idx[o] = bi;
                        dx[pl * H * W + bi] += dy[o];
                    }
            String at = String.format(" %dx%dx%dx%d k%d s%d p%d", N, C, H, W, k, s, p);
            FloatPointer py = out(m), pdx = out(n);
            IntPointer pi = new IntPointer(m);
            ok(CpuKernels.basq_maxpool_fwd(ptr(x), py, pi, N, C, H, W, k, s, p), "maxpool_fwd");
            assertExact("maxpool y" + at, y, get(py, m));
            assertArrayEquals(idx, get(pi, m), "maxpool idx" + at);
            ok(CpuKernels.basq_maxpool_bwd(ptr(dy), pi, pdx, N, C, H, W, k, s, p), "maxpool_bwd");
            assertClose("maxpool dx" + at, dx, get(pdx, n), 1e-6);
            assertNonTrivial("maxpool dx", dx);
        }
    }

    @Test
    void maxPoolingTiesPickTheFirstAndNaNPropagates() {
        int H = 4, W = 4;
        float[] x = new float[H * W];  // all equal
        FloatPointer y = out(4);
        IntPointer idx = new IntPointer(4);
        ok(CpuKernels.basq_maxpool_fwd(ptr(x), y, idx, 1, 1, H, W, 2, 2, 0), "maxpool ties");
        assertArrayEquals(new int[] {0, 2, 8, 10}, get(idx, 4), "first element of each window");
        x[5] = Float.NaN;
        ok(CpuKernels.basq_maxpool_fwd(ptr(x), y, idx, 1, 1, H, W, 2, 2, 0), "maxpool NaN");
        assertEquals(5, get(idx, 4)[0]);
        assertEquals(Float.NaN, get(y, 4)[0]);
        // rejected: padding more than half the window, bad index in the backward
        FloatPointer a = out(16);
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_maxpool_fwd(a, a, idx, 1, 1, 4, 4, 2, 2, 2));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_maxpool_fwd(a, a, idx, 1, 1, 4, 4, 0, 1, 0));
        IntPointer badIdx = ptr(new int[] {0, 2, 99, 10});
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_maxpool_bwd(out(4), badIdx, a, 1, 1, 4, 4, 2, 2, 0));
    }

    /** Double reference of F(cin -> cout) (SPEC 2) and its backward. */
    static double[] flexSkip(float[] x, int N, int Cin, int Cout, int HW) {
        double[] y = new double[N * Cout * HW];
        for (int n = 0; n < N; n++) {
            if (Cin <= Cout) {
                for (int k = 0; k < Cout; k++)
                    for (int i = 0; i < HW; i++) y[(n * Cout + k) * HW + i] = x[(n * Cin + k % Cin) * HW + i];
            } else {
                for (int c = 0; c < Cin; c++)
                    for (int i = 0; i < HW; i++) y[(n * Cout + c % Cout) * HW + i] += x[(n * Cin + c) * HW + i];
            }
        }
        return y;
    }

    static double[] flexSkipBackward(float[] dy, int N, int Cin, int Cout, int HW) {
        double[] dx = new double[N * Cin * HW];
        for (int n = 0; n < N; n++)
            for (int c = 0; c < Cin; c++)
                for (int k = 0; k < Cout; k++) {
                    // y[k] depends on x[c] iff (tiling) c == k mod Cin or (folding) k == c mod Cout
                    boolean linked = Cin <= Cout ? c == k % Cin : k == c % Cout;
                    if (!linked) continue;
                    for (int i = 0; i < HW; i++) dx[(n * Cin + c) * HW + i] += dy[(n * Cout + k) * HW + i];
                }
        return dx;
    }

    @Test
    void flexibleSkipForwardAndBackward() {
        Random rnd = new Random(34);
        int[][] cases = {{4, 12}, {6, 6}, {12, 4}, {10, 4}, {7, 3}, {1, 5}, {5, 1}, {3, 8}, {16, 96}, {96, 24}};
        for (int[] c : cases) {
            for (int[] nhw : new int[][] {{2, 9}, {1, 1}, {8, 196}}) {
                int N = nhw[0], HW = nhw[1], Cin = c[0], Cout = c[1];
                float[] x = randn(rnd, N * Cin * HW), dy = randn(rnd, N * Cout * HW);
                FloatPointer y = out(N * Cout * HW), dx = out(N * Cin * HW);
                ok(CpuKernels.basq_flex_skip_fwd(ptr(x), y, N, Cin, Cout, HW), "flex_skip_fwd");
                String at = " " + Cin + "->" + Cout + " N" + N + " HW" + HW;
                assertClose("flex y" + at, flexSkip(x, N, Cin, Cout, HW), get(y, N * Cout * HW), 1e-6);
                ok(CpuKernels.basq_flex_skip_bwd(ptr(dy), dx, N, Cin, Cout, HW), "flex_skip_bwd");
                assertClose("flex dx" + at, flexSkipBackward(dy, N, Cin, Cout, HW), get(dx, N * Cin * HW), 1e-6);
            }
        }
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_flex_skip_fwd(out(1), out(1), 1, 0, 3, 1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_flex_skip_bwd(out(1), out(1), 1, 3, 3, -1));
    }
}
