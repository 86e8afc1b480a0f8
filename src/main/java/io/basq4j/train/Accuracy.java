package io.basq4j.train;

/** Top-k accuracy counts from logits [N, K] on the host. */
public final class Accuracy {
    private Accuracy() {
    }

    /** Number of rows whose target is among the k largest logits (ties count against). */
    public static int correctTopK(float[] logits, long[] target, int n, int classes, int k) {
        int correct = 0;
        for (int i = 0; i < n; i++) {
            int t = (int) target[i];
            float v = logits[i * classes + t];
            int above = 0;
            for (int c = 0; c < classes; c++) {
                float o = logits[i * classes + c];
                if (o > v || (o == v && c < t)) {
                    above++;
                }
            }
            if (above < k) {
                correct++;
            }
        }
        return correct;
    }
}
