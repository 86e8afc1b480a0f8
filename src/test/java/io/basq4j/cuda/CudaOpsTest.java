package io.basq4j.cuda;

import static io.basq4j.cuda.CudaTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.tensor.Backend;
import io.basq4j.tensor.CachingAllocator;
import io.basq4j.tensor.ConvGeom;
import io.basq4j.tensor.CudaBackend;
import io.basq4j.tensor.CudaMath;
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
 * Every Backend operation on the GPU against the CPU backend, on random inputs, with the CPU
 * tests' tolerances (1e-5 relative, exact where both compute the same float operations).
 * Skipped, with the reason, where CUDA is not usable. TF32 is off (float32 parity).
 */
@ExtendWith(RequiresCuda.class)
class CudaOpsTest {
    static CudaBackend gpu;
    static Backend cpu;

    @BeforeAll
    static void setUp() {
        if (io.basq4j.tensor.Backends.cudaAvailable()) {
            gpu = cuda();
        }
        cpu = cpu();
    }

    // ---------------------------------------------------------------- element-wise

    @Test
    void elementwise() {
        Random r = new Random(1);
        for (int n : new int[] {1, 1001, 100_003}) {
            try (Scope s = Scope.open()) {
                String at = " n=" + n;
                Pair a = pair(randn(r, n), n), b = pair(randn(r, n), n), y = out(n);
                cpu.add(a.c(), b.c(), y.c());
                gpu.add(a.g(), b.g(), y.g());
                assertExact("add" + at, y.cpuData(), y.gpuData());
                Pair acc = pair(randn(r, n), n);
                float[] axpy = acc.cpuData();
                float[] av = a.cpuData();
                for (int i = 0; i < n; i++) {
                    axpy[i] += 0.37f * av[i]; // two roundings, as the kernel (built with --fmad=false)
                }
                cpu.axpy(0.37f, a.c(), acc.c());
                gpu.axpy(0.37f, a.g(), acc.g());
                // the CPU library's compiler may contract a*x+y into an FMA: close, not exact
                assertClose("axpy" + at, acc.cpuData(), acc.gpuData(), 1e-6);
                assertExact("axpy vs the float32 formula" + at, axpy, acc.gpuData());
                cpu.scale(acc.c(), -1.5f);
                gpu.scale(acc.g(), -1.5f);
                assertClose("scale" + at, acc.cpuData(), acc.gpuData(), 1e-6);
                cpu.relu(a.c(), y.c());
                gpu.relu(a.g(), y.g());
                assertExact("relu" + at, y.cpuData(), y.gpuData());
                cpu.reluBackward(a.c(), b.c(), y.c());
                gpu.reluBackward(a.g(), b.g(), y.g());
                assertExact("relu backward" + at, y.cpuData(), y.gpuData());
                gpu.fill(y.g(), 2.5f);
                for (float v : y.gpuData()) {
                    assertEquals(2.5f, v, "fill" + at);
                }
                gpu.copy(a.g(), y.g());
                assertExact("copy" + at, a.cpuData(), y.gpuData());
                assertEquals(cpu.sumSquares(a.c()), gpu.sumSquares(a.g()), 1e-6 * Math.max(1, cpu.sumSquares(a.c())),
                        "sum of squares" + at);
                for (float p : new float[] {0f, 0.3f}) {
                    Pair m = empty(DType.U8, n);
                    cpu.dropout(a.c(), y.c(), m.c(), p, 1234L, 77L);
                    gpu.dropout(a.g(), y.g(), m.g(), p, 1234L, 77L);
                    assertArrayEquals(bytes(m.c()), bytes(m.g()), "dropout mask (same hash)" + at + " p=" + p);
                    assertExact("dropout" + at + " p=" + p, y.cpuData(), y.gpuData());
                    cpu.dropoutBackward(b.c(), m.c(), y.c(), p);
                    gpu.dropoutBackward(b.g(), m.g(), y.g(), p);
                    assertExact("dropout backward" + at + " p=" + p, y.cpuData(), y.gpuData());
                }
            }
        }
        try (Scope s = Scope.open()) {
            Tensor l = Tensor.empty(Shape.of(5), DType.I64, Device.CUDA);
            l.fill(0f);
            assertArrayEquals(new long[5], l.toLongArray(), "zero fill of int64");
        }
    }

    // ---------------------------------------------------------------- quantizers

    @Test
    void clipQuantizer() {
        Random r = new Random(2);
        for (int n : new int[] {150, 100_003, 1_000_000}) {
            for (int bits : new int[] {2, 4}) {
                try (Scope s = Scope.open()) {
                    String at = " n=" + n + " bits=" + bits;
                    float u = 3.7f, bin = (float) (1 - 1.0 / ((1 << bits) - 1));
                    float[] xa = uniform(r, n, -0.3 * u, 1.3 * u);
                    xa[0] = 0f;
                    xa[1] = u;
                    Pair x = pair(xa, n), dy = pair(randn(r, n), n), up = scalar(u), bn = scalar(bin);
                    Pair y = out(n), dx = out(n), du = out(1);
                    cpu.clipQuant(x.c(), y.c(), up.c(), bn.c());
                    gpu.clipQuant(x.g(), y.g(), up.g(), bn.g());
                    assertExact("clip forward" + at, y.cpuData(), y.gpuData());
                    cpu.clipQuantBackward(x.c(), dy.c(), dx.c(), du.c(), up.c());
                    gpu.clipQuantBackward(x.g(), dy.g(), dx.g(), du.g(), up.g());
                    assertExact("clip backward dx" + at, dx.cpuData(), dx.gpuData());
                    assertClose("clip backward du" + at, du.cpuData(), du.gpuData(), 1e-5);
                    float first = du.gpuData()[0];
                    gpu.clipQuantBackward(x.g(), dy.g(), dx.g(), du.g(), up.g());
                    assertEquals(Float.floatToIntBits(first), Float.floatToIntBits(du.gpuData()[0]),
                            "bound gradient is deterministic" + at);
                }
            }
        }
    }

    @Test
    void lsqQuantizer() {
        Random r = new Random(3);
        int[][] shapes = {{8, 16, 784}, {1, 32, 9}, {1, 24, 27}, {4, 3, 12544}, {2, 5, 7}, {2, 300, 1}};
        int[][] ranges = {{0, 3}, {-1, 1}, {-7, 7}, {0, 3}, {0, 15}, {0, 3}};
        for (int k = 0; k < shapes.length; k++) {
            int outer = shapes[k][0], c = shapes[k][1], inner = shapes[k][2], qn = ranges[k][0], qp = ranges[k][1];
            int n = outer * c * inner;
            try (Scope s = Scope.open()) {
                String at = " [" + outer + "," + c + "," + inner + "] q[" + qn + "," + qp + "]";
                Pair x = pair(randn(r, n, 1, qn < 0 ? 0 : 0.5), n), st = pair(uniform(r, c, 0.2, 0.6), c);
                Pair dy = pair(randn(r, n), n), y = out(n), dx = out(n), ds = out(c), m = out(c);
                float g = (float) (1 / Math.sqrt((double) n * qp));
                cpu.lsq(x.c(), st.c(), y.c(), outer, c, inner, qn, qp);
                gpu.lsq(x.g(), st.g(), y.g(), outer, c, inner, qn, qp);
                assertExact("lsq forward" + at, y.cpuData(), y.gpuData());
                cpu.lsqBackward(x.c(), st.c(), dy.c(), dx.c(), ds.c(), outer, c, inner, qn, qp, g);
                gpu.lsqBackward(x.g(), st.g(), dy.g(), dx.g(), ds.g(), outer, c, inner, qn, qp, g);
                assertExact("lsq backward dx" + at, dx.cpuData(), dx.gpuData());
                assertCloseScaled("lsq backward ds" + at, ds.cpuData(), ds.gpuData(), 1e-5);
                cpu.channelAbsMean(x.c(), m.c(), outer, c, inner);
                gpu.channelAbsMean(x.g(), m.g(), outer, c, inner);
                assertClose("channel |x| mean" + at, m.cpuData(), m.gpuData(), 1e-6);
            }
        }
    }

    // ---------------------------------------------------------------- convolution, linear

    @Test
    void convolution() {
        Random r = new Random(4);
        ConvGeom[] geoms = {
            new ConvGeom(2, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1), // 3x3, pad 1
            new ConvGeom(2, 16, 10, 10, 16, 3, 3, 2, 2, 1, 1, 16), // depthwise, stride 2
            new ConvGeom(2, 8, 7, 7, 12, 1, 1, 1, 1, 0, 0, 1), // 1x1
            new ConvGeom(1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 2), // two groups
            new ConvGeom(3, 3, 32, 32, 16, 3, 3, 2, 2, 1, 1, 1), // a stem
        };
        for (ConvGeom g : geoms) {
            try (Scope s = Scope.open()) {
                int nx = g.n() * g.cin() * g.h() * g.w();
                int nw = g.cout() * (g.cin() / g.groups()) * g.kh() * g.kw();
                int ny = g.n() * g.cout() * g.ho() * g.wo();
                Pair x = pair(randn(r, nx), g.n(), g.cin(), g.h(), g.w());
                Pair w = pair(randn(r, nw, 0.2, 0), g.cout(), g.cin() / g.groups(), g.kh(), g.kw());
                Pair dy = pair(randn(r, ny), g.n(), g.cout(), g.ho(), g.wo());
                Pair y = out(g.n(), g.cout(), g.ho(), g.wo());
                Pair dx = out(g.n(), g.cin(), g.h(), g.w());
                Pair dw = out(g.cout(), g.cin() / g.groups(), g.kh(), g.kw());
                cpu.conv2d(x.c(), w.c(), y.c(), g);
                gpu.conv2d(x.g(), w.g(), y.g(), g);
                assertClose("conv forward " + g, y.cpuData(), y.gpuData(), 1e-5);
                cpu.conv2dBackwardData(dy.c(), w.c(), dx.c(), g);
                gpu.conv2dBackwardData(dy.g(), w.g(), dx.g(), g);
                assertClose("conv backward data " + g, dx.cpuData(), dx.gpuData(), 1e-5);
                cpu.conv2dBackwardFilter(x.c(), dy.c(), dw.c(), g);
                gpu.conv2dBackwardFilter(x.g(), dy.g(), dw.g(), g);
                assertClose("conv backward filter " + g, dw.cpuData(), dw.gpuData(), 1e-5);
            }
        }
    }

    /**
     * Both algorithm modes against the CPU: direct sums (the tests' default) and cuDNN's ranking
     * with its fallbacks (TF32 off: float32 tolerances; on: TF32's 10-bit mantissa).
     */
    @Test
    void convolutionInEveryAlgorithmMode() {
        Random r = new Random(11);
        ConvGeom g = new ConvGeom(4, 32, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1);
        int nx = g.n() * g.cin() * g.h() * g.w(), nw = g.cout() * g.cin() * 9, ny = g.n() * g.cout() * g.ho() * g.wo();
        try (Scope s = Scope.open()) {
            Pair x = pair(randn(r, nx), g.n(), g.cin(), g.h(), g.w());
            Pair w = pair(randn(r, nw, 0.1, 0), g.cout(), g.cin(), 3, 3);
            Pair y = out(g.n(), g.cout(), g.ho(), g.wo());
            cpu.conv2d(x.c(), w.c(), y.c(), g);
            for (CudaMath.Algorithms mode : CudaMath.Algorithms.values()) {
                for (CudaMath.Tf32 t : new CudaMath.Tf32[] {CudaMath.Tf32.OFF, CudaMath.Tf32.ON}) {
                    CudaMath.setAlgorithms(mode);
                    CudaMath.setTf32(t);
                    try {
                        gpu.conv2d(x.g(), w.g(), y.g(), g);
                    } finally {
                        CudaMath.setAlgorithms(CudaMath.Algorithms.DIRECT_SUM);
                        CudaMath.setTf32(CudaMath.Tf32.OFF);
                    }
                    assertClose("conv forward " + mode + " tf32 " + t.label(), y.cpuData(), y.gpuData(),
                            t == CudaMath.Tf32.ON ? 5e-3 : 1e-5);
                }
            }
            assertTrue(gpu.convPlans() >= 3 && gpu.convPlans() <= 512, "plans " + gpu.convPlans());
            assertEquals(ny, y.gpuData().length);
        }
    }

    @Test
    void linear() {
        Random r = new Random(5);
        int n = 5, in = 33, o = 10;
        try (Scope s = Scope.open()) {
            Pair x = pair(randn(r, n * in), n, in), w = pair(randn(r, o * in, 0.3, 0), o, in), b = pair(randn(r, o), o);
            Pair dy = pair(randn(r, n * o), n, o), y = out(n, o), dx = out(n, in), dw = out(o, in), db = out(o);
            for (boolean bias : new boolean[] {true, false}) {
                cpu.linear(x.c(), w.c(), bias ? b.c() : null, y.c());
                gpu.linear(x.g(), w.g(), bias ? b.g() : null, y.g());
                assertClose("linear forward bias=" + bias, y.cpuData(), y.gpuData(), 1e-5);
            }
            cpu.linearBackward(x.c(), w.c(), dy.c(), dx.c(), dw.c(), db.c());
            gpu.linearBackward(x.g(), w.g(), dy.g(), dx.g(), dw.g(), db.g());
            assertClose("linear backward dx", dx.cpuData(), dx.gpuData(), 1e-5);
            assertClose("linear backward dw", dw.cpuData(), dw.gpuData(), 1e-5);
            assertClose("linear backward db", db.cpuData(), db.gpuData(), 1e-5);
            gpu.linearBackward(x.g(), w.g(), dy.g(), null, dw.g(), null);
            assertClose("linear backward dw without dx", dw.cpuData(), dw.gpuData(), 1e-5);
        }
    }

    // ---------------------------------------------------------------- batch norm

    @Test
    void batchNorm() {
        Random r = new Random(6);
        int[][] shapes = {{4, 6, 5, 5}, {2, 3, 1, 1}, {8, 4, 64, 64}, {3, 5, 7, 7}, {16, 2, 32, 32}};
        for (int[] sh : shapes) {
            int c = sh[1], n = numel(sh);
            try (Scope s = Scope.open()) {
                String at = " " + Shape.of(sh);
                Pair x = pair(randn(r, n, 2, 3), sh), dy = pair(randn(r, n), sh);
                Pair gamma = pair(uniform(r, c, 0.5, 1.5), c), beta = pair(randn(r, c), c);
                Pair rm = pair(randn(r, c), c), rv = pair(uniform(r, c, 0.5, 2), c);
                Pair y = out(sh), mean = out(c), invstd = out(c);
                cpu.batchNormTrain(x.c(), gamma.c(), beta.c(), y.c(), mean.c(), invstd.c(), rm.c(), rv.c(), 1e-5f,
                        0.1f);
                gpu.batchNormTrain(x.g(), gamma.g(), beta.g(), y.g(), mean.g(), invstd.g(), rm.g(), rv.g(), 1e-5f,
                        0.1f);
                assertClose("bn train y" + at, y.cpuData(), y.gpuData(), 1e-5);
                // from its own statistics, the CPU's formula (bn_engine.h) in Java's float32: exact
                assertExact("bn train y by the formula" + at,
                        bnApply(x.cpuData(), gamma.cpuData(), beta.cpuData(), mean.gpuData(), invstd.gpuData(), null,
                                c, n / (sh[0] * c)), y.gpuData());
                assertClose("bn mean" + at, mean.cpuData(), mean.gpuData(), 1e-6);
                assertClose("bn invstd" + at, invstd.cpuData(), invstd.gpuData(), 1e-5);
                assertClose("bn running mean" + at, rm.cpuData(), rm.gpuData(), 1e-6);
                assertClose("bn running var" + at, rv.cpuData(), rv.gpuData(), 1e-6);
                cpu.batchNormEval(x.c(), gamma.c(), beta.c(), rm.c(), rv.c(), y.c(), 1e-5f);
                gpu.batchNormEval(x.g(), gamma.g(), beta.g(), rm.g(), rv.g(), y.g(), 1e-5f);
                assertClose("bn eval" + at, y.cpuData(), y.gpuData(), 1e-6);
                assertExact("bn eval by the formula" + at, bnApply(x.cpuData(), gamma.cpuData(), beta.cpuData(),
                        rm.gpuData(), null, rv.gpuData(), c, n / (sh[0] * c)), y.gpuData());
                Pair dx = out(sh), dg = out(c), db = out(c);
                // the same saved statistics on both sides
                Tensor mg = mean.c().to(Device.CUDA), ig = invstd.c().to(Device.CUDA);
                cpu.batchNormBackward(x.c(), dy.c(), gamma.c(), mean.c(), invstd.c(), dx.c(), dg.c(), db.c());
                gpu.batchNormBackward(x.g(), dy.g(), gamma.g(), mg, ig, dx.g(), dg.g(), db.g());
                assertClose("bn backward dx" + at, dx.cpuData(), dx.gpuData(), 1e-5);
                assertClose("bn backward dgamma" + at, dg.cpuData(), dg.gpuData(), 1e-5);
                assertClose("bn backward dbeta" + at, db.cpuData(), db.gpuData(), 1e-5);
            }
        }
    }

    /**
     * bn_engine.h's batch norm in Java float32 (no contraction): a = bn_train_scale(gamma, invstd)
     * when invstd is given, else bn_eval_scale(gamma, var, 1e-5); y = (x - m) * a + b.
     */
    static float[] bnApply(float[] x, float[] gamma, float[] beta, float[] mean, float[] invstd, float[] var, int c,
            int hw) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            int k = (i / hw) % c;
            float a = invstd != null ? (float) ((double) gamma[k] * (double) invstd[k])
                    : (float) ((double) gamma[k] / Math.sqrt((double) var[k] + (double) 1e-5f));
            y[i] = (x[i] - mean[k]) * a + beta[k];
        }
        return y;
    }

    /** All the tensors' squared norms with one reduction: what the CPU gives, within an ulp per tensor. */
    @Test
    void sumOfSquaresOfManyTensors() {
        Random r = new Random(12);
        try (Scope s = Scope.open()) {
            java.util.List<Tensor> cs = new java.util.ArrayList<>(), gs = new java.util.ArrayList<>();
            double tol = 0;
            for (int k = 0; k < 300; k++) {
                int n = k % 50 == 7 ? 70_000 + k : 1 + r.nextInt(2000);
                Pair p = pair(randn(r, n), n);
                cs.add(p.c());
                gs.add(p.g());
                float f = (float) cpu.sumSquares(p.c());
                tol += Math.ulp(f);
            }
            double e = cpu.sumSquares(cs);
            double a = gpu.sumSquares(gs);
            assertEquals(e, a, tol, "sum of squares of 300 tensors");
            assertEquals(Double.doubleToLongBits(a), Double.doubleToLongBits(gpu.sumSquares(gs)), "deterministic");
            assertEquals(0.0, gpu.sumSquares(java.util.List.of()));
        }
    }

    // ---------------------------------------------------------------- pooling, skip

    @Test
    void pooling() {
        Random r = new Random(7);
        int[][] avg = {{2, 3, 8, 8, 2, 2}, {1, 2, 7, 9, 2, 2}, {2, 2, 9, 9, 3, 2}, {1, 3, 10, 6, 3, 3}};
        for (int[] q : avg) {
            try (Scope s = Scope.open()) {
                int ho = (q[2] - q[4]) / q[5] + 1, wo = (q[3] - q[4]) / q[5] + 1;
                String at = " [" + q[0] + "," + q[1] + "," + q[2] + "," + q[3] + "] k" + q[4] + " s" + q[5];
                Pair x = pair(randn(r, numel(q[0], q[1], q[2], q[3])), q[0], q[1], q[2], q[3]);
                Pair y = out(q[0], q[1], ho, wo), dy = pair(randn(r, numel(q[0], q[1], ho, wo)), q[0], q[1], ho, wo);
                Pair dx = out(q[0], q[1], q[2], q[3]);
                cpu.avgPool(x.c(), y.c(), q[4], q[5]);
                gpu.avgPool(x.g(), y.g(), q[4], q[5]);
                assertExact("avg pool" + at, y.cpuData(), y.gpuData());
                cpu.avgPoolBackward(dy.c(), dx.c(), q[4], q[5]);
                gpu.avgPoolBackward(dy.g(), dx.g(), q[4], q[5]);
                // overlapping windows sum several dy * inv: the CPU's compiler may fuse that into an FMA
                assertClose("avg pool backward" + at, dx.cpuData(), dx.gpuData(), 1e-6);
            }
        }
        int[][] max = {{2, 3, 9, 9, 3, 2, 1}, {1, 2, 8, 8, 2, 2, 0}, {1, 3, 6, 6, 3, 1, 1}};
        for (int[] q : max) {
            try (Scope s = Scope.open()) {
                int ho = (q[2] + 2 * q[6] - q[4]) / q[5] + 1, wo = (q[3] + 2 * q[6] - q[4]) / q[5] + 1;
                String at = " k" + q[4] + " s" + q[5] + " p" + q[6];
                float[] xa = randn(r, numel(q[0], q[1], q[2], q[3]));
                xa[5] = Float.NaN;
                xa[11] = xa[12]; // a tie
                Pair x = pair(xa, q[0], q[1], q[2], q[3]);
                Pair y = out(q[0], q[1], ho, wo), dy = pair(randn(r, numel(q[0], q[1], ho, wo)), q[0], q[1], ho, wo);
                Pair idx = empty(DType.I32, q[0], q[1], ho, wo), dx = out(q[0], q[1], q[2], q[3]);
                cpu.maxPool(x.c(), y.c(), idx.c(), q[4], q[5], q[6]);
                gpu.maxPool(x.g(), y.g(), idx.g(), q[4], q[5], q[6]);
                assertExact("max pool" + at, y.cpuData(), y.gpuData());
                assertArrayEquals(ints(idx.c()), ints(idx.g()), "max pool argmax" + at);
                cpu.maxPoolBackward(dy.c(), idx.c(), dx.c(), q[4], q[5], q[6]);
                gpu.maxPoolBackward(dy.g(), idx.g(), dx.g(), q[4], q[5], q[6]);
                assertExact("max pool backward" + at, dx.cpuData(), dx.gpuData());
            }
        }
        for (int hw : new int[] {1, 49}) {
            try (Scope s = Scope.open()) {
                int side = (int) Math.sqrt(hw);
                Pair x = pair(randn(r, 3 * 5 * hw), 3, 5, side, side), y = out(3, 5), dy = pair(randn(r, 15), 3, 5);
                Pair dx = out(3, 5, side, side);
                cpu.globalAvgPool(x.c(), y.c());
                gpu.globalAvgPool(x.g(), y.g());
                assertClose("global avg pool hw=" + hw, y.cpuData(), y.gpuData(), 1e-6);
                cpu.globalAvgPoolBackward(dy.c(), dx.c());
                gpu.globalAvgPoolBackward(dy.g(), dx.g());
                assertExact("global avg pool backward hw=" + hw, dx.cpuData(), dx.gpuData());
            }
        }
        int[][] io = {{4, 8}, {8, 3}, {7, 3}, {3, 16}};
        for (int[] q : io) {
            try (Scope s = Scope.open()) {
                String at = " " + q[0] + "->" + q[1];
                Pair x = pair(randn(r, 2 * q[0] * 20), 2, q[0], 4, 5), y = out(2, q[1], 4, 5);
                Pair dy = pair(randn(r, 2 * q[1] * 20), 2, q[1], 4, 5), dx = out(2, q[0], 4, 5);
                cpu.flexSkip(x.c(), y.c());
                gpu.flexSkip(x.g(), y.g());
                assertExact("flexible skip" + at, y.cpuData(), y.gpuData());
                cpu.flexSkipBackward(dy.c(), dx.c());
                gpu.flexSkipBackward(dy.g(), dx.g());
                assertExact("flexible skip backward" + at, dx.cpuData(), dx.gpuData());
            }
        }
    }

    // ---------------------------------------------------------------- losses, optimizers

    @Test
    void losses() {
        Random r = new Random(8);
        for (int[] nk : new int[][] {{16, 10}, {70, 1000}, {1, 1}}) {
            int n = nk[0], k = nk[1];
            try (Scope s = Scope.open()) {
                String at = " [" + n + "," + k + "]";
                long[] t = new long[n];
                for (int i = 0; i < n; i++) {
                    t[i] = r.nextInt(k);
                }
                Pair z = pair(randn(r, n * k, 3, 0), n, k), te = pair(randn(r, n * k, 2, 0), n, k);
                Pair tg = longs(t, n), loss = out(1), prob = out(n, k), pt = out(n, k), dz = out(n, k);
                Pair dl = scalar(0.7f);
                cpu.softmaxCrossEntropy(z.c(), tg.c(), loss.c(), prob.c());
                gpu.softmaxCrossEntropy(z.g(), tg.g(), loss.g(), prob.g());
                assertClose("cross-entropy" + at, loss.cpuData(), loss.gpuData(), 1e-5);
                assertClose("softmax" + at, prob.cpuData(), prob.gpuData(), 1e-6);
                cpu.softmaxCrossEntropyBackward(prob.c(), tg.c(), dl.c(), dz.c());
                gpu.softmaxCrossEntropyBackward(prob.g(), tg.g(), dl.g(), dz.g());
                assertCloseScaled("cross-entropy backward" + at, dz.cpuData(), dz.gpuData(), 1e-5);
                cpu.kdLoss(z.c(), te.c(), loss.c(), prob.c(), pt.c());
                gpu.kdLoss(z.g(), te.g(), loss.g(), prob.g(), pt.g());
                assertClose("distillation loss" + at, loss.cpuData(), loss.gpuData(), 1e-5);
                assertClose("teacher softmax" + at, pt.cpuData(), pt.gpuData(), 1e-6);
                cpu.kdLossBackward(prob.c(), pt.c(), dl.c(), dz.c());
                gpu.kdLossBackward(prob.g(), pt.g(), dl.g(), dz.g());
                assertCloseScaled("distillation backward" + at, dz.cpuData(), dz.gpuData(), 1e-5);
            }
        }
    }

    @Test
    void optimizers() {
        Random r = new Random(9);
        for (int n : new int[] {1, 999, 40_000}) {
            try (Scope s = Scope.open()) {
                Pair p = pair(randn(r, n), n), g = pair(randn(r, n), n), m = pair(randn(r, n, 0.1, 0), n);
                Pair v = pair(uniform(r, n, 0, 0.1), n);
                cpu.adamStep(p.c(), g.c(), m.c(), v.c(), 1e-3, 0.9, 0.999, 1e-8, 1e-4, 0.3);
                gpu.adamStep(p.g(), g.g(), m.g(), v.g(), 1e-3, 0.9, 0.999, 1e-8, 1e-4, 0.3);
                assertClose("adam p n=" + n, p.cpuData(), p.gpuData(), 1e-6);
                assertClose("adam m n=" + n, m.cpuData(), m.gpuData(), 1e-6);
                assertClose("adam v n=" + n, v.cpuData(), v.gpuData(), 1e-6);
                for (boolean nesterov : new boolean[] {false, true}) {
                    cpu.sgdStep(p.c(), g.c(), m.c(), 0.05f, 0.9f, 4e-5f, nesterov);
                    gpu.sgdStep(p.g(), g.g(), m.g(), 0.05f, 0.9f, 4e-5f, nesterov);
                    assertClose("sgd p nesterov=" + nesterov, p.cpuData(), p.gpuData(), 1e-5);
                    assertClose("sgd buffer nesterov=" + nesterov, m.cpuData(), m.gpuData(), 1e-5);
                }
            }
        }
    }

    // ---------------------------------------------------------------- the backend as a whole

    @Test
    void cachingAllocatorStopsCallingCudaMalloc() {
        CachingAllocator a = gpu.allocator();
        for (int i = 0; i < 3; i++) {
            try (Scope s = Scope.open()) {
                Tensor.empty(Device.CUDA, 1 << 20);
                Tensor.empty(Device.CUDA, 3, 1000);
            }
        }
        long raw = a.rawAllocations();
        for (int i = 0; i < 5; i++) {
            try (Scope s = Scope.open()) {
                Tensor.empty(Device.CUDA, 1 << 20);
                Tensor.empty(Device.CUDA, 3, 1000);
            }
        }
        assertEquals(raw, a.rawAllocations(), "steady state reuses cached blocks");
    }

    /** A small quantized network, forward and backward through autograd, on both devices. */
    @Test
    void autogradStepMatchesCpu() {
        Random r = new Random(10);
        float[] xa = randn(r, 4 * 3 * 12 * 12), w1a = randn(r, 8 * 3 * 9, 0.3, 0), w2a = randn(r, 8 * 9, 0.3, 0);
        float[] fca = randn(r, 5 * 8, 0.3, 0), fcb = randn(r, 5, 0.1, 0), ga = uniform(r, 8, 0.5, 1.5);
        float[] ba = randn(r, 8, 0.1, 0);
        long[] t = {0, 3, 1, 4};
        float[][] grads = new float[2][];
        float[] losses = new float[2];
        for (int d = 0; d < 2; d++) {
            Device dev = d == 0 ? Device.CPU : Device.CUDA;
            Tensor w1 = Tensor.of(dev, w1a, 8, 3, 3, 3).setRequiresGrad(true);
            Tensor w2 = Tensor.of(dev, w2a, 8, 1, 3, 3).setRequiresGrad(true);
            Tensor fc = Tensor.of(dev, fca, 5, 8).setRequiresGrad(true);
            Tensor fb = Tensor.of(dev, fcb, 5).setRequiresGrad(true);
            Tensor gamma = Tensor.of(dev, ga, 8).setRequiresGrad(true);
            Tensor beta = Tensor.of(dev, ba, 8).setRequiresGrad(true);
            Tensor rm = Tensor.zeros(dev, 8), rv = Tensor.full(dev, 1f, 8);
            Tensor upper = Tensor.scalar(dev, 2.0f).setRequiresGrad(true), bin = Tensor.scalar(dev, 2f / 3f);
            try (Scope s = Scope.open()) {
                Tensor x = Tensor.of(dev, xa, 4, 3, 12, 12);
                Tensor h = F.conv2d(x, w1, 1, 1, 1);
                h = F.batchNorm(h, gamma, beta, rm, rv, true, 0.1f, 1e-5f);
                h = F.clipQuant(h, upper, bin);
                h = F.conv2d(h, w2, 2, 1, 8);
                h = F.relu(h);
                h = F.globalAvgPool(h);
                Tensor logits = F.linear(h, fc, fb);
                Tensor loss = F.crossEntropy(logits, Tensor.ofLongs(dev, t, 4));
                losses[d] = loss.item();
                Autograd.backward(loss);
            }
            grads[d] = concat(w1.grad(), w2.grad(), fc.grad(), fb.grad(), gamma.grad(), beta.grad(), upper.grad());
            for (Tensor p : new Tensor[] {w1, w2, fc, fb, gamma, beta, rm, rv, upper, bin}) {
                p.close();
            }
        }
        assertEquals(losses[0], losses[1], 1e-5 * Math.max(1, Math.abs(losses[0])), "loss");
        // a quantizer in the middle: a value that lands on another level on one device would
        // show as a large difference; with float32 parity that is rare, so compare closely
        assertCloseScaled("all parameter gradients", grads[0], grads[1], 1e-4);
        assertTrue(grads[1].length > 0);
    }

    private static float[] concat(Tensor... ts) {
        int n = 0;
        for (Tensor t : ts) {
            n += (int) t.numel();
        }
        float[] all = new float[n];
        int at = 0;
        for (Tensor t : ts) {
            float[] a = t.toFloatArray();
            System.arraycopy(a, 0, all, at, a.length);
            at += a.length;
        }
        return all;
    }
}
