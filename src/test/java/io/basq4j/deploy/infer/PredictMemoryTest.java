package io.basq4j.deploy.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.data.Preprocessing;
import io.basq4j.deploy.Classifier;
import io.basq4j.deploy.ImageFiles;
import io.basq4j.deploy.ImagePredictor;
import io.basq4j.deploy.SavedModel;
import io.basq4j.models.ModelConfig;
import io.basq4j.tensor.Device;
import io.basq4j.testutil.Rss;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import javax.imageio.ImageIO;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code predict} over 10,000 image files (PNG decoding, preprocessing, the packed engine, top-k):
 * after warm-up no native memory is allocated and the resident set stays flat.
 */
class PredictMemoryTest {
    private static final int IMAGES = 10_000;
    private static final int FILES = 250;
    /** Allowed growth of the resident set between image 2,000 and the last (Java heap included). */
    private static final long RSS_GROWTH_BOUND = 32L << 20;

    @TempDir
    Path dir;

    @Test
    void tenThousandImagesStayFlat() throws IOException {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(10)
                .withBits(2);
        Path model = dir.resolve("model.safetensors");
        try (InferTestNets.Net t = InferTestNets.realistic("mobilenetv2", cfg, 5)) {
            SavedModel.write(model, t.net(), t.selection(), null,
                    new Preprocessing(1, 28, 28, 2, new float[] {0.286f}, new float[] {0.353f}), java.util.Map.of());
        }
        Random r = new Random(3);
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < FILES; i++) {
            // grey and colour images of several sizes: every decoding and resizing path
            int w = 20 + r.nextInt(60);
            int h = 20 + r.nextInt(60);
            BufferedImage img = new BufferedImage(w, h, i % 2 == 0 ? BufferedImage.TYPE_BYTE_GRAY
                    : BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    img.setRGB(x, y, r.nextInt(1 << 24));
                }
            }
            Path p = dir.resolve(String.format("img-%03d.png", i));
            ImageIO.write(img, "png", p.toFile());
            files.add(p);
        }
        List<ImageFiles.Entry> entries = new ArrayList<>();
        for (int i = 0; i < IMAGES; i++) {
            entries.add(new ImageFiles.Entry(files.get(i % FILES), null));
        }
        long[] warm = new long[2];
        int[] seen = new int[1];
        Set<Double> top1 = new HashSet<>();
        try (Classifier c = Classifier.load(model, Device.CPU, Classifier.Engine.AUTO)) {
            assertTrue(c.engineName().contains("packed"), c.engineName());
            int failed = ImagePredictor.run(c, entries, 3, 32, o -> {
                assertTrue(o.ok(), o.error());
                assertEquals(3, o.predictions().size());
                assertTrue(Double.isFinite(o.predictions().get(0).probability()));
                top1.add(o.predictions().get(0).probability());
                if (++seen[0] == 2_000) {
                    warm[0] = Rss.bytes();
                    warm[1] = Pointer.totalBytes();
                }
            });
            assertEquals(0, failed);
            assertEquals(IMAGES, seen[0]);
            long rssEnd = Rss.bytes();
            assertEquals(warm[1], Pointer.totalBytes(), "native bytes allocated through JavaCPP after warm-up");
            assertTrue(rssEnd - warm[0] < RSS_GROWTH_BOUND, "resident set grew by " + (rssEnd - warm[0]) / 1024
                    + " KiB from image 2,000 to 10,000 (bound " + RSS_GROWTH_BOUND / 1024 + " KiB)");
            assertTrue(top1.size() > FILES * 9 / 10, "the predictions follow the images (one per file): " + top1.size() + " distinct");
        }
    }
}
