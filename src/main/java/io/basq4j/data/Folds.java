package io.basq4j.data;

import java.util.ArrayList;
import java.util.List;

/**
 * The k folds of SPEC 6: {@code batches} evaluation batches in a fixed order are split into
 * {@code k} folds of {@code m = floor(batches / k)} consecutive batches; fold {@code f} is the
 * batch range {@code [f*m, (f+1)*m)} and its complement is every other batch (including the
 * {@code batches - k*m} remainder at the end, which belongs to no fold).
 */
public final class Folds {
    private final int batches;
    private final int k;
    private final int m;

    /** @throws IllegalArgumentException unless {@code 1 <= k <= batches} */
    public Folds(int batches, int k) {
        if (k < 1) {
            throw new IllegalArgumentException("number of folds must be >= 1, got " + k);
        }
        if (batches < k) {
            throw new IllegalArgumentException("cannot split " + batches + " batches into " + k
                    + " folds (each fold needs at least one batch; use fewer folds or smaller batches)");
        }
        this.batches = batches;
        this.k = k;
        this.m = batches / k;
    }

    public int batches() {
        return batches;
    }

    public int k() {
        return k;
    }

    /** Batches per fold: {@code floor(batches / k)}. */
    public int batchesPerFold() {
        return m;
    }

    /** First batch of fold {@code f} ({@code f*m}). */
    public int start(int f) {
        check(f);
        return f * m;
    }

    /** One past the last batch of fold {@code f} ({@code (f+1)*m}). */
    public int end(int f) {
        check(f);
        return (f + 1) * m;
    }

    /** Whether batch {@code b} is in fold {@code f}. */
    public boolean inFold(int f, int b) {
        return b >= start(f) && b < end(f);
    }

    /** The batch indices of fold {@code f}, ascending. */
    public int[] fold(int f) {
        int[] out = new int[m];
        for (int i = 0; i < m; i++) {
            out[i] = start(f) + i;
        }
        return out;
    }

    /** The batch indices outside fold {@code f}, ascending ({@code batches - m} of them). */
    public int[] complement(int f) {
        int[] out = new int[batches - m];
        int s = start(f);
        int e = end(f);
        int o = 0;
        for (int b = 0; b < batches; b++) {
            if (b < s || b >= e) {
                out[o++] = b;
            }
        }
        return out;
    }

    /** The items of fold {@code f} (a list of {@link #batches()} items, e.g. cached batches). */
    public <T> List<T> fold(List<T> items, int f) {
        checkSize(items);
        return new ArrayList<>(items.subList(start(f), end(f)));
    }

    /** The items outside fold {@code f}. */
    public <T> List<T> complement(List<T> items, int f) {
        checkSize(items);
        List<T> out = new ArrayList<>(batches - m);
        out.addAll(items.subList(0, start(f)));
        out.addAll(items.subList(end(f), batches));
        return out;
    }

    private void check(int f) {
        if (f < 0 || f >= k) {
            throw new IndexOutOfBoundsException("fold " + f + " outside [0, " + k + ")");
        }
    }

    private void checkSize(List<?> items) {
        if (items.size() != batches) {
            throw new IllegalArgumentException("expected " + batches + " items, got " + items.size());
        }
    }

    @Override
    public String toString() {
        return "Folds[" + k + " folds of " + m + " of " + batches + " batches]";
    }
}
