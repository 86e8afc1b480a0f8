package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.function.IntConsumer;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * infer.h against float64 loops written here from the formulas of the header, on fresh random
 * inputs, at every instruction-set level the machine offers (portable, AVX2, AVX-512). The
 * quantizer levels are exact (inputs whose folded value lies within 1e-3 of a rounding boundary
 * are moved off it, so that float and double agree on the level); the sums are judged to 2e-5
 * of each output's scale.
 */
class InferKernelsTest {
    private static final double RTOL = 2e-5;

    /** Runs body once per available instruction-set level, restoring the level afterwards. */
    private static void atEveryIsa(IntConsumer body) {
        int top = CpuKernels.basq_infer_isa();
        try {
            for (int isa = 0; isa <= top; isa++) {
                assertEquals(isa, CpuKernels.basq_infer_set_isa(isa));
                body.accept(isa);
            }
        } finally {
            CpuKernels.basq_infer_set_isa(top);
        }
    }

    private static BytePointer workspace(long bytes) {
        return new BytePointer(Math.max(1, bytes));
    }

    private static int threads() {
        return Math.max(1, CpuKernels.basq_num_threads());
    }

    // ---------------------------------------------------------------- quantizer inputs and references

    /** Inputs whose x * alpha + beta (alpha, beta per channel, channels last) stay 1e-3 off half-integers. */
    private static float[] offBoundary(Random r, int rows, int c, float[] alpha, float[] beta, double scale) {
        float[] x = new float[rows * c];
        for (int i = 0; i < x.length; i++) {
            int ch = i % c;
            float v;
            do {
                v = (float) (r.nextGaussian() * scale);
            } while (nearHalf((double) v * alpha[ch] + beta[ch]));
            x[i] = v;
        }
        return x;
    }

    private static boolean nearHalf(double v) {
        double f = v - Math.floor(v);
        return Math.abs(f - 0.5) < 1e-3;
    }

    private static double level(float x, float alpha, float beta, double top) {
        double v = (double) x * alpha + beta;
        return Math.rint(Math.min(Math.max(v, 0), top));
    }

    private static byte[] codes(Random r, int n, int bits) {
        int qw = (1 << (bits - 1)) - 1;
        byte[] q = new byte[n];
        for (int i = 0; i < n; i++) {
            q[i] = (byte) (r.nextInt(2 * qw + 1) - qw);
        }
        return q;
    }

    /** Skip F(cin -> cout) of one row in double. */
    private static double[] flex(double[] x, int cin, int cout) {
        double[] y = new double[cout];
        for (int k = 0; k < cout; k++) {
            if (cin <= cout) {
                y[k] = x[k % cin];
            } else {
                for (int c = k; c < cin; c += cout) {
                    y[k] += x[c];
                }
            }
        }
        return y;
    }

    /** The stride-2 skip pooling of SPEC 2 / infer.h for output (oh, ow) of an [H, W, C] image. */
    private static double[] pool(double[][][] img, int oh, int ow, int H, int W, int C) {
        double[] out = new double[C];
        int h0 = H == 3 ? 0 : 2 * oh;
        int w0 = W == 3 ? 0 : 2 * ow;
        for (int dh = 0; dh < 2; dh++) {
            for (int dw = 0; dw < 2; dw++) {
                int ih = h0 + dh, iw = w0 + dw;
                if (ih < H && iw < W) {
                    for (int c = 0; c < C; c++) {
                        out[c] += img[ih][iw][c];
                    }
                }
            }
        }
        for (int c = 0; c < C; c++) {
            out[c] *= 0.25;
        }
        return out;
    }

    private static double[][][] image(float[] x, int n, int H, int W, int C) {
        double[][][] img = new double[H][W][C];
        for (int h = 0; h < H; h++) {
            for (int w = 0; w < W; w++) {
                for (int c = 0; c < C; c++) {
                    img[h][w][c] = x[((n * H + h) * W + w) * C + c];
                }
            }
        }
        return img;
    }

    /** y = (relu(acc * ea + eb) + skip) * es + et (+ res) over one row of C outputs. */
    private static void epilogue(double[] acc, double[] skip, float[] epi, int C, float[] res, int resOff,
            double[] y, int yOff) {
        for (int o = 0; o < C; o++) {
            double t = Math.max(0, acc[o] * epi[o] + epi[C + o]) + skip[o];
            y[yOff + o] = t * epi[2 * C + o] + epi[3 * C + o] + (res == null ? 0 : res[resOff + o]);
        }
    }

    // ---------------------------------------------------------------- 1x1 unit

    @Test
    void pointwiseUnitMatchesFloat64() {
        int[][] shapes = {{37, 16, 16, 0}, {50, 8, 20, 1}, {50, 24, 10, 0}, {300, 96, 24, 1}, {7, 600, 40, 0},
            {64, 40, 330, 1}, {1, 12, 8, 0}};
        Random r = new Random(11);
        for (int[] s : shapes) {
            int M = s[0], cin = s[1], cout = s[2];
            boolean withRes = s[3] == 1;
            int bits = 2 + r.nextInt(3);
            int qa = (1 << bits) - 1;
            float[] pro = new float[3 * cin];
            for (int c = 0; c < cin; c++) {
                pro[c] = (float) (0.5 + r.nextDouble());
                pro[cin + c] = (float) (r.nextGaussian() * 0.5 + 1);
                pro[2 * cin + c] = (float) (0.05 + 0.2 * r.nextDouble());
            }
            float[] x = offBoundary(r, M, cin, java.util.Arrays.copyOf(pro, cin),
                    java.util.Arrays.copyOfRange(pro, cin, 2 * cin), 2.0);
            byte[] q = codes(r, cout * cin, bits);
            float[] epi = epi(r, cout);
            float[] res = withRes ? randn(r, M * cout) : null;
            // reference
            double[] want = new double[M * cout];
            for (int m = 0; m < M; m++) {
                double[] v = new double[cin];
                double[] xr = new double[cin];
                for (int c = 0; c < cin; c++) {
                    xr[c] = x[m * cin + c];
                    v[c] = level(x[m * cin + c], pro[c], pro[cin + c], qa) * pro[2 * cin + c];
                }
                double[] acc = new double[cout];
                for (int o = 0; o < cout; o++) {
                    for (int c = 0; c < cin; c++) {
                        acc[o] += v[c] * q[o * cin + c];
                    }
                }
                epilogue(acc, flex(xr, cin, cout), epi, cout, res, m * cout, want, m * cout);
            }
            BytePointer packed = new BytePointer(CpuKernels.basq_infer_packed_bytes_pw(cin, cout));
            ok(CpuKernels.basq_infer_pack_pw(ptr(q), cin, cout, packed), "pack_pw");
            atEveryIsa(isa -> {
                long wsBytes = CpuKernels.basq_infer_pw_workspace(M, cin, cout, threads());
                FloatPointer y = out(M * cout);
                ok(CpuKernels.basq_infer_pw_unit(ptr(x), M, cin, cout, ptr(pro), qa, packed, ptr(epi),
                        res == null ? null : ptr(res), y, workspace(wsBytes), wsBytes), "pw_unit");
                assertClose("pw " + M + "x" + cin + "->" + cout + " isa " + isa, want, get(y, M * cout), RTOL);
            });
        }
    }

    private static float[] epi(Random r, int c) {
        float[] e = new float[4 * c];
        for (int o = 0; o < c; o++) {
            e[o] = (float) (0.1 + 0.3 * r.nextDouble());
            e[c + o] = (float) (r.nextGaussian() * 0.5);
            e[2 * c + o] = (float) (0.5 + r.nextDouble());
            e[3 * c + o] = (float) (r.nextGaussian() * 0.2);
        }
        return e;
    }

    // ---------------------------------------------------------------- depthwise and full 3x3 units

    @Test
    void depthwiseUnitMatchesFloat64() {
        // N, H, W, C, stride, bits, residual: even, odd (7, 13), 3 (the broadcast), 1, channels not a multiple of 16
        int[][] shapes = {{2, 8, 8, 24, 1, 2, 0}, {2, 8, 8, 40, 2, 3, 0}, {3, 7, 7, 16, 2, 4, 0}, {2, 3, 3, 24, 2, 2, 0},
            {2, 1, 1, 8, 2, 2, 0}, {1, 5, 5, 20, 2, 2, 1}, {4, 13, 13, 8, 1, 2, 1}, {1, 13, 13, 8, 2, 3, 0}};
        Random r = new Random(12);
        for (int[] s : shapes) {
            int N = s[0], H = s[1], W = s[2], C = s[3], stride = s[4], bits = s[5];
            int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
            float[][] ab = clipPro(r, C);
            float top = (1 << bits) - 1;
            float[] x = offBoundary(r, N * H * W, C, ab[0], ab[1], 2.0);
            byte[] q = codes(r, C * 9, bits);
            float[] epi = epi(r, C);
            float[] res = s[6] == 1 ? randn(r, N * Ho * Wo * C) : null;
            double[] want = new double[N * Ho * Wo * C];
            for (int n = 0; n < N; n++) {
                double[][][] img = image(x, n, H, W, C);
                for (int oh = 0; oh < Ho; oh++) {
                    for (int ow = 0; ow < Wo; ow++) {
                        double[] acc = new double[C];
                        for (int c = 0; c < C; c++) {
                            for (int kh = 0; kh < 3; kh++) {
                                for (int kw = 0; kw < 3; kw++) {
                                    int ih = oh * stride - 1 + kh, iw = ow * stride - 1 + kw;
                                    if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                                        float xv = x[((n * H + ih) * W + iw) * C + c];
                                        acc[c] += level(xv, ab[0][c], ab[1][c], top) * q[c * 9 + kh * 3 + kw];
                                    }
                                }
                            }
                        }
                        double[] skip = stride == 1 ? img[oh][ow] : pool(img, oh, ow, H, W, C);
                        int o = ((n * Ho + oh) * Wo + ow) * C;
                        epilogue(acc, skip, epi, C, res, o, want, o);
                    }
                }
            }
            BytePointer packed = new BytePointer(CpuKernels.basq_infer_packed_bytes_dw(C));
            ok(CpuKernels.basq_infer_pack_dw(ptr(q), C, packed), "pack_dw");
            FloatPointer pro = ptr(concat(ab[0], ab[1]));
            atEveryIsa(isa -> {
                long wsBytes = CpuKernels.basq_infer_dw_workspace(N, H, W, C, stride, threads());
                FloatPointer y = out(want.length);
                ok(CpuKernels.basq_infer_dw_unit(ptr(x), N, H, W, C, stride, pro, top, bits, packed, ptr(epi),
                        res == null ? null : ptr(res), y, workspace(wsBytes), wsBytes), "dw_unit");
                assertClose("dw " + N + "x" + H + "x" + W + "x" + C + " stride " + stride + " isa " + isa, want,
                        get(y, want.length), RTOL);
            });
        }
    }

    private static float[][] clipPro(Random r, int c) {
        float[] a = new float[c], b = new float[c];
        for (int i = 0; i < c; i++) {
            a[i] = (float) (0.6 + r.nextDouble());
            b[i] = (float) (r.nextGaussian() * 0.5 + 1);
        }
        return new float[][] {a, b};
    }

    private static float[] concat(float[] a, float[] b) {
        float[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    @Test
    void fullConvUnitMatchesFloat64() {
        // N, H, W, Cin, Cout, stride, bits, residual: tiling and folding skips, pooled before or after
        int[][] shapes = {{2, 8, 8, 8, 16, 2, 2, 0}, {2, 7, 7, 16, 8, 2, 3, 0}, {2, 6, 6, 12, 12, 1, 4, 1},
            {1, 3, 3, 4, 8, 2, 2, 0}, {2, 5, 5, 10, 10, 1, 2, 1}, {1, 9, 9, 24, 40, 1, 2, 0}, {3, 4, 4, 20, 7, 2, 3, 0}};
        Random r = new Random(13);
        for (int[] s : shapes) {
            int N = s[0], H = s[1], W = s[2], cin = s[3], cout = s[4], stride = s[5], bits = s[6];
            int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
            float[][] ab = clipPro(r, cin);
            float top = (1 << bits) - 1;
            float[] x = offBoundary(r, N * H * W, cin, ab[0], ab[1], 2.0);
            byte[] q = codes(r, cout * cin * 9, bits);
            float[] epi = epi(r, cout);
            float[] res = s[7] == 1 ? randn(r, N * Ho * Wo * cout) : null;
            double[] want = new double[N * Ho * Wo * cout];
            for (int n = 0; n < N; n++) {
                double[][][] img = image(x, n, H, W, cin);
                for (int oh = 0; oh < Ho; oh++) {
                    for (int ow = 0; ow < Wo; ow++) {
                        double[] acc = new double[cout];
                        for (int o = 0; o < cout; o++) {
                            for (int c = 0; c < cin; c++) {
                                for (int kh = 0; kh < 3; kh++) {
                                    for (int kw = 0; kw < 3; kw++) {
                                        int ih = oh * stride - 1 + kh, iw = ow * stride - 1 + kw;
                                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                                            float xv = x[((n * H + ih) * W + iw) * cin + c];
                                            acc[o] += level(xv, ab[0][c], ab[1][c], top)
                                                    * q[((o * cin + c) * 3 + kh) * 3 + kw];
                                        }
                                    }
                                }
                            }
                        }
                        double[] skip;
                        if (stride == 1) {
                            skip = flex(img[oh][ow], cin, cout);
                        } else {
                            // pooling and F commute in real arithmetic
                            skip = flex(pool(img, oh, ow, H, W, cin), cin, cout);
                        }
                        int o = ((n * Ho + oh) * Wo + ow) * cout;
                        epilogue(acc, skip, epi, cout, res, o, want, o);
                    }
                }
            }
            BytePointer packed = new BytePointer(CpuKernels.basq_infer_packed_bytes_conv(cin, cout));
            ok(CpuKernels.basq_infer_pack_conv(ptr(q), cin, cout, packed), "pack_conv");
            FloatPointer pro = ptr(concat(ab[0], ab[1]));
            atEveryIsa(isa -> {
                long wsBytes = CpuKernels.basq_infer_conv_workspace(N, H, W, cin, cout, stride, threads());
                FloatPointer y = out(want.length);
                ok(CpuKernels.basq_infer_conv_unit(ptr(x), N, H, W, cin, cout, stride, pro, top, packed, ptr(epi),
                        res == null ? null : ptr(res), y, workspace(wsBytes), wsBytes), "conv_unit");
                assertClose("conv " + H + "x" + W + " " + cin + "->" + cout + " stride " + stride + " isa " + isa,
                        want, get(y, want.length), RTOL);
            });
        }
    }

    // ---------------------------------------------------------------- stem, max pooling, head

    @Test
    void stemMatchesFloat64() {
        // N, Cin, H, W, Cout, k, stride, pad
        int[][] shapes = {{2, 3, 32, 32, 32, 3, 2, 1}, {1, 1, 13, 13, 16, 3, 1, 1}, {1, 3, 20, 20, 40, 7, 2, 3}};
        Random r = new Random(14);
        for (int[] s : shapes) {
            int N = s[0], cin = s[1], H = s[2], W = s[3], cout = s[4], k = s[5], stride = s[6], pad = s[7];
            int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
            float[] x = randn(r, N * cin * H * W);
            float[] w = randn(r, cout * cin * k * k, 0.3, 0);
            float[] bn = concat(uniform(r, cout, 0.5, 1.5), randn(r, cout, 0.3, 0.1));
            double[] want = new double[N * Ho * Wo * cout];
            for (int n = 0; n < N; n++) {
                for (int oh = 0; oh < Ho; oh++) {
                    for (int ow = 0; ow < Wo; ow++) {
                        for (int o = 0; o < cout; o++) {
                            double z = 0;
                            for (int c = 0; c < cin; c++) {
                                for (int kh = 0; kh < k; kh++) {
                                    for (int kw = 0; kw < k; kw++) {
                                        int ih = oh * stride - pad + kh, iw = ow * stride - pad + kw;
                                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                                            z += (double) x[((n * cin + c) * H + ih) * W + iw]
                                                    * w[((o * cin + c) * k + kh) * k + kw];
                                        }
                                    }
                                }
                            }
                            want[((n * Ho + oh) * Wo + ow) * cout + o] = Math.max(0, z * bn[o] + bn[cout + o]);
                        }
                    }
                }
            }
            BytePointer packed = new BytePointer(CpuKernels.basq_infer_packed_bytes_stem(cin, cout, k));
            ok(CpuKernels.basq_infer_pack_stem(ptr(w), cin, cout, k, packed), "pack_stem");
            atEveryIsa(isa -> {
                long wsBytes = CpuKernels.basq_infer_stem_workspace(N, cin, H, W, cout, k, stride, pad, threads());
                FloatPointer y = out(want.length);
                ok(CpuKernels.basq_infer_stem(ptr(x), N, cin, H, W, packed, cout, k, stride, pad, ptr(bn), y,
                        workspace(wsBytes), wsBytes), "stem");
                assertClose("stem " + k + "x" + k + "/" + stride + " isa " + isa, want, get(y, want.length), RTOL);
            });
        }
    }

    @Test
    void maxPoolAndHeadMatchFloat64() {
        Random r = new Random(15);
        int N = 2, H = 9, W = 9, C = 5;
        float[] x = randn(r, N * H * W * C);
        int Ho = 5, Wo = 5;
        double[] want = new double[N * Ho * Wo * C];
        for (int n = 0; n < N; n++) {
            for (int oh = 0; oh < Ho; oh++) {
                for (int ow = 0; ow < Wo; ow++) {
                    for (int c = 0; c < C; c++) {
                        double m = Double.NEGATIVE_INFINITY;
                        for (int ih = 2 * oh - 1; ih <= 2 * oh + 1; ih++) {
                            for (int iw = 2 * ow - 1; iw <= 2 * ow + 1; iw++) {
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
                                    m = Math.max(m, x[((n * H + ih) * W + iw) * C + c]);
                                }
                            }
                        }
                        want[((n * Ho + oh) * Wo + ow) * C + c] = m;
                    }
                }
            }
        }
        FloatPointer y = out(want.length);
        ok(CpuKernels.basq_infer_maxpool(ptr(x), N, H, W, C, 3, 2, 1, y), "maxpool");
        assertClose("maxpool", want, get(y, want.length), 0);

        int hw = 4, cin = 40, classes = 10;
        float[] h = randn(r, 3 * hw * cin);
        float[] w = randn(r, classes * cin, 0.2, 0);
        float[] b = randn(r, classes);
        double[] logits = new double[3 * classes];
        for (int n = 0; n < 3; n++) {
            for (int k = 0; k < classes; k++) {
                double d = b[k];
                for (int c = 0; c < cin; c++) {
                    double p = 0;
                    for (int i = 0; i < hw; i++) {
                        p += h[(n * hw + i) * cin + c];
                    }
                    d += p / hw * w[k * cin + c];
                }
                logits[n * classes + k] = d;
            }
        }
        FloatPointer out = out(logits.length);
        ok(CpuKernels.basq_infer_head(ptr(h), 3, hw, cin, ptr(w), ptr(b), classes, out, out(3 * cin)), "head");
        assertClose("head", logits, get(out, logits.length), RTOL);
    }

    @Test
    void badSizesAndSmallWorkspacesAreRefused() {
        FloatPointer x = zeros(64);
        BytePointer packed = new BytePointer(64L);
        long ws = CpuKernels.basq_infer_pw_workspace(4, 4, 4, 1);
        assertTrue(ws > 0);
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_infer_pw_unit(x, 4, 4, 4, x, 3, packed, x, null, out(16),
                workspace(ws / 2), ws / 2), "a workspace smaller than one thread's");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_infer_pw_unit(x, 0, 4, 4, x, 3, packed, x, null, out(16),
                workspace(ws), ws));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_infer_dw_unit(x, 1, 2, 2, 4, 3, x, 3f, 2, packed, x, null,
                out(16), workspace(1 << 20), 1 << 20), "stride 3");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_infer_dw_unit(x, 1, 2, 2, 4, 1, x, 256f, 2, packed, x, null,
                out(16), workspace(1 << 20), 1 << 20), "levels above 255");
    }
}
