package io.basq4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class TensorDataTest {

    @Test
    void factoriesValidateLength() {
        TensorData t = TensorData.ofFloat(new int[] {2, 3}, new float[6]);
        assertEquals(TensorData.DType.F32, t.dtype());
        assertEquals(6, t.numel());
        assertEquals("[2, 3]", t.shapeString());
        assertThrows(IllegalArgumentException.class, () -> TensorData.ofFloat(new int[] {2, 3}, new float[5]));
        assertThrows(IllegalArgumentException.class, () -> TensorData.ofLong(new int[] {-1}, new long[0]));
        assertThrows(IllegalArgumentException.class, () -> TensorData.ofLong(new int[] {1}, null));
    }

    @Test
    void zeroDimAndEmpty() {
        TensorData s = TensorData.ofLong(new int[0], new long[] {7});
        assertEquals(0, s.rank());
        assertEquals(1, s.numel());
        assertEquals("[]", s.shapeString());
        assertThrows(IllegalArgumentException.class, () -> TensorData.ofLong(new int[0], new long[0]));
        TensorData e = TensorData.ofFloat(new int[] {0, 4}, new float[0]);
        assertEquals(0, e.numel());
    }

    @Test
    void accessorsAndEquality() {
        int[] shape = {3};
        TensorData a = TensorData.ofFloat(shape, new float[] {1, 2, 3});
        shape[0] = 99; // the factory copied the shape
        assertArrayEquals(new int[] {3}, a.shape());
        assertThrows(IllegalStateException.class, a::i64);
        assertEquals(a, TensorData.ofFloat(new int[] {3}, new float[] {1, 2, 3}));
        assertNotEquals(a, TensorData.ofFloat(new int[] {1, 3}, new float[] {1, 2, 3}));
        assertEquals(a.hashCode(), TensorData.ofFloat(new int[] {3}, new float[] {1, 2, 3}).hashCode());
        TensorData one = TensorData.ofLong(new int[0], new long[] {4}).withShape(new int[] {1});
        assertArrayEquals(new int[] {1}, one.shape());
        assertEquals(4L, one.i64()[0]);
    }
}
