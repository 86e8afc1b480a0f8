package io.basq4j.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.data.Preprocessing;
import io.basq4j.data.RgbImage;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.SupernetTraining;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The classifier over a saved model: against the supernet it came from and against softmax computed here. */
class ClassifierTest {
    @TempDir
    static Path dir;

    static final List<String> NAMES = List.of("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
            "nine");
    static final Preprocessing GREY = new Preprocessing(1, 28, 28, 2, new float[] {0.29f}, new float[] {0.35f});

    static Path file;
    static int[] selection;
    static float[] supernetLogits;
    static float[] input;

    /** A randomized 2-bit supernet, its logits on random inputs with a selection, and that network saved. */
    @BeforeAll
    static void save() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1)
                .withClasses(10).withBits(2);
        file = dir.resolve("model.safetensors");
        try (Supernet sup = Models.create("mobilenetv2", cfg)) {
            sup.setWeightQuantization(true);
            SavedModelTest.randomize(sup, 3);
            sup.eval();
            selection = SupernetTraining.selection(4, 1, sup.searchedUnits(), sup.branches());
            Random r = new Random(6);
            input = new float[5 * 32 * 32];
            for (int i = 0; i < input.length; i++) {
                input[i] = (float) r.nextGaussian();
            }
            try (Scope s = Scope.open()) {
                supernetLogits = sup.forward(Tensor.of(Device.CPU, input, 5, 1, 32, 32), selection).toFloatArray();
            }
            SavedModel.write(file, sup, selection, NAMES, GREY, Map.of());
        }
    }

    @Test
    void logitsAreTheSupernetsWithItsSelection() {
        // the training layers compute bit for bit what the supernet computes (the packed engine, the
        // default on the CPU, is pinned to them in io.basq4j.deploy.infer.InferenceEngineTest)
        try (Classifier c = Classifier.load(file, Device.CPU, Classifier.Engine.LAYERS)) {
            assertArrayEquals(supernetLogits, c.logits(input, 5));
            try (Scope s = Scope.open()) {
                Tensor t = c.logits(Tensor.of(Device.CPU, input, 5, 1, 32, 32));
                assertEquals(5, t.dim(0));
                assertEquals(10, t.dim(1));
                assertArrayEquals(supernetLogits, t.toFloatArray());
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> c.logits(Tensor.of(Device.CPU, new float[3 * 32 * 32], 1, 3, 32, 32)));
                assertTrue(e.getMessage().contains("[N, 1, 32, 32]"), e.getMessage());
            }
            assertThrows(IllegalArgumentException.class, () -> c.logits(new float[100], 1));
            assertEquals(NAMES, c.classNames());
            assertArrayEquals(new int[] {1, 32, 32}, c.inputShape());
        }
    }

    @Test
    void topKIsTheSoftmaxComputedHere() {
        try (Classifier c = Classifier.load(file)) {
            for (int row = 0; row < 5; row++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int k = 0; k < 10; k++) {
                    max = Math.max(max, supernetLogits[row * 10 + k]);
                }
                double sum = 0;
                for (int k = 0; k < 10; k++) {
                    sum += Math.exp(supernetLogits[row * 10 + k] - max);
                }
                List<Classifier.Prediction> all = c.topK(supernetLogits, row * 10, 10);
                double total = 0;
                for (int i = 0; i < 10; i++) {
                    Classifier.Prediction p = all.get(i);
                    assertEquals(NAMES.get(p.index()), p.label());
                    assertEquals(Math.exp(supernetLogits[row * 10 + p.index()] - max) / sum, p.probability(), 1e-12);
                    if (i > 0) {
                        assertTrue(all.get(i - 1).probability() >= p.probability());
                    }
                    total += p.probability();
                }
                assertEquals(1.0, total, 1e-9);
                assertEquals(all.subList(0, 3), c.topK(supernetLogits, row * 10, 3));
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> c.topK(supernetLogits, 0, 11));
            assertTrue(e.getMessage().contains("outside [1, 10]"), e.getMessage());
        }
    }

    @Test
    void imagesOfAnySizeAndColourArePreprocessedByTheRecordedRule() throws Exception {
        Random r = new Random(9);
        try (Classifier c = Classifier.load(file)) {
            assertEquals(GREY, c.preprocessing());
            List<RgbImage> images = new ArrayList<>();
            int[][] sizes = {{28, 28}, {45, 31}, {17, 90}, {200, 150}};
            for (int[] s : sizes) {
                byte[] rgb = new byte[s[0] * s[1] * 3];
                r.nextBytes(rgb);
                images.add(new RgbImage(s[0], s[1], rgb));
            }
            // the 28 x 28 image through the rule computed here: luma, pad 2, normalize
            RgbImage small = images.get(0);
            float[] x = new float[32 * 32];
            for (int y = 0; y < 32; y++) {
                for (int xx = 0; xx < 32; xx++) {
                    int v = 0;
                    if (y >= 2 && y < 30 && xx >= 2 && xx < 30) {
                        v = (small.get(xx - 2, y - 2, 0) * 19595 + small.get(xx - 2, y - 2, 1) * 38470
                                + small.get(xx - 2, y - 2, 2) * 7471 + 0x8000) >> 16;
                    }
                    x[y * 32 + xx] = (v / 255f - 0.29f) / 0.35f;
                }
            }
            float[] want = c.logits(x, 1);
            List<Classifier.Prediction> got = c.classify(small, 3);
            assertEquals(c.topK(want, 0, 3), got);
            // a batch gives what one image at a time gives; a file what its decoded image gives
            List<List<Classifier.Prediction>> batch = c.classify(images, 2);
            for (int i = 0; i < images.size(); i++) {
                assertEquals(c.classify(images.get(i), 2), batch.get(i));
                BufferedImage b = new BufferedImage(images.get(i).width(), images.get(i).height(),
                        BufferedImage.TYPE_INT_RGB);
                for (int y = 0; y < b.getHeight(); y++) {
                    for (int xx = 0; xx < b.getWidth(); xx++) {
                        b.setRGB(xx, y, images.get(i).get(xx, y, 0) << 16 | images.get(i).get(xx, y, 1) << 8
                                | images.get(i).get(xx, y, 2));
                    }
                }
                assertEquals(batch.get(i), c.classify(b, 2));
                Path png = dir.resolve("img" + i + ".png");
                ImageIO.write(b, "png", png.toFile());
                assertEquals(batch.get(i), c.classify(png, 2));
            }
        }
    }

    @Test
    void aModelWithoutImagePreprocessingTakesTensorsOnly() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(16).withInChannels(2)
                .withClasses(4);
        Path two = dir.resolve("two-channels.safetensors");
        try (Supernet sup = Models.create("resnet20", cfg)) {
            sup.setWeightQuantization(true);
            SavedModel.write(two, sup, new int[sup.searchedUnits()], Map.of());
        }
        try (Classifier c = Classifier.load(two)) {
            assertEquals(null, c.preprocessing());
            assertEquals(List.of("0", "1", "2", "3"), c.classNames());
            assertEquals(8, c.logits(new float[2 * 2 * 16 * 16], 2).length);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> c.classify(new RgbImage(4, 4, new byte[48]), 1));
            assertTrue(e.getMessage().contains("2-channel input takes tensors only"), e.getMessage());
        }
    }

    /** The README's library example, as written there. */
    @Test
    void readmeExample() throws Exception {
        Path shoe = dir.resolve("shoe.png");
        ImageIO.write(new BufferedImage(60, 40, BufferedImage.TYPE_INT_RGB), "png", shoe.toFile());
        Path modelFile = file;
        List<String> lines = new ArrayList<>();
        // --- as in README.md
        try (Classifier classifier = Classifier.load(modelFile)) {
            for (Classifier.Prediction p : classifier.classify(shoe, 3)) {
                lines.add(p.label() + " " + p.probability());
            }
            float[] logits = classifier.logits(new float[32 * 32], 1); // one preprocessed 1x32x32 input
            lines.add("logits " + logits.length);
        }
        // --- end of example
        assertEquals(4, lines.size());
        assertEquals("logits 10", lines.get(3));
    }
}
