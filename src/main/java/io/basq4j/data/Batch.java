package io.basq4j.data;

/**
 * One host-side batch: {@code n} examples as a dense NCHW float array (already normalized) and
 * their labels. The trainer copies it into a native tensor; a batch is never modified after the
 * loader hands it out, so it may be cached and reused (see {@link DataLoader#cacheAll()}).
 */
public final class Batch {
    private final float[] images;
    private final long[] labels;
    private final int n;
    private final int c;
    private final int h;
    private final int w;
    private final int epoch;
    private final int index;

    /**
     * @param images {@code n*c*h*w} floats, NCHW
     * @param labels {@code n} class indices
     * @param epoch the epoch this batch belongs to
     * @param index the position of this batch within its epoch (0-based)
     */
    public Batch(float[] images, long[] labels, int n, int c, int h, int w, int epoch, int index) {
        if (n < 0 || c <= 0 || h <= 0 || w <= 0) {
            throw new IllegalArgumentException("invalid batch shape n=" + n + " c=" + c + " h=" + h + " w=" + w);
        }
        if (images.length != (long) n * c * h * w) {
            throw new IllegalArgumentException("images has " + images.length + " floats, expected n*c*h*w = "
                    + ((long) n * c * h * w));
        }
        if (labels.length != n) {
            throw new IllegalArgumentException("labels has " + labels.length + " entries, expected n = " + n);
        }
        this.images = images;
        this.labels = labels;
        this.n = n;
        this.c = c;
        this.h = h;
        this.w = w;
        this.epoch = epoch;
        this.index = index;
    }

    /** The images, {@code n*c*h*w} floats in NCHW order (the array itself, not a copy: do not modify). */
    public float[] images() {
        return images;
    }

    /** The labels, {@code n} class indices (the array itself, not a copy: do not modify). */
    public long[] labels() {
        return labels;
    }

    public int n() {
        return n;
    }

    public int c() {
        return c;
    }

    public int h() {
        return h;
    }

    public int w() {
        return w;
    }

    /** The shape as {n, c, h, w}. */
    public long[] shape() {
        return new long[] {n, c, h, w};
    }

    /** Floats per example ({@code c*h*w}). */
    public int exampleSize() {
        return c * h * w;
    }

    public int epoch() {
        return epoch;
    }

    /** The position of this batch within its epoch (0-based). */
    public int index() {
        return index;
    }

    @Override
    public String toString() {
        return "Batch[epoch=" + epoch + ", index=" + index + ", shape=" + n + "x" + c + "x" + h + "x" + w + "]";
    }
}
