package io.basq4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.nn.Init;
import io.basq4j.nn.Parameter;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ResNetSupernetTest {
    private static final Pattern BRANCHED =
            Pattern.compile("feature\\.(\\d+)\\.(?:branch_bn_q_|branch_bn_|bn)(\\d)(?:_last)?\\.(\\d+)\\..*");

    private static float maxAbs(Tensor t) {
        float m = 0;
        for (float v : t.toFloatArray()) {
            assertTrue(Float.isFinite(v), "finite gradient");
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /**
     * Forward and backward with a random selection: logits [N, classes]; every gradient finite;
     * the selected branches' parameters get non-zero gradients, the others none or zero.
     */
    private static void forwardBackward(Supernet m, int n, int res, boolean weightQuant) {
        Random r = new Random(3);
        int[] sel = new int[m.searchedUnits()];
        for (int i = 0; i < sel.length; i++) {
            sel[i] = r.nextInt(m.branches());
        }
        // small clip bounds so that some activations exceed them and the bounds get a gradient
        for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
            if (e.getKey().endsWith("upper_bound")) {
                e.getValue().tensor().fill(1.5f);
            }
        }
        m.train();
        if (weightQuant) {
            m.setWeightQuantization(true);
        }
        try (Scope s = Scope.open()) {
            Tensor x = Init.cpu(4).uniform(2.0, n, m.config().inChannels(), res, res);
            Tensor logits = m.forward(x, sel);
            assertArrayEquals(new int[] {n, m.config().classes()}, logits.shape().dims());
            long[] labels = new long[n];
            for (int i = 0; i < n; i++) {
                labels[i] = i % m.config().classes();
            }
            Autograd.backward(F.crossEntropy(logits, Tensor.ofLongs(x.device(), labels, n)));
        }
        // unit index of feature f, unit k (1 or 2): blocks have two units each, in order
        for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
            String name = e.getKey();
            Parameter p = e.getValue();
            Matcher mt = BRANCHED.matcher(name);
            if (mt.matches()) {
                int feature = Integer.parseInt(mt.group(1));
                int unit = 2 * (feature - 1) + Integer.parseInt(mt.group(2)) - 1;
                int branch = Integer.parseInt(mt.group(3));
                boolean selected = sel[unit] == branch;
                if (name.endsWith(".bin")) {
                    assertEquals(null, p.grad(), name);
                } else if (selected) {
                    assertNotNull(p.grad(), name);
                    float g = maxAbs(p.grad());
                    // a BN_c bias feeding only training-mode batch norms has a zero gradient in theory
                    if (!(name.contains("_last.") && name.endsWith(".bias"))) {
                        assertTrue(g > 0, "non-zero gradient for selected " + name);
                    }
                } else {
                    assertTrue(p.grad() == null || maxAbs(p.grad()) == 0f, "no gradient for unselected " + name);
                }
            } else if (name.endsWith("w_quantize.s") && !weightQuant) {
                assertEquals(null, p.grad(), "weight steps are unused without weight quantization: " + name);
            } else if (p.trainable()) {
                assertNotNull(p.grad(), name);
                float g = maxAbs(p.grad());
                if (!name.endsWith(".bias") || name.startsWith("classifier")) {
                    assertTrue(g > 0, "non-zero gradient for " + name);
                }
            }
        }
    }

    @Test
    void resnet20ForwardBackward() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.5).withResolution(16).withClasses(5).withBranches(3)
                .withDropout(0f);
        try (Supernet m = Models.create("resnet20", cfg)) {
            assertEquals(18, m.searchedUnits());
            assertEquals(4, m.outputSize());
            assertEquals(10, m.features().size());
            Map<String, Tensor> st = m.stateTensors();
            assertArrayEquals(new int[] {8 * 8 * 9, 1}, st.get("feature.1.conv1.weights").shape().dims());
            assertArrayEquals(new int[] {16 * 8 * 9, 1}, st.get("feature.4.conv1.weights").shape().dims());
            assertArrayEquals(new int[] {16 * 16 * 9, 1}, st.get("feature.4.conv2.weights").shape().dims());
            assertArrayEquals(new int[] {8, 3, 3, 3}, st.get("feature.0.conv1.weight").shape().dims());
            assertArrayEquals(new int[] {1}, st.get("feature.9.branch_bn_q_2.2.1.upper_bound").shape().dims());
            assertArrayEquals(new int[] {5, 32}, st.get("classifier.1.weight").shape().dims());
            forwardBackward(m, 4, 16, false);
        }
    }

    @Test
    void resnet20WithWeightQuantization() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(8).withClasses(3).withBranches(2)
                .withBits(4).withDropout(0f);
        try (Supernet m = Models.create("resnet20", cfg)) {
            forwardBackward(m, 3, 8, true);
        }
    }

    @Test
    void resnet18ForwardBackward() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.125).withResolution(32).withClasses(4).withBranches(3)
                .withDropout(0f);
        try (Supernet m = Models.create("resnet18", cfg)) {
            assertEquals(16, m.searchedUnits());
            assertEquals(1, m.outputSize());
            assertArrayEquals(new int[] {8, 3, 7, 7}, m.stateTensors().get("feature.0.conv1.weight").shape().dims());
            forwardBackward(m, 4, 32, true);
        }
    }

    @Test
    void oddSizesFollowTheStridedConvolution() {
        // 28 -> stem 14 -> max-pool 7 -> stride-2 units on 7 x 7 (the zero-padded skip pooling)
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.125).withResolution(28).withInChannels(1)
                .withClasses(10).withBranches(2).withDropout(0f);
        try (Supernet m = Models.create("resnet18", cfg)) {
            assertEquals(1, m.outputSize());
            assertEquals(4, m.blocks().get(3).outSize());
            forwardBackward(m, 4, 28, false);
        }
    }

    /**
     * Values, not only shapes: with randomized state, feature f of ResNet-20 (its two branch units
     * and the identity residual where stride is 1 and in == out) against {@link UnitReference64},
     * from the previous feature's output, in training and evaluation mode.
     */
    @Test
    void basicBlocksMatchAFloat64ComputationOfTheirUnits() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(1.0).withResolution(8).withClasses(10).withBits(2)
                .withSeed(6);
        for (boolean training : new boolean[] {true, false}) {
            try (Supernet m = Models.create("resnet20", cfg); Scope s = Scope.open()) {
                Random r = new Random(21);
                for (Map.Entry<String, Tensor> e : m.stateTensors().entrySet()) {
                    String k = e.getKey();
                    Tensor t = e.getValue();
                    float[] v = new float[(int) t.numel()];
                    for (int i = 0; i < v.length; i++) {
                        double g = r.nextGaussian();
                        double u = r.nextDouble();
                        v[i] = (float) (k.endsWith(".weights") ? 0.3 * g : k.endsWith("upper_bound") ? 1.5 + 2 * u
                                : k.endsWith("running_var") ? 0.5 + u : k.endsWith("running_mean") ? 0.1 * g
                                : k.endsWith(".weight") ? 1 + 0.2 * g : k.endsWith(".bias") ? 0.2 * g : Double.NaN);
                    }
                    if (!Float.isNaN(v[0])) {
                        t.copyFrom(v);
                    }
                }
                int[] sel = new int[m.searchedUnits()];
                for (int i = 0; i < sel.length; i++) {
                    sel[i] = r.nextInt(m.branches());
                }
                m.train(training);
                Map<Integer, float[]> out = new java.util.HashMap<>();
                try (io.basq4j.autograd.GradMode off = io.basq4j.autograd.GradMode.off()) {
                    m.forward(Init.cpu(5).uniform(2.0, 2, 3, 8, 8), sel, (i, t) -> out.put(i, t.toFloatArray()));
                }
                Map<String, Tensor> st = m.stateTensors();
                // feature 2: 16 -> 16, stride 1, residual; feature 4: 16 -> 32, stride 2 (tiling skip, pooled)
                for (int[] f : new int[][] {{2, 16, 16, 1, 8}, {4, 16, 32, 2, 8}}) {
                    int feature = f[0];
                    UnitReference64 ref = new UnitReference64(2);
                    double[] x = io.basq4j.testutil.Ref64.toDouble(out.get(feature - 1));
                    double[] h = x;
                    int cin = f[1];
                    int size = f[4];
                    for (int k = 1; k <= 2; k++) {
                        int stride = k == 1 ? f[3] : 1;
                        int j = sel[2 * (feature - 1) + k - 1];
                        String p = "feature." + feature + ".";
                        h = ref.unit(h, cin, size, f[2], 1, stride, 2, bn(st, p + "branch_bn_q_" + k + "." + j + ".0."),
                                st.get(p + "branch_bn_q_" + k + "." + j + ".1.upper_bound").toFloatArray()[0],
                                io.basq4j.testutil.Ref64.toDouble(st.get(p + "conv" + k + ".weights").toFloatArray()),
                                bn(st, p + "branch_bn_" + k + "." + j + ".0."), bn(st, p + "bn" + k + "_last." + j + "."),
                                training);
                        cin = f[2];
                        size = stride == 1 ? size : (size + 1) / 2;
                    }
                    if (f[3] == 1 && f[1] == f[2]) {
                        h = io.basq4j.testutil.Ref64.add(h, x);
                    }
                    assertTrue(ref.margin > 1e-5, "no quantizer input at a rounding boundary: " + ref.margin);
                    io.basq4j.kernels.KernelTestSupport.assertClose("feature " + feature + (training ? " training"
                            : " eval"), h, out.get(feature), 2e-5);
                }
            }
        }
    }

    private static UnitReference64.Bn bn(Map<String, Tensor> st, String prefix) {
        return new UnitReference64.Bn(d(st.get(prefix + "weight")), d(st.get(prefix + "bias")),
                d(st.get(prefix + "running_mean")), d(st.get(prefix + "running_var")));
    }

    private static double[] d(Tensor t) {
        return io.basq4j.testutil.Ref64.toDouble(t.toFloatArray());
    }
}
