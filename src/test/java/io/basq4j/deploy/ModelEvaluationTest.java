package io.basq4j.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.data.DataException;
import io.basq4j.data.Dataset;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The evaluation's counting, through the executor seam: an executor whose logits are chosen
 * per example here, so that top-1, top-5, per-class accuracy and the confusion matrix are known
 * in advance.
 */
class ModelEvaluationTest {
    @TempDir
    Path dir;

    static final int K = 7;

    /** Example i: label i % K; its input carries i in the first float. */
    static class Indexed implements Dataset {
        final int n;
        final java.util.Set<Integer> unreadable;

        Indexed(int n, java.util.Set<Integer> unreadable) {
            this.n = n;
            this.unreadable = unreadable;
        }

        public int size() {
            return n;
        }

        public int channels() {
            return 1;
        }

        public int height() {
            return 16;
        }

        public int width() {
            return 16;
        }

        public int classes() {
            return K;
        }

        public long label(int i) {
            return i % K;
        }

        public long load(int i, float[] dst, int offset, Random rng) {
            if (unreadable.contains(i)) {
                throw new DataException("unreadable image file-" + i + ".png: broken");
            }
            dst[offset] = i;
            return label(i);
        }
    }

    /** Logits of example i: a random ranking, with the label at rank (i % 9) (0 = the prediction). */
    static float[] row(int i) {
        Random r = new Random(i * 31L + 7);
        List<Integer> order = new ArrayList<>();
        for (int k = 0; k < K; k++) {
            if (k != i % K) {
                order.add(k);
            }
        }
        java.util.Collections.shuffle(order, r);
        int rank = Math.min(i % 9, K - 1);
        order.add(rank, i % K);
        float[] l = new float[K];
        for (int pos = 0; pos < K; pos++) {
            l[order.get(pos)] = K - pos; // strictly decreasing by rank
        }
        return l;
    }

    /** A saved model of K classes for 1x16x16 inputs (its network is not what runs: see {@link #table}). */
    private Path modelFile() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(16).withInChannels(1).withClasses(K);
        Path file = dir.resolve("m.safetensors");
        try (Supernet sup = Models.create("resnet20", cfg)) {
            SavedModel.write(file, sup, new int[sup.searchedUnits()], Map.of());
        }
        return file;
    }

    /** The executor whose logits for example i are {@link #row}(i). */
    static NetworkExecutor table() {
        return new NetworkExecutor() {
            @Override
            public float[] logits(float[] x, int n) {
                float[] out = new float[n * K];
                for (int j = 0; j < n; j++) {
                    System.arraycopy(row((int) x[j * 256]), 0, out, j * K, K);
                }
                return out;
            }

            @Override
            public String description() {
                return "a table of logits";
            }

            @Override
            public void close() {
            }
        };
    }

    @Test
    void countsAreWhatTheLogitsSay() throws Exception {
        Path file = modelFile();
        NetworkExecutor fake = table();
        int n = 250;
        java.util.Set<Integer> bad = java.util.Set.of(3, 100, 249);
        long top1 = 0;
        long top5 = 0;
        long[][] conf = new long[K][K];
        for (int i = 0; i < n; i++) {
            if (bad.contains(i)) {
                continue;
            }
            int rank = Math.min(i % 9, K - 1);
            top1 += rank == 0 ? 1 : 0;
            top5 += rank < 5 ? 1 : 0;
            float[] l = row(i);
            int pred = 0;
            for (int k = 1; k < K; k++) {
                pred = l[k] > l[pred] ? k : pred;
            }
            conf[i % K][pred]++;
        }
        List<String> messages = new ArrayList<>();
        ModelEvaluation.Report r;
        try (Classifier c = new Classifier(SavedModel.load(file), fake)) {
            r = ModelEvaluation.run(c, new Indexed(n, bad), 32, messages::add);
        }
        assertEquals(n - 3, r.examples());
        assertEquals(top1, r.top1Correct());
        assertEquals(5, r.topK());
        assertEquals(top5, r.topKCorrect());
        assertEquals(100.0 * top1 / (n - 3), r.top1());
        for (int t = 0; t < K; t++) {
            assertArrayEquals(conf[t], r.confusion()[t], "row " + t);
            long count = java.util.Arrays.stream(conf[t]).sum();
            assertEquals(100.0 * conf[t][t] / count, r.perClassAccuracy()[t], 1e-12);
        }
        assertEquals(3, r.unreadable().size());
        assertTrue(r.unreadable().stream().anyMatch(m -> m.contains("file-100.png")), r.unreadable().toString());
        assertTrue(messages.stream().anyMatch(m -> m.contains("file-249.png") && m.contains("left out")));

        ModelEvaluation.write(r, dir.resolve("out"));
        JsonNode j = new ObjectMapper().readTree(dir.resolve("out").resolve(ModelEvaluation.JSON_FILE).toFile());
        assertEquals(r.top1(), j.get("top1").asDouble());
        assertEquals(r.top5(), j.get("top5").asDouble());
        assertEquals(K, j.get("per_class").size());
        assertEquals(conf[2][2], j.get("confusion_matrix").get(2).get(2).asLong());
        assertEquals(3, j.get("unreadable").size());
        BufferedImage png = ImageIO.read(dir.resolve("out").resolve(ModelEvaluation.CHART_FILE).toFile());
        assertEquals(1440, png.getWidth());
        assertEquals(600, png.getHeight());
    }

    @Test
    void aLabelOutsideTheModelsClassesIsNamedBeforeAnythingIsCounted() {
        Path file = modelFile();
        Dataset data = new Indexed(10, java.util.Set.of()) {
            @Override
            public long label(int i) {
                return i == 9 ? K : super.label(i);
            }
        };
        try (Classifier c = new Classifier(SavedModel.load(file), table())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ModelEvaluation.run(c, data, 32, m -> { }));
            assertEquals("label " + K + " outside the model's " + K + " classes", e.getMessage());
        }
    }
}
