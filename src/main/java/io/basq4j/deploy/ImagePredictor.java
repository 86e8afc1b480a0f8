package io.basq4j.deploy;

import io.basq4j.data.Preprocessing;
import io.basq4j.data.RgbImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Classifies image files in batches, as {@code predict} does: each image is decoded and
 * preprocessed as the model records, then dropped, so that only a batch of small inputs is held;
 * an image that cannot be read is reported and the others are still classified.
 */
public final class ImagePredictor {
    /** What became of one file: its top classes, or why it could not be classified. */
    public record Outcome(Path path, List<Classifier.Prediction> predictions, String error) {
        public boolean ok() {
            return error == null;
        }
    }

    private ImagePredictor() {
    }

    /**
     * Classifies {@code files} in order, {@code batch} at a time, handing each outcome to
     * {@code sink} in the order of {@code files}.
     *
     * @return the number of files that could not be classified
     * @throws IllegalArgumentException when the model records no image preprocessing
     */
    public static int run(Classifier c, List<ImageFiles.Entry> files, int top, int batch, Consumer<Outcome> sink) {
        if (batch < 1) {
            throw new IllegalArgumentException("batch " + batch + " must be at least 1");
        }
        Preprocessing rule = c.requirePreprocessing();
        int per = rule.inputSize();
        float[] x = new float[batch * per];
        String[] errors = new String[batch];
        int failed = 0;
        for (int start = 0; start < files.size(); start += batch) {
            List<ImageFiles.Entry> chunk = files.subList(start, Math.min(files.size(), start + batch));
            int n = 0;
            for (int i = 0; i < chunk.size(); i++) {
                ImageFiles.Entry e = chunk.get(i);
                errors[i] = e.error();
                if (errors[i] == null) {
                    try {
                        rule.apply(RgbImage.read(e.path()), x, n * per);
                        n++;
                    } catch (IOException ex) {
                        String why = String.valueOf(ex.getMessage());
                        errors[i] = why.contains(e.path().toString()) ? why
                                : "cannot read image " + e.path() + ": " + why;
                    }
                }
            }
            float[] logits = n == 0 ? new float[0] : c.logits(n == batch ? x : Arrays.copyOf(x, n * per), n);
            int j = 0;
            for (int i = 0; i < chunk.size(); i++) {
                Path p = chunk.get(i).path();
                if (errors[i] != null) {
                    failed++;
                    sink.accept(new Outcome(p, List.of(), errors[i]));
                } else {
                    sink.accept(new Outcome(p, c.topK(logits, j++ * c.classes(), top), null));
                }
            }
        }
        return failed;
    }
}
