package io.basq4j.tensor;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.function.LongUnaryOperator;

/**
 * Reuses freed blocks by size class, so that a training step, which asks for the same sizes
 * every iteration, stops calling the system allocator after its first step (and, on the host,
 * stops touching fresh pages). Size classes: 8 per power of two in steps of at least 64 bytes
 * (slack at most 12.5% or 64 bytes), at least 256 bytes. Thread-safe.
 */
public final class CachingAllocator {
    private final LongUnaryOperator rawAlloc;
    private final LongConsumer rawFree;
    private final Map<Long, ArrayDeque<Long>> free = new HashMap<>();
    private long inUse;
    private long cached;
    private long peak;
    private long rawAllocs;

    public CachingAllocator(LongUnaryOperator rawAlloc, LongConsumer rawFree) {
        this.rawAlloc = rawAlloc;
        this.rawFree = rawFree;
    }

    /** The size class that a request of {@code bytes} is served from. */
    public static long sizeClass(long bytes) {
        if (bytes <= 256) {
            return 256;
        }
        int log = 63 - Long.numberOfLeadingZeros(bytes - 1); // floor(log2(bytes-1))
        long step = 1L << Math.max(log - 3, 6);
        return (bytes + step - 1) / step * step;
    }

    public synchronized long allocate(long bytes) {
        long cls = sizeClass(bytes);
        ArrayDeque<Long> q = free.get(cls);
        long addr;
        if (q != null && !q.isEmpty()) {
            addr = q.pop();
            cached -= cls;
        } else {
            addr = rawAlloc.applyAsLong(cls);
            if (addr == 0) {
                // Give the cache back and try once more before failing.
                trimLocked();
                addr = rawAlloc.applyAsLong(cls);
                if (addr == 0) {
                    throw new OutOfMemoryError("native allocation of " + cls + " bytes failed (in use: " + inUse
                            + " bytes)");
                }
            }
            rawAllocs++;
        }
        inUse += cls;
        peak = Math.max(peak, inUse);
        return addr;
    }

    public synchronized void free(long addr, long bytes) {
        long cls = sizeClass(bytes);
        free.computeIfAbsent(cls, k -> new ArrayDeque<>()).push(addr);
        inUse -= cls;
        cached += cls;
    }

    /** Returns every cached block to the system. */
    public synchronized void trim() {
        trimLocked();
    }

    private void trimLocked() {
        for (ArrayDeque<Long> q : free.values()) {
            while (!q.isEmpty()) {
                rawFree.accept(q.pop());
            }
        }
        free.clear();
        cached = 0;
    }

    public synchronized long bytesInUse() {
        return inUse;
    }

    public synchronized long bytesCached() {
        return cached;
    }

    public synchronized long peakBytes() {
        return peak;
    }

    /** How many times the system allocator was called (flat once a loop reaches steady state). */
    public synchronized long rawAllocations() {
        return rawAllocs;
    }
}
