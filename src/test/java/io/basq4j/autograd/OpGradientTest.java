package io.basq4j.autograd;

import static io.basq4j.kernels.KernelTestSupport.assertCloseScaled;
import static io.basq4j.kernels.KernelTestSupport.numel;
import static io.basq4j.kernels.KernelTestSupport.randn;
import static io.basq4j.kernels.KernelTestSupport.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.testutil.Ref64;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Every differentiable operation of {@link F}: its backward (float32, through the autograd)
 * against an independent float64 computation of the same gradient, on fresh random inputs, at a
 * relative tolerance of 1e-5 to 3e-5 of the gradient's largest element (a wrong formula is off
 * by far more). Smooth operations are checked by central differences of a float64 forward
 * ({@link Ref64}); the piecewise ones (relu, clip quantizer, LSQ, dropout) against the float64
 * derivative of SPEC 1's straight-through definition, on inputs kept at least 1e-3 away from
 * their kinks and rounding boundaries. The fused operations run both fused and layer by layer.
 * The upstream gradient is a random R (loss = sum(R * y)).
 */
class OpGradientTest {
    private static final Device CPU = Device.CPU;
    private static final float EPS = 1e-5f;
    private static final float MOMENTUM = 0.1f;

    /** One input: values, shape, and whether its gradient is checked. */
    record In(String name, float[] data, int[] shape, boolean grad) {
        static In of(String name, float[] data, int... shape) {
            return new In(name, data, shape, true);
        }

        static In constant(String name, float[] data, int... shape) {
            return new In(name, data, shape, false);
        }
    }

    // ------------------------------------------------------------------ harness

    /** Forward and backward of {@code op} with loss sum(r * y): {y, grad of each input (null if none)}. */
    private static float[][] run(Function<Tensor[], Tensor> op, float[] r, In... ins) {
        Tensor[] ts = new Tensor[ins.length];
        try {
            for (int i = 0; i < ins.length; i++) {
                ts[i] = Tensor.of(CPU, ins[i].data(), ins[i].shape()).setRequiresGrad(ins[i].grad());
            }
            float[][] out = new float[ins.length + 1][];
            try (Scope s = Scope.open()) {
                Tensor y = op.apply(ts);
                int n = (int) y.numel();
                assertEquals(r.length, n, "output size");
                out[0] = y.toFloatArray();
                Tensor loss = F.linear(F.reshape(y, 1, n), Tensor.of(CPU, r, 1, n), null);
                Autograd.backward(F.reshape(loss, 1));
            }
            for (int i = 0; i < ins.length; i++) {
                out[i + 1] = ts[i].grad() == null ? null : ts[i].grad().toFloatArray();
            }
            return out;
        } finally {
            for (Tensor t : ts) {
                if (t != null) {
                    t.close();
                }
            }
        }
    }

    private static double[][] doubles(In... ins) {
        double[][] d = new double[ins.length][];
        for (int i = 0; i < ins.length; i++) {
            d[i] = Ref64.toDouble(ins[i].data());
        }
        return d;
    }

    /**
     * Checks the op's forward against {@code f64} (when {@code forwardTol} > 0) and every
     * gradient against central differences of sum(r * f64(inputs)).
     */
    private static void checkSmooth(String what, Function<Tensor[], Tensor> op, Function<double[][], double[]> f64,
            double forwardTol, double rtol, In... ins) {
        double[][] d = doubles(ins);
        double[] y64 = f64.apply(d);
        float[] r = randn(new Random(what.hashCode()), y64.length, 1, 0);
        float[][] got = run(op, r, ins);
        if (forwardTol > 0) {
            assertCloseScaled(what + " forward", y64, got[0], forwardTol);
        }
        double[] r64 = Ref64.toDouble(r);
        for (int i = 0; i < ins.length; i++) {
            if (!ins[i].grad()) {
                continue;
            }
            double[] g = Ref64.gradient(in -> Ref64.dot(r64, f64.apply(in)), d, i, 1e-5);
            assertTrue(got[i + 1] != null, what + ": no gradient for " + ins[i].name());
            assertCloseScaled(what + " d/d" + ins[i].name(), g, got[i + 1], rtol);
        }
    }

    private static void withFusion(boolean on, Runnable r) {
        boolean was = F.fusion();
        F.setFusion(on);
        try {
            r.run();
        } finally {
            F.setFusion(was);
        }
    }

    // ------------------------------------------------------------------ element-wise

    @Test
    void relu() {
        Random rnd = new Random(1);
        float[] x = randn(rnd, 500, 1, 0);
        for (int i = 0; i < x.length; i++) {
            if (Math.abs(x[i]) < 1e-3) {
                x[i] = 0.5f; // away from the kink
            }
        }
        float[] r = randn(rnd, x.length, 1, 0);
        float[][] got = run(t -> F.relu(t[0]), r, In.of("x", x, 500));
        double[] dx = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            assertEquals(Math.max(x[i], 0f), got[0][i]);
            dx[i] = x[i] > 0 ? r[i] : 0;
        }
        assertCloseScaled("relu dx", dx, got[1], 1e-6);
    }

    @Test
    void addAndReshape() {
        Random rnd = new Random(2);
        In a = In.of("a", randn(rnd, 24, 1, 0), 2, 3, 4);
        In b = In.of("b", randn(rnd, 24, 1, 0), 2, 3, 4);
        checkSmooth("add", t -> F.add(t[0], t[1]), d -> Ref64.add(d[0], d[1]), 1e-7, 1e-6, a, b);
        checkSmooth("reshape", t -> F.reshape(F.add(t[0], t[0]), 6, 4), d -> Ref64.add(d[0], d[0]), 1e-7, 1e-6, a);
    }

    @Test
    void dropout() {
        Random rnd = new Random(3);
        int n = 4000;
        float p = 0.3f;
        float[] x = randn(rnd, n, 1, 3); // no zero inputs, so that the kept positions show in y
        float[] r = randn(rnd, n, 1, 0);
        float[][] got = run(t -> F.dropout(t[0], p, 17, 5), r, In.of("x", x, n));
        int dropped = 0;
        double[] dx = new double[n];
        for (int i = 0; i < n; i++) {
            boolean kept = got[0][i] != 0f;
            if (kept) {
                assertEquals(x[i] / (1 - p), got[0][i], 1e-6 * Math.abs(x[i] / (1 - p)), "y[" + i + "]");
                dx[i] = r[i] / (1 - p);
            } else {
                dropped++;
            }
        }
        assertTrue(Math.abs(dropped / (double) n - p) < 0.03, "dropped " + dropped + " of " + n);
        assertCloseScaled("dropout dx", dx, got[1], 1e-6);
    }

    // ------------------------------------------------------------------ quantizers (straight-through)

    @Test
    void clipQuantizer() {
        Random rnd = new Random(4);
        int n = 2000;
        float u = 4.5f;
        float bin = 1f - 1f / 3f;
        float[] x = uniform(rnd, n, -2, 7);
        for (int i = 0; i < n; i++) {
            if (Math.abs(x[i]) < 1e-3 || Math.abs(x[i] - u) < 1e-3) {
                x[i] += 0.01f;
            }
        }
        float[] r = randn(rnd, n, 1, 0);
        float[][] got = run(t -> F.clipQuant(t[0], t[1], t[2]), r, In.of("x", x, n), In.of("u", new float[] {u}, 1),
                In.constant("bin", new float[] {bin}, 1));
        double d = Ref64.clipStep(u, bin);
        double[] dx = new double[n];
        double du = 0;
        for (int i = 0; i < n; i++) {
            double c = Math.min(Math.max(x[i], 0), u);
            if (Ref64.roundingMargin(c / d) > 1e-3) {
                assertEquals(Math.rint(c / d) * d, got[0][i], 1e-5, "y[" + i + "]");
            }
            dx[i] = x[i] > 0 && x[i] < u ? r[i] : 0;
            du += x[i] > u ? r[i] : 0;
        }
        assertCloseScaled("clip dx", dx, got[1], 1e-6);
        assertCloseScaled("clip du", new double[] {du}, got[2], 1e-5);
        assertTrue(got[3] == null, "bin receives no gradient");
    }

    /** LSQ (SPEC 1.2, 1.3) with range [qn, qp], steps along {@code channelDim}. */
    private static void checkLsq(String what, int[] shape, int channelDim, int qn, int qp, long seed) {
        Random rnd = new Random(seed);
        int n = numel(shape);
        int channels = shape[channelDim];
        int inner = 1;
        for (int i = channelDim + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        float[] s = uniform(rnd, channels, 0.2, 0.6);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            int c = (i / inner) % channels;
            double v;
            do { // away from the range ends and from rounding boundaries
                v = qn - 1 + rnd.nextDouble() * (qp - qn + 2);
            } while (Ref64.roundingMargin(v) < 2e-3 || Math.abs(v - qn) < 2e-3 || Math.abs(v - qp) < 2e-3);
            x[i] = (float) (v * s[c]);
        }
        float[] r = randn(rnd, n, 1, 0);
        float[][] got = run(t -> F.lsq(t[0], t[1], qn, qp, channelDim), r, In.of("x", x, shape),
                In.of("s", s, channels));
        double g = 1 / Math.sqrt((double) n * qp);
        double[] dx = new double[n];
        double[] ds = new double[channels];
        for (int i = 0; i < n; i++) {
            int c = (i / inner) % channels;
            double v = (double) x[i] / s[c];
            double clamped = Math.min(Math.max(v, qn), qp);
            assertEquals(Math.rint(clamped) * s[c], got[0][i], 1e-6 * Math.max(1, Math.abs(clamped)), what + " y[" + i + "]");
            boolean inside = v >= qn && v <= qp;
            dx[i] = inside ? r[i] : 0;
            ds[c] += g * r[i] * (inside ? Math.rint(v) - v : v < qn ? qn : qp);
        }
        assertCloseScaled(what + " dx", dx, got[1], 1e-6);
        assertCloseScaled(what + " ds", ds, got[2], 1e-5);
    }

    @Test
    void lsqActivationAndWeightQuantizers() {
        checkLsq("lsq act 2 bits", new int[] {3, 5, 4, 4}, 1, 0, 3, 5);
        checkLsq("lsq act 4 bits", new int[] {2, 3, 5, 5}, 1, 0, 15, 6);
        checkLsq("lsq weight 2 bits", new int[] {6, 4, 3, 3}, 0, -1, 1, 7);
        checkLsq("lsq weight 3 bits", new int[] {4, 5, 3, 3}, 0, -3, 3, 8);
    }

    // ------------------------------------------------------------------ convolution, linear, pooling

    @Test
    void conv2d() {
        Random rnd = new Random(9);
        // {n, cin, h, cout, k, stride, pad, groups}
        for (int[] c : new int[][] {{2, 4, 6, 6, 3, 1, 1, 1}, {2, 4, 7, 4, 3, 2, 1, 4}, {2, 6, 5, 4, 1, 1, 0, 1},
                {1, 4, 6, 8, 3, 2, 1, 2}}) {
            int n = c[0], cin = c[1], h = c[2], cout = c[3], k = c[4], s = c[5], p = c[6], g = c[7];
            In x = In.of("x", randn(rnd, n * cin * h * h, 1, 0), n, cin, h, h);
            In w = In.of("w", randn(rnd, cout * cin / g * k * k, 0.5, 0), cout, cin / g, k, k);
            checkSmooth("conv " + java.util.Arrays.toString(c), t -> F.conv2d(t[0], t[1], s, p, g),
                    d -> Ref64.conv2d(d[0], n, cin, h, h, d[1], cout, k, s, p, g), 1e-6, 1e-5, x, w);
        }
    }

    @Test
    void linear() {
        Random rnd = new Random(10);
        In x = In.of("x", randn(rnd, 5 * 7, 1, 0), 5, 7);
        In w = In.of("w", randn(rnd, 3 * 7, 0.5, 0), 3, 7);
        In b = In.of("b", randn(rnd, 3, 0.5, 0), 3);
        checkSmooth("linear", t -> F.linear(t[0], t[1], t[2]), d -> Ref64.linear(d[0], 5, 7, d[1], 3, d[2]), 1e-6,
                1e-5, x, w, b);
    }

    @Test
    void pooling() {
        Random rnd = new Random(11);
        In x6 = In.of("x", randn(rnd, 2 * 3 * 36, 1, 0), 2, 3, 6, 6);
        checkSmooth("avg 2/2", t -> F.avgPool(t[0], 2, 2), d -> Ref64.avgPool(d[0], 2, 3, 6, 6, 2, 2), 1e-6, 1e-5,
                x6);
        In x7 = In.of("x", randn(rnd, 2 * 3 * 49, 1, 0), 2, 3, 7, 7);
        checkSmooth("avg 3/2", t -> F.avgPool(t[0], 3, 2), d -> Ref64.avgPool(d[0], 2, 3, 7, 7, 3, 2), 1e-6, 1e-5,
                x7);
        checkSmooth("global avg", t -> F.globalAvgPool(t[0]), d -> Ref64.globalAvgPool(d[0], 6, 49), 1e-6, 1e-5, x7);
        // max pooling is piecewise linear; continuous random inputs have no ties within the step
        checkSmooth("max 3/2/1", t -> F.maxPool(t[0], 3, 2, 1), d -> Ref64.maxPool(d[0], 2, 3, 7, 7, 3, 2, 1), 1e-7,
                1e-5, x7);
    }

    @Test
    void flexibleSkip() {
        Random rnd = new Random(12);
        // {cin, cout, stride}: tiling with a partial group, folding with a partial group, identity, pooled
        for (int[] c : new int[][] {{3, 7, 1}, {10, 4, 1}, {5, 5, 2}, {4, 12, 2}, {12, 4, 2}}) {
            int cin = c[0], cout = c[1], s = c[2];
            In x = In.of("x", randn(rnd, 2 * cin * 16, 1, 0), 2, cin, 4, 4);
            checkSmooth("flex " + java.util.Arrays.toString(c), t -> F.flexSkip(t[0], cout, s), d -> {
                double[] y = Ref64.flexSkip(d[0], 2, cin, cout, 16);
                return s == 1 ? y : Ref64.avgPool(y, 2, cout, 4, 4, 2, 2);
            }, 1e-6, 1e-5, x);
        }
    }

    // ------------------------------------------------------------------ losses

    @Test
    void losses() {
        Random rnd = new Random(13);
        In z = In.of("logits", randn(rnd, 6 * 5, 2, 0), 6, 5);
        long[] target = {0, 4, 2, 2, 1, 3};
        checkSmooth("cross entropy", t -> F.crossEntropy(t[0], Tensor.ofLongs(CPU, target, 6)),
                d -> new double[] {Ref64.crossEntropy(d[0], 6, 5, target)}, 1e-6, 1e-5, z);
        In teacher = In.constant("teacher", randn(rnd, 6 * 5, 2, 0), 6, 5);
        checkSmooth("kd", t -> F.kdLoss(t[0], t[1]), d -> new double[] {Ref64.kdLoss(d[0], d[1], 6, 5)}, 1e-6, 1e-5,
                z, teacher);
    }

    // ------------------------------------------------------------------ batch norm and the fused block operations

    /** Training-mode batch norm of [n, c, hw] in float64 (running statistics unused). */
    private static double[] bn64(double[] x, int n, int c, int hw, double[] gamma, double[] beta) {
        return Ref64.batchNorm(x, n, c, hw, gamma, beta, null, null, true, EPS);
    }

    @Test
    void batchNormTraining() {
        Random rnd = new Random(14);
        int n = 3, c = 4, hw = 9;
        In x = In.of("x", randn(rnd, n * c * hw, 2, 1), n, c, 3, 3);
        In g = In.of("gamma", randn(rnd, c, 0.3, 1), c);
        In b = In.of("beta", randn(rnd, c, 0.3, 0), c);
        checkSmooth("batch norm", t -> F.batchNorm(t[0], t[1], t[2], Tensor.zeros(CPU, c), Tensor.full(CPU, 1f, c),
                true, MOMENTUM, EPS), d -> bn64(d[0], n, c, hw, d[1], d[2]), 1e-5, 2e-5, x, g, b);
    }

    @Test
    void batchNormClipQuantFusedAndNot() {
        Random rnd = new Random(15);
        int n = 4, c = 3, hw = 16;
        float[] xv = randn(rnd, n * c * hw, 1.5, 0.5);
        float[] gv = randn(rnd, c, 0.2, 1.2);
        float[] bv = randn(rnd, c, 0.2, 1);
        float u = 2.5f;
        float bin = 1f - 1f / 3f;
        // The straight-through backward is the derivative of clamp(bn(x), 0, u): away from the clamp's kinks
        double[] a = bn64(Ref64.toDouble(xv), n, c, hw, Ref64.toDouble(gv), Ref64.toDouble(bv));
        for (double v : a) {
            assertTrue(Math.abs(v) > 1e-3 && Math.abs(v - u) > 1e-3, "seed puts a value at a kink: " + v);
        }
        for (boolean fused : new boolean[] {true, false}) {
            withFusion(fused, () -> checkSmooth("bn + clip" + (fused ? " fused" : ""),
                    t -> F.batchNormClipQuant(t[0], t[1], t[2], Tensor.zeros(CPU, c), Tensor.full(CPU, 1f, c), true,
                            MOMENTUM, EPS, t[3], t[4]),
                    d -> {
                        double[] y = bn64(d[0], n, c, hw, d[1], d[2]);
                        for (int i = 0; i < y.length; i++) {
                            y[i] = Math.min(Math.max(y[i], 0), d[3][0]);
                        }
                        return y;
                    }, 0, 2e-5, In.of("x", xv, n, c, 4, 4), In.of("gamma", gv, c), In.of("beta", bv, c),
                    In.of("u", new float[] {u}, 1), In.constant("bin", new float[] {bin}, 1)));
        }
    }

    @Test
    void batchNormLsqFusedAndNot() {
        Random rnd = new Random(16);
        int n = 4, c = 3, hw = 9, qp = 3;
        float[] xv = randn(rnd, n * c * hw, 1.5, 0.3);
        float[] gv = randn(rnd, c, 0.2, 1);
        float[] bv = randn(rnd, c, 0.2, 1);
        float[] sv = uniform(rnd, c, 0.4, 0.7);
        double[] a = bn64(Ref64.toDouble(xv), n, c, hw, Ref64.toDouble(gv), Ref64.toDouble(bv));
        float[] r = randn(new Random(99), a.length, 1, 0);
        // LSQ's straight-through backward in float64: the gradient reaching the batch norm, and ds
        double gscale = 1 / Math.sqrt((double) a.length * qp);
        double[] da = new double[a.length];
        double[] ds = new double[c];
        for (int i = 0; i < a.length; i++) {
            int ch = (i / hw) % c;
            double v = a[i] / sv[ch];
            assertTrue(Ref64.roundingMargin(v) > 1e-3 && Math.abs(v) > 1e-3 && Math.abs(v - qp) > 1e-3,
                    "seed puts a value at a kink: " + v);
            boolean inside = v >= 0 && v <= qp;
            da[i] = inside ? r[i] : 0;
            ds[ch] += gscale * r[i] * (inside ? Math.rint(v) - v : v < 0 ? 0 : qp);
        }
        double[][] d = {Ref64.toDouble(xv), Ref64.toDouble(gv), Ref64.toDouble(bv)};
        double[][] expected = new double[3][];
        for (int i = 0; i < 3; i++) {
            expected[i] = Ref64.gradient(in -> Ref64.dot(da, bn64(in[0], n, c, hw, in[1], in[2])), d, i, 1e-5);
        }
        for (boolean fused : new boolean[] {true, false}) {
            withFusion(fused, () -> {
                float[][] got = run(t -> F.batchNormLsq(t[0], t[1], t[2], Tensor.zeros(CPU, c),
                        Tensor.full(CPU, 1f, c), true, MOMENTUM, EPS, t[3], 0, qp), r, In.of("x", xv, n, c, 3, 3),
                        In.of("gamma", gv, c), In.of("beta", bv, c), In.of("s", sv, c));
                String w = "bn + lsq" + (fused ? " fused" : "");
                assertCloseScaled(w + " dx", expected[0], got[1], 2e-5);
                assertCloseScaled(w + " dgamma", expected[1], got[2], 2e-5);
                assertCloseScaled(w + " dbeta", expected[2], got[3], 2e-5);
                assertCloseScaled(w + " ds", ds, got[4], 2e-5);
            });
        }
    }

    @Test
    void unitTailFusedAndNot() {
        Random rnd = new Random(17);
        int n = 3, c = 4, hw = 9;
        // {skip channels, with residual}
        for (int[] cfg : new int[][] {{4, 0}, {2, 1}, {7, 0}}) {
            int cs = cfg[0];
            boolean withRes = cfg[1] == 1;
            float[] z = randn(rnd, n * c * hw, 1.5, 0.2);
            float[] g1 = randn(rnd, c, 0.2, 1);
            float[] b1 = randn(rnd, c, 0.3, 0.2);
            double[] pre = bn64(Ref64.toDouble(z), n, c, hw, Ref64.toDouble(g1), Ref64.toDouble(b1));
            for (double v : pre) {
                assertTrue(Math.abs(v) > 1e-3, "seed puts a ReLU input at its kink: " + v);
            }
            List<In> ins = new ArrayList<>(List.of(In.of("z", z, n, c, 3, 3), In.of("gamma1", g1, c),
                    In.of("beta1", b1, c), In.of("skip", randn(rnd, n * cs * hw, 1, 0), n, cs, 3, 3),
                    In.of("gamma2", randn(rnd, c, 0.2, 1), c), In.of("beta2", randn(rnd, c, 0.3, 0), c)));
            if (withRes) {
                ins.add(In.of("res", randn(rnd, n * c * hw, 1, 0), n, c, 3, 3));
            }
            Function<double[][], double[]> f64 = d -> {
                double[] a = Ref64.relu(bn64(d[0], n, c, hw, d[1], d[2]));
                double[] y = bn64(Ref64.add(a, Ref64.flexSkip(d[3], n, cs, c, hw)), n, c, hw, d[4], d[5]);
                return withRes ? Ref64.add(y, d[6]) : y;
            };
            for (boolean fused : new boolean[] {true, false}) {
                withFusion(fused, () -> checkSmooth("unit tail " + java.util.Arrays.toString(cfg)
                        + (fused ? " fused" : ""), t -> F.unitTail(t[0], new Tensor[] {t[1], t[2], Tensor.zeros(CPU, c),
                                Tensor.full(CPU, 1f, c)}, t[3], new Tensor[] {t[4], t[5], Tensor.zeros(CPU, c),
                                Tensor.full(CPU, 1f, c)}, withRes ? t[6] : null, true, MOMENTUM, EPS),
                        f64, 2e-5, 3e-5, ins.toArray(new In[0])));
            }
        }
    }
}
