package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * optim.h: Adam and SGD (Nesterov) over several steps against a float64 reimplementation of
 * torch.optim 1.13 (single-tensor path): L2 decay added to the gradient, bias corrections
 * computed by the caller.
 */
class OptimKernelsTest {

    @Test
    void adamWithWeightDecayOverSeveralSteps() {
        for (int n : new int[] {1, 1000, 100_003}) {
            Random rnd = new Random(51 + n);
            // hyper-parameters as the kernel receives them (float); torch rounds 1 - beta2 from the
            // double 0.999 instead, a 1.3e-5 relative difference in v that the float ABI cannot carry
            double lr = 1e-3, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 1e-2f;
            float[] p0 = randn(rnd, n);
            double[] p = toDouble(p0), m = new double[n], v = new double[n];
            FloatPointer pp = ptr(p0), pm = zeros(n), pv = zeros(n);
            FloatPointer pg = out(n);
            int steps = 6;
            for (int t = 1; t <= steps; t++) {
                float[] g = randn(rnd, n, 0.5, 0.1);
                if (t == 4) java.util.Arrays.fill(g, 0f);  // an unselected branch: decay and momentum still act
                pg.put(g, 0, n);
                double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
                double stepSize = lr / bc1, bc2Sqrt = Math.sqrt(bc2);
                ok(CpuKernels.basq_adam_step(pp, pg, pm, pv, n, (float) stepSize, (float) b1, (float) b2, (float) eps,
                        (float) wd, (float) bc2Sqrt), "adam_step");
                for (int i = 0; i < n; i++) {
                    double gi = g[i] + wd * p[i];
                    m[i] = b1 * m[i] + (1 - b1) * gi;
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                    p[i] -= stepSize * m[i] / (Math.sqrt(v[i]) / bc2Sqrt + eps);
                }
            }
            float[] got = get(pp, n);
            assertClose("adam p n=" + n, p, got, 2e-6);
            assertClose("adam m n=" + n, m, get(pm, n), 1e-5);
            assertCloseScaled("adam v n=" + n, v, get(pv, n), 1e-5);
            // the update itself (about steps*lr) must match to a fraction of a percent
            double[] dRef = new double[n];
            float[] dGot = new float[n];
            for (int i = 0; i < n; i++) {
                dRef[i] = p[i] - p0[i];
                dGot[i] = got[i] - p0[i];
            }
            assertEquals(true, maxAbs(dRef) > 1e-3, "adam moved the parameters");
            assertCloseScaled("adam update n=" + n, dRef, dGot, 2e-3);
        }
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
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_adam_step(a, a, a, a, -1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1f));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_adam_step(a, a, a, a, 2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 0f),
                "bc2_sqrt must be positive");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_sgd_step(a, a, a, -5, 0.1f, 0.9f, 0f, 1));
    }
}
