package io.basq4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.nn.Parameter;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.SupernetTraining;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The supernets with the fused BASQ-block operations (F.batchNormLsq, F.batchNormClipQuant,
 * F.unitTail) against the same supernets run layer by layer: one initialization forward, one
 * training step (logits, loss, every gradient, every BN statistic afterwards) and an
 * evaluation forward. All are bitwise equal, except the gradients of the activation
 * quantizers' own parameters (LSQ steps, clip bounds), whose sums run in another order (held
 * to 1e-6 of their scale).
 */
class FusedModelTest {
    @AfterEach
    void restore() {
        F.setFusion(true);
    }

    private record Run(float[] trainLogits, float loss, Map<String, float[]> grads, Map<String, float[]> state,
            float[] evalLogits) {
    }

    private static Run run(String arch, ModelConfig cfg, boolean fused, int batch) {
        F.setFusion(fused);
        Random r = new Random(11);
        int res = cfg.resolution();
        float[] img = new float[batch * cfg.inChannels() * res * res];
        for (int i = 0; i < img.length; i++) {
            img[i] = (float) r.nextGaussian();
        }
        long[] lab = new long[batch];
        for (int i = 0; i < batch; i++) {
            lab[i] = r.nextInt(cfg.classes());
        }
        try (Supernet m = Models.create(arch, cfg);
                Tensor x = Tensor.of(Device.CPU, img, batch, cfg.inChannels(), res, res);
                Tensor y = Tensor.ofLongs(Device.CPU, lab, batch)) {
            m.dropout().setProbability(0f);
            int[] sel = SupernetTraining.selection(3, 1, m.searchedUnits(), m.branches());
            try (Scope s = Scope.open()) {
                m.initActivationSteps(x, sel);
            }
            m.setWeightQuantization(true);
            m.train();
            float[] logits;
            float loss;
            try (Scope s = Scope.open()) {
                Tensor out = m.forward(x, sel);
                logits = out.toFloatArray();
                Tensor l = F.crossEntropy(out, y);
                loss = l.item();
                Autograd.backward(l);
            }
            Map<String, float[]> grads = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
                Tensor g = e.getValue().tensor().grad();
                if (g != null && !g.isClosed()) {
                    grads.put(e.getKey(), g.toFloatArray());
                }
            }
            Map<String, float[]> state = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : m.stateTensors().entrySet()) {
                Tensor t = e.getValue();
                if (t.dtype() == DType.F32) {
                    state.put(e.getKey(), t.toFloatArray());
                } else {
                    long[] v = t.toLongArray();
                    float[] f = new float[v.length];
                    for (int i = 0; i < v.length; i++) {
                        f[i] = v[i];
                    }
                    state.put(e.getKey(), f);
                }
            }
            m.eval();
            int[] sel2 = SupernetTraining.selection(3, 2, m.searchedUnits(), m.branches());
            float[] eval;
            try (Scope s = Scope.open()) {
                eval = m.forward(x, sel2).toFloatArray();
            }
            return new Run(logits, loss, grads, state, eval);
        }
    }

    private static void compare(String arch, ModelConfig cfg, int batch) {
        Run plain = run(arch, cfg, false, batch);
        Run fused = run(arch, cfg, true, batch);
        assertArrayEquals(plain.trainLogits(), fused.trainLogits(), arch + " training logits");
        assertEquals(plain.loss(), fused.loss(), arch + " loss");
        assertArrayEquals(plain.evalLogits(), fused.evalLogits(), arch + " evaluation logits");
        assertEquals(plain.grads().keySet(), fused.grads().keySet(), arch + " parameters with gradients");
        assertTrue(plain.grads().size() > 10, arch + " has gradients");
        int loose = 0;
        for (Map.Entry<String, float[]> e : plain.grads().entrySet()) {
            String k = e.getKey();
            float[] a = e.getValue();
            float[] b = fused.grads().get(k);
            assertNotNull(b, k);
            // the activation quantizers' own parameters: an LSQ step (bn_qconv_bn_relu_k.1.s) or a clip bound
            if (k.endsWith(".upper_bound") || (k.endsWith(".s") && !k.contains("w_quantize"))) {
                loose++;
                double scale = 0;
                for (float v : a) {
                    scale = Math.max(scale, Math.abs(v));
                }
                for (int i = 0; i < a.length; i++) {
                    assertEquals(a[i], b[i], 1e-6 * scale + 1e-30, k + "[" + i + "]");
                }
            } else {
                assertArrayEquals(a, b, arch + " gradient " + k);
            }
        }
        assertTrue(loose > 0, "quantizer parameters were compared");
        for (Map.Entry<String, float[]> e : plain.state().entrySet()) {
            assertArrayEquals(e.getValue(), fused.state().get(e.getKey()), arch + " state " + e.getKey());
        }
    }

    @Test
    void mobileNetV2FusedEqualsLayerByLayer() {
        compare("mobilenetv2", MobileNetV2SupernetTest.small().withBits(2), 6);
    }

    @Test
    void resNet20FusedEqualsLayerByLayer() {
        compare("resnet20", ModelConfig.defaults().withWidth(0.5).withResolution(16).withClasses(10).withSeed(3), 4);
    }
}
