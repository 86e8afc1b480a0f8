package io.basq4j.data;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Batches of a {@link Dataset}, decoded on a pool of worker threads ahead of use.
 *
 * <p>Order: with {@code shuffle}, epoch {@code e} visits the examples in a permutation drawn from
 * {@code (seed, e)}; without, in index order. Batches hold {@code batchSize} examples; the last,
 * smaller one is kept unless {@code dropLast}.
 *
 * <p>Determinism: each example's augmentation draws from its own {@link Random} seeded from
 * {@code (seed, epoch, example index)}, and each batch is assembled into its own array, so the
 * batches of an epoch are the same whatever the number of workers and however the threads are
 * scheduled.
 *
 * <p>Prefetch: each batch is split into chunks that the workers fill in parallel; at most
 * {@code prefetch} batches are in flight (bounded memory), and batches are handed out in order.
 * With {@code workers == 0} the calling thread decodes each batch when asked for it.
 *
 * <p>{@link #iterator()} runs the next epoch (0, 1, 2, ...); {@link #epoch(int)} runs a given one
 * (after a resume). Starting a new epoch abandons the unfinished one (its queued work is
 * cancelled). {@link #close()} stops the workers; the loader cannot be used afterwards.
 */
public final class DataLoader implements Iterable<Batch>, AutoCloseable {
    private final Dataset dataset;
    private final int batchSize;
    private final boolean shuffle;
    private final boolean dropLast;
    private final long seed;
    private final int workers;
    private final int prefetch;
    private final int chunk;
    private final ExecutorService pool;
    private final Object lock = new Object();
    private int nextEpoch = 0;
    private EpochIterator current;
    private volatile boolean closed;

    private DataLoader(Builder b) {
        this.dataset = b.dataset;
        this.batchSize = b.batchSize;
        this.shuffle = b.shuffle;
        this.dropLast = b.dropLast;
        this.seed = b.seed;
        this.workers = b.workers;
        this.prefetch = b.prefetch;
        this.chunk = b.chunk > 0 ? b.chunk : Math.max(1, (batchSize + Math.max(1, workers) - 1) / Math.max(1, workers));
        this.pool = workers > 0 ? Executors.newFixedThreadPool(workers, new WorkerFactory()) : null;
    }

    public static Builder builder(Dataset dataset) {
        return new Builder(dataset);
    }

    /** Options for a {@link DataLoader}; every one has a default. */
    public static final class Builder {
        private final Dataset dataset;
        private int batchSize = 256;
        private boolean shuffle = false;
        private boolean dropLast = false;
        private long seed = 0;
        private int workers = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() - 1));
        private int prefetch = 2;
        private int chunk = 0;

        private Builder(Dataset dataset) {
            if (dataset == null) {
                throw new IllegalArgumentException("dataset is null");
            }
            this.dataset = dataset;
        }

        /** Examples per batch (default 256). */
        public Builder batchSize(int batchSize) {
            if (batchSize <= 0) {
                throw new IllegalArgumentException("batch size must be > 0, got " + batchSize);
            }
            this.batchSize = batchSize;
            return this;
        }

        /** A fresh permutation each epoch (default false: index order). */
        public Builder shuffle(boolean shuffle) {
            this.shuffle = shuffle;
            return this;
        }

        /** Drop the last, incomplete batch (default false). */
        public Builder dropLast(boolean dropLast) {
            this.dropLast = dropLast;
            return this;
        }

        /** Seed of the shuffles and of the augmentation (default 0). */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Decoding threads; 0 decodes on the calling thread (default: cores - 1, between 1 and 4). */
        public Builder workers(int workers) {
            if (workers < 0) {
                throw new IllegalArgumentException("workers must be >= 0, got " + workers);
            }
            this.workers = workers;
            return this;
        }

        /** Batches decoded ahead (in flight at once), at least 1 (default 2). */
        public Builder prefetch(int prefetch) {
            if (prefetch < 1) {
                throw new IllegalArgumentException("prefetch must be >= 1, got " + prefetch);
            }
            this.prefetch = prefetch;
            return this;
        }

        /** Examples per work item (default: batch size / workers, rounded up). */
        public Builder chunk(int chunk) {
            if (chunk < 0) {
                throw new IllegalArgumentException("chunk must be >= 0, got " + chunk);
            }
            this.chunk = chunk;
            return this;
        }

        public DataLoader build() {
            return new DataLoader(this);
        }
    }

    private static final AtomicInteger POOLS = new AtomicInteger();

    private static final class WorkerFactory implements ThreadFactory {
        private final int pool = POOLS.incrementAndGet();
        private final AtomicInteger count = new AtomicInteger();

        @Override
        public Thread newThread(Runnable r) {
            Thread t = new Thread(r, "basq4j-data-" + pool + "-" + count.incrementAndGet());
            t.setDaemon(true);
            return t;
        }
    }

    public Dataset dataset() {
        return dataset;
    }

    public int batchSize() {
        return batchSize;
    }

    public int workers() {
        return workers;
    }

    /** Batches per epoch. */
    public int batches() {
        int n = dataset.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** Examples per epoch (without the dropped remainder). */
    public int examples() {
        return dropLast ? (dataset.size() / batchSize) * batchSize : dataset.size();
    }

    /** The example indices of epoch {@code e}, in visiting order (all of them, before dropLast). */
    public int[] order(int epoch) {
        int n = dataset.size();
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        if (shuffle) {
            Random rng = new Random(Seeds.mix(seed, 0x5EED0000L, epoch));
            for (int i = n - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
        }
        return idx;
    }

    /** The augmentation random source of example {@code index} in epoch {@code epoch}. */
    public Random exampleRandom(int epoch, int index) {
        return new Random(Seeds.mix(seed, epoch, index));
    }

    /** The next epoch: 0 on the first call, then 1, 2, ... */
    @Override
    public Iterator<Batch> iterator() {
        int e;
        synchronized (lock) {
            e = nextEpoch;
        }
        return start(e);
    }

    /** Epoch {@code e} (later calls of {@link #iterator()} continue with {@code e + 1}). */
    public Iterable<Batch> epoch(int e) {
        if (e < 0) {
            throw new IllegalArgumentException("epoch must be >= 0, got " + e);
        }
        return () -> start(e);
    }

    /**
     * Decodes every batch of epoch 0 once and returns them in order (for evaluation sets that are
     * used many times, as the k-fold search does; build the loader without shuffle for the fixed
     * order of SPEC 6). Does not advance the epoch counter.
     */
    public List<Batch> cacheAll() {
        List<Batch> out = new ArrayList<>(batches());
        EpochIterator it = startIterator(0, false);
        while (it.hasNext()) {
            out.add(it.next());
        }
        return Collections.unmodifiableList(out);
    }

    private Iterator<Batch> start(int e) {
        return startIterator(e, true);
    }

    private EpochIterator startIterator(int e, boolean advance) {
        synchronized (lock) {
            ensureOpen();
            if (current != null) {
                current.abandon();
            }
            if (advance) {
                nextEpoch = e + 1;
            }
            current = new EpochIterator(e);
            return current;
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("data loader is closed");
        }
    }

    /** Stops the workers (running chunks are interrupted); waits up to 10 s for them to end. */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            if (current != null) {
                current.abandon();
                current = null;
            }
        }
        if (pool != null) {
            pool.shutdownNow();
            try {
                pool.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Fills {@code n} examples of a batch, from position {@code from}, into the batch arrays. */
    private void fill(int epoch, int[] order, int batchStart, int from, int to, float[] images, long[] labels) {
        int size = dataset.exampleSize();
        for (int k = from; k < to; k++) {
            if (Thread.currentThread().isInterrupted()) {
                throw new CancellationException("data loader stopped");
            }
            int index = order[batchStart + k];
            labels[k] = dataset.load(index, images, k * size, exampleRandom(epoch, index));
        }
    }

    /** One batch in flight: its arrays and the futures of its chunks. */
    private final class Pending {
        final int index;
        final float[] images;
        final long[] labels;
        final int n;
        final List<Future<?>> parts = new ArrayList<>();

        Pending(int epoch, int[] order, int index) {
            this.index = index;
            int start = index * batchSize;
            this.n = Math.min(batchSize, order.length - start);
            this.images = new float[n * dataset.exampleSize()];
            this.labels = new long[n];
            if (pool == null) {
                return; // filled on the calling thread in take()
            }
            for (int from = 0; from < n; from += chunk) {
                int f = from;
                int t = Math.min(n, from + chunk);
                parts.add(pool.submit(() -> fill(epoch, order, start, f, t, images, labels)));
            }
        }

        Batch take(int epoch, int[] order) {
            if (pool == null) {
                fill(epoch, order, index * batchSize, 0, n, images, labels);
            } else {
                for (Future<?> f : parts) {
                    try {
                        f.get();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        cancel();
                        throw new IllegalStateException("interrupted while waiting for batch " + index, e);
                    } catch (CancellationException e) {
                        throw new IllegalStateException("data loader was closed or moved to another epoch", e);
                    } catch (ExecutionException e) {
                        cancel();
                        Throwable c = e.getCause();
                        if (c instanceof RuntimeException re) {
                            throw re;
                        }
                        if (c instanceof Error err) {
                            throw err;
                        }
                        throw new DataException("loading batch " + index + " failed: " + c, c);
                    }
                }
            }
            return new Batch(images, labels, n, dataset.channels(), dataset.height(), dataset.width(), epoch, index);
        }

        void cancel() {
            for (Future<?> f : parts) {
                f.cancel(true);
            }
        }
    }

    private final class EpochIterator implements Iterator<Batch> {
        private final int epoch;
        private final int[] order;
        private final int total;
        private final ArrayDeque<Pending> queue = new ArrayDeque<>();
        private int submitted = 0;
        private int delivered = 0;
        private volatile boolean abandoned;

        EpochIterator(int epoch) {
            this.epoch = epoch;
            this.order = order(epoch);
            this.total = batches();
        }

        private void refill() {
            while (submitted < total && queue.size() < prefetch) {
                try {
                    queue.add(new Pending(epoch, order, submitted));
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    throw new IllegalStateException("data loader is closed", e);
                }
                submitted++;
            }
        }

        @Override
        public boolean hasNext() {
            return delivered < total; // an abandoned epoch still has batches: next() says why it cannot give them
        }

        @Override
        public Batch next() {
            if (abandoned) {
                throw new IllegalStateException(closed ? "data loader is closed"
                        : "this epoch was abandoned: the loader started another one");
            }
            if (delivered >= total) {
                throw new NoSuchElementException("epoch " + epoch + " has " + total + " batches");
            }
            Pending p;
            synchronized (this) {
                refill();
                p = queue.poll();
            }
            Batch b = p.take(epoch, order);
            delivered++;
            synchronized (this) {
                if (!abandoned) {
                    refill(); // keep the workers busy while the caller uses this batch
                }
            }
            return b;
        }

        synchronized void abandon() {
            abandoned = true;
            for (Pending p : queue) {
                p.cancel();
            }
            queue.clear();
        }
    }
}
