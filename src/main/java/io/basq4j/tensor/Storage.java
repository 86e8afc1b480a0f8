package io.basq4j.tensor;

/**
 * A block of native memory (host or device), reference-counted by the tensors that view it.
 * When the last view closes, the block goes back to its backend's allocator.
 */
public final class Storage {
    private final long address;
    private final long bytes;
    private final Backend backend;
    private int refs = 1;

    Storage(Backend backend, long address, long bytes) {
        this.backend = backend;
        this.address = address;
        this.bytes = bytes;
    }

    public long address() {
        return address;
    }

    public long bytes() {
        return bytes;
    }

    public Backend backend() {
        return backend;
    }

    synchronized void retain() {
        if (refs <= 0) {
            throw new IllegalStateException("storage already released");
        }
        refs++;
    }

    /** Drops one reference; frees the block when it was the last. */
    void release() {
        boolean free;
        synchronized (this) {
            if (refs <= 0) {
                return;
            }
            free = --refs == 0;
        }
        if (free) {
            backend.free(address, bytes);
        }
    }

    synchronized boolean alive() {
        return refs > 0;
    }
}
