package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * optim.h: Adam and SGD (Nesterov) over several steps against a float64 reimplementation of
 * torch.optim 1.13 (single-tensor path): L2 decay added to the gradient, bias corrections
 * computed by the caller (in double, as the Adam kernel receives them).
 */
class OptimKernelsTest {

    /**
     * torch.optim.Adam's update (1.13, single tensor; L2 decay added to the gradient) in float64,
     * from the given initial parameters and gradients; returns {p, m, v} after the last step.
     */
    static double[][] torchAdam64(float[] p0, float[][] grads, double lr, double b1, double b2, double eps,
            double wd) {
        int n = p0.length;
        double[] p = toDouble(p0), m = new double[n], v = new double[n];
        for (int t = 1; t <= grads.length; t++) {
            double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
            for (int i = 0; i < n; i++) {
                double gi = grads[t - 1][i] + wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                p[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
            }
        }
        return new double[][] {p, m, v};
    }

    /** Runs the kernel over the steps with the hyper-parameters as given (in double); returns {p, m, v}. */
    static float[][] adamKernel(float[] p0, float[][] grads, double lr, double b1, double b2, double eps, double wd) {
        int n = p0.length;
        FloatPointer pp = ptr(p0), pm = zeros(n), pv = zeros(n), pg = out(n);
        for (int t = 1; t <= grads.length; t++) {
            pg.put(grads[t - 1], 0, n);
            double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
            ok(CpuKernels.basq_adam_step(pp, pg, pm, pv, n, lr / bc1, b1, b2, eps, wd, Math.sqrt(bc2)), "adam_step");
        }
        return new float[][] {get(pp, n), get(pm, n), get(pv, n)};
    }

    /** Largest |a - b| / |b| over elements (b all non-zero). */
    static double maxRelative(float[] a, double[] b) {
        double w = 0;
        for (int i = 0; i < a.length; i++) {
            w = Math.max(w, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
        }
        return w;
    }

    @Test
    void adamMatchesTorchToFloatRounding() {
        double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 1e-2;
        for (int n : new int[] {1, 1000, 100_003}) {
            Random rnd = new Random(51 + n);
            // small parameters, so that float rounding of p stays far below the update itself
            float[] p0 = randn(rnd, n, 1e-2, 0);
            float[][] grads = new float[6][];
            for (int t = 0; t < grads.length; t++) {
                grads[t] = randn(rnd, n, 0.5, 0.1);
            }
            java.util.Arrays.fill(grads[3], 0f);  // an unselected branch: decay and momentum still act
            double[][] ref = torchAdam64(p0, grads, lr, b1, b2, eps, wd);
            float[][] got = adamKernel(p0, grads, lr, b1, b2, eps, wd);
            // v > 0 everywhere: per element, a few float roundings per step
            double vErr = maxRelative(got[2], ref[2]);
            assertEquals(true, vErr < 2e-6, "adam v n=" + n + ": relative error " + vErr);
            assertClose("adam m n=" + n, ref[1], got[1], 1e-6);
            double[] dRef = new double[n];
            float[] dGot = new float[n];
            for (int i = 0; i < n; i++) {
                dRef[i] = ref[0][i] - p0[i];
                dGot[i] = got[0][i] - p0[i];
            }
            assertEquals(true, maxAbs(dRef) > 1e-3, "adam moved the parameters");
            assertCloseScaled("adam update n=" + n, dRef, dGot, 2e-6);
        }
    }

    @Test
    void betaRoundedToFloatBeforeOneMinusIsDetected() {
        // The check above can fail: 1 - (float) 0.999 instead of (float) (1 - 0.999) is a
        // 1.3e-5 relative error in v, which it must not accept.
        Random rnd = new Random(5);
        int n = 1000;
        float[] p0 = randn(rnd, n, 1e-2, 0);
        float[][] grads = {randn(rnd, n, 0.5, 0.1), randn(rnd, n, 0.5, 0.1)};
        double[][] ref = torchAdam64(p0, grads, 1e-3, 0.9, 0.999, 1e-8, 0);
        float[][] got = adamKernel(p0, grads, 1e-3, 0.9, (double) 0.999f, 1e-8, 0);
        double vErr = maxRelative(got[2], ref[2]);
        assertEquals(true, vErr > 1e-5, "relative error " + vErr);
    }

    @Test
    void sgdNesterovAndPlainMomentum() {
        for (int nesterov : new int[] {1, 0}) {
            for (int n : new int[] {3, 100_003}) {
                Random rnd = new Random(61 + n + nesterov);
                double lr = 0.05f, mom = 0.9f, wd = 1e-4f;
                float[] p0 = randn(rnd, n);
                double[] p = toDouble(p0), buf = new double[n];
                FloatPointer pp = ptr(p0), pb = zeros(n), pg = out(n);
                for (int t = 1; t <= 5; t++) {
                    float[] g = randn(rnd, n);
                    pg.put(g, 0, n);
                    ok(CpuKernels.basq_sgd_step(pp, pg, pb, n, (float) lr, (float) mom, (float) wd, nesterov),
                            "sgd_step");
                    for (int i = 0; i < n; i++) {
                        double gi = g[i] + wd * p[i];
                        // torch: buf = clone(g') at the first step, then momentum*buf + g'
                        buf[i] = t == 1 ? gi : mom * buf[i] + gi;
                        double d = nesterov == 1 ? gi + mom * buf[i] : buf[i];
                        p[i] -= lr * d;
                    }
                }
                String at = (nesterov == 1 ? " nesterov" : " plain") + " n=" + n;
                assertClose("sgd p" + at, p, get(pp, n), 2e-6);
                assertClose("sgd buf" + at, buf, get(pb, n), 1e-5);
                double moved = 0;
                float[] got = get(pp, n);
                for (int i = 0; i < n; i++) moved = Math.max(moved, Math.abs(got[i] - p0[i]));
                assertEquals(true, moved > 0.1, "sgd moved the parameters");
            }
        }
    }

    @Test
    void sgdWithZeroLearningRateOnlyUpdatesTheBuffer() {
        float[] p0 = {1f, -2f, 3f};
        FloatPointer pp = ptr(p0), pb = zeros(3);
        ok(CpuKernels.basq_sgd_step(pp, ptr(new float[] {1f, 1f, 1f}), pb, 3, 0f, 0.9f, 0f, 1), "sgd lr 0");
        assertExact("p unchanged", p0, get(pp, 3));
        assertExact("buf = g", new float[] {1f, 1f, 1f}, get(pb, 3));
    }

    @Test
    void negativeSizesAreRejected() {
        FloatPointer a = out(2);
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_adam_step(a, a, a, a, -1, 1e-3, 0.9, 0.999, 1e-8, 0, 1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_adam_step(a, a, a, a, 2, 1e-3, 0.9, 0.999, 1e-8, 0, 0),
                "bc2_sqrt must be positive");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_sgd_step(a, a, a, -5, 0.1f, 0.9f, 0f, 1));
    }
}
