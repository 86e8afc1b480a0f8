package io.basq4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TensorCoreTest {
    private static final Device CPU = Device.CPU;

    @Test
    void sizeClassesBoundSlackAndAreStable() {
        Random r = new Random(1);
        for (int i = 0; i < 10_000; i++) {
            long n = 1 + (long) (r.nextDouble() * (1L << (1 + r.nextInt(30))));
            long c = CachingAllocator.sizeClass(n);
            assertTrue(c >= n, "class " + c + " for " + n);
            assertTrue(c <= Math.max(256, n + Math.max(n / 8 + 1, 64)), "slack of class " + c + " for " + n);
            assertEquals(c, CachingAllocator.sizeClass(c), "a class is its own class");
        }
    }

    @Test
    void allocatorReusesFreedBlocks() {
        long[] allocated = {0};
        CachingAllocator a = new CachingAllocator(bytes -> ++allocated[0] * 4096, addr -> { });
        long x = a.allocate(1000);
        a.free(x, 1000);
        long y = a.allocate(1000);
        assertEquals(x, y, "same size class is served from the cache");
        assertEquals(1, a.rawAllocations());
        long z = a.allocate(100_000);
        assertEquals(2, a.rawAllocations());
        a.free(y, 1000);
        a.free(z, 100_000);
        assertEquals(0, a.bytesInUse());
        assertTrue(a.bytesCached() > 0);
        a.trim();
        assertEquals(0, a.bytesCached());
    }

    @Test
    void roundTripsAndViews() {
        float[] data = new float[24];
        for (int i = 0; i < data.length; i++) {
            data[i] = i * 0.5f - 3f;
        }
        try (Tensor t = Tensor.of(CPU, data, 2, 3, 4)) {
            assertArrayEquals(data, t.toFloatArray());
            assertEquals(Shape.of(2, 3, 4), t.shape());
            try (Tensor v = t.view(6, 4)) {
                assertArrayEquals(data, v.toFloatArray());
                t.close(); // the view keeps the storage alive
                assertArrayEquals(data, v.toFloatArray());
            }
            assertThrows(IllegalArgumentException.class, () -> Tensor.of(CPU, data, 5, 5));
        }
        long[] labels = {3, 1, 4, 1, 5};
        try (Tensor l = Tensor.ofLongs(CPU, labels, 5)) {
            assertArrayEquals(labels, l.toLongArray());
            assertEquals(DType.I64, l.dtype());
        }
    }

    @Test
    void scopeFreesWhatItOwnsAndKeepsWhatIsKept() {
        CachingAllocator a = Backends.cpu().allocator();
        long before = a.bytesInUse();
        Tensor kept;
        Tensor outer;
        List<Tensor> inner = new ArrayList<>();
        try (Scope s1 = Scope.open()) {
            outer = Tensor.zeros(CPU, 100);
            try (Scope s2 = Scope.open()) {
                for (int i = 0; i < 5; i++) {
                    inner.add(Tensor.zeros(CPU, 1000));
                }
                kept = s2.keep(Tensor.full(CPU, 2f, 10));
            }
            for (Tensor t : inner) {
                assertTrue(t.isClosed());
            }
            assertFalse(kept.isClosed(), "kept tensors move to the enclosing scope");
            assertEquals(20f, sum(kept.toFloatArray()));
        }
        assertTrue(kept.isClosed());
        assertTrue(outer.isClosed());
        assertEquals(before, a.bytesInUse(), "everything went back to the allocator");
    }

    @Test
    void detachedTensorsOutliveTheirScope() {
        Tensor t;
        try (Scope s = Scope.open()) {
            t = Tensor.full(CPU, 1.5f, 4).detach();
        }
        assertFalse(t.isClosed());
        assertEquals(6f, sum(t.toFloatArray()));
        t.close();
        assertThrows(IllegalStateException.class, t::toFloatArray);
    }

    @Test
    void scopesCloseInnermostFirst() {
        Scope s1 = Scope.open();
        Scope s2 = Scope.open();
        assertThrows(IllegalStateException.class, s1::close);
        s2.close();
        s1.close();
    }

    @Test
    void convGeometryValidates() {
        ConvGeom g = ConvGeom.of(Shape.of(2, 8, 7, 7), Shape.of(8, 1, 3, 3), 2, 1, 8);
        assertEquals(4, g.ho());
        assertEquals(4, g.wo());
        assertThrows(IllegalArgumentException.class, () -> ConvGeom.of(Shape.of(2, 8, 7, 7), Shape.of(8, 2, 3, 3), 1,
                1, 8));
    }

    @Test
    void deviceParsing() {
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(Device.CUDA, Device.parse("CUDA"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.parse("tpu"));
        assertTrue(e.getMessage().contains("cpu, cuda, auto"));
    }

    private static float sum(float[] a) {
        float s = 0;
        for (float v : a) {
            s += v;
        }
        return s;
    }
}
