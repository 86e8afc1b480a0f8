package io.basq4j.deploy.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** 16-bit scaled vectors: the bound of the integers, the error bound, exact decoding, idempotence. */
class Scaled16Test {
    @Test
    void roundingStaysWithinTwoToTheMinusFifteenOfTheLargestValue() {
        Random r = new Random(4);
        for (int t = 0; t < 2000; t++) {
            int n = 1 + r.nextInt(40);
            float[] v = new float[n];
            double scale = Math.pow(10, r.nextInt(12) - 6);
            for (int i = 0; i < n; i++) {
                v[i] = (float) (r.nextGaussian() * scale);
            }
            if (t % 7 == 0) {
                v[0] = (float) (32767.5 * Math.scalb(1.0, r.nextInt(20) - 10)); // rounds up to 2^15: next exponent
            }
            double max = 0;
            for (float x : v) {
                max = Math.max(max, Math.abs(x));
            }
            int e = Scaled16.exponent(v, 0, n);
            short[] q = Scaled16.encode(v, 0, n, e);
            float[] rounded = v.clone();
            Scaled16.round(rounded, 0, n);
            boolean full = false;
            for (int i = 0; i < n; i++) {
                assertEquals(Scaled16.decode(q[i], e), rounded[i]);
                assertEquals(q[i] * Math.scalb(1.0, e), rounded[i], 0.0, "exact in float32");
                assertTrue(Math.abs(rounded[i] - v[i]) <= Math.scalb(1.0, e - 1), "nearest multiple of the scale");
                full |= Math.abs(q[i]) >= 16384;
            }
            // half a step; the largest value spans 2^14 to 2^15 steps (a hair less after rounding up to 2^15)
            assertTrue(Math.scalb(1.0, e - 1) <= max * Math.scalb(1.0, -15) * (1 + 0x1p-15), "error <= 2^-15 of the max");
            assertTrue(full, "the largest value uses the upper half of the range");
            assertTrue(Scaled16.holds(rounded, 0, n), "rounding is idempotent");
        }
        float[] zeros = new float[3];
        Scaled16.round(zeros, 0, 3);
        assertEquals(0f, zeros[2]);
        assertThrows(IllegalArgumentException.class, () -> Scaled16.exponent(new float[] {1f, Float.NaN}, 0, 2));
    }
}
