package io.basq4j.deploy.infer;

import io.basq4j.data.Dataset;
import io.basq4j.deploy.ModelEvaluation;
import io.basq4j.deploy.SavedModel;
import io.basq4j.deploy.SupernetExecutor;
import java.util.Locale;

/**
 * How closely the inference engine follows the training library's evaluation path
 * ({@link SavedModel#logits}) on a data set: top-1 disagreements, the worst logit difference and
 * the accuracy of both.
 */
public final class EngineAgreement {
    /**
     * @param images images compared
     * @param disagreements images whose top-1 class differs
     * @param worstLogitDiff the largest |engine - evaluation path| over all logits
     * @param engineAccuracy top-1 accuracy of the engine, percent
     * @param evalAccuracy top-1 accuracy of the evaluation path, percent
     */
    public record Report(int images, int disagreements, double worstLogitDiff, double engineAccuracy,
            double evalAccuracy) {
        /** Share of images on which both give the same class, percent. */
        public double agreement() {
            return images == 0 ? 100 : 100.0 * (images - disagreements) / images;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%d images: %d top-1 disagreements (agreement %.3f%%), worst logit "
                    + "difference %.3g; accuracy engine %.2f%%, evaluation path %.2f%%", images, disagreements,
                    agreement(), worstLogitDiff, engineAccuracy, evalAccuracy);
        }
    }

    private EngineAgreement() {
    }

    /** Compares {@code network} (the model's own, or its compact form) with the model's evaluation path. */
    public static Report measure(SavedModel model, PackedNetwork network, Dataset data, int batch) {
        int per = data.exampleSize();
        int classes = network.classes();
        float[] x = new float[batch * per];
        long[] labels = new long[batch];
        float[] got = new float[batch * classes];
        int images = 0;
        int dis = 0;
        int okEngine = 0;
        int okEval = 0;
        double worst = 0;
        SupernetExecutor eval = new SupernetExecutor(model);
        try (InferenceEngine e = InferenceEngine.compile(network, batch)) {
            for (int start = 0; start < data.size(); start += batch) {
                int n = Math.min(batch, data.size() - start);
                for (int i = 0; i < n; i++) {
                    labels[i] = data.load(start + i, x, i * per, null);
                }
                e.logits(x, n, got);
                float[] want = eval.logits(n == batch ? x : java.util.Arrays.copyOf(x, n * per), n);
                for (int i = 0; i < n; i++) {
                    int a = ModelEvaluation.argmax(got, i * classes, classes);
                    int b = ModelEvaluation.argmax(want, i * classes, classes);
                    for (int k = 0; k < classes; k++) {
                        double d = Math.abs(got[i * classes + k] - want[i * classes + k]);
                        worst = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(worst, d);
                    }
                    dis += a != b ? 1 : 0;
                    okEngine += a == labels[i] ? 1 : 0;
                    okEval += b == labels[i] ? 1 : 0;
                }
                images += n;
            }
        }
        return new Report(images, dis, worst, 100.0 * okEngine / Math.max(1, images),
                100.0 * okEval / Math.max(1, images));
    }
}
