package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.junit.jupiter.api.Test;

/** loss.h: softmax cross-entropy with int64 targets and the distillation loss of SPEC 5. */
class LossKernelsTest {
    /** N, K. */
    private static final int[][] SHAPES = {{1, 1}, {1, 10}, {5, 10}, {7, 3}, {300, 1000}};

    static double[] logSoftmax(float[] z, int n, int K) {
        double mx = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < K; k++) mx = Math.max(mx, z[n * K + k]);
        double s = 0;
        for (int k = 0; k < K; k++) s += Math.exp(z[n * K + k] - mx);
        double lse = mx + Math.log(s);
        double[] out = new double[K];
        for (int k = 0; k < K; k++) out[k] = z[n * K + k] - lse;
        return out;
    }

    static double xent(float[] z, long[] t, int N, int K) {
        double l = 0;
        for (int n = 0; n < N; n++) l -= logSoftmax(z, n, K)[(int) t[n]];
        return l / N;
    }

    static double kd(float[] s, float[] t, int N, int K) {
        double l = 0;
        for (int n = 0; n < N; n++) {
            double[] ls = logSoftmax(s, n, K), lt = logSoftmax(t, n, K);
            for (int k = 0; k < K; k++) l -= Math.exp(lt[k]) * ls[k];
        }
        return l / N;
    }

    @Test
    void crossEntropyForwardAndBackward() {
        Random rnd = new Random(41);
        for (int[] sh : SHAPES) {
            for (double scale : new double[] {1.0, 40.0}) {  // 40: exp would overflow without the max shift
                int N = sh[0], K = sh[1];
                float[] z = randn(rnd, N * K, scale, 3.0);
                long[] t = randint(rnd, N, K);
                FloatPointer loss = out(1), prob = out(N * K), dz = out(N * K);
                LongPointer pt = ptr(t);
                ok(CpuKernels.basq_softmax_xent_fwd(ptr(z), pt, loss, prob, N, K), "softmax_xent_fwd");
                String at = " N" + N + " K" + K + " scale " + scale;
                assertClose("xent loss" + at, xent(z, t, N, K), loss.get(), 1e-5);
                double[] p = new double[N * K], d = new double[N * K];
                float dl = 0.7f;
                for (int n = 0; n < N; n++) {
                    double[] ls = logSoftmax(z, n, K);
                    for (int k = 0; k < K; k++) {
                        p[n * K + k] = Math.exp(ls[k]);
                        d[n * K + k] = dl * (p[n * K + k] - (k == t[n] ? 1 : 0)) / N;
                    }
                }
                assertClose("softmax" + at, p, get(prob, N * K), 1e-6);
                ok(CpuKernels.basq_softmax_xent_bwd(prob, pt, scalar(dl), dz, N, K), "softmax_xent_bwd");
                assertClose("xent dlogits" + at, d, get(dz, N * K), 1e-5, 0);
                if (K > 1) assertNonTrivial("xent dlogits", d);
            }
        }
    }

    @Test
    void crossEntropyGradientMatchesFiniteDifferences() {
        Random rnd = new Random(42);
        int N = 3, K = 5;
        float[] z = randn(rnd, N * K);
        long[] t = randint(rnd, N, K);
        FloatPointer prob = out(N * K), dz = out(N * K);
        ok(CpuKernels.basq_softmax_xent_fwd(ptr(z), ptr(t), out(1), prob, N, K), "fwd");
        ok(CpuKernels.basq_softmax_xent_bwd(prob, ptr(t), scalar(1f), dz, N, K), "bwd");
        double[] fd = new double[N * K];
        for (int i = 0; i < N * K; i++) {
            float[] zp = z.clone(), zm = z.clone();
            zp[i] += 1e-2f;
            zm[i] -= 1e-2f;
            fd[i] = (kernelXent(zp, t, N, K) - kernelXent(zm, t, N, K)) / (zp[i] - zm[i]);
        }
        assertClose("xent dlogits vs finite differences", fd, get(dz, N * K), 1e-4, 1e-5);
    }

    private static double kernelXent(float[] z, long[] t, int N, int K) {
        FloatPointer l = out(1);
        ok(CpuKernels.basq_softmax_xent_fwd(ptr(z), ptr(t), l, out(N * K), N, K), "fwd");
        return l.get();
    }

    @Test
    void crossEntropyRejectsBadTargetsAndSizes() {
        FloatPointer z = out(6), l = out(1), p = out(6);
        for (long bad : new long[] {-1, 3, Long.MAX_VALUE}) {
            LongPointer t = ptr(new long[] {0, bad});
            assertEquals(CpuKernels.EINVAL, CpuKernels.basq_softmax_xent_fwd(z, t, l, p, 2, 3), "target " + bad);
            assertEquals(CpuKernels.EINVAL, CpuKernels.basq_softmax_xent_bwd(p, t, scalar(1f), z, 2, 3),
                    "target " + bad);
        }
        LongPointer t = ptr(new long[] {0, 1});
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_softmax_xent_fwd(z, t, l, p, 0, 3));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_softmax_xent_fwd(z, t, l, p, 2, 0));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_kd_loss_fwd(z, z, l, p, p, -1, 3));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_kd_loss_bwd(p, p, l, z, 2, -3));
    }

    @Test
    void distillationForwardAndBackward() {
        Random rnd = new Random(43);
        for (int[] sh : SHAPES) {
            for (double scale : new double[] {1.0, 40.0}) {
                int N = sh[0], K = sh[1];
                float[] s = randn(rnd, N * K, scale, 0), t = randn(rnd, N * K, scale, -2);
                FloatPointer loss = out(1), ps = out(N * K), pt = out(N * K), ds = out(N * K);
                ok(CpuKernels.basq_kd_loss_fwd(ptr(s), ptr(t), loss, ps, pt, N, K), "kd_loss_fwd");
                String at = " N" + N + " K" + K + " scale " + scale;
                assertClose("kd loss" + at, kd(s, t, N, K), loss.get(), 1e-5);
                double[] d = new double[N * K], rps = new double[N * K], rpt = new double[N * K];
                float dl = 1.3f;
                for (int n = 0; n < N; n++) {
                    double[] ls = logSoftmax(s, n, K), lt = logSoftmax(t, n, K);
                    for (int k = 0; k < K; k++) {
                        rps[n * K + k] = Math.exp(ls[k]);
                        rpt[n * K + k] = Math.exp(lt[k]);
                        d[n * K + k] = dl * (rps[n * K + k] - rpt[n * K + k]) / N;
                    }
                }
                assertClose("p_student" + at, rps, get(ps, N * K), 1e-6);
                assertClose("p_teacher" + at, rpt, get(pt, N * K), 1e-6);
                ok(CpuKernels.basq_kd_loss_bwd(ps, pt, scalar(dl), ds, N, K), "kd_loss_bwd");
                assertClose("kd dstudent" + at, d, get(ds, N * K), 1e-5, 0);
                if (K > 1) assertNonTrivial("kd dstudent", d);
            }
        }
    }

    @Test
    void distillationGradientMatchesFiniteDifferencesAndVanishesAtTheTeacher() {
        Random rnd = new Random(44);
        int N = 4, K = 6;
        float[] s = randn(rnd, N * K), t = randn(rnd, N * K);
        FloatPointer ps = out(N * K), pt = out(N * K), ds = out(N * K);
        ok(CpuKernels.basq_kd_loss_fwd(ptr(s), ptr(t), out(1), ps, pt, N, K), "fwd");
        ok(CpuKernels.basq_kd_loss_bwd(ps, pt, scalar(1f), ds, N, K), "bwd");
        double[] fd = new double[N * K];
        for (int i = 0; i < N * K; i++) {
            float[] sp = s.clone(), sm = s.clone();
            sp[i] += 1e-2f;
            sm[i] -= 1e-2f;
            fd[i] = (kernelKd(sp, t, N, K) - kernelKd(sm, t, N, K)) / (sp[i] - sm[i]);
        }
        assertClose("kd dstudent vs finite differences", fd, get(ds, N * K), 1e-4, 1e-5);

        // student == teacher: the loss is the teacher's entropy, the gradient zero
        FloatPointer l = out(1);
        ok(CpuKernels.basq_kd_loss_fwd(ptr(t), ptr(t), l, ps, pt, N, K), "fwd self");
        double entropy = 0;
        for (int n = 0; n < N; n++) {
            double[] lt = logSoftmax(t, n, K);
            for (int k = 0; k < K; k++) entropy -= Math.exp(lt[k]) * lt[k];
        }
        assertClose("self-distillation loss = entropy", entropy / N, l.get(), 1e-6);
        assertTrue(entropy > 0.1);
        ok(CpuKernels.basq_kd_loss_bwd(ps, pt, scalar(1f), ds, N, K), "bwd self");
        assertClose("self-distillation gradient", new double[N * K], get(ds, N * K), 1e-7);
    }

    private static double kernelKd(float[] s, float[] t, int N, int K) {
        FloatPointer l = out(1);
        ok(CpuKernels.basq_kd_loss_fwd(ptr(s), ptr(t), l, out(N * K), out(N * K), N, K), "fwd");
        return l.get();
    }
}
