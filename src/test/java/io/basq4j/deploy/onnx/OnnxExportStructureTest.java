package io.basq4j.deploy.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.deploy.TestModels;
import io.basq4j.deploy.onnx.proto.Onnx.ModelProto;
import io.basq4j.deploy.onnx.proto.Onnx.NodeProto;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.nn.quant.LsqActQuantizer;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.SupernetTraining;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every architecture and the shapes where the graph has choices to get right, with randomized
 * state (every BN, bound and step random; see {@link TestModels#randomize}) and random inputs:
 * odd feature maps under a stride-2 skip (MobileNet-v2 at 48, whose feature 14 sees 3x3;
 * ResNet-20 at 18, whose last stage sees 9x9), tiling and folding skips, the ResNet-18 max-pool
 * stem, three input channels, a network without weight quantization, and LSQ steps that are
 * negative or zero. ONNX Runtime must give basq4j's top-1 for every input and logits within float
 * noise of basq4j's, relative to their size (randomized MobileNet-v2 logits reach 1e13).
 */
class OnnxExportStructureTest {
    private static final int N = 6;

    @ParameterizedTest
    @CsvSource({"mobilenetv2, 0.25, 48, 1, 2, true", "mobilenetv2, 0.25, 32, 3, 3, false",
        "resnet20, 0.25, 18, 3, 3, true", "resnet18, 0.125, 40, 3, 4, true", "resnet20, 0.5, 32, 1, 2, true"})
    void onnxRuntimeComputesWhatBasq4jComputes(String arch, double width, int res, int channels, int bits,
            boolean weightQuant) throws Exception {
        ModelConfig cfg = ModelConfig.defaults().withWidth(width).withResolution(res).withInChannels(channels)
                .withClasses(10).withBits(bits);
        try (Supernet net = Models.create(arch, cfg)) {
            net.setWeightQuantization(weightQuant);
            TestModels.randomize(net, res * 7L + bits);
            // MobileNet-v2: one LSQ activation step below zero and one at zero, as training can leave them
            boolean lsq = !net.activationQuantizers().isEmpty();
            if (lsq) {
                LsqActQuantizer q = net.activationQuantizers().get(2);
                float[] s = q.step().tensor().toFloatArray();
                s[0] = -s[0];
                s[1] = 0f;
                q.step().tensor().copyFrom(s);
            }
            net.eval();
            int[] sel = SupernetTraining.selection(res, bits, net.searchedUnits(), net.branches());
            ModelProto model = OnnxExporter.model(net, sel, Map.of());
            Map<String, Integer> ops = new TreeMap<>();
            for (NodeProto n : model.getGraph().getNodeList()) {
                ops.merge(n.getOpType(), 1, Integer::sum);
            }
            float[] x = new float[N * channels * res * res];
            Random r = new Random(5);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            float[] want;
            try (Scope sc = Scope.open()) {
                want = net.forward(Tensor.of(Device.CPU, x, N, channels, res, res), sel).toFloatArray();
            }
            float[] got;
            try (OrtRunner ort = new OrtRunner(model.toByteArray())) {
                got = ort.run(x, N, channels, res, res);
            }
            double worst = 0;
            double scale = 0;
            for (int i = 0; i < want.length; i++) {
                assertTrue(Float.isFinite(want[i]) && Float.isFinite(got[i]), "non-finite logit");
                worst = Math.max(worst, Math.abs(want[i] - got[i]));
                scale = Math.max(scale, Math.abs(want[i]));
            }
            System.out.printf("%s w%s r%d %dch %d-bit%s: %d nodes %s; worst logit difference %.3g of %.3g%n", arch,
                    width, res, channels, bits, weightQuant ? "" : " (weights not quantized)",
                    model.getGraph().getNodeCount(), ops, worst, scale);
            for (int i = 0; i < N; i++) {
                assertEquals(argmax(want, i), argmax(got, i), "top-1 of input " + i);
            }
            assertTrue(worst <= 1e-4 * scale, "worst " + worst + " of " + scale);
            // every quantizer, of an activation or of a weight, is one QuantizeLinear -> Clip -> DequantizeLinear
            assertEquals(ops.getOrDefault("QuantizeLinear", 0), ops.getOrDefault("Clip", 0), "one Clip per Q");
            assertEquals(ops.getOrDefault("QuantizeLinear", 0), ops.getOrDefault("DequantizeLinear", 0), "one DQ per Q");
            assertEquals(net.activationQuantizers().size() + net.searchedUnits()
                    + (weightQuant ? net.quantizedConvs().size() : 0), ops.getOrDefault("QuantizeLinear", 0),
                    "one QCDQ per quantized activation and per quantized weight");
            assertEquals(lsq ? 2 : 0, ops.getOrDefault("Mul", 0), "the sign wrap of the one LSQ quantizer with a step <= 0");
        }
    }

    private static int argmax(float[] v, int row) {
        int best = 0;
        for (int k = 1; k < 10; k++) {
            if (v[row * 10 + k] > v[row * 10 + best]) {
                best = k;
            }
        }
        return best;
    }

    @Test
    void aStepThatIsNotFiniteIsRefusedByName() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(16).withInChannels(1).withClasses(10);
        try (Supernet net = Models.create("resnet20", cfg)) {
            net.setWeightQuantization(true);
            var conv = net.quantizedConvs().get(1);
            float[] s = conv.quantizer().step().tensor().toFloatArray();
            s[3] = Float.NaN;
            conv.quantizer().step().tensor().copyFrom(s);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> OnnxExporter.model(net, new int[net.searchedUnits()], Map.of()));
            assertTrue(e.getMessage().contains("w_quantize.s[3] = NaN"), e.getMessage());
        }
    }
}
