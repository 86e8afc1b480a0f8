package io.basq4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.nn.Init;
import io.basq4j.nn.Parameter;
import io.basq4j.nn.quant.LsqActQuantizer;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.testutil.Golden;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MobileNetV2SupernetTest {
    /** The golden files' configuration. */
    static ModelConfig goldenConfig(int bits) {
        return ModelConfig.defaults().withWidth(0.5).withResolution(32).withClasses(10).withBits(bits);
    }

    /** A small one for fast tests. */
    static ModelConfig small() {
        return ModelConfig.defaults().withWidth(0.25).withResolution(32).withClasses(10).withBits(3).withSeed(5);
    }

    @Test
    void stateNamesAndShapesEqualTheReferenceLayout() throws IOException {
        SafeTensors.File golden = SafeTensors.read(Golden.file("mbv2_w0.5_a2w2_r32.safetensors"));
        List<String> expected = new ArrayList<>();
        for (String k : golden.tensors().keySet()) {
            if (k.startsWith("state.")) {
                expected.add(k.substring(6));
            }
        }
        try (Supernet m = Models.create("mobilenetv2", goldenConfig(2))) {
            Map<String, Tensor> state = m.stateTensors();
            // same names in the same order as the reference's state_dict
            assertEquals(expected, new ArrayList<>(state.keySet()));
            for (String k : expected) {
                TensorData ref = golden.get("state." + k);
                assertArrayEquals(ref.shape(), state.get(k).shape().dims(), k);
            }
            assertEquals(17, m.searchedUnits());
            assertEquals(1, m.outputSize());
        }
    }

    @Test
    void everyParameterCarriesItsGroup() {
        try (Supernet m = Models.create("mobilenetv2", small())) {
            int bounds = 0;
            int[] perBranch = new int[7];
            for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
                String n = e.getKey();
                Parameter p = e.getValue();
                Parameter.Group expected;
                if (n.endsWith(".bin")) {
                    expected = Parameter.Group.FROZEN;
                } else if (n.endsWith(".upper_bound")) {
                    expected = Parameter.Group.CLIP_BOUND;
                } else if (n.endsWith(".weights") || n.equals("feature.0.conv1.weight")) {
                    expected = Parameter.Group.CONV_WEIGHT;
                } else if (n.contains("bias")) {
                    expected = Parameter.Group.BIAS;
                } else {
                    expected = Parameter.Group.OTHER;
                }
                assertEquals(expected, p.group(), n);
                if (p.group() == Parameter.Group.CLIP_BOUND) {
                    bounds++;
                    // feature.{i}.branch_bn_q_1.{j}.1.upper_bound
                    int j = Integer.parseInt(n.split("\\.")[3]);
                    assertEquals(j, p.branch(), n);
                    perBranch[j]++;
                }
            }
            assertEquals(17 * 7, bounds);
            for (int c : perBranch) {
                assertEquals(17, c);
            }
            assertEquals(Parameter.Group.OTHER, m.namedParameters().get("classifier.1.weight").group());
        }
    }

    @Test
    void channelsFollowTheStageTable() {
        try (Supernet m = Models.create("mobilenetv2", ModelConfig.defaults().withDivisor(1))) {
            List<BlockInfo> b = m.blocks();
            assertEquals(20, b.size());
            assertEquals(32, b.get(0).out());
            assertEquals(16, b.get(1).out());
            assertEquals(32, b.get(1).hidden());
            assertEquals(96, b.get(2).hidden());
            assertEquals(320, b.get(17).out());
            assertEquals(1280, b.get(18).out());
            assertEquals(7, m.outputSize());
            long sum = 0;
            for (BlockInfo r : b) {
                sum += r.parameters();
            }
            assertEquals(m.parameterCount(), sum);
        }
        // width 0.5, divisor 8: 32 -> 16, 16 -> 8, 24 -> 16, 320 -> 160; the last width stays 1280
        try (Supernet m = Models.create("mobilenetv2", goldenConfig(2))) {
            List<BlockInfo> b = m.blocks();
            assertEquals(16, b.get(0).out());
            assertEquals(8, b.get(1).out());
            assertEquals(16, b.get(2).out());
            assertEquals(160, b.get(17).out());
            assertEquals(1280, b.get(18).out());
        }
    }

    @Test
    void weightQuantizationSwitchReinitializesSteps() {
        try (Supernet m = Models.create("mobilenetv2", small())) {
            assertFalse(m.weightQuantization());
            List<QConv2d> convs = m.quantizedConvs();
            assertEquals(16 + 17 + 17 + 1, convs.size()); // expansions, depthwise, projections, last unit
            m.setWeightQuantization(true);
            assertTrue(m.weightQuantization());
            int qp = 3; // 3 bits: 2^(3-1) - 1
            for (QConv2d c : convs) {
                assertTrue(c.quantizesWeights());
                float[] w = c.weights().tensor().toFloatArray();
                float[] s = c.quantizer().step().tensor().toFloatArray();
                int per = w.length / s.length;
                for (int o = 0; o < s.length; o++) {
                    double sum = 0;
                    for (int i = 0; i < per; i++) {
                        sum += Math.abs(w[o * per + i]);
                    }
                    double expected = 2 * (sum / per) / Math.sqrt(qp);
                    assertEquals(expected, s[o], 1e-6 * expected + 1e-12);
                }
            }
            // already on: nothing changes; explicitly without re-initialization: kept
            QConv2d first = convs.get(0);
            first.quantizer().step().tensor().fill(0.125f);
            m.setWeightQuantization(true);
            assertEquals(0.125f, first.quantizer().step().tensor().toFloatArray()[0]);
            m.setWeightQuantization(false);
            m.setWeightQuantization(true, false);
            assertEquals(0.125f, first.quantizer().step().tensor().toFloatArray()[0]);
            m.setWeightQuantization(false);
            m.setWeightQuantization(true);
            assertNotEquals(0.125f, first.quantizer().step().tensor().toFloatArray()[0]);
        }
    }

    @Test
    void activationStepsInitializeFromOneBatch() {
        try (Supernet m = Models.create("mobilenetv2", small()); Scope s = Scope.open()) {
            Tensor x = Init.cpu(9).uniform(1.0, 4, 3, 32, 32);
            List<LsqActQuantizer> qs = m.activationQuantizers();
            assertEquals(17 + 16 + 1, qs.size());
            m.eval();
            int[] sel = new int[17];
            java.util.Arrays.fill(sel, 2);
            long before = m.features().get(1).stateDict().get("branch_bn_q_1.2.0.num_batches_tracked").i64()[0];
            m.initActivationSteps(x, sel);
            assertFalse(m.isTraining(), "the mode is restored");
            for (LsqActQuantizer q : qs) {
                assertTrue(q.initialized());
                for (float v : q.step().tensor().toFloatArray()) {
                    assertTrue(v > 0 && Float.isFinite(v) && v != 1f, "step " + v);
                }
            }
            // the init forward ran in training mode through branch 2 only
            Map<String, TensorData> f1 = m.features().get(1).stateDict();
            assertEquals(before + 1, f1.get("branch_bn_q_1.2.0.num_batches_tracked").i64()[0]);
            assertEquals(0, f1.get("branch_bn_q_1.3.0.num_batches_tracked").i64()[0]);
            assertNull(qs.get(0).step().grad(), "no gradient recorded");
        }
    }

    @Test
    void forwardChecksSelectionAndInput() {
        try (Supernet m = Models.create("mobilenetv2", small()); Scope s = Scope.open()) {
            Tensor x = Init.cpu(9).uniform(1.0, 2, 3, 32, 32);
            assertThrows(IllegalArgumentException.class, () -> m.forward(x, new int[16]));
            int[] bad = new int[17];
            bad[4] = 7;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.forward(x, bad));
            assertTrue(e.getMessage().contains("entry 4 = 7 outside [0, 7)"), e.getMessage());
            Tensor gray = Init.cpu(9).uniform(1.0, 2, 1, 32, 32);
            assertThrows(IllegalArgumentException.class, () -> m.forward(gray, new int[17]));
            m.eval();
            Tensor y = m.forward(x, new int[17]);
            assertArrayEquals(new int[] {2, 10}, y.shape().dims());
            assertNull(y.gradFn(), "evaluation records no gradient");
        }
    }
}
