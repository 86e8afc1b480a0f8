package io.basq4j.nn;

import io.basq4j.autograd.F;
import io.basq4j.tensor.Tensor;

/**
 * Inverted dropout in training mode (identity in evaluation mode or with probability 0). The
 * masks come from a counter-based stream: (seed, offset) with the offset advanced by the number
 * of elements of each call, so a run is reproducible from its seed.
 */
public final class Dropout extends Module implements Layer {
    public static final float DEFAULT_P = 0.2f;

    private float p;
    private final long seed;
    private long offset;

    public Dropout(float p, long seed) {
        setProbability(p);
        this.seed = seed;
    }

    public Dropout(long seed) {
        this(DEFAULT_P, seed);
    }

    public float probability() {
        return p;
    }

    /** Changes the drop probability (0 disables dropout, e.g. for deterministic comparisons). */
    public void setProbability(float p) {
        if (p < 0f || p >= 1f) {
            throw new IllegalArgumentException("dropout probability " + p + " outside [0, 1)");
        }
        this.p = p;
    }

    /** Where the random stream continues (for checkpoints). */
    public long offset() {
        return offset;
    }

    public void setOffset(long offset) {
        this.offset = offset;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (!isTraining() || p == 0f) {
            return x;
        }
        Tensor y = F.dropout(x, p, seed, offset);
        offset += x.numel();
        return y;
    }
}
