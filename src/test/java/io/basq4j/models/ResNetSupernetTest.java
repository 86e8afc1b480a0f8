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
}
