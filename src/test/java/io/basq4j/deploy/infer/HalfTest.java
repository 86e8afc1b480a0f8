package io.basq4j.deploy.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** float16 conversions: known patterns, every half round-trips, and rounding is to the nearest half. */
class HalfTest {
    @Test
    void knownValues() {
        assertEquals(0x3C00, Half.toBits(1f) & 0xFFFF);
        assertEquals(0xC000, Half.toBits(-2f) & 0xFFFF);
        assertEquals(0x7BFF, Half.toBits(65504f) & 0xFFFF);
        assertEquals(0x7C00, Half.toBits(65520f) & 0xFFFF, "ties at the top round to infinity");
        assertEquals(0x0001, Half.toBits(0x1p-24f) & 0xFFFF);
        assertEquals(0x0000, Half.toBits(0x1p-25f) & 0xFFFF, "a tie at the bottom rounds to even (zero)");
        assertEquals(0x0001, Half.toBits(0x1.8p-25f) & 0xFFFF);
        assertEquals(0x0400, Half.toBits(0x1p-14f) & 0xFFFF, "the smallest normal");
        assertEquals(0x3555, Half.toBits(1f / 3f) & 0xFFFF);
        assertEquals(0x8000, Half.toBits(-0f) & 0xFFFF);
        assertEquals(1f / 3f, Half.toFloat((short) 0x3555), 1e-4);
    }

    @Test
    void everyHalfRoundTripsAndRoundingIsToTheNearest() {
        for (int h = 0; h < 0x10000; h++) {
            int exp = h >>> 10 & 0x1F;
            if (exp == 31 && (h & 0x3FF) != 0) {
                continue; // NaN payloads
            }
            float f = Half.toFloat((short) h);
            assertEquals(h, Half.toBits(f) & 0xFFFF, "half 0x" + Integer.toHexString(h));
        }
        Random r = new Random(2);
        for (int i = 0; i < 100000; i++) {
            float f = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(9) - 6));
            float h = Half.round(f);
            // no half lies strictly closer: compare with the neighbours of h
            short b = Half.toBits(f);
            float up = Half.toFloat((short) (b + 1));
            float down = Half.toFloat((short) (b - 1));
            double err = Math.abs((double) h - f);
            assertTrue(err <= Math.abs((double) up - f) && err <= Math.abs((double) down - f) || (b & 0x7FFF) == 0,
                    f + " -> " + h);
        }
    }
}
