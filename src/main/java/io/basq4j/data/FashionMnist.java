package io.basq4j.data;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Fashion-MNIST from its IDX files ({@code train-images-idx3-ubyte.gz}, {@code
 * train-labels-idx1-ubyte.gz}, {@code t10k-images-idx3-ubyte.gz}, {@code t10k-labels-idx1-ubyte.gz},
 * or the same names without {@code .gz}), by default in {@value #DEFAULT_DIR_NAME} (Debian package
 * {@value #DEBIAN_PACKAGE}).
 *
 * <p>Transform, as torchvision's {@code Pad(2), [RandomHorizontalFlip], ToTensor, Normalize}: the
 * 28x28 grayscale images are zero-padded by {@code pad} pixels on each side (32x32 by default),
 * scaled to [0,1], then normalized with {@code (x - mean) / std}; one channel. With {@code hflip}
 * each image is mirrored with probability 1/2 (one {@code rng.nextFloat() < 0.5} draw) when a
 * random source is given.
 *
 * <p>All pixels stay in memory as bytes (47 MB for the training set); the instance is immutable and
 * safe for concurrent loads.
 */
public final class FashionMnist implements Dataset {
    public static final String DEFAULT_DIR_NAME = "/usr/share/datasets/fashion-mnist";
    /** Where the Debian package {@value #DEBIAN_PACKAGE} installs the files. */
    public static final Path DEFAULT_DIR = Path.of(DEFAULT_DIR_NAME);
    public static final String DEBIAN_PACKAGE = "dataset-fashion-mnist";
    public static final float DEFAULT_MEAN = 0.2860f;
    public static final float DEFAULT_STD = 0.3530f;
    public static final int CLASSES = 10;
    public static final List<String> CLASS_NAMES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    /** Which half of the data set. */
    public enum Split {
        TRAIN("train"),
        TEST("t10k");

        private final String prefix;

        Split(String prefix) {
            this.prefix = prefix;
        }

        public String imagesFile() {
            return prefix + "-images-idx3-ubyte";
        }

        public String labelsFile() {
            return prefix + "-labels-idx1-ubyte";
        }
    }

    private final Path dir;
    private final Split split;
    private final byte[] pixels;
    private final byte[] labels;
    private final int rows;
    private final int cols;
    private final int pad;
    private final boolean hflip;
    private final float mean;
    private final float std;
    private final int[] indices; // null: all examples in file order
    private final float[] lut = new float[256];

    private FashionMnist(Builder b, Idx.Images images, byte[] labels, int[] indices) {
        this.dir = b.dir;
        this.split = b.split;
        this.pixels = images.pixels();
        this.rows = images.rows();
        this.cols = images.cols();
        this.labels = labels;
        this.pad = b.pad;
        this.hflip = b.hflip;
        this.mean = b.mean;
        this.std = b.std;
        this.indices = indices;
        for (int v = 0; v < 256; v++) {
            lut[v] = (v / 255f - mean) / std;
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The training split from {@code dir}, default transform, no augmentation. */
    public static FashionMnist train(Path dir) {
        return builder().dir(dir).split(Split.TRAIN).build();
    }

    /** The test split from {@code dir}, default transform. */
    public static FashionMnist test(Path dir) {
        return builder().dir(dir).split(Split.TEST).build();
    }

    /** Options for {@link FashionMnist}; every one has a default. */
    public static final class Builder {
        private Path dir = DEFAULT_DIR;
        private Split split = Split.TRAIN;
        private int pad = 2;
        private boolean hflip = false;
        private float mean = DEFAULT_MEAN;
        private float std = DEFAULT_STD;
        private int subsetSize = -1;
        private boolean stratified = false;
        private long subsetSeed = 0;
        private PrintStream log = System.err;

        private Builder() {}

        /** The directory with the IDX files (default {@value FashionMnist#DEFAULT_DIR_NAME}). */
        public Builder dir(Path dir) {
            this.dir = dir == null ? DEFAULT_DIR : dir;
            return this;
        }

        public Builder split(Split split) {
            this.split = split;
            return this;
        }

        /** Zero padding on each side (default 2: 28x28 becomes 32x32). */
        public Builder pad(int pad) {
            if (pad < 0) {
                throw new IllegalArgumentException("pad must be >= 0, got " + pad);
            }
            this.pad = pad;
            return this;
        }

        /** Random horizontal flip with probability 1/2 (training augmentation; default off). */
        public Builder hflip(boolean hflip) {
            this.hflip = hflip;
            return this;
        }

        /** Normalization mean (default {@value FashionMnist#DEFAULT_MEAN}). */
        public Builder mean(float mean) {
            this.mean = mean;
            return this;
        }

        /** Normalization standard deviation (default {@value FashionMnist#DEFAULT_STD}). */
        public Builder std(float std) {
            if (!(std > 0)) {
                throw new IllegalArgumentException("std must be > 0, got " + std);
            }
            this.std = std;
            return this;
        }

        /** Only the first {@code k} examples (all when {@code k} is at least the size). */
        public Builder first(int k) {
            if (k < 0) {
                throw new IllegalArgumentException("subset size must be >= 0, got " + k);
            }
            this.subsetSize = k;
            this.stratified = false;
            return this;
        }

        /**
         * A deterministic class-stratified subset of {@code k} examples chosen with {@code seed}
         * (see {@link Subset#stratifiedIndices}), in file order.
         */
        public Builder stratified(int k, long seed) {
            if (k < 0) {
                throw new IllegalArgumentException("subset size must be >= 0, got " + k);
            }
            this.subsetSize = k;
            this.stratified = true;
            this.subsetSeed = seed;
            return this;
        }

        /** Where the one-line notice of an automatic install goes (default System.err). */
        public Builder log(PrintStream log) {
            this.log = log;
            return this;
        }

        /**
         * Reads the files.
         *
         * @throws DataException naming the path when a file is missing or corrupt, with how to get
         *     the data set
         */
        public FashionMnist build() {
            Path imagesPath = locate(this, split.imagesFile());
            Path labelsPath = locate(this, split.labelsFile());
            Idx.Images images = Idx.readImages(imagesPath);
            byte[] labels = Idx.readLabels(labelsPath);
            if (images.count() != labels.length) {
                throw new DataException("Fashion-MNIST files disagree: " + imagesPath + " has " + images.count()
                        + " images but " + labelsPath + " has " + labels.length + " labels");
            }
            for (int i = 0; i < labels.length; i++) {
                if ((labels[i] & 0xFF) >= CLASSES) {
                    throw new DataException("corrupt label file " + labelsPath + ": label " + (labels[i] & 0xFF)
                            + " of example " + i + " is outside [0, " + CLASSES + ")");
                }
            }
            int[] indices = null;
            if (subsetSize >= 0 && subsetSize < labels.length) {
                if (stratified) {
                    long[] l = new long[labels.length];
                    for (int i = 0; i < l.length; i++) {
                        l[i] = labels[i] & 0xFF;
                    }
                    indices = Subset.stratifiedIndices(l, CLASSES, subsetSize, subsetSeed);
                } else {
                    indices = Subset.firstIndices(labels.length, subsetSize);
                }
            }
            return new FashionMnist(this, images, labels, indices);
        }
    }

    /** Whether {@code dir} holds the two files of {@code split} (gzip-compressed or not). */
    public static boolean present(Path dir, Split split) {
        return find(dir, split.imagesFile()) != null && find(dir, split.labelsFile()) != null;
    }

    private static Path find(Path dir, String name) {
        Path gz = dir.resolve(name + ".gz");
        if (Files.isRegularFile(gz)) {
            return gz;
        }
        Path plain = dir.resolve(name);
        return Files.isRegularFile(plain) ? plain : null;
    }

    private static Path locate(Builder b, String name) {
        Path found = find(b.dir, name);
        if (found != null) {
            return found;
        }
        boolean isDefault = b.dir.toAbsolutePath().normalize().equals(DEFAULT_DIR);
        String installNote = "";
        if (isDefault && DatasetInstaller.canInstall()) {
            try {
                DatasetInstaller.install(DEBIAN_PACKAGE, "Fashion-MNIST not found in " + b.dir, b.log);
                found = find(b.dir, name);
                if (found != null) {
                    return found;
                }
                installNote = " (apt-get installed " + DEBIAN_PACKAGE + " but the file is still missing)";
            } catch (DataException e) {
                installNote = " (automatic install failed: " + e.getMessage() + ")";
            }
        }
        throw new DataException(missingMessage(b.dir, name, isDefault) + installNote);
    }

    static String missingMessage(Path dir, String name, boolean isDefault) {
        String where = Files.isDirectory(dir) ? "file not found: " + dir.resolve(name + ".gz") + " (nor "
                + dir.resolve(name) + ")" : "directory not found: " + dir;
        String files = "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                + "t10k-labels-idx1-ubyte.gz (or the same names without .gz)";
        if (isDefault) {
            return "Fashion-MNIST " + where + ". Install it with `sudo apt-get install " + DEBIAN_PACKAGE
                    + "`, or pass --data DIR with a directory holding " + files + ".";
        }
        return "Fashion-MNIST " + where + ". Pass --data DIR with a directory holding " + files
                + "; or `sudo apt-get install " + DEBIAN_PACKAGE + "` and use the default " + DEFAULT_DIR_NAME + ".";
    }

    public Path dir() {
        return dir;
    }

    public Split split() {
        return split;
    }

    /** Padding on each side. */
    public int pad() {
        return pad;
    }

    public boolean hflip() {
        return hflip;
    }

    public float mean() {
        return mean;
    }

    public float std() {
        return std;
    }

    /** The normalized value of a zero pixel, which fills the padding: {@code -mean/std}. */
    public float paddingValue() {
        return lut[0];
    }

    /** The raw 8-bit pixels of example {@code i} (rows x cols, row-major), before any transform. */
    public byte[] rawImage(int i) {
        int src = source(i);
        byte[] out = new byte[rows * cols];
        System.arraycopy(pixels, src * rows * cols, out, 0, out.length);
        return out;
    }

    private int source(int i) {
        if (i < 0 || i >= size()) {
            throw new IndexOutOfBoundsException("example " + i + " outside [0, " + size() + ")");
        }
        return indices == null ? i : indices[i];
    }

    @Override
    public int size() {
        return indices == null ? labels.length : indices.length;
    }

    @Override
    public int channels() {
        return 1;
    }

    @Override
    public int height() {
        return rows + 2 * pad;
    }

    @Override
    public int width() {
        return cols + 2 * pad;
    }

    @Override
    public int classes() {
        return CLASSES;
    }

    @Override
    public List<String> classNames() {
        return new ArrayList<>(CLASS_NAMES);
    }

    @Override
    public long label(int i) {
        return labels[source(i)] & 0xFF;
    }

    /** Grey, shorter side resized to the files' size (28), centre crop of that size, the padding, mean and std. */
    @Override
    public Preprocessing preprocessing() {
        int side = Math.min(rows, cols);
        return new Preprocessing(1, side, side, pad, new float[] {mean}, new float[] {std});
    }

    /** Example {@code i} before any transform, as an image (grey replicated to RGB). */
    public RgbImage image(int i) {
        return RgbImage.grey(cols, rows, rawImage(i));
    }

    @Override
    public long load(int i, float[] dst, int offset, Random rng) {
        int src = source(i);
        boolean flip = hflip && rng != null && rng.nextFloat() < 0.5f;
        int outW = width();
        int outH = height();
        float border = lut[0];
        int base = src * rows * cols;
        int o = offset;
        for (int y = 0; y < outH; y++) {
            int sy = y - pad;
            if (sy < 0 || sy >= rows) {
                java.util.Arrays.fill(dst, o, o + outW, border);
                o += outW;
                continue;
            }
            for (int x = 0; x < pad; x++) {
                dst[o++] = border;
            }
            int row = base + sy * cols;
            if (flip) {
                for (int x = cols - 1; x >= 0; x--) {
                    dst[o++] = lut[pixels[row + x] & 0xFF];
                }
            } else {
                for (int x = 0; x < cols; x++) {
                    dst[o++] = lut[pixels[row + x] & 0xFF];
                }
            }
            for (int x = 0; x < pad; x++) {
                dst[o++] = border;
            }
        }
        return labels[src] & 0xFF;
    }

    @Override
    public String describe() {
        return "Fashion-MNIST " + split.name().toLowerCase() + " [" + size() + " examples from " + dir + ", 1x"
                + height() + "x" + width() + (hflip ? ", hflip" : "") + "]";
    }
}
