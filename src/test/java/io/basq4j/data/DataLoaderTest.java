package io.basq4j.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataLoaderTest {
    /** A data set whose values depend on the index and on the random draws; optionally slow. */
    static class Noise implements Dataset {
        final int size;
        final long sleepMs;
        final AtomicInteger loads = new AtomicInteger();
        final AtomicInteger running = new AtomicInteger();
        final AtomicInteger maxRunning = new AtomicInteger();

        Noise(int size, long sleepMs) {
            this.size = size;
            this.sleepMs = sleepMs;
        }

        @Override
        public int size() {
            return size;
        }

        @Override
        public int channels() {
            return 2;
        }

        @Override
        public int height() {
            return 3;
        }

        @Override
        public int width() {
            return 4;
        }

        @Override
        public int classes() {
            return 5;
        }

        @Override
        public long label(int i) {
            return i % 5;
        }

        @Override
        public long load(int i, float[] dst, int offset, Random rng) {
            int r = running.incrementAndGet();
            maxRunning.accumulateAndGet(r, Math::max);
            try {
                if (sleepMs > 0) {
                    try {
                        Thread.sleep(sleepMs);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted");
                    }
                }
                for (int k = 0; k < exampleSize(); k++) {
                    dst[offset + k] = i + (rng == null ? 0f : rng.nextFloat());
                }
                loads.incrementAndGet();
                return i % 5;
            } finally {
                running.decrementAndGet();
            }
        }
    }

    private static List<Batch> epoch(DataLoader dl, int e) {
        List<Batch> out = new ArrayList<>();
        for (Batch b : dl.epoch(e)) {
            out.add(b);
        }
        return out;
    }

    private static void assertSame(List<Batch> a, List<Batch> b) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).index(), b.get(i).index());
            assertArrayEquals(a.get(i).labels(), b.get(i).labels());
            assertArrayEquals(a.get(i).images(), b.get(i).images());
        }
    }

    @Test
    void sameSeedSameBatchesWhateverTheWorkers(@TempDir Path tmp) {
        SyntheticFiles.writeFashionMnist(tmp, 300, 10, 9, true);
        FashionMnist ds = FashionMnist.builder().dir(tmp).hflip(true).build();
        List<List<Batch>> runs = new ArrayList<>();
        for (int workers : new int[] {0, 1, 4}) {
            try (DataLoader dl = DataLoader.builder(ds).batchSize(64).shuffle(true).seed(7).workers(workers)
                    .chunk(workers == 4 ? 5 : 0).build()) {
                List<Batch> e0 = epoch(dl, 0);
                List<Batch> e1 = epoch(dl, 1);
                runs.add(e0);
                runs.add(e1);
            }
        }
        for (int r = 2; r < runs.size(); r++) {
            assertSame(runs.get(r % 2), runs.get(r));
        }
        // epochs differ in order and augmentation
        assertFalse(Arrays.equals(runs.get(0).get(0).labels(), runs.get(1).get(0).labels())
                && Arrays.equals(runs.get(0).get(0).images(), runs.get(1).get(0).images()));
        // shapes: 300 = 4 * 64 + 44
        assertEquals(5, runs.get(0).size());
        assertEquals(44, runs.get(0).get(4).n());
        assertEquals(1, runs.get(0).get(0).c());
        assertEquals(32, runs.get(0).get(0).h());
    }

    @Test
    void augmentationComesFromSeedEpochAndIndex() {
        Noise ds = new Noise(40, 0);
        try (DataLoader dl = DataLoader.builder(ds).batchSize(8).shuffle(true).seed(3).workers(2).build()) {
            int[] order = dl.order(2);
            List<Batch> batches = epoch(dl, 2);
            float[] x = new float[ds.exampleSize()];
            for (Batch b : batches) {
                for (int k = 0; k < b.n(); k++) {
                    int index = order[b.index() * 8 + k];
                    ds.load(index, x, 0, dl.exampleRandom(2, index));
                    assertArrayEquals(x, Arrays.copyOfRange(b.images(), k * x.length, (k + 1) * x.length));
                    assertEquals(index % 5, b.labels()[k]);
                    assertEquals(2, b.epoch());
                }
            }
            int[] sorted = order.clone();
            Arrays.sort(sorted);
            for (int i = 0; i < sorted.length; i++) {
                assertEquals(i, sorted[i], "a permutation");
            }
        }
        // another seed, another order
        try (DataLoader a = DataLoader.builder(ds).shuffle(true).seed(3).build();
                DataLoader b = DataLoader.builder(ds).shuffle(true).seed(4).build()) {
            assertFalse(Arrays.equals(a.order(0), b.order(0)));
            assertArrayEquals(a.order(5), a.order(5));
        }
    }

    @Test
    void noShuffleIsIndexOrderAndDropLast() {
        Noise ds = new Noise(10, 0);
        try (DataLoader dl = DataLoader.builder(ds).batchSize(4).dropLast(true).workers(1).build()) {
            assertEquals(2, dl.batches());
            assertEquals(8, dl.examples());
            List<Batch> e = epoch(dl, 0);
            assertEquals(2, e.size());
            assertArrayEquals(new long[] {4, 0, 1, 2}, e.get(1).labels());
            assertEquals(4f, e.get(1).images()[0], 1f);
        }
        try (DataLoader dl = DataLoader.builder(ds).batchSize(4).workers(1).build()) {
            assertEquals(3, dl.batches());
            List<Batch> e = epoch(dl, 0);
            assertEquals(2, e.get(2).n());
            assertEquals(2 * 2 * 3 * 4, e.get(2).images().length);
        }
    }

    @Test
    void iteratorAdvancesEpochs() {
        Noise ds = new Noise(6, 0);
        try (DataLoader dl = DataLoader.builder(ds).batchSize(4).shuffle(true).workers(2).build()) {
            List<Integer> epochs = new ArrayList<>();
            for (int e = 0; e < 3; e++) {
                for (Batch b : dl) {
                    epochs.add(b.epoch());
                }
            }
            assertEquals(List.of(0, 0, 1, 1, 2, 2), epochs);
            for (Batch b : dl.epoch(7)) {
                assertEquals(7, b.epoch());
            }
            assertEquals(8, dl.iterator().next().epoch());
        }
    }

    @Test
    void prefetchIsBoundedAndParallel() {
        Noise ds = new Noise(64, 20);
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            try (DataLoader dl = DataLoader.builder(ds).batchSize(8).workers(4).prefetch(2).build()) {
                Iterator<Batch> it = dl.iterator();
                Batch first = it.next();
                assertEquals(0, first.index());
                Thread.sleep(300); // workers fill the queue while we "train"
                int loaded = ds.loads.get();
                assertTrue(loaded <= 8 * 3, "at most the taken batch plus 2 prefetched: " + loaded);
                assertTrue(loaded >= 16, "prefetch ran ahead: " + loaded);
                int n = 1;
                while (it.hasNext()) {
                    it.next();
                    n++;
                }
                assertEquals(8, n);
                assertTrue(ds.maxRunning.get() > 1, "decoded on several threads");
            }
        });
    }

    @Test
    void closeStopsWorkersWithoutHanging() {
        Noise ds = new Noise(1000, 50);
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            DataLoader dl = DataLoader.builder(ds).batchSize(16).workers(3).prefetch(4).build();
            Iterator<Batch> it = dl.iterator();
            it.next();
            dl.close();
            dl.close(); // idempotent
            Thread.sleep(100);
            int after = ds.loads.get();
            Thread.sleep(300);
            assertEquals(after, ds.loads.get(), "no work after close");
            assertEquals(0, ds.running.get());
            assertThrows(IllegalStateException.class, it::next);
            assertThrows(IllegalStateException.class, dl::iterator);
            // every loader of these tests is closed by now: no worker thread may remain
            for (Thread t : Thread.getAllStackTraces().keySet()) {
                if (t.getName().startsWith("basq4j-data-")) {
                    t.join(2000);
                    assertFalse(t.isAlive(), "worker still alive: " + t.getName());
                }
            }
        });
    }

    @Test
    void abandoningAnEpochAndStartingAnother() {
        Noise ds = new Noise(200, 2);
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            try (DataLoader dl = DataLoader.builder(ds).batchSize(10).workers(2).build()) {
                Iterator<Batch> first = dl.epoch(0).iterator();
                first.next();
                List<Batch> second = epoch(dl, 1);
                assertEquals(20, second.size());
                assertTrue(first.hasNext());
                IllegalStateException e = assertThrows(IllegalStateException.class, first::next);
                assertTrue(e.getMessage().contains("abandoned"), e.getMessage());
            }
        });
    }

    @Test
    void workerErrorsReachTheCaller() {
        Dataset failing = new Noise(20, 0) {
            @Override
            public long load(int i, float[] dst, int offset, Random rng) {
                if (i == 13) {
                    throw new DataException("broken example 13");
                }
                return super.load(i, dst, offset, rng);
            }
        };
        try (DataLoader dl = DataLoader.builder(failing).batchSize(5).workers(2).build()) {
            Iterator<Batch> it = dl.iterator();
            it.next();
            it.next();
            DataException e = assertThrows(DataException.class, it::next);
            assertEquals("broken example 13", e.getMessage());
        }
    }

    @Test
    void cacheAllGivesTheFixedEvaluationBatches(@TempDir Path tmp) {
        SyntheticFiles.writeImageFolder(tmp, 2, 3, 5, 1, false);
        ImageFolder val = ImageFolder.builder(tmp).split("val").crop(16).resize(20)
                .log(new PrintStream(new ByteArrayOutputStream())).build();
        try (DataLoader dl = DataLoader.builder(val).batchSize(3).workers(2).build()) {
            List<Batch> cached = dl.cacheAll();
            assertEquals(4, cached.size());
            assertSame(cached, dl.cacheAll());
            assertSame(cached, epoch(dl, 3)); // no shuffle, no augmentation: every epoch is the same
            assertEquals(1, cached.get(3).n());
            Folds folds = new Folds(cached.size(), 2);
            assertEquals(2, folds.fold(cached, 1).size());
            assertEquals(2, folds.complement(cached, 1).size());
            assertThrows(UnsupportedOperationException.class, () -> cached.add(null));
        }
    }

    @Test
    void rejectsBadOptions() {
        Noise ds = new Noise(3, 0);
        assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(ds).batchSize(0));
        assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(ds).workers(-1));
        assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(ds).prefetch(0));
        assertThrows(IllegalArgumentException.class, () -> DataLoader.builder(null));
    }
}
