package io.basq4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class FoldsTest {
    @Test
    void imagenetValidationInTenFolds() {
        // 50000 images in batches of 128: 391 batches, m = 39, 1 batch in no fold
        Folds f = new Folds(391, 10);
        assertEquals(39, f.batchesPerFold());
        assertEquals(0, f.start(0));
        assertEquals(39, f.end(0));
        assertEquals(351, f.start(9));
        assertEquals(390, f.end(9));
        assertEquals(391 - 39, f.complement(9).length);
        assertArrayEquals(new int[] {0, 1, 2}, java.util.Arrays.copyOf(f.complement(9), 3));
        assertEquals(390, f.complement(9)[351]); // the remainder batch is outside every fold
        assertTrue(f.inFold(3, 117));
        assertFalse(f.inFold(3, 156));
    }

    @Test
    void foldAndComplementPartitionTheBatches() {
        for (int batches = 1; batches <= 30; batches++) {
            for (int k = 1; k <= batches; k++) {
                Folds f = new Folds(batches, k);
                int m = batches / k;
                for (int fold = 0; fold < k; fold++) {
                    int[] in = f.fold(fold);
                    int[] out = f.complement(fold);
                    assertEquals(m, in.length);
                    assertEquals(batches, in.length + out.length);
                    boolean[] seen = new boolean[batches];
                    for (int b : in) {
                        assertEquals(fold, b / m);
                        seen[b] = true;
                    }
                    for (int b : out) {
                        assertFalse(seen[b]);
                        seen[b] = true;
                    }
                    for (boolean s : seen) {
                        assertTrue(s);
                    }
                }
            }
        }
    }

    @Test
    void listViews() {
        List<String> items = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            items.add("b" + i);
        }
        Folds f = new Folds(7, 3); // m = 2
        assertEquals(List.of("b2", "b3"), f.fold(items, 1));
        assertEquals(List.of("b0", "b1", "b4", "b5", "b6"), f.complement(items, 1));
        assertThrows(IllegalArgumentException.class, () -> f.fold(items.subList(0, 6), 0));
    }

    @Test
    void rejectsImpossibleSplits() {
        assertThrows(IllegalArgumentException.class, () -> new Folds(5, 0));
        assertThrows(IllegalArgumentException.class, () -> new Folds(3, 4));
        Folds f = new Folds(4, 2);
        assertThrows(IndexOutOfBoundsException.class, () -> f.fold(2));
        assertThrows(IndexOutOfBoundsException.class, () -> f.start(-1));
    }
}
