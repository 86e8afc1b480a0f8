package io.basq4j.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
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

    /** A small network through most differentiable ops (no quantizer: those are straight-through). */
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

    @Test
    void gradientsMatchFiniteDifferences() {
        Random r = new Random(7);
        Map<String, Tensor> p = new LinkedHashMap<>();
        p.put("x", param(r, 1f, 2, 3, 6, 6));
        p.put("w1", param(r, 0.4f, 4, 3, 3, 3));
        p.put("gamma", param(r, 0.3f, 4));
        p.put("beta", param(r, 0.3f, 4));
        p.put("w2", param(r, 0.4f, 4, 1, 3, 3));
        p.put("w3", param(r, 0.5f, 5, 4));
        p.put("b3", param(r, 0.1f, 5));
        try (Tensor rm = Tensor.zeros(CPU, 4); Tensor rv = Tensor.full(CPU, 1f, 4);
                Tensor target = Tensor.ofLongs(CPU, new long[] {1, 3}, 2)) {
            try (Scope s = Scope.open()) {
                Autograd.backward(net(p, rm, rv, target));
            }
            Supplier<Double> loss = () -> {
                try (Scope s = Scope.open(); GradMode off = GradMode.off()) {
                    return (double) net(p, rm, rv, target).item();
                }
            };
            for (Map.Entry<String, Tensor> e : p.entrySet()) {
                Tensor t = e.getValue();
                float[] grad = t.grad().toFloatArray();
                float[] v = t.toFloatArray();
                double gmax = 0;
                for (float g : grad) {
                    gmax = Math.max(gmax, Math.abs(g));
                }
                assertTrue(gmax > 1e-4, e.getKey() + " has a non-trivial gradient");
                // A ReLU or max-pool kink within +-h of a coordinate makes its finite difference
                // meaningless; such points show as differences at h and h/8 that disagree, and are
                // skipped (at most a few per tensor), the others must match the analytic gradient.
                double tol = 2e-2 * gmax + 2e-4;
                int skipped = 0;
                int checked = 0;
                for (int k = 0; k < Math.min(v.length, 12); k++) {
                    int i = (k * 7919) % v.length;
                    double fd = centralDifference(t, v, i, 2e-3f, loss);
                    double fdSmall = centralDifference(t, v, i, 2.5e-4f, loss);
                    if (Math.abs(fd - fdSmall) > tol / 2) {
                        skipped++;
                        continue;
                    }
                    checked++;
                    assertEquals(fd, grad[i], tol, e.getKey() + "[" + i + "]");
                }
                assertTrue(skipped <= Math.max(1, checked / 4), e.getKey() + ": " + skipped
                        + " coordinates near a kink, " + checked + " checked");
            }
        } finally {
            p.values().forEach(Tensor::close);
        }
    }

    private static double centralDifference(Tensor t, float[] v, int i, float h, Supplier<Double> loss) {
        float orig = v[i];
        v[i] = orig + h;
        t.copyFrom(v);
        double up = loss.get();
        v[i] = orig - h;
        t.copyFrom(v);
        double down = loss.get();
        v[i] = orig;
        t.copyFrom(v);
        return (up - down) / (2 * h);
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
