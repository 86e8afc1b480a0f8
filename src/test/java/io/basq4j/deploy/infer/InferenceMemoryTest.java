package io.basq4j.deploy.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.models.ModelConfig;
import io.basq4j.testutil.Rss;
import java.util.Random;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

/**
 * Prediction over 10,000 images in batches, as {@code predict} runs them: after warm-up the
 * engine allocates no native memory and the process's resident set stays flat.
 */
class InferenceMemoryTest {
    private static final int IMAGES = 10_000;
    private static final int BATCH = 100;
    /** Allowed growth of the resident set between batch 10 and the last batch. */
    private static final long RSS_GROWTH_BOUND = 16L << 20;

    @Test
    void tenThousandImagesStayFlat() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(16).withInChannels(1).withClasses(10)
                .withBits(2);
        try (InferTestNets.Net t = InferTestNets.realistic("mobilenetv2", cfg, 9);
                InferenceEngine e = InferenceEngine.compile(t.net(), t.selection(), BATCH)) {
            Random r = new Random(1);
            float[] x = new float[BATCH * e.imageFloats()];
            float[] logits = new float[BATCH * e.classes()];
            long rssWarm = 0;
            long nativeWarm = 0;
            double[] firstLogits = null;
            boolean varies = false;
            for (int b = 0; b < IMAGES / BATCH; b++) {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) r.nextGaussian();
                }
                e.logits(x, BATCH, logits);
                for (float v : logits) {
                    assertTrue(Float.isFinite(v), "finite logits");
                }
                if (firstLogits == null) {
                    firstLogits = new double[] {logits[0], logits[1]};
                } else {
                    varies |= logits[0] != firstLogits[0] || logits[1] != firstLogits[1];
                }
                if (b == 9) {
                    rssWarm = Rss.bytes();
                    nativeWarm = Pointer.totalBytes();
                }
            }
            long rssEnd = Rss.bytes();
            assertEquals(nativeWarm, Pointer.totalBytes(), "native bytes allocated through JavaCPP after warm-up");
            assertTrue(rssEnd - rssWarm < RSS_GROWTH_BOUND, "resident set grew by " + (rssEnd - rssWarm) / 1024
                    + " KiB (bound " + RSS_GROWTH_BOUND / 1024 + ")");
            assertTrue(varies, "the logits follow the images");
        }
    }
}
