package io.basq4j.deploy.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.TensorInfo;
import io.basq4j.data.FashionMnist;
import io.basq4j.deploy.SavedModel;
import io.basq4j.deploy.onnx.proto.Onnx.ModelProto;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Supernet;
import io.basq4j.train.SupernetTraining;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The exported ONNX model, run by ONNX Runtime, against basq4j on the first 1,000 Fashion-MNIST
 * test images, for networks trained briefly on Fashion-MNIST (so that their BN statistics, clip
 * bounds and steps come from data): 2-, 3- and 4-bit MobileNet-v2 and a 2-bit ResNet-20. Also the
 * weight codes read back from the file, and the metadata ONNX Runtime reads.
 *
 * <p>With {@code -Dbasq4j.onnx.model=PATH} a saved model is compared on the whole test set
 * ({@link #wholeTestSet}).
 */
class OnnxExportAgreementTest {
    private static final int IMAGES = 1000;
    /**
     * Bound on the worst logit difference, relative to the largest |logit|. The two runtimes differ
     * by float noise (sums in another order: about 1e-6 of the logits), and now and then an
     * activation that float noise puts on the other side of a rounding boundary gets the neighbouring
     * code, which moves that image's logits by up to about 1% of their range (measured on these
     * networks over several trainings: 0.1% to 0.94%; in MobileNet-v2 the last unit's map is 1x1,
     * so nothing averages such a code out). A wrong formula (a batch-norm epsilon, a skip's channel mapping or pooling, a
     * quantizer's range or step) moves the logits of most images, by far more than noise; so the
     * share of images within float noise ({@link Agreement#NOISE}, at least 98%) is asserted too.
     */
    private static final double WORST_RELATIVE = 0.05;

    @TempDir
    Path dir;

    private static FashionMnist train;
    private static FashionMnist test;

    @BeforeAll
    static void data() {
        assumeTrue(FashionMnist.present(FashionMnist.DEFAULT_DIR, FashionMnist.Split.TRAIN)
                && FashionMnist.present(FashionMnist.DEFAULT_DIR, FashionMnist.Split.TEST),
                "Fashion-MNIST not installed in " + FashionMnist.DEFAULT_DIR);
        train = FashionMnist.builder().build();
        test = FashionMnist.builder().split(FashionMnist.Split.TEST).build();
    }

    @ParameterizedTest
    @CsvSource({"mobilenetv2, 0.5, 2", "mobilenetv2, 0.5, 3", "mobilenetv2, 0.5, 4", "resnet20, 0.5, 2"})
    void onnxRuntimeAgreesWithBasq4j(String arch, double width, int bits) throws Exception {
        ModelConfig cfg = ModelConfig.defaults().withWidth(width).withResolution(32).withInChannels(1)
                .withClasses(10).withBits(bits);
        Path saved = dir.resolve(arch + "-" + bits + ".safetensors");
        Path onnx = dir.resolve(arch + "-" + bits + ".onnx");
        java.util.List<String> names = java.util.List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");
        io.basq4j.data.Preprocessing pre = new io.basq4j.data.Preprocessing(1, 28, 28, 2, new float[] {0.286f},
                new float[] {0.353f});
        int units = arch.equals("resnet20") ? 18 : 17;
        int[] sel = SupernetTraining.selection(11, 0, units, cfg.branches());
        try (Supernet net = QuickTraining.train(arch, cfg, sel, train, 60, 64, bits)) {
            SavedModel.write(saved, net, sel, names, pre, Map.of());
        }
        Map<String, String> savedMeta = io.basq4j.io.SafeTensors.readMetadata(saved);
        String classes = savedMeta.get(SavedModel.CLASS_NAMES);
        String preprocessing = savedMeta.get(SavedModel.PREPROCESSING);
        assertTrue(classes.contains("Ankle boot") && preprocessing != null, savedMeta.toString());
        OnnxExporter.Summary s = OnnxExporter.export(saved, onnx);
        ModelProto model = ModelProto.parseFrom(Files.readAllBytes(onnx));
        Agreement a;
        long[] codes;
        try (SavedModel m = SavedModel.load(saved); OrtRunner ort = new OrtRunner(Files.readAllBytes(onnx))) {
            a = Agreement.measure(m, ort, test, IMAGES, 100);
            codes = WeightCodes.check(model, m.network());
            Map<String, String> meta = ort.session().getMetadata().getCustomMetadata();
            assertEquals(classes, meta.get("class_names"));
            assertEquals(preprocessing, meta.get(OnnxExporter.PREPROCESSING));
            assertEquals(Arrays.toString(sel).replace(" ", ""), meta.get(SavedModel.SELECTION));
            assertEquals(arch, meta.get(SavedModel.ARCH));
            assertEquals("input", meta.get("input_name"));
            assertEquals("[\"batch\",1,32,32]", meta.get("input_shape"));
            TensorInfo in = (TensorInfo) ort.session().getInputInfo().get(OnnxExporter.INPUT).getInfo();
            assertArrayEquals(new long[] {-1, 1, 32, 32}, in.getShape());
        }
        System.out.printf("%s w%s %d-bit: saved model %,d bytes, ONNX %,d bytes, %d nodes; weight codes %s; %s%n", arch,
                width, bits, Files.size(saved), s.bytes(), s.nodes(), Arrays.toString(codes), a);
        assertTrue(a.correctBasq() >= IMAGES / 2, "the fixture must classify: " + a);
        if (bits == 2) {
            assertTrue(codes[0] > 0 && codes[1] > 0 && codes[2] > 0, "all three 2-bit codes occur");
        }
        assertTrue(a.agreeing() >= 999, a.toString());
        assertTrue(a.worst() <= WORST_RELATIVE * a.maxAbsLogit(), a.toString());
        assertTrue(a.withinNoise() >= 0.98 * IMAGES, a.toString());
    }

    /**
     * The whole Fashion-MNIST test set for one saved model, e.g. the default run's:
     * {@code mvn test -Dtest=OnnxExportAgreementTest#wholeTestSet -Dbasq4j.onnx.model=runs/fashion/models/model.safetensors}.
     */
    @Test
    void wholeTestSet() throws Exception {
        String p = System.getProperty("basq4j.onnx.model", "");
        assumeTrue(!p.isBlank(), "set -Dbasq4j.onnx.model=PATH to compare a saved model on the whole test set");
        Path onnx = dir.resolve("model.onnx");
        OnnxExporter.Summary s = OnnxExporter.export(Path.of(p), onnx);
        Agreement a;
        try (SavedModel m = SavedModel.load(Path.of(p)); OrtRunner ort = new OrtRunner(Files.readAllBytes(onnx))) {
            a = Agreement.measure(m, ort, test, test.size(), 500);
        }
        System.out.printf("%s: ONNX %,d bytes, %d nodes; %s%n", p, s.bytes(), s.nodes(), a);
        assertTrue(a.agreeing() >= 0.999 * a.images(), a.toString());
    }
}
