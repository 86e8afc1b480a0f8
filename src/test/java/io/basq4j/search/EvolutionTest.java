package io.basq4j.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class EvolutionTest {
    private static double matches(Architecture a, int[] target) {
        int m = 0;
        for (int i = 0; i < target.length; i++) {
            m += a.gene(i) == target[i] ? 1 : 0;
        }
        return m;
    }

    @Test
    void findsAGoodArchitectureAndEvaluatesEachOnce() {
        int[] target = Architecture.random(new Random(5), 17, 7).genes();
        Map<Architecture, Integer> calls = new HashMap<>();
        Evolution evo = new Evolution(Evolution.Settings.paper(), 17, 7, 42, a -> {
            calls.merge(a, 1, Integer::sum);
            return matches(a, target);
        });
        Evolution.Result r = evo.run(null);
        assertTrue(calls.values().stream().allMatch(c -> c == 1), "each architecture evaluated once");
        assertEquals(calls.size(), r.evaluated());
        assertTrue(r.evaluated() <= 45 * 21, "at most P per generation plus the initial population");
        assertTrue(r.evaluated() > 45 * 10, "generations breed new candidates: " + r.evaluated());
        // Random search over the same budget averages 17/7 ~ 2.4 matches with a best of about 7;
        // evolution must do much better.
        assertTrue(r.fitness() >= 12, "evolution reached " + r.fitness() + " of 17");
        for (int i = 1; i < r.bestPerGeneration().size(); i++) {
            assertTrue(r.bestPerGeneration().get(i) >= r.bestPerGeneration().get(i - 1), "the top list never worsens");
        }
    }

    @Test
    void deterministicForASeed() {
        int[] target = {1, 2, 3, 4, 5, 6, 0, 1, 2, 3};
        Evolution.Settings s = new Evolution.Settings(12, 4, 5, 5, 0.1, 6);
        Evolution.Result a = new Evolution(s, 10, 7, 9, x -> matches(x, target)).run(null);
        Evolution.Result b = new Evolution(s, 10, 7, 9, x -> matches(x, target)).run(null);
        assertEquals(a.best(), b.best());
        assertEquals(a.evaluated(), b.evaluated());
    }

    @Test
    void smallSearchSpacesTerminate() {
        Evolution.Result r = new Evolution(Evolution.Settings.paper(), 2, 2, 1, a -> a.gene(0) + a.gene(1)).run(null);
        assertEquals(4, r.evaluated());
        assertEquals(new Architecture(new int[] {1, 1}), r.best());
    }

    @Test
    void parsesArchitectures() {
        assertEquals(new Architecture(new int[] {3, 0, 6}), Architecture.parse("[3, 0, 6]", 3, 7));
        assertEquals(new Architecture(new int[] {3, 0, 6}), Architecture.parse("3 0 6", 3, 7));
        assertThrows(IllegalArgumentException.class, () -> Architecture.parse("3 0", 3, 7));
        assertThrows(IllegalArgumentException.class, () -> Architecture.parse("3 0 7", 3, 7));
    }
}
