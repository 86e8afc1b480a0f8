package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class OptimizerTest {
    private static final Device CPU = Device.CPU;

    private static float[] randn(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    private static void assertClose(double[] ref, float[] got, double rtol, String what) {
        double max = 0;
        for (double v : ref) {
            max = Math.max(max, Math.abs(v));
        }
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], got[i], rtol * Math.max(1, max), what + "[" + i + "]");
        }
    }

    @Test
    void adamFollowsTorchSemanticsPerParameterSteps() {
        Random r = new Random(11);
        int n = 37;
        float[] p0 = randn(r, n);
        for (int i = 0; i < n; i++) {
            p0[i] *= 1e-2f; // small, so that the float rounding of p stays far below the update
        }
        float[] q0 = randn(r, 5);
        double lr = 3e-3;
        double wd = 1e-2;
        try (Tensor p = Tensor.of(CPU, p0, n).setRequiresGrad(true);
                Tensor q = Tensor.of(CPU, q0, 5).setRequiresGrad(true);
                Adam adam = new Adam(List.of(new ParamGroup("a", List.of("p"), List.of(p), wd),
                        new ParamGroup("b", List.of("q"), List.of(q), 0.0)))) {
            double[] ref = new double[n];
            double[] m = new double[n];
            double[] v = new double[n];
            for (int i = 0; i < n; i++) {
                ref[i] = p0[i];
            }
            for (int t = 1; t <= 6; t++) {
                float[] g = randn(r, n);
                if (p.grad() == null) {
                    p.setGrad(Tensor.of(CPU, g, n).detach());
                } else {
                    p.grad().copyFrom(g);
                }
                adam.step(lr);
                double bc1 = 1 - Math.pow(0.9, t);
                double bc2 = 1 - Math.pow(0.999, t);
                for (int i = 0; i < n; i++) {
                    double gi = g[i] + wd * ref[i];
                    m[i] = 0.9 * m[i] + 0.1 * gi;
                    v[i] = 0.999 * v[i] + 0.001 * gi * gi;
                    ref[i] -= lr / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + 1e-8);
                }
                // torch.optim.Adam to float rounding: the update itself to a few 1e-7
                float[] got = p.toFloatArray();
                double[] dRef = new double[n];
                float[] dGot = new float[n];
                for (int i = 0; i < n; i++) {
                    dRef[i] = (ref[i] - p0[i]) / (t * lr);
                    dGot[i] = (float) ((got[i] - p0[i]) / (t * lr));
                }
                assertClose(dRef, dGot, 2e-6, "adam update after step " + t);
            }
            assertNull(q.grad());
            assertEquals(6L, adam.stepCounts().get("p"));
            assertTrue(!adam.stepCounts().containsKey("q"), "a parameter without gradient is not stepped");
            float[] qv = q.toFloatArray();
            for (int i = 0; i < 5; i++) {
                assertEquals(q0[i], qv[i]);
            }
            Map<String, Tensor> st = adam.stateTensors();
            assertEquals(2, st.size());
        }
    }

    @Test
    void sgdNesterovFollowsTorchSemantics() {
        Random r = new Random(12);
        int n = 19;
        float[] p0 = randn(r, n);
        double lr = 0.05;
        double mom = 0.9;
        double wd = 1e-3;
        try (Tensor p = Tensor.of(CPU, p0, n).setRequiresGrad(true);
                Sgd sgd = new Sgd(List.of(new ParamGroup("a", List.of("p"), List.of(p), wd)), mom, true)) {
            double[] ref = new double[n];
            double[] buf = new double[n];
            for (int i = 0; i < n; i++) {
                ref[i] = p0[i];
            }
            for (int t = 1; t <= 5; t++) {
                float[] g = randn(r, n);
                if (p.grad() == null) {
                    p.setGrad(Tensor.of(CPU, g, n).detach());
                } else {
                    p.grad().copyFrom(g);
                }
                sgd.step(lr);
                for (int i = 0; i < n; i++) {
                    double gi = g[i] + wd * ref[i];
                    buf[i] = t == 1 ? gi : mom * buf[i] + gi;
                    ref[i] -= lr * (gi + mom * buf[i]);
                }
                assertClose(ref, p.toFloatArray(), 1e-5, "sgd step " + t);
            }
        }
    }

    @Test
    void cosineScheduleAndClipping() {
        CosineSchedule s = new CosineSchedule(1.0, 10);
        assertEquals(1.0, s.at(0), 1e-12);
        assertEquals(0.5, s.at(5), 1e-12);
        assertEquals(0.0, s.at(10), 1e-12);
        try (Tensor p = Tensor.zeros(CPU, 2).setRequiresGrad(true)) {
            p.setGrad(Tensor.of(CPU, new float[] {30, 40}, 2).detach());
            double norm = GradClip.clipNorm(List.of(p), 10);
            assertEquals(50, norm, 1e-4);
            float[] g = p.grad().toFloatArray();
            assertEquals(6f, g[0], 1e-4);
            assertEquals(8f, g[1], 1e-4);
            GradClip.clipNorm(List.of(p), 100);
            assertEquals(6f, p.grad().toFloatArray()[0], 1e-6, "no clipping below the bound");
        }
    }

    @Test
    void topKAccuracy() {
        float[] logits = {0.1f, 0.9f, 0.0f, 0.5f, 0.2f, 0.3f};
        long[] t = {1, 2};
        assertEquals(1, Accuracy.correctTopK(logits, t, 2, 3, 1));
        assertEquals(2, Accuracy.correctTopK(logits, t, 2, 3, 2));
    }
}
