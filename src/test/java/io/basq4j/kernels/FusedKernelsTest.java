package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;

import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * fused.h against the unfused kernel sequences they replace, on random inputs. The fused
 * kernels use the same per-element formulas and the same batch-norm loops, so every output
 * is required to be bitwise equal, except the quantizers' parameter gradients (dupper, ds):
 * their sums run over the same float terms in double but in another order than the plain
 * quantizer kernels', so they are held to 1e-6 of their scale.
 */
class FusedKernelsTest {
    /** N, C, HW: HW = 1, 4, 16 (channel groups), 256 (one chunk), 300 and 600 (chunks of a plane), odd sizes. */
    private static final int[][] SHAPES = {{4, 6, 25}, {64, 40, 1}, {8, 24, 4}, {3, 5, 16}, {2, 3, 256}, {2, 2, 300},
        {5, 7, 49}, {1, 3, 600}, {16, 96, 16}};
    private static final float EPS = 1e-5f, MOM = 0.1f;

    private static final class Bn {
        final float[] g, b, rm, rv;

        Bn(Random r, int c) {
            g = uniform(r, c, 0.5, 1.5);
            b = randn(r, c, 0.5, 0.2);
            rm = randn(r, c, 0.3, 0.0);
            rv = uniform(r, c, 0.5, 2.0);
        }
    }

    private static float[] bnEval(float[] x, Bn p, int n, int c, int hw) {
        FloatPointer y = out(x.length);
        ok(CpuKernels.basq_bn_eval_fwd(ptr(x), ptr(p.g), ptr(p.b), ptr(p.rm), ptr(p.rv), y, n, c, hw, EPS), "bn_eval");
        return get(y, x.length);
    }

    /** Unfused training forward: y, mean, invstd, running mean, running var. */
    private static float[][] bnTrain(float[] x, Bn p, int n, int c, int hw) {
        FloatPointer y = out(x.length), m = out(c), i = out(c), rm = ptr(p.rm), rv = ptr(p.rv);
        ok(CpuKernels.basq_bn_train_fwd(ptr(x), ptr(p.g), ptr(p.b), y, m, i, rm, rv, n, c, hw, EPS, MOM), "bn_train");
        return new float[][] {get(y, x.length), get(m, c), get(i, c), get(rm, c), get(rv, c)};
    }

    /** Unfused backward: dx, dgamma, dbeta. */
    private static float[][] bnBwd(float[] x, float[] dy, float[] g, float[] mean, float[] invstd, int n, int c,
            int hw) {
        FloatPointer dx = out(x.length), dg = out(c), db = out(c);
        ok(CpuKernels.basq_bn_bwd(ptr(x), ptr(dy), ptr(g), ptr(mean), ptr(invstd), dx, dg, db, n, c, hw), "bn_bwd");
        return new float[][] {get(dx, x.length), get(dg, c), get(db, c)};
    }

    private static float[] clip(float[] z, float u, float bin) {
        FloatPointer y = out(z.length);
        ok(CpuKernels.basq_clip_quant_fwd(ptr(z), y, z.length, scalar(u), scalar(bin)), "clip");
        return get(y, z.length);
    }

    private static float[] lsq(float[] z, float[] s, int n, int c, int hw, int qn, int qp) {
        FloatPointer y = out(z.length);
        ok(CpuKernels.basq_lsq_fwd(ptr(z), ptr(s), y, n, c, hw, qn, qp), "lsq");
        return get(y, z.length);
    }

    private static float[] relu(float[] z) {
        FloatPointer y = out(z.length);
        ok(CpuKernels.basq_relu_fwd(ptr(z), y, z.length), "relu");
        return get(y, z.length);
    }

    private static float[] add(float[] a, float[] b) {
        FloatPointer y = out(a.length);
        ok(CpuKernels.basq_add(ptr(a), ptr(b), y, a.length), "add");
        return get(y, a.length);
    }

    private static float[] flex(float[] x, int n, int cin, int cout, int hw) {
        if (cin == cout) return x;
        FloatPointer y = out(n * cout * hw);
        ok(CpuKernels.basq_flex_skip_fwd(ptr(x), y, n, cin, cout, hw), "flex_skip");
        return get(y, n * cout * hw);
    }

    // ---------------------------------------------------------------- BN + quantizer

    @Test
    void evalBatchNormThenClipQuantizer() {
        Random r = new Random(1);
        for (int[] sh : SHAPES) {
            int n = sh[0], c = sh[1], hw = sh[2], len = n * c * hw;
            for (float u : new float[] {2.5f, -1f}) {
                float[] x = randn(r, len, 2.0, 0.5);
                Bn p = new Bn(r, c);
                float bin = 2f / 3f;
                float[] want = clip(bnEval(x, p, n, c, hw), u, bin);
                FloatPointer y = out(len);
                ok(CpuKernels.basq_bn_eval_clip_quant_fwd(ptr(x), ptr(p.g), ptr(p.b), ptr(p.rm), ptr(p.rv), y, n, c, hw,
                        EPS, scalar(u), scalar(bin)), "bn_eval_clip_quant");
                assertExact("bn eval + clip " + n + "x" + c + "x" + hw + " u=" + u, want, get(y, len));
                if (u > 0) assertNonTrivial("bn eval + clip", want);
            }
        }
    }

    @Test
    void evalBatchNormThenLsq() {
        Random r = new Random(2);
        for (int[] sh : SHAPES) {
            int n = sh[0], c = sh[1], hw = sh[2], len = n * c * hw;
            float[] x = randn(r, len, 2.0, 0.5);
            Bn p = new Bn(r, c);
            float[] s = uniform(r, c, 0.2, 0.7);
            float[] want = lsq(bnEval(x, p, n, c, hw), s, n, c, hw, 0, 3);
            FloatPointer y = out(len);
            ok(CpuKernels.basq_bn_eval_lsq_fwd(ptr(x), ptr(p.g), ptr(p.b), ptr(p.rm), ptr(p.rv), y, n, c, hw, EPS,
                    ptr(s), 0, 3), "bn_eval_lsq");
            assertExact("bn eval + lsq " + n + "x" + c + "x" + hw, want, get(y, len));
            assertNonTrivial("bn eval + lsq", want);
        }
    }

    @Test
    void trainBatchNormThenClipQuantizerForwardAndBackward() {
        Random r = new Random(3);
        for (int[] sh : SHAPES) {
            int n = sh[0], c = sh[1], hw = sh[2], len = n * c * hw;
            if (n * hw < 2) continue;
            float u = 1.1f, bin = 2f / 3f;
            float[] x = randn(r, len, 2.0, 0.5);
            float[] dy = randn(r, len);
            Bn p = new Bn(r, c);
            String at = " " + n + "x" + c + "x" + hw;
            float[][] bn = bnTrain(x, p, n, c, hw);
            float[] want = clip(bn[0], u, bin);
            FloatPointer y = out(len), m = out(c), i = out(c), rm = ptr(p.rm), rv = ptr(p.rv);
            ok(CpuKernels.basq_bn_train_clip_quant_fwd(ptr(x), ptr(p.g), ptr(p.b), y, m, i, rm, rv, n, c, hw, EPS, MOM,
                    scalar(u), scalar(bin)), "bn_train_clip_quant");
            assertExact("y" + at, want, get(y, len));
            assertExact("mean" + at, bn[1], get(m, c));
            assertExact("invstd" + at, bn[2], get(i, c));
            assertExact("running mean" + at, bn[3], get(rm, c));
            assertExact("running var" + at, bn[4], get(rv, c));
            // backward: clip's backward on the batch norm's output, then the batch norm's
            FloatPointer dz = out(len), du = out(1);
            ok(CpuKernels.basq_clip_quant_bwd(ptr(bn[0]), ptr(dy), dz, du, len, scalar(u)), "clip_bwd");
            float[][] g = bnBwd(x, get(dz, len), p.g, bn[1], bn[2], n, c, hw);
            FloatPointer dx = out(len), dg = out(c), db = out(c), du2 = out(1);
            ok(CpuKernels.basq_bn_clip_quant_bwd(ptr(x), ptr(dy), ptr(p.g), ptr(p.b), ptr(bn[1]), ptr(bn[2]), scalar(u),
                    dx, dg, db, du2, n, c, hw), "bn_clip_quant_bwd");
            assertExact("dx" + at, g[0], get(dx, len));
            assertExact("dgamma" + at, g[1], get(dg, c));
            assertExact("dbeta" + at, g[2], get(db, c));
            assertClose("dupper" + at, du.get(), du2.get(), 1e-6);
            assertNonTrivial("dx", g[0]);
        }
    }

    @Test
    void trainBatchNormThenLsqForwardAndBackward() {
        Random r = new Random(4);
        for (int[] sh : SHAPES) {
            int n = sh[0], c = sh[1], hw = sh[2], len = n * c * hw;
            if (n * hw < 2) continue;
            float[] x = randn(r, len, 2.0, 0.5);
            float[] dy = randn(r, len);
            float[] s = uniform(r, c, 0.2, 0.7);
            Bn p = new Bn(r, c);
            String at = " " + n + "x" + c + "x" + hw;
            float[][] bn = bnTrain(x, p, n, c, hw);
            float[] want = lsq(bn[0], s, n, c, hw, 0, 3);
            FloatPointer y = out(len), m = out(c), i = out(c), rm = ptr(p.rm), rv = ptr(p.rv);
            ok(CpuKernels.basq_bn_train_lsq_fwd(ptr(x), ptr(p.g), ptr(p.b), y, m, i, rm, rv, n, c, hw, EPS, MOM,
                    ptr(s), 0, 3), "bn_train_lsq");
            assertExact("y" + at, want, get(y, len));
            assertExact("mean" + at, bn[1], get(m, c));
            assertExact("invstd" + at, bn[2], get(i, c));
            assertExact("running mean" + at, bn[3], get(rm, c));
            assertExact("running var" + at, bn[4], get(rv, c));
            float gscale = (float) (1.0 / Math.sqrt((double) len * 3));
            FloatPointer dz = out(len), ds = out(c);
            ok(CpuKernels.basq_lsq_bwd(ptr(bn[0]), ptr(s), ptr(dy), dz, ds, n, c, hw, 0, 3, gscale), "lsq_bwd");
            float[][] g = bnBwd(x, get(dz, len), p.g, bn[1], bn[2], n, c, hw);
            FloatPointer dx = out(len), dg = out(c), db = out(c), ds2 = out(c);
            ok(CpuKernels.basq_bn_lsq_bwd(ptr(x), ptr(dy), ptr(p.g), ptr(p.b), ptr(bn[1]), ptr(bn[2]), ptr(s), dx, dg,
                    db, ds2, n, c, hw, 0, 3, gscale), "bn_lsq_bwd");
            assertExact("dx" + at, g[0], get(dx, len));
            assertExact("dgamma" + at, g[1], get(dg, c));
            assertExact("dbeta" + at, g[2], get(db, c));
            assertCloseScaled("ds" + at, get(ds, c), get(ds2, c), 1e-6);
        }
    }

    // ---------------------------------------------------------------- unit tail

    /** Skip channel counts: equal, tiling (exact and not), folding (exact and not). */
    private static int[] skipChannels(int c) {
        return c == 1 ? new int[] {1, 3} : new int[] {c, Math.max(1, c / 2), Math.max(1, c - 1), 2 * c, 2 * c + 1};
    }

    @Test
    void evalUnitTail() {
        Random r = new Random(5);
        for (int[] sh : SHAPES) {
            int n = sh[0], c = sh[1], hw = sh[2], len = n * c * hw;
            for (int cs : skipChannels(c)) {
                for (boolean withRes : new boolean[] {false, true}) {
                    float[] z = randn(r, len, 1.5, 0.2);
                    float[] skip = randn(r, n * cs * hw);
                    float[] res = withRes ? randn(r, len) : null;
                    Bn p1 = new Bn(r, c), p2 = new Bn(r, c);
                    float[] want = bnEval(add(relu(bnEval(z, p1, n, c, hw)), flex(skip, n, cs, c, hw)), p2, n, c, hw);
                    if (withRes) want = add(want, res);
                    FloatPointer y = out(len);
                    ok(CpuKernels.basq_unit_tail_eval_fwd(ptr(z), ptr(p1.g), ptr(p1.b), ptr(p1.rm), ptr(p1.rv),
                            ptr(skip), cs, ptr(p2.g), ptr(p2.b), ptr(p2.rm), ptr(p2.rv), withRes ? ptr(res) : null, y, n,
                            c, hw, EPS), "unit_tail_eval");
                    assertExact("tail eval " + n + "x" + c + "x" + hw + " skip " + cs + " res " + withRes, want,
                            get(y, len));
                }
            }
        }
    }

    @Test
    void trainUnitTailForwardAndBackward() {
        Random r = new Random(6);
        for (int[] sh : SHAPES) {
            int n = sh[0], c = sh[1], hw = sh[2], len = n * c * hw;
            if (n * hw < 2) continue;
            for (int cs : skipChannels(c)) {
                String at = " " + n + "x" + c + "x" + hw + " skip " + cs;
                float[] z = randn(r, len, 1.5, 0.2);
                float[] skip = randn(r, n * cs * hw);
                float[] dy = randn(r, len);
                Bn p1 = new Bn(r, c), p2 = new Bn(r, c);
                // unfused: BN1, ReLU, flexible skip, add, BN2
                float[][] b1 = bnTrain(z, p1, n, c, hw);
                float[] a = relu(b1[0]);
                float[] s = add(a, flex(skip, n, cs, c, hw));
                float[][] b2 = bnTrain(s, p2, n, c, hw);
                FloatPointer sOut = out(len), y = out(len), m1 = out(c), i1 = out(c), m2 = out(c), i2 = out(c);
                FloatPointer rm1 = ptr(p1.rm), rv1 = ptr(p1.rv), rm2 = ptr(p2.rm), rv2 = ptr(p2.rv);
                ok(CpuKernels.basq_unit_tail_train_fwd(ptr(z), ptr(p1.g), ptr(p1.b), m1, i1, rm1, rv1, ptr(skip), cs,
                        ptr(p2.g), ptr(p2.b), m2, i2, rm2, rv2, sOut, y, n, c, hw, EPS, MOM), "unit_tail_train");
                assertExact("s" + at, s, get(sOut, len));
                assertExact("y" + at, b2[0], get(y, len));
                assertExact("mean1" + at, b1[1], get(m1, c));
                assertExact("invstd1" + at, b1[2], get(i1, c));
                assertExact("running mean1" + at, b1[3], get(rm1, c));
                assertExact("running var1" + at, b1[4], get(rv1, c));
                assertExact("mean2" + at, b2[1], get(m2, c));
                assertExact("invstd2" + at, b2[2], get(i2, c));
                assertExact("running mean2" + at, b2[3], get(rm2, c));
                assertExact("running var2" + at, b2[4], get(rv2, c));
                // unfused backward: BN2, (add: pass-through), ReLU, BN1
                float[][] g2 = bnBwd(s, dy, p2.g, b2[1], b2[2], n, c, hw);
                FloatPointer dr = out(len);
                ok(CpuKernels.basq_relu_bwd(ptr(a), ptr(g2[0]), dr, len), "relu_bwd");
                float[][] g1 = bnBwd(z, get(dr, len), p1.g, b1[1], b1[2], n, c, hw);
                FloatPointer ds = out(len), dz = out(len), dg1 = out(c), db1 = out(c), dg2 = out(c), db2 = out(c);
                ok(CpuKernels.basq_unit_tail_bwd(ptr(z), ptr(s), ptr(dy), ptr(p1.g), ptr(p1.b), ptr(b1[1]), ptr(b1[2]),
                        ptr(p2.g), ptr(b2[1]), ptr(b2[2]), ds, dz, dg1, db1, dg2, db2, n, c, hw), "unit_tail_bwd");
                assertExact("ds" + at, g2[0], get(ds, len));
                assertExact("dz" + at, g1[0], get(dz, len));
                assertExact("dgamma1" + at, g1[1], get(dg1, c));
                assertExact("dbeta1" + at, g1[2], get(db1, c));
                assertExact("dgamma2" + at, g2[1], get(dg2, c));
                assertExact("dbeta2" + at, g2[2], get(db2, c));
                assertNonTrivial("dz", g1[0]);
            }
        }
    }

    /** Batch-norm statistics and the fused reductions are bitwise the same for any thread count. */
    @Test
    void resultsDoNotDependOnTheThreadCount() {
        int before = CpuKernels.basq_num_threads();
        try {
            Random r = new Random(7);
            int n = 32, c = 40, hw = 64, len = n * c * hw;  // above the OpenMP threshold
            float[] x = randn(r, len, 2.0, 0.5), dy = randn(r, len);
            Bn p = new Bn(r, c);
            float[][] ref = null;
            for (int threads : new int[] {1, 2, 3}) {
                CpuKernels.basq_set_num_threads(threads);
                float[][] bn = bnTrain(x, p, n, c, hw);
                float[][] g = bnBwd(x, dy, p.g, bn[1], bn[2], n, c, hw);
                FloatPointer dx = out(len), dg = out(c), db = out(c), du = out(1);
                ok(CpuKernels.basq_bn_clip_quant_bwd(ptr(x), ptr(dy), ptr(p.g), ptr(p.b), ptr(bn[1]), ptr(bn[2]),
                        scalar(1.1f), dx, dg, db, du, n, c, hw), "bn_clip_quant_bwd");
                float[][] all = {bn[0], bn[1], bn[2], g[0], g[1], g[2], get(dx, len), get(du, 1)};
                if (ref == null) {
                    ref = all;
                } else {
                    for (int k = 0; k < all.length; k++) assertExact("output " + k + ", " + threads + " threads", ref[k], all[k]);
                }
            }
        } finally {
            CpuKernels.basq_set_num_threads(before);
        }
    }

    @Test
    void rejectsBadArguments() {
        FloatPointer one = scalar(1f);
        org.junit.jupiter.api.Assertions.assertEquals(CpuKernels.EINVAL, CpuKernels.basq_bn_eval_lsq_fwd(one, one, one,
                one, one, out(1), 1, 1, 1, EPS, one, 3, 0), "qn > qp");
        org.junit.jupiter.api.Assertions.assertEquals(CpuKernels.EINVAL, CpuKernels.basq_unit_tail_eval_fwd(one, one,
                one, one, one, one, 0, one, one, one, one, null, out(1), 1, 1, 1, EPS), "Cskip 0");
        org.junit.jupiter.api.Assertions.assertEquals(CpuKernels.EINVAL, CpuKernels.basq_bn_train_clip_quant_fwd(one,
                one, one, out(1), null, null, null, null, 1, 1, 1, EPS, MOM, one, one), "no saved statistics");
    }
}
