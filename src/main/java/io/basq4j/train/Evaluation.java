package io.basq4j.train;

import io.basq4j.autograd.GradMode;
import io.basq4j.data.Batch;
import io.basq4j.nn.Module;
import io.basq4j.tensor.CudaMath;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.function.UnaryOperator;

/** Top-1 accuracy of a model in evaluation mode (running BN statistics, no dropout). */
public final class Evaluation {
    private Evaluation() {
    }

    /**
     * Correct predictions on one batch; {@code forward} maps images to logits (run without
     * gradient, and as an evaluation for {@link CudaMath}: no TF32 under the default mode).
     */
    public static int correct(UnaryOperator<Tensor> forward, Tensor images, long[] labels) {
        return counts(forward, images, labels).correct();
    }

    /** Correct predictions and rows with a NaN or infinite logit (never correct) on one batch. */
    public record Counts(int correct, int nonFinite) {
    }

    /** As {@link #correct}, also counting the rows with a non-finite logit. */
    public static Counts counts(UnaryOperator<Tensor> forward, Tensor images, long[] labels) {
        try (Scope s = Scope.open(); GradMode off = GradMode.off(); CudaMath.Scope eval = CudaMath.evaluation()) {
            float[] logits = forward.apply(images).toFloatArray();
            int classes = logits.length / labels.length;
            return new Counts(Accuracy.correctTopK(logits, labels, labels.length, classes, 1),
                    Accuracy.nonFiniteRows(logits, labels.length, classes));
        }
    }

    /** Accuracy in percent over every batch of {@code batches}; the model is put in evaluation mode. */
    public static double accuracy(UnaryOperator<Tensor> forward, Iterable<Batch> batches, Device dev, Module model) {
        boolean was = model.isTraining();
        model.eval();
        long correct = 0;
        long total = 0;
        try {
            for (Batch b : batches) {
                try (Scope s = Scope.open()) {
                    correct += correct(forward, Training.images(b, dev), b.labels());
                }
                total += b.n();
            }
        } finally {
            model.train(was);
        }
        return total == 0 ? 0 : 100.0 * correct / total;
    }
}
