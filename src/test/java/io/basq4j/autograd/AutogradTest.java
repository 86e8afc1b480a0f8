package io.basq4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.testutil.Ref64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AutogradTest {
    private static final Device CPU = Device.CPU;

    private static Tensor param(Random r, float scale, int... dims) {
        int n = 1;
        for (int d : dims) {
            n *= d;
        }
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return Tensor.of(CPU, a, dims).setRequiresGrad(true);
    }

    /**
     * A small network through several differentiable ops at once (each op alone, quantizers
     * included, is checked in {@link OpGradientTest}).
     */
    private static Tensor net(Map<String, Tensor> p, Tensor rm, Tensor rv, Tensor target) {
        Tensor x = p.get("x");
        Tensor h = F.conv2d(x, p.get("w1"), 1, 1, 1);
        h = F.batchNorm(h, p.get("gamma"), p.get("beta"), rm, rv, true, 0.1f, 1e-5f);
        h = F.relu(h);
        h = F.conv2d(h, p.get("w2"), 2, 1, 4);
        h = F.add(h, F.flexSkip(x, 4, 2));
        Tensor m = F.maxPool(h, 3, 1, 1);
        h = F.add(h, m);
        Tensor pooled = F.globalAvgPool(h);
        Tensor logits = F.linear(pooled, p.get("w3"), p.get("b3"));
        return F.crossEntropy(logits, target);
    }

    /** {@link #net} in float64 ({@link Ref64}): inputs x, w1, gamma, beta, w2, w3, b3. */
    private static double net64(double[][] p, long[] target) {
        double[] h = Ref64.conv2d(p[0], 2, 3, 6, 6, p[1], 4, 3, 1, 1, 1);
        h = Ref64.relu(Ref64.batchNorm(h, 2, 4, 36, p[2], p[3], null, null, true, 1e-5));
        h = Ref64.conv2d(h, 2, 4, 6, 6, p[4], 4, 3, 2, 1, 4);
        h = Ref64.add(h, Ref64.avgPool(Ref64.flexSkip(p[0], 2, 3, 4, 36), 2, 4, 6, 6, 2, 2));
        h = Ref64.add(h, Ref64.maxPool(h, 2, 4, 3, 3, 3, 1, 1));
        double[] logits = Ref64.linear(Ref64.globalAvgPool(h, 8, 9), 2, 4, p[5], 5, p[6]);
        return Ref64.crossEntropy(logits, 2, 5, target);
    }

    @Test
    void networkGradientsMatchFloat64FiniteDifferences() {
        Random r = new Random(7);
        Map<String, Tensor> p = new LinkedHashMap<>();
        p.put("x", param(r, 1f, 2, 3, 6, 6));
        p.put("w1", param(r, 0.4f, 4, 3, 3, 3));
        p.put("gamma", param(r, 0.3f, 4));
        p.put("beta", param(r, 0.3f, 4));
        p.put("w2", param(r, 0.4f, 4, 1, 3, 3));
        p.put("w3", param(r, 0.5f, 5, 4));
        p.put("b3", param(r, 0.1f, 5));
        long[] labels = {1, 3};
        try (Tensor rm = Tensor.zeros(CPU, 4); Tensor rv = Tensor.full(CPU, 1f, 4);
                Tensor target = Tensor.ofLongs(CPU, labels, 2)) {
            double loss32;
            try (Scope s = Scope.open()) {
                Tensor loss = net(p, rm, rv, target);
                loss32 = loss.item();
                Autograd.backward(loss);
            }
            double[][] d = new double[p.size()][];
            int k = 0;
            for (Tensor t : p.values()) {
                d[k++] = Ref64.toDouble(t.toFloatArray());
            }
            assertEquals(net64(d, labels), loss32, 1e-5 * Math.abs(loss32), "the loss itself");
            k = 0;
            for (Map.Entry<String, Tensor> e : p.entrySet()) {
                final int which = k++;
                double[] fd = Ref64.gradient(in -> net64(in, labels), d, which, 1e-5);
                double[] fdSmall = Ref64.gradient(in -> net64(in, labels), d, which, 1e-7);
                float[] grad = e.getValue().grad().toFloatArray();
                double gmax = 0;
                for (double g : fd) {
                    gmax = Math.max(gmax, Math.abs(g));
                }
                assertTrue(gmax > 1e-4, e.getKey() + " has a non-trivial gradient");
                // A ReLU or max-pool kink within a step of a coordinate shows as differences at two
                // steps that disagree; such coordinates (at most a few) are skipped, the others must
                // match the float32 backward to 2e-5 of the tensor's largest gradient.
                int skipped = 0;
                for (int i = 0; i < fd.length; i++) {
                    if (Math.abs(fd[i] - fdSmall[i]) > 1e-6 * gmax) {
                        skipped++;
                        continue;
                    }
                    assertEquals(fd[i], grad[i], 2e-5 * gmax, e.getKey() + "[" + i + "]");
                }
                assertTrue(skipped <= 2, e.getKey() + ": " + skipped + " coordinates near a kink");
            }
        } finally {
            p.values().forEach(Tensor::close);
        }
    }

    @Test
    void passThroughGradientsDoNotAlias() {
        try (Tensor x = Tensor.of(CPU, new float[] {1, -2, 3}, 3).setRequiresGrad(true)) {
            try (Scope s = Scope.open()) {
                Tensor a = F.add(x, x);        // both inputs receive the same output gradient
                Tensor b = F.add(a, F.reshape(a, 3)); // a diamond through a view
                Tensor y = F.add(b, F.relu(b));
                Tensor loss = F.linear(F.reshape(y, 1, 3), Tensor.of(CPU, new float[] {1, 1, 1}, 1, 3), null);
                Autograd.backward(F.reshape(loss, 1));
            }
            // y = 4x + relu(4x): dy/dx = 4 + 4*[x > 0]
            assertArrayEquals(new float[] {8, 4, 8}, x.grad().toFloatArray());
        }
    }

    @Test
    void leafGradientsAccumulateAcrossBackwards() {
        try (Tensor x = Tensor.of(CPU, new float[] {0.5f, 1.5f}, 1, 2).setRequiresGrad(true);
                Tensor w = Tensor.of(CPU, new float[] {2, 3}, 1, 2)) {
            for (int i = 0; i < 3; i++) {
                try (Scope s = Scope.open()) {
                    Autograd.backward(F.reshape(F.linear(x, w, null), 1));
                }
            }
            assertArrayEquals(new float[] {6, 9}, x.grad().toFloatArray());
            assertNull(w.grad(), "a tensor that does not require grad gets none");
        }
    }

    @Test
    void noGradModeRecordsNothing() {
        try (Tensor x = Tensor.of(CPU, new float[] {1, 2}, 2).setRequiresGrad(true); Scope s = Scope.open();
                GradMode off = GradMode.off()) {
            Tensor y = F.relu(x);
            assertNull(y.gradFn());
        }
    }
}
