package io.basq4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.data.FashionMnist;
import io.basq4j.data.Preprocessing;
import io.basq4j.data.SyntheticFiles;
import io.basq4j.deploy.Classifier;
import io.basq4j.deploy.SavedModel;
import io.basq4j.deploy.TestModels;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.train.Checkpoint;
import java.awt.image.BufferedImage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** predict and evaluate on the command line: output, odd images, and every kind of bad input. */
class ModelCommandsTest {
    @TempDir
    static Path dir;

    static Path model;
    static Path images;

    @BeforeAll
    static void setUp() throws Exception {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(10);
        model = dir.resolve("models").resolve("model.safetensors");
        try (Supernet sup = Models.create("mobilenetv2", cfg)) {
            sup.setWeightQuantization(true);
            TestModels.randomize(sup, 12);
            sup.eval();
            SavedModel.write(model, sup, new int[sup.searchedUnits()], FashionMnist.CLASS_NAMES,
                    new Preprocessing(1, 28, 28, 2, new float[] {FashionMnist.DEFAULT_MEAN},
                            new float[] {FashionMnist.DEFAULT_STD}),
                    Map.of(SavedModel.TEST_DATA, "{\"dataset\":\"fashion\",\"dir\":\"" + dir.resolve("fm") + "\"}"));
        }
        SyntheticFiles.writeFashionMnist(dir.resolve("fm"), 20, 30, 4, true);
        images = dir.resolve("images");
        Files.createDirectories(images.resolve("more"));
        Random r = new Random(2);
        write(colour(45, 31, r), "png", images.resolve("b-colour-45x31.png"));
        write(grey(17, 90, r), "jpg", images.resolve("a-grey-17x90.JPG"));
        write(grey(28, 28, r), "png", images.resolve("c-grey-28.png"));
        write(colour(300, 200, r), "jpg", images.resolve("d-colour-300x200.jpeg"));
        write(colour(33, 33, r), "png", images.resolve("more").resolve("e.png"));
        Files.write(images.resolve("broken.jpg"), "not a JPEG".getBytes(StandardCharsets.US_ASCII));
        Files.writeString(images.resolve("notes.txt"), "not an image either, and not listed");
    }

    static BufferedImage colour(int w, int h, Random r) {
        BufferedImage b = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                b.setRGB(x, y, r.nextInt(1 << 24));
            }
        }
        return b;
    }

    static BufferedImage grey(int w, int h, Random r) {
        BufferedImage b = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                b.getRaster().setSample(x, y, 0, r.nextInt(256));
            }
        }
        return b;
    }

    static void write(BufferedImage b, String format, Path file) throws Exception {
        assertTrue(ImageIO.write(b, format, file.toFile()), format);
    }

    @Test
    void predictPrintsOneLinePerImageAndNamesTheUnreadableOne() throws Exception {
        Object[] r = CliRun.main("predict", model.toString(), images.toString(), "--top", "2");
        assertEquals(1, r[0], (String) r[2]);
        List<String> lines = ((String) r[1]).lines().toList();
        List<Path> expected = List.of(images.resolve("a-grey-17x90.JPG"), images.resolve("b-colour-45x31.png"),
                images.resolve("c-grey-28.png"), images.resolve("d-colour-300x200.jpeg"),
                images.resolve("more").resolve("e.png"));
        assertEquals(expected.size(), lines.size(), (String) r[1]);
        try (Classifier c = Classifier.load(model)) {
            for (int i = 0; i < expected.size(); i++) {
                StringBuilder want = new StringBuilder(expected.get(i).toString());
                for (Classifier.Prediction p : c.classify(expected.get(i), 2)) {
                    want.append("  ").append(p.label()).append("  ")
                            .append(String.format(Locale.ROOT, "%.4f", p.probability()));
                }
                assertEquals(want.toString(), lines.get(i));
            }
        }
        List<String> err = ((String) r[2]).lines().toList();
        assertEquals(2, err.size(), (String) r[2]);
        assertTrue(err.get(0).startsWith("error: ") && err.get(0).contains(images.resolve("broken.jpg").toString()),
                err.get(0));
        assertEquals("error: 1 of 6 image(s) could not be classified", err.get(1));

        // every image fine: exit 0
        r = CliRun.main("predict", model.toString(), expected.get(1).toString(), expected.get(0).toString());
        assertEquals(0, r[0], (String) r[2]);
        assertEquals(2, ((String) r[1]).lines().count());
        assertTrue(((String) r[1]).startsWith(expected.get(1) + "  "), (String) r[1]);
    }

    @Test
    void predictAsJson() throws Exception {
        Object[] r = CliRun.main("predict", model.toString(), images.resolve("broken.jpg").toString(),
                images.resolve("c-grey-28.png").toString(), "--json", "--top", "3");
        assertEquals(1, r[0]);
        JsonNode j = new ObjectMapper().readTree((String) r[1]);
        assertEquals(2, j.size());
        assertTrue(j.get(0).get("error").asText().contains("broken.jpg"));
        JsonNode p = j.get(1).get("predictions");
        assertEquals(3, p.size());
        assertTrue(FashionMnist.CLASS_NAMES.contains(p.get(0).get("label").asText()));
        assertTrue(p.get(0).get("probability").asDouble() >= p.get(1).get("probability").asDouble());
    }

    @Test
    void badModelsAndOptionsAreOneClearLine() throws Exception {
        Path supernet = dir.resolve("supernet.safetensors");
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(10);
        try (Supernet sup = Models.create("mobilenetv2", cfg)) {
            Checkpoint.save(supernet, sup, null, Map.of("kind", "supernet-final"));
        }
        Path foreign = dir.resolve("foreign.png");
        write(grey(8, 8, new Random(1)), "png", foreign);
        Path twoChannels = dir.resolve("two.safetensors");
        try (Supernet sup = Models.create("resnet20", cfg.withInChannels(2).withResolution(16))) {
            SavedModel.write(twoChannels, sup, new int[sup.searchedUnits()], Map.of());
        }
        String img = images.resolve("c-grey-28.png").toString();
        Path emptyDir = Files.createDirectories(dir.resolve("empty"));
        Object[][] cases = {
            {new String[] {"predict", supernet.toString(), img}, 1, "supernet-final checkpoint, not a saved model"},
            {new String[] {"evaluate", supernet.toString()}, 1, "supernet-final checkpoint, not a saved model"},
            {new String[] {"predict", foreign.toString(), img}, 1, "is not a basq4j model"},
            {new String[] {"predict", dir.resolve("none.safetensors").toString(), img}, 1, "does not exist"},
            {new String[] {"predict", twoChannels.toString(), img}, 1, "takes 2-channel input"},
            {new String[] {"predict", model.toString(), img, "--top", "0"}, 2, "--top 0 is outside the valid range"},
            {new String[] {"predict", model.toString(), img, "--top", "11"}, 2, "--top 11 is outside [1, 10]"},
            {new String[] {"predict", model.toString(), img, "--top", "x"}, 2, "'x' is not an int"},
            {new String[] {"predict", model.toString()}, 2, "Missing required parameter"},
            {new String[] {"predict", model.toString(), emptyDir.toString()}, 1, "no image files (*.png, *.jpg, *.jpeg)"},
            {new String[] {"evaluate", model.toString(), "--dataset", "mnist"}, 2,
                "unknown dataset 'mnist' (valid: fashion, imagefolder, synthetic)"},
            {new String[] {"evaluate", model.toString(), "--batch", "0"}, 2, "--batch 0 is outside the valid range"},
            {new String[] {"evaluate", model.toString(), "--limit", "-3"}, 2, "--limit -3 is outside the valid range"},
            {new String[] {"evaluate", model.toString(), "--out", img}, 1, "is a file, not a directory"},
            {new String[] {"evaluate", model.toString(), "--frobnicate"}, 2, "Unknown option: '--frobnicate'"},
            {new String[] {"evaluate", model.toString(), "--dataset", "imagefolder"}, 1, "--data DIR is required"},
            {new String[] {"evaluate", model.toString(), "--data", dir.resolve("nowhere").toString()}, 1,
                "Fashion-MNIST directory not found"},
            {new String[] {"evaluate", twoChannels.toString()}, 1, "records no test data"},
        };
        for (Object[] c : cases) {
            String[] args = (String[]) c[0];
            Object[] r = CliRun.main(args);
            String err = ((String) r[2]).trim();
            assertEquals(c[1], r[0], String.join(" ", args) + ": " + err);
            assertTrue(err.contains((String) c[2]), String.join(" ", args) + ": " + err);
            assertFalse(err.contains("\tat "), "no stack trace: " + err);
            assertTrue(err.lines().count() <= 2, err);
        }
        assertFalse(Files.exists(model.resolveSibling("evaluation.json")), "nothing written by a failed evaluate");
        assertFalse(Files.exists(model.resolveSibling("evaluation.png")));
    }

    @Test
    void evaluateWritesItsReportNextToTheModelOrIntoOut() throws Exception {
        Path out = dir.resolve("eval-out");
        Object[] r = CliRun.main("evaluate", model.toString(), "--out", out.toString(), "--limit", "25");
        assertEquals(0, r[0], (String) r[2]);
        String o = (String) r[1];
        assertTrue(o.contains("examples  25"), o);
        assertTrue(o.contains("class 9   Ankle boot"), o);
        JsonNode j = new ObjectMapper().readTree(out.resolve("evaluation.json").toFile());
        assertEquals(25, j.get("examples").asInt());
        long sum = 0;
        for (JsonNode row : j.get("confusion_matrix")) {
            for (JsonNode v : row) {
                sum += v.asLong();
            }
        }
        assertEquals(25, sum);
        assertTrue(Files.size(out.resolve("evaluation.png")) > 5000);
    }
}
