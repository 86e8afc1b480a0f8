package io.basq4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class SyntheticImagesTest {
    @Test
    void deterministicAndBalanced() {
        SyntheticImages a = new SyntheticImages(50, 5, 3, 16, 20, 1);
        SyntheticImages b = new SyntheticImages(50, 5, 3, 16, 20, 1);
        SyntheticImages c = new SyntheticImages(50, 5, 3, 16, 20, 2);
        float[] x = new float[a.exampleSize()];
        float[] y = new float[a.exampleSize()];
        float[] z = new float[a.exampleSize()];
        int[] count = new int[5];
        for (int i = 0; i < 50; i++) {
            a.load(i, x, 0, null);
            b.load(i, y, 0, null);
            c.load(i, z, 0, null);
            assertArrayEquals(x, y);
            assertFalse(Arrays.equals(x, z));
            count[(int) a.label(i)]++;
        }
        assertArrayEquals(new int[] {10, 10, 10, 10, 10}, count);
        assertEquals(3 * 16 * 20, a.exampleSize());
    }

    /** Nearest class mean, fitted on one seed and tested on another, is far above chance. */
    @Test
    void classesAreSeparable() {
        int classes = 10;
        SyntheticImages train = new SyntheticImages(500, classes, 1, 28, 28, 10);
        SyntheticImages test = new SyntheticImages(200, classes, 1, 28, 28, 11);
        int d = train.exampleSize();
        double[][] mean = new double[classes][d];
        float[] x = new float[d];
        for (int i = 0; i < train.size(); i++) {
            train.load(i, x, 0, null);
            for (int j = 0; j < d; j++) {
                mean[(int) train.label(i)][j] += x[j] / 50.0;
            }
        }
        int correct = 0;
        for (int i = 0; i < test.size(); i++) {
            test.load(i, x, 0, null);
            int best = -1;
            double bestDist = Double.MAX_VALUE;
            for (int k = 0; k < classes; k++) {
                double dist = 0;
                for (int j = 0; j < d; j++) {
                    double e = x[j] - mean[k][j];
                    dist += e * e;
                }
                if (dist < bestDist) {
                    bestDist = dist;
                    best = k;
                }
            }
            correct += best == test.label(i) ? 1 : 0;
        }
        assertTrue(correct >= 150, "nearest-mean accuracy " + correct + "/200");
    }
}
