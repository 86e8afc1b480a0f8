package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/** norm.h: batch normalization training forward (with running statistics), eval forward, backward. */
class NormKernelsTest {
    /** N, C, H, W: odd sizes, batch 1, one channel, HW = 1, and one above the OpenMP threshold. */
    private static final int[][] SHAPES = {{4, 3, 5, 5}, {1, 5, 7, 7}, {2, 1, 3, 3}, {7, 6, 1, 1}, {8, 16, 17, 19}};
    private static final float EPS = 1e-5f, MOM = 0.1f;

    /** Double reference of the training forward: y, mean, invstd, running mean and var after one update. */
    static final class Ref {
        double[] y, mean, invstd, rm, rv;
    }

    static Ref reference(float[] x, float[] g, float[] b, float[] rm0, float[] rv0, int N, int C, int HW, double eps,
            double mom) {
        Ref r = new Ref();
        int M = N * HW;
        r.y = new double[x.length];
        r.mean = new double[C];
        r.invstd = new double[C];
        r.rm = new double[C];
        r.rv = new double[C];
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int n = 0; n < N; n++) for (int i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
            double mean = s / M, ss = 0;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++) {
                    double d = x[(n * C + c) * HW + i] - mean;
                    ss += d * d;
                }
            double var = ss / M;
            double inv = 1 / Math.sqrt(var + eps);
            r.mean[c] = mean;
            r.invstd[c] = inv;
            r.rm[c] = (1 - mom) * rm0[c] + mom * mean;
            r.rv[c] = (1 - mom) * rv0[c] + mom * ss / (M - 1);
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++) {
                    int k = (n * C + c) * HW + i;
                    r.y[k] = (x[k] - mean) * inv * g[c] + b[c];
                }
        }
        return r;
    }

    /** Analytic backward in double: dx, dgamma, dbeta (index 0, 1, 2). */
    static double[][] referenceBackward(float[] x, float[] dy, float[] g, int N, int C, int HW, double eps) {
        double[] dx = new double[x.length], dg = new double[C], db = new double[C];
        int M = N * HW;
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int n = 0; n < N; n++) for (int i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
            double mean = s / M, ss = 0;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++) {
                    double d = x[(n * C + c) * HW + i] - mean;
                    ss += d * d;
                }
            double inv = 1 / Math.sqrt(ss / M + eps);
            double sdy = 0, sdyx = 0;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++) {
                    int k = (n * C + c) * HW + i;
                    sdy += dy[k];
                    sdyx += dy[k] * (x[k] - mean) * inv;
                }
            db[c] = sdy;
            dg[c] = sdyx;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++) {
                    int k = (n * C + c) * HW + i;
                    double xh = (x[k] - mean) * inv;
                    dx[k] = g[c] * inv * (dy[k] - sdy / M - xh * sdyx / M);
                }
        }
        return new double[][] {dx, dg, db};
    }

    @Test
    void trainingForwardMatchesDoubleReference() {
        Random rnd = new Random(21);
        for (int[] s : SHAPES) {
            int N = s[0], C = s[1], HW = s[2] * s[3], n = N * C * HW;
            // a channel offset keeps |mean| > std: the statistics must not lose it
            float[] x = randn(rnd, n, 2.0, 3.0);
            float[] g = uniform(rnd, C, 0.5, 1.5), b = randn(rnd, C);
            float[] rm = randn(rnd, C), rv = uniform(rnd, C, 0.5, 2.0);
            FloatPointer y = out(n), sm = out(C), si = out(C), prm = ptr(rm), prv = ptr(rv);
            ok(CpuKernels.basq_bn_train_fwd(ptr(x), ptr(g), ptr(b), y, sm, si, prm, prv, N, C, HW, EPS, MOM),
                    "bn_train_fwd");
            Ref r = reference(x, g, b, rm, rv, N, C, HW, EPS, MOM);
            String at = " shape " + N + "x" + C + "x" + s[2] + "x" + s[3];
            assertClose("y" + at, r.y, get(y, n), 1e-5);
            assertClose("save_mean" + at, r.mean, get(sm, C), 1e-6);
            assertClose("save_invstd" + at, r.invstd, get(si, C), 1e-6);
            assertClose("running_mean" + at, r.rm, get(prm, C), 1e-6);
            assertClose("running_var" + at, r.rv, get(prv, C), 1e-6);
            assertNonTrivial("y", r.y);
        }
    }

    @Test
    void trainingForwardWithoutRunningStatsOrSaves() {
        Random rnd = new Random(22);
        int N = 1, C = 2, HW = 1, n = 2;  // N*HW = 1 is fine when nothing uses the unbiased variance
        float[] x = randn(rnd, n), g = {1f, 2f}, b = {0.5f, -0.5f};
        FloatPointer y = out(n);
        ok(CpuKernels.basq_bn_train_fwd(ptr(x), ptr(g), ptr(b), y, null, null, null, null, N, C, HW, EPS, MOM),
                "bn_train_fwd without running stats");
        assertExact("single value per channel normalizes to beta", b, get(y, n));
        // ... but updating the running variance needs two values per channel
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_bn_train_fwd(ptr(x), ptr(g), ptr(b), y, out(C), out(C),
                zeros(C), zeros(C), N, C, HW, EPS, MOM));
    }

    @Test
    void evalForwardUsesRunningStatistics() {
        Random rnd = new Random(23);
        for (int[] s : SHAPES) {
            int N = s[0], C = s[1], HW = s[2] * s[3], n = N * C * HW;
            float[] x = randn(rnd, n, 2.0, 1.0);
            float[] g = uniform(rnd, C, 0.5, 1.5), b = randn(rnd, C);
            float[] rm = randn(rnd, C), rv = uniform(rnd, C, 0.1, 3.0);
            FloatPointer y = out(n);
            ok(CpuKernels.basq_bn_eval_fwd(ptr(x), ptr(g), ptr(b), ptr(rm), ptr(rv), y, N, C, HW, EPS),
                    "bn_eval_fwd");
            double[] ref = new double[n];
            for (int k = 0; k < n; k++) {
                int c = (k / HW) % C;
                ref[k] = (x[k] - (double) rm[c]) / Math.sqrt((double) rv[c] + EPS) * g[c] + b[c];
            }
            assertClose("eval y " + N + "x" + C + "x" + HW, ref, get(y, n), 1e-5);
        }
    }

    @Test
    void backwardMatchesAnalyticReference() {
        Random rnd = new Random(24);
        for (int[] s : SHAPES) {
            int N = s[0], C = s[1], HW = s[2] * s[3], n = N * C * HW;
            float[] x = randn(rnd, n, 1.5, -1.0), dy = randn(rnd, n);
            float[] g = uniform(rnd, C, 0.5, 1.5), b = randn(rnd, C);
            FloatPointer px = ptr(x), pg = ptr(g), y = out(n), sm = out(C), si = out(C);
            ok(CpuKernels.basq_bn_train_fwd(px, pg, ptr(b), y, sm, si, null, null, N, C, HW, EPS, MOM), "fwd");
            FloatPointer dx = out(n), dg = out(C), db = out(C);
            ok(CpuKernels.basq_bn_bwd(px, ptr(dy), pg, sm, si, dx, dg, db, N, C, HW), "bn_bwd");
            double[][] r = referenceBackward(x, dy, g, N, C, HW, EPS);
            String at = " shape " + N + "x" + C + "x" + HW;
            assertClose("dx" + at, r[0], get(dx, n), 1e-5);
            assertClose("dgamma" + at, r[1], get(dg, C), 1e-5);
            assertClose("dbeta" + at, r[2], get(db, C), 1e-5);
            assertNonTrivial("dx", r[0]);
            // dgamma and dbeta may be NULL
            FloatPointer dx2 = out(n);
            ok(CpuKernels.basq_bn_bwd(px, ptr(dy), pg, sm, si, dx2, null, null, N, C, HW), "bn_bwd nulls");
            assertExact("dx without dgamma/dbeta", get(dx, n), get(dx2, n));
        }
    }

    /** Central differences of L = sum(y * dy) through the kernel itself. */
    @Test
    void backwardMatchesFiniteDifferences() {
        Random rnd = new Random(25);
        int N = 3, C = 2, HW = 4, n = N * C * HW;
        float[] x = randn(rnd, n), dy = randn(rnd, n), g = {0.8f, 1.3f}, b = {0.1f, -0.2f};
        FloatPointer sm = out(C), si = out(C), y = out(n);
        ok(CpuKernels.basq_bn_train_fwd(ptr(x), ptr(g), ptr(b), y, sm, si, null, null, N, C, HW, EPS, MOM), "fwd");
        FloatPointer dx = out(n), dg = out(C), db = out(C);
        ok(CpuKernels.basq_bn_bwd(ptr(x), ptr(dy), ptr(g), sm, si, dx, dg, db, N, C, HW), "bwd");
        double h = 1e-2;
        double[] fd = new double[n];
        for (int k = 0; k < n; k++) {
            float[] xp = x.clone(), xm = x.clone();
            xp[k] += (float) h;
            xm[k] -= (float) h;
            fd[k] = (loss(xp, g, b, dy, N, C, HW) - loss(xm, g, b, dy, N, C, HW)) / (xp[k] - xm[k]);
        }
        assertClose("dx vs finite differences", fd, get(dx, n), 2e-3);
        double[] fdg = new double[C], fdb = new double[C];
        for (int c = 0; c < C; c++) {
            float[] gp = g.clone(), gm = g.clone(), bp = b.clone(), bm = b.clone();
            gp[c] += (float) h;
            gm[c] -= (float) h;
            bp[c] += (float) h;
            bm[c] -= (float) h;
            fdg[c] = (loss(x, gp, b, dy, N, C, HW) - loss(x, gm, b, dy, N, C, HW)) / (gp[c] - gm[c]);
            fdb[c] = (loss(x, g, bp, dy, N, C, HW) - loss(x, g, bm, dy, N, C, HW)) / (bp[c] - bm[c]);
        }
        assertClose("dgamma vs finite differences", fdg, get(dg, C), 2e-3);
        assertClose("dbeta vs finite differences", fdb, get(db, C), 2e-3);
    }

    private static double loss(float[] x, float[] g, float[] b, float[] dy, int N, int C, int HW) {
        int n = x.length;
        FloatPointer y = out(n);
        ok(CpuKernels.basq_bn_train_fwd(ptr(x), ptr(g), ptr(b), y, null, null, null, null, N, C, HW, EPS, MOM),
                "fwd");
        float[] yv = get(y, n);
        double l = 0;
        for (int k = 0; k < n; k++) l += (double) yv[k] * dy[k];
        return l;
    }

    @Test
    void badSizesAreRejected() {
        FloatPointer a = out(8), c = out(2);
        assertEquals(CpuKernels.EINVAL,
                CpuKernels.basq_bn_train_fwd(a, c, c, a, c, c, null, null, 0, 2, 4, EPS, MOM));
        assertEquals(CpuKernels.EINVAL,
                CpuKernels.basq_bn_train_fwd(a, c, c, a, c, c, null, null, 1, -2, 4, EPS, MOM));
        assertEquals(CpuKernels.EINVAL,
                CpuKernels.basq_bn_train_fwd(a, c, c, a, c, c, null, null, 1, 2, -4, EPS, MOM));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_bn_eval_fwd(a, c, c, c, c, a, -1, 2, 4, EPS));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_bn_bwd(a, a, c, c, c, a, c, c, 1, 2, 0));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_bn_bwd(a, a, c, c, c, null, c, c, 1, 2, 4));
    }
}
