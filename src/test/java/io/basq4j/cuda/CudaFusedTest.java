package io.basq4j.cuda;

import static io.basq4j.cuda.CudaTestSupport.*;

import io.basq4j.tensor.Backend;
import io.basq4j.tensor.CudaBackend;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Shape;
import io.basq4j.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The fused kernels of the BASQ block against the unfused operations they replace, computed
 * by the CPU backend. Skipped where CUDA is not usable. A quantized output may land on the
 * neighbouring level where the fused kernel's scale differs from the CPU's in the last bit
 * (statistics summed in another order, a fused multiply-add): a few such flips are allowed.
 */
@ExtendWith(RequiresCuda.class)
class CudaFusedTest {
    static CudaBackend gpu;
    static Backend cpu;
    static final int[][] SHAPES = {{4, 6, 5, 5}, {2, 3, 1, 1}, {8, 4, 64, 64}, {3, 5, 7, 7}};
    static final float U = 2.5f, BIN = 2f / 3f, D = U / 3f;
    static final int QN = 0, QP = 3;

    @BeforeAll
    static void setUp() {
        if (io.basq4j.tensor.Backends.cudaAvailable()) {
            gpu = cuda();
        }
        cpu = cpu();
    }

    private static int flips(int n) {
        return 2 + n / 20_000;
    }

    @Test
    void clipWithBitMasksEqualsClip() {
        Random r = new Random(11);
        for (int n : new int[] {1, 33, 1000, 100_003}) {
            try (Scope s = Scope.open()) {
                Pair x = pair(uniform(r, n, -1, 4), n), dy = pair(randn(r, n), n), up = scalar(U), bn = scalar(BIN);
                Pair y = out(n), dx = out(n), du = out(1);
                Tensor bits = Tensor.empty(Shape.of((int) CudaBackend.clipMaskWords(n)), DType.I32, Device.CUDA);
                Tensor y2 = Tensor.empty(Device.CUDA, n), dx2 = Tensor.empty(Device.CUDA, n);
                Tensor du2 = Tensor.empty(Device.CUDA, 1);
                gpu.clipQuant(x.g(), y.g(), up.g(), bn.g());
                gpu.clipQuantBackward(x.g(), dy.g(), dx.g(), du.g(), up.g());
                gpu.clipQuantWithMask(x.g(), y2, bits, up.g(), bn.g());
                gpu.clipQuantBackwardFromMask(bits, dy.g(), dx2, du2);
                assertExact("masked forward n=" + n, y.gpuData(), y2.toFloatArray());
                assertExact("backward from masks dx n=" + n, dx.gpuData(), dx2.toFloatArray());
                assertExact("backward from masks du n=" + n, du.gpuData(), du2.toFloatArray());
                cpu.clipQuantBackward(x.c(), dy.c(), dx.c(), du.c(), up.c());
                assertClose("backward from masks du vs cpu n=" + n, du.cpuData(), du2.toFloatArray(), 1e-5);
            }
        }
    }

    @Test
    void evaluationBatchNormThenQuantizer() {
        Random r = new Random(12);
        for (int[] sh : SHAPES) {
            int c = sh[1], n = numel(sh);
            try (Scope s = Scope.open()) {
                String at = " " + Shape.of(sh);
                Pair x = pair(randn(r, n, 2, 3), sh), g = pair(uniform(r, c, 0.5, 1.5), c);
                Pair b = pair(randn(r, c, 0.5, 1), c), rm = pair(randn(r, c), c), rv = pair(uniform(r, c, 0.5, 2), c);
                Pair up = scalar(U), bn = scalar(BIN), st = pair(uniform(r, c, 0.3, 0.6), c);
                Pair z = out(sh), q = out(sh);
                cpu.batchNormEval(x.c(), g.c(), b.c(), rm.c(), rv.c(), z.c(), 1e-5f);
                cpu.clipQuant(z.c(), q.c(), up.c(), bn.c());
                gpu.batchNormEvalClipQuant(x.g(), g.g(), b.g(), rm.g(), rv.g(), q.g(), 1e-5f, up.g(), bn.g());
                assertCloseLevels("bn eval + clip" + at, q.cpuData(), q.gpuData(), 1e-6, D, flips(n));
                cpu.lsq(z.c(), st.c(), q.c(), sh[0], c, sh[2] * sh[3], QN, QP);
                gpu.batchNormEvalLsq(x.g(), g.g(), b.g(), rm.g(), rv.g(), q.g(), 1e-5f, st.g(), QN, QP);
                assertCloseLevels("bn eval + lsq" + at, q.cpuData(), q.gpuData(), 1e-6, 0.6, flips(n));
            }
        }
    }

    /** z with the fused kernels' scale a = (float)(gamma * (double)invstd), from given statistics. */
    private static float[] zOf(float[] x, float[] gamma, float[] beta, float[] mean, float[] invstd, int c, int hw) {
        float[] z = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            int k = (i / hw) % c;
            float a = (float) ((double) gamma[k] * (double) invstd[k]);
            z[i] = (x[i] - mean[k]) * a + beta[k];
        }
        return z;
    }

    @Test
    void trainingBatchNormThenQuantizer() {
        Random r = new Random(13);
        for (int[] sh : SHAPES) {
            int c = sh[1], n = numel(sh), hw = sh[2] * sh[3];
            for (boolean lsq : new boolean[] {false, true}) {
                try (Scope s = Scope.open()) {
                    String at = (lsq ? " lsq " : " clip ") + Shape.of(sh);
                    float[] xa = randn(r, n, 2, 3), ga = uniform(r, c, 0.5, 1.5), ba = randn(r, c, 0.5, 1);
                    Pair x = pair(xa, sh), g = pair(ga, c), b = pair(ba, c);
                    Pair rm = pair(randn(r, c), c), rv = pair(uniform(r, c, 0.5, 2), c);
                    Pair up = scalar(U), bn = scalar(BIN), st = pair(uniform(r, c, 0.3, 0.6), c);
                    Pair yb = out(sh), mean = out(c), invstd = out(c), q = out(sh);
                    cpu.batchNormTrain(x.c(), g.c(), b.c(), yb.c(), mean.c(), invstd.c(), rm.c(), rv.c(), 1e-5f, 0.1f);
                    Tensor zc = Tensor.of(Device.CPU, zOf(xa, ga, ba, mean.cpuData(), invstd.cpuData(), c, hw), sh);
                    if (lsq) {
                        cpu.lsq(zc, st.c(), q.c(), sh[0], c, hw, QN, QP);
                        gpu.batchNormTrainLsq(x.g(), g.g(), b.g(), q.g(), mean.g(), invstd.g(), rm.g(), rv.g(), 1e-5f,
                                0.1f, st.g(), QN, QP);
                    } else {
                        cpu.clipQuant(zc, q.c(), up.c(), bn.c());
                        gpu.batchNormTrainClipQuant(x.g(), g.g(), b.g(), q.g(), mean.g(), invstd.g(), rm.g(), rv.g(),
                                1e-5f, 0.1f, up.g(), bn.g());
                    }
                    // from the GPU's own statistics, the CPU's formulas (z in Java float32): exact
                    Tensor zg = Tensor.of(Device.CPU, zOf(xa, ga, ba, mean.gpuData(), invstd.gpuData(), c, hw), sh);
                    Pair qe = out(sh);
                    if (lsq) {
                        cpu.lsq(zg, st.c(), qe.c(), sh[0], c, hw, QN, QP);
                    } else {
                        cpu.clipQuant(zg, qe.c(), up.c(), bn.c());
                    }
                    assertExact("y by the formulas" + at, qe.cpuData(), q.gpuData());
                    assertClose("mean" + at, mean.cpuData(), mean.gpuData(), 1e-6);
                    assertClose("invstd" + at, invstd.cpuData(), invstd.gpuData(), 1e-5);
                    assertClose("running mean" + at, rm.cpuData(), rm.gpuData(), 1e-6);
                    assertClose("running var" + at, rv.cpuData(), rv.gpuData(), 1e-6);
                    assertCloseLevels("y" + at, q.cpuData(), q.gpuData(), 1e-6, lsq ? 0.6 : D, flips(n));
                }
            }
        }
    }

    /**
     * Backward: the same saved statistics on both sides, and x chosen so that z keeps clear of
     * the quantizers' decision points (0 and u; LSQ's range ends and rounding ties), where an
     * ulp of difference in the recomputed z would flip a mask.
     */
    @Test
    void trainingBatchNormThenQuantizerBackward() {
        Random r = new Random(14);
        for (int[] sh : SHAPES) {
            int c = sh[1], n = numel(sh), hw = sh[2] * sh[3];
            for (boolean lsq : new boolean[] {false, true}) {
                try (Scope s = Scope.open()) {
                    String at = (lsq ? " lsq " : " clip ") + Shape.of(sh);
                    float[] ga = uniform(r, c, 0.5, 1.5), ba = randn(r, c, 0.5, 1), ma = randn(r, c);
                    float[] ia = uniform(r, c, 0.5, 2), sa = uniform(r, c, 0.3, 0.6);
                    float[] xa = new float[n];
                    for (int i = 0; i < n; i++) {
                        int k = (i / hw) % c;
                        float a = (float) ((double) ga[k] * (double) ia[k]);
                        float z;
                        do {
                            z = (float) (r.nextDouble() * 4 - 0.8);
                        } while (nearDecision(z, lsq ? sa[k] : 0f));
                        xa[i] = (z - ba[k]) / a + ma[k];
                    }
                    float[] za = zOf(xa, ga, ba, ma, ia, c, hw);
                    Pair x = pair(xa, sh), dy = pair(randn(r, n), sh), g = pair(ga, c), b = pair(ba, c);
                    Pair mean = pair(ma, c), invstd = pair(ia, c), up = scalar(U), st = pair(sa, c);
                    Tensor zc = Tensor.of(Device.CPU, za, sh);
                    Pair dz = out(sh), dx = out(sh), dg = out(c), db = out(c), dq = out(lsq ? c : 1);
                    float gs = (float) (1 / Math.sqrt((double) n * QP));
                    if (lsq) {
                        cpu.lsqBackward(zc, st.c(), dy.c(), dz.c(), dq.c(), sh[0], c, hw, QN, QP, gs);
                    } else {
                        cpu.clipQuantBackward(zc, dy.c(), dz.c(), dq.c(), up.c());
                    }
                    cpu.batchNormBackward(x.c(), dz.c(), g.c(), mean.c(), invstd.c(), dx.c(), dg.c(), db.c());
                    if (lsq) {
                        gpu.batchNormLsqBackward(x.g(), dy.g(), g.g(), b.g(), mean.g(), invstd.g(), st.g(), dx.g(),
                                dg.g(), db.g(), dq.g(), QN, QP, gs);
                    } else {
                        gpu.batchNormClipQuantBackward(x.g(), dy.g(), g.g(), b.g(), mean.g(), invstd.g(), up.g(), dx.g(),
                                dg.g(), db.g(), dq.g());
                    }
                    assertClose("dx" + at, dx.cpuData(), dx.gpuData(), 1e-5);
                    assertClose("dgamma" + at, dg.cpuData(), dg.gpuData(), 1e-5);
                    assertClose("dbeta" + at, db.cpuData(), db.gpuData(), 1e-5);
                    assertCloseScaled(lsq ? "ds" + at : "dupper" + at, dq.cpuData(), dq.gpuData(), 1e-5);
                }
            }
        }
    }

    /**
     * The fused operations of autograd (F.batchNormClipQuant, F.batchNormLsq) on the GPU with
     * fusion on and off (--no-fused): the same forward and the same gradients, bit for bit but
     * for the clip bound's, which the unfused quantizer sums over the whole tensor at once.
     */
    @Test
    void fusedAndUnfusedAutogradAgree() {
        Random r = new Random(15);
        int[] sh = {8, 6, 12, 12};
        int c = sh[1], n = numel(sh);
        float[] xa = randn(r, n, 2, 3), ga = uniform(r, c, 0.5, 1.5), ba = randn(r, c, 0.5, 1), dya = randn(r, n);
        float[] sa = uniform(r, c, 0.3, 0.6);
        boolean was = io.basq4j.autograd.F.fusion();
        for (boolean lsq : new boolean[] {false, true}) {
            float[][][] res = new float[2][][];
            for (int f = 0; f < 2; f++) {
                io.basq4j.autograd.F.setFusion(f == 1);
                try (Scope s = Scope.open()) {
                    Tensor x = Tensor.of(Device.CUDA, xa, sh).setRequiresGrad(true);
                    Tensor g = Tensor.of(Device.CUDA, ga, c).setRequiresGrad(true);
                    Tensor b = Tensor.of(Device.CUDA, ba, c).setRequiresGrad(true);
                    Tensor rm = Tensor.zeros(Device.CUDA, c), rv = Tensor.full(Device.CUDA, 1f, c);
                    Tensor q = lsq ? Tensor.of(Device.CUDA, sa, c).setRequiresGrad(true)
                            : Tensor.scalar(Device.CUDA, U).setRequiresGrad(true);
                    Tensor y = lsq ? io.basq4j.autograd.F.batchNormLsq(x, g, b, rm, rv, true, 0.1f, 1e-5f, q, QN, QP)
                            : io.basq4j.autograd.F.batchNormClipQuant(x, g, b, rm, rv, true, 0.1f, 1e-5f, q,
                                    Tensor.scalar(Device.CUDA, BIN));
                    io.basq4j.autograd.Autograd.backward(y, Tensor.of(Device.CUDA, dya, sh));
                    res[f] = new float[][] {y.toFloatArray(), x.grad().toFloatArray(), g.grad().toFloatArray(),
                        b.grad().toFloatArray(), q.grad().toFloatArray(), rm.toFloatArray(), rv.toFloatArray()};
                } finally {
                    io.basq4j.autograd.F.setFusion(was);
                }
            }
            String at = lsq ? " lsq" : " clip";
            String[] names = {"y", "dx", "dgamma", "dbeta", lsq ? "ds" : "dupper", "running mean", "running var"};
            for (int k = 0; k < names.length; k++) {
                if (k == 4 && !lsq) {
                    assertCloseScaled(names[k] + at, res[0][k], res[1][k], 1e-6);
                } else {
                    assertExact(names[k] + at + ", fused vs unfused", res[0][k], res[1][k]);
                }
            }
        }
    }

    /** Within 1e-3 of 0 or U (clip), or of LSQ's range ends or a rounding tie of z/s. */
    private static boolean nearDecision(float z, float s) {
        if (s == 0f) {
            return Math.abs(z) < 1e-3 || Math.abs(z - U) < 1e-3;
        }
        double v = z / s;
        double frac = v - Math.floor(v);
        return Math.abs(v - QN) < 1e-3 || Math.abs(v - QP) < 1e-3 || Math.abs(frac - 0.5) < 1e-3;
    }
}
