package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class AccuracyTest {
    /** Independent reference: a row is correct when its argmax (first maximum) is the target and all its logits are finite. */
    private static int reference(float[] logits, long[] target, int n, int classes) {
        int correct = 0;
        for (int i = 0; i < n; i++) {
            int best = 0;
            boolean finite = true;
            for (int c = 0; c < classes; c++) {
                double v = logits[i * classes + c];
                finite &= !Double.isNaN(v) && !Double.isInfinite(v);
                if (v > logits[i * classes + best]) {
                    best = c;
                }
            }
            if (finite && best == target[i]) {
                correct++;
            }
        }
        return correct;
    }

    @Test
    void nanAndInfiniteLogitsAreNeverCorrect() {
        int classes = 5;
        // target 2 in every row
        float nan = Float.NaN;
        float inf = Float.POSITIVE_INFINITY;
        float[] logits = {
            nan, nan, nan, nan, nan,        // all NaN: every comparison with NaN is false
            0, 0, nan, 0, 0,                // the target NaN
            1, 2, 3, nan, 0,                // the target largest, another NaN
            0, 0, inf, 0, 0,                // the target +inf
            0, 0, 1, 0, -inf,               // the target largest, another -inf
            0, 0, 1, 0, 0,                  // a plain correct row
        };
        long[] target = {2, 2, 2, 2, 2, 2};
        assertEquals(1, Accuracy.correctTopK(logits, target, 6, classes, 1));
        assertEquals(5, Accuracy.nonFiniteRows(logits, 6, classes));
        // top-3 does not rescue a non-finite row either
        assertEquals(1, Accuracy.correctTopK(logits, target, 6, classes, 3));
    }

    @Test
    void agreesWithArgmaxOnRandomLogitsWithSomeNonFinite() {
        Random r = new Random(13);
        int n = 500;
        int classes = 10;
        float[] logits = new float[n * classes];
        long[] target = new long[n];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) r.nextGaussian();
            if (r.nextInt(40) == 0) {
                logits[i] = r.nextBoolean() ? Float.NaN : Float.NEGATIVE_INFINITY;
            }
        }
        for (int i = 0; i < n; i++) {
            target[i] = r.nextInt(classes);
        }
        int got = Accuracy.correctTopK(logits, target, n, classes, 1);
        assertEquals(reference(logits, target, n, classes), got);
        // an all-NaN batch scores zero, not 100%
        java.util.Arrays.fill(logits, Float.NaN);
        assertEquals(0, Accuracy.correctTopK(logits, target, n, classes, 1));
    }
}
