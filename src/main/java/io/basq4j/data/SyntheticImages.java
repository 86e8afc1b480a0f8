package io.basq4j.data;

import java.util.Random;

/**
 * A deterministic synthetic image set that a small network learns quickly (for tests and the
 * smoke preset). Class {@code k} of {@code K} draws stripes at angle {@code pi*k/K} with 2 to 4
 * cycles across the image and a bright blob at a class-specific place on a ring; each example
 * varies the stripe phase, blob position (a few pixels) and adds Gaussian noise, all from
 * {@code (seed, index)}. Label of example {@code i} is {@code i mod K} (balanced). Pixel values
 * lie in [0, 1] before normalization with {@code (x - mean) / std}; with several channels each
 * channel weights the pattern by a class-dependent tint. The random source of {@link #load} is
 * not used: examples are fixed.
 */
public final class SyntheticImages implements Dataset {
    private final int size;
    private final int classes;
    private final int channels;
    private final int height;
    private final int width;
    private final long seed;
    private final float noise;
    private final float mean;
    private final float std;

    /** The default normalization of every channel: {@code (x - 0.5) / 0.25}. */
    public static final float DEFAULT_MEAN = 0.5f;
    public static final float DEFAULT_STD = 0.25f;

    /** {@code size} examples of {@code channels x height x width}, noise 0.1, normalized with mean 0.5, std 0.25. */
    public SyntheticImages(int size, int classes, int channels, int height, int width, long seed) {
        this(size, classes, channels, height, width, seed, 0.1f, DEFAULT_MEAN, DEFAULT_STD);
    }

    public SyntheticImages(int size, int classes, int channels, int height, int width, long seed, float noise,
            float mean, float std) {
        if (size < 0 || classes < 1 || channels < 1 || height < 4 || width < 4 || !(std > 0) || noise < 0) {
            throw new IllegalArgumentException("invalid synthetic data set: size=" + size + " classes=" + classes
                    + " channels=" + channels + " " + height + "x" + width + " noise=" + noise + " std=" + std);
        }
        this.size = size;
        this.classes = classes;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.seed = seed;
        this.noise = noise;
        this.mean = mean;
        this.std = std;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public int channels() {
        return channels;
    }

    @Override
    public int height() {
        return height;
    }

    @Override
    public int width() {
        return width;
    }

    @Override
    public int classes() {
        return classes;
    }

    @Override
    public long label(int i) {
        check(i);
        return i % classes;
    }

    /** Writes example {@code i} with values in [0, 1] (before normalization), CHW. */
    public void renderUnit(int i, float[] dst, int offset) {
        check(i);
        int k = i % classes;
        Random r = new Random(Seeds.mix(seed, 0x51A7L, i));
        double angle = Math.PI * k / classes;
        double cycles = 2 + (k % 3);
        double phase = r.nextDouble() * 2 * Math.PI;
        double ca = Math.cos(angle);
        double sa = Math.sin(angle);
        double ring = 2 * Math.PI * k / classes;
        double bx = width * (0.5 + 0.3 * Math.cos(ring)) + (r.nextDouble() - 0.5) * width * 0.1;
        double by = height * (0.5 + 0.3 * Math.sin(ring)) + (r.nextDouble() - 0.5) * height * 0.1;
        double sigma2 = Math.pow(Math.min(width, height) * 0.12, 2);
        int plane = height * width;
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                double u = (x * ca + y * sa) / Math.max(width, height);
                double stripes = 0.5 + 0.5 * Math.sin(2 * Math.PI * cycles * u + phase);
                double dx = x - bx;
                double dy = y - by;
                double blob = Math.exp(-(dx * dx + dy * dy) / (2 * sigma2));
                double v = 0.35 * stripes + 0.6 * blob;
                for (int c = 0; c < channels; c++) {
                    double tint = channels == 1 ? 1.0
                            : 0.6 + 0.4 * Math.cos(2 * Math.PI * ((double) k / classes + (double) c / channels));
                    double p = v * tint + noise * r.nextGaussian();
                    dst[offset + c * plane + y * width + x] = (float) Math.max(0.0, Math.min(1.0, p));
                }
            }
        }
    }

    /** Example {@code i} quantized to 8 bits (CHW), as written to files. */
    public byte[] renderBytes(int i) {
        float[] f = new float[exampleSize()];
        renderUnit(i, f, 0);
        byte[] out = new byte[f.length];
        for (int j = 0; j < f.length; j++) {
            out[j] = (byte) Math.round(f[j] * 255f);
        }
        return out;
    }

    @Override
    public long load(int i, float[] dst, int offset, Random rng) {
        renderUnit(i, dst, offset);
        int n = exampleSize();
        for (int j = offset; j < offset + n; j++) {
            dst[j] = (dst[j] - mean) / std;
        }
        return i % classes;
    }

    /**
     * The rule that turns an 8-bit image of this set ({@link #renderBytes}) into its normalized
     * input: no resize beyond the set's size, mean and std per channel (1 or 3 channels only).
     */
    @Override
    public Preprocessing preprocessing() {
        if ((channels != 1 && channels != 3) || height != width) {
            return null;
        }
        float[] m = new float[channels];
        float[] s = new float[channels];
        java.util.Arrays.fill(m, mean);
        java.util.Arrays.fill(s, std);
        return new Preprocessing(channels, height, height, 0, m, s);
    }

    private void check(int i) {
        if (i < 0 || i >= size) {
            throw new IndexOutOfBoundsException("example " + i + " outside [0, " + size + ")");
        }
    }

    @Override
    public String describe() {
        return "SyntheticImages[" + size + " examples, " + classes + " classes, " + channels + "x" + height + "x" + width
                + ", seed " + seed + "]";
    }
}
