package io.basq4j.train;

/** Top-k accuracy counts from logits [N, K] on the host. */
public final class Accuracy {
    private Accuracy() {
    }

    /**
     * Number of rows whose target is among the k largest logits (ties count against). A row
     * holding a NaN or an infinite logit is never correct: a diverged network scores nothing.
     */
    public static int correctTopK(float[] logits, long[] target, int n, int classes, int k) {
        int correct = 0;
        for (int i = 0; i < n; i++) {
            int t = (int) target[i];
            float v = logits[i * classes + t];
            int above = 0;
            boolean finite = true;
            for (int c = 0; c < classes; c++) {
                float o = logits[i * classes + c];
                if (!Float.isFinite(o)) {
                    finite = false;
                    break;
                }
                if (o > v || (o == v && c < t)) {
                    above++;
                }
            }
            if (finite && above < k) {
                correct++;
            }
        }
        return correct;
    }

    /** Number of rows holding a NaN or an infinite logit. */
    public static int nonFiniteRows(float[] logits, int n, int classes) {
        int bad = 0;
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < classes; c++) {
                if (!Float.isFinite(logits[i * classes + c])) {
                    bad++;
                    break;
                }
            }
        }
        return bad;
    }
}
