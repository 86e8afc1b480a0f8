package io.basq4j.data;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Images in the ImageNet folder layout: {@code root/train/<class>/*.jpg|jpeg|png} and {@code
 * root/val/<class>/...} (extensions in any case; sub-folders of a class folder are searched too).
 * Classes are the folder names under {@code root/train} sorted (by {@link String#compareTo}, as
 * Python sorts), label = position; every split uses that list, and a class folder of another split
 * that train lacks is an error. Without a {@code train} folder the split's own folders are the
 * classes. A class folder without images is an error in the split that defines the classes (it
 * would shift every later label), and holds no examples in another split. Files of a class are
 * in sorted order of their relative path.
 *
 * <p>Transforms, as torchvision's on PIL images (see {@link Resample}):
 * <ul>
 *   <li>training (with a random source): RandomResizedCrop(crop, scale, ratio), including the
 *       10-tries fallback to a center crop; RandomHorizontalFlip(0.5) when {@code hflip};
 *   <li>evaluation (or {@code rng == null}): Resize(resize) of the shorter side, CenterCrop(crop);
 * </ul>
 * then ToTensor and Normalize(mean, std). Random draws, in order: per try of the crop search a
 * uniform scale and a uniform log-ratio ({@link Random#nextDouble()}), then top and left
 * ({@link Random#nextInt(int)}); then the flip ({@link Random#nextFloat()} {@code < 0.5}).
 *
 * <p>Unreadable images (corrupt or truncated, or a format javax.imageio cannot decode): in
 * strict mode {@link #load} throws a {@link DataException} naming the file. Otherwise the file is
 * reported once (one line on the log), counted ({@link #skippedFiles()}), and the slot is filled
 * with the next readable example in index order (wrapping around), whose label {@code load}
 * returns. Readability does not depend on timing, so the substitution is deterministic.
 */
public final class ImageFolder implements Dataset {
    public static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
    public static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};

    private final Path root;
    private final String split;
    private final Path splitDir;
    private final List<String> classes;
    private final String[] files; // relative to splitDir
    private final int[] labels;
    private final boolean training;
    private final boolean hflip;
    private final int crop;
    private final int resize;
    private final double scaleMin;
    private final double scaleMax;
    private final double ratioMin;
    private final double ratioMax;
    private final boolean strict;
    private final PrintStream log;
    private final float[] mean;
    private final float[] std;
    private final float[][] lut;
    private final Map<Integer, String> skipped = new ConcurrentHashMap<>();

    private ImageFolder(Builder b, Path splitDir, List<String> classes, String[] files, int[] labels) {
        this.root = b.root;
        this.split = b.split;
        this.splitDir = splitDir;
        this.classes = Collections.unmodifiableList(classes);
        this.files = files;
        this.labels = labels;
        this.training = b.training != null ? b.training : b.split.equals("train");
        this.hflip = b.hflip != null ? b.hflip : this.training;
        this.crop = b.crop;
        this.resize = b.resize;
        this.scaleMin = b.scaleMin;
        this.scaleMax = b.scaleMax;
        this.ratioMin = b.ratioMin;
        this.ratioMax = b.ratioMax;
        this.strict = b.strict;
        this.log = b.log;
        this.mean = b.mean.clone();
        this.std = b.std.clone();
        this.lut = Preprocessing.lookup(mean, std);
    }

    public static Builder builder(Path root) {
        return new Builder(root);
    }

    /** {@code root/train} with the training transform at ImageNet sizes (crop 224). */
    public static ImageFolder train(Path root) {
        return builder(root).split("train").build();
    }

    /** {@code root/val} with the evaluation transform at ImageNet sizes (resize 256, crop 224). */
    public static ImageFolder val(Path root) {
        return builder(root).split("val").build();
    }

    /** Options for {@link ImageFolder}; every one has a default. */
    public static final class Builder {
        private final Path root;
        private String split = "train";
        private Boolean training;
        private Boolean hflip;
        private int crop = 224;
        private int resize = 256;
        private double scaleMin = 0.08;
        private double scaleMax = 1.0;
        private double ratioMin = 3.0 / 4.0;
        private double ratioMax = 4.0 / 3.0;
        private float[] mean = IMAGENET_MEAN.clone();
        private float[] std = IMAGENET_STD.clone();
        private boolean strict = false;
        private PrintStream log = System.err;

        private Builder(Path root) {
            this.root = root;
        }

        /** The sub-folder to read: "train" (default) or "val" (or any other name). */
        public Builder split(String split) {
            this.split = split;
            return this;
        }

        /** Training (random) transform or evaluation transform; default: training iff split is "train". */
        public Builder training(boolean training) {
            this.training = training;
            return this;
        }

        /** Random horizontal flip in the training transform; default: on when training. */
        public Builder hflip(boolean hflip) {
            this.hflip = hflip;
            return this;
        }

        /** Output size (square): RandomResizedCrop size and CenterCrop size (default 224). */
        public Builder crop(int crop) {
            if (crop <= 0) {
                throw new IllegalArgumentException("crop size must be > 0, got " + crop);
            }
            this.crop = crop;
            return this;
        }

        /** Shorter side before the center crop in the evaluation transform (default 256; 0: no resize). */
        public Builder resize(int resize) {
            if (resize < 0) {
                throw new IllegalArgumentException("resize must be >= 0, got " + resize);
            }
            this.resize = resize;
            return this;
        }

        /** RandomResizedCrop area range (default 0.08, 1). */
        public Builder scale(double min, double max) {
            if (!(min > 0 && min <= max && max <= 1)) {
                throw new IllegalArgumentException("scale range must satisfy 0 < min <= max <= 1, got (" + min + ", "
                        + max + ")");
            }
            this.scaleMin = min;
            this.scaleMax = max;
            return this;
        }

        /** RandomResizedCrop aspect-ratio range (default 3/4, 4/3). */
        public Builder ratio(double min, double max) {
            if (!(min > 0 && min <= max)) {
                throw new IllegalArgumentException("ratio range must satisfy 0 < min <= max, got (" + min + ", " + max
                        + ")");
            }
            this.ratioMin = min;
            this.ratioMax = max;
            return this;
        }

        /** Per-channel normalization (default ImageNet's). */
        public Builder normalize(float[] mean, float[] std) {
            if (mean.length != 3 || std.length != 3) {
                throw new IllegalArgumentException("mean and std need 3 values (R, G, B)");
            }
            for (float s : std) {
                if (!(s > 0)) {
                    throw new IllegalArgumentException("std must be > 0, got " + s);
                }
            }
            this.mean = mean.clone();
            this.std = std.clone();
            return this;
        }

        /** Strict: an unreadable image is an error instead of being skipped (default false). */
        public Builder strict(boolean strict) {
            this.strict = strict;
            return this;
        }

        /** Where skipped files are reported (default System.err). */
        public Builder log(PrintStream log) {
            this.log = log;
            return this;
        }

        /**
         * Lists the files (images are decoded on {@link ImageFolder#load}).
         *
         * @throws DataException if a folder is missing, a class is unknown, or there are no images
         */
        public ImageFolder build() {
            if (!Files.isDirectory(root)) {
                throw new DataException("image folder not found: " + root
                        + " (expected root/train/<class>/*.jpg and root/val/<class>/*.jpg)");
            }
            Path splitDir = root.resolve(split);
            if (!Files.isDirectory(splitDir)) {
                throw new DataException("image folder split not found: " + splitDir
                        + " (expected " + root + "/" + split + "/<class>/*.jpg)");
            }
            Path trainDir = root.resolve("train");
            boolean definesClasses = !Files.isDirectory(trainDir) || split.equals("train");
            List<String> classes = classFolders(Files.isDirectory(trainDir) ? trainDir : splitDir);
            if (classes.isEmpty()) {
                throw new DataException("no class folders in " + (Files.isDirectory(trainDir) ? trainDir : splitDir));
            }
            List<String> own = classFolders(splitDir);
            for (String c : own) {
                if (Collections.binarySearch(classes, c) < 0) {
                    throw new DataException("class folder " + splitDir.resolve(c) + " has no counterpart in "
                            + trainDir + " (the classes of every split come from train)");
                }
            }
            List<String> fileList = new ArrayList<>();
            List<Integer> labelList = new ArrayList<>();
            for (String c : own) {
                int label = Collections.binarySearch(classes, c);
                Path classDir = splitDir.resolve(c);
                List<String> names = new ArrayList<>();
                try (Stream<Path> s = Files.walk(classDir, FileVisitOption.FOLLOW_LINKS)) {
                    s.filter(p -> isImageName(p.getFileName().toString()) && Files.isRegularFile(p))
                            .forEach(p -> names.add(splitDir.relativize(p).toString()));
                } catch (IOException | java.io.UncheckedIOException e) {
                    throw new DataException("cannot list " + classDir + ": " + e.getMessage(), e);
                }
                if (names.isEmpty() && definesClasses) {
                    throw new DataException("class folder " + classDir + " holds no images (*.jpg, *.jpeg, *.png); "
                            + "every folder under " + splitDir + " is a class, so remove it or add images");
                }
                Collections.sort(names);
                for (String n : names) {
                    fileList.add(n);
                    labelList.add(label);
                }
            }
            if (fileList.isEmpty()) {
                throw new DataException("no images (*.jpg, *.jpeg, *.png) under " + splitDir);
            }
            int[] labels = labelList.stream().mapToInt(Integer::intValue).toArray();
            return new ImageFolder(this, splitDir, classes, fileList.toArray(new String[0]), labels);
        }
    }

    /** Whether a file name is an image's: {@code *.jpg}, {@code *.jpeg} or {@code *.png}, in any case. */
    public static boolean isImageName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".png");
    }

    private static List<String> classFolders(Path dir) {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(Files::isDirectory).forEach(p -> out.add(p.getFileName().toString()));
        } catch (IOException e) {
            throw new DataException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        out.removeIf(n -> n.startsWith("."));
        Collections.sort(out);
        return out;
    }

    /** A crop rectangle: rows {@code [top, top+height)}, columns {@code [left, left+width)}. */
    public record CropBox(int top, int left, int height, int width) {}

    /**
     * torchvision's {@code RandomResizedCrop.get_params}: up to 10 tries of a random area fraction
     * in [scaleMin, scaleMax] and a log-uniform aspect ratio in [ratioMin, ratioMax]; the first that
     * fits gives a uniformly placed box; else a center crop clamped to the ratio range.
     */
    public static CropBox randomResizedCropParams(int height, int width, double scaleMin, double scaleMax,
            double ratioMin, double ratioMax, Random rng) {
        double area = (double) height * width;
        double logMin = Math.log(ratioMin);
        double logMax = Math.log(ratioMax);
        for (int attempt = 0; attempt < 10; attempt++) {
            double targetArea = area * (scaleMin + (scaleMax - scaleMin) * rng.nextDouble());
            double aspect = Math.exp(logMin + (logMax - logMin) * rng.nextDouble());
            int w = (int) Math.rint(Math.sqrt(targetArea * aspect));
            int h = (int) Math.rint(Math.sqrt(targetArea / aspect));
            if (0 < w && w <= width && 0 < h && h <= height) {
                int top = rng.nextInt(height - h + 1);
                int left = rng.nextInt(width - w + 1);
                return new CropBox(top, left, h, w);
            }
        }
        double inRatio = (double) width / height;
        int w;
        int h;
        if (inRatio < ratioMin) {
            w = width;
            h = (int) Math.rint(w / ratioMin);
        } else if (inRatio > ratioMax) {
            h = height;
            w = (int) Math.rint(h * ratioMax);
        } else {
            w = width;
            h = height;
        }
        return new CropBox((height - h) / 2, (width - w) / 2, h, w);
    }

    /** torchvision's Resize(int) output size: shorter side {@code size}, longer side scaled and truncated. Returns {w, h}. */
    public static int[] resizedSize(int width, int height, int size) {
        if (width <= height) {
            return new int[] {size, (int) ((long) size * height / width)};
        }
        return new int[] {(int) ((long) size * width / height), size};
    }

    /** Transforms a decoded image into {@code dst} (see the class comment); {@code rng == null}: evaluation. */
    public void transform(RgbImage img, float[] dst, int offset, Random rng) {
        if (training && rng != null) {
            CropBox b = randomResizedCropParams(img.height(), img.width(), scaleMin, scaleMax, ratioMin, ratioMax, rng);
            boolean flip = hflip && rng.nextFloat() < 0.5f;
            Resample.resizeWindow(img, b.left(), b.top(), b.width(), b.height(), crop, crop, 0, 0, crop, crop, flip,
                    lut, dst, offset);
            return;
        }
        evalWindow(img, resize, crop, lut, dst, offset);
    }

    /**
     * The evaluation transform: Resize(resize) of the shorter side (none when 0), then
     * CenterCrop(crop), through the per-channel lookup tables (also {@link Preprocessing}'s).
     */
    static void evalWindow(RgbImage img, int resize, int crop, float[][] lut, float[] dst, int offset) {
        int rw = img.width();
        int rh = img.height();
        if (resize > 0) {
            int[] s = resizedSize(rw, rh, resize);
            rw = s[0];
            rh = s[1];
        }
        int top = rh >= crop ? (int) Math.rint((rh - crop) / 2.0) : -((crop - rh) / 2);
        int left = rw >= crop ? (int) Math.rint((rw - crop) / 2.0) : -((crop - rw) / 2);
        Resample.resizeWindow(img, 0, 0, img.width(), img.height(), rw, rh, left, top, crop, crop, false, lut, dst,
                offset);
    }

    /** The evaluation transform as a rule for image files (RGB, resize, centre crop, this set's mean and std). */
    @Override
    public Preprocessing preprocessing() {
        return new Preprocessing(3, resize, crop, 0, mean, std);
    }

    @Override
    public long load(int i, float[] dst, int offset, Random rng) {
        checkIndex(i);
        int n = files.length;
        for (int step = 0; step < n; step++) {
            int j = (i + step) % n;
            if (skipped.containsKey(j)) {
                continue;
            }
            Path p = path(j);
            RgbImage img;
            try {
                img = RgbImage.read(p);
            } catch (IOException | RuntimeException e) {
                String why = e.getMessage() == null ? e.toString() : e.getMessage();
                if (strict) {
                    throw new DataException("unreadable image " + p + ": " + why, e);
                }
                if (skipped.putIfAbsent(j, why) == null) {
                    log.println("basq4j: skipping unreadable image " + p + " (" + why
                            + "); its slots get the next readable image");
                }
                continue;
            }
            transform(img, dst, offset, rng);
            return labels[j];
        }
        throw new DataException("no readable image in " + splitDir + " (" + n + " files, all unreadable)");
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= files.length) {
            throw new IndexOutOfBoundsException("example " + i + " outside [0, " + files.length + ")");
        }
    }

    /** The file of example {@code i}. */
    public Path path(int i) {
        checkIndex(i);
        return splitDir.resolve(files[i]);
    }

    /** Files found unreadable so far (in index order) — each skipped and replaced. */
    public List<Path> skippedFiles() {
        List<Integer> idx = new ArrayList<>(skipped.keySet());
        Collections.sort(idx);
        List<Path> out = new ArrayList<>();
        for (int j : idx) {
            out.add(path(j));
        }
        return out;
    }

    /** How many files were found unreadable so far. */
    public int skippedCount() {
        return skipped.size();
    }

    public Path root() {
        return root;
    }

    public String split() {
        return split;
    }

    public boolean training() {
        return training;
    }

    public boolean strict() {
        return strict;
    }

    @Override
    public int size() {
        return files.length;
    }

    @Override
    public int channels() {
        return 3;
    }

    @Override
    public int height() {
        return crop;
    }

    @Override
    public int width() {
        return crop;
    }

    @Override
    public int classes() {
        return classes.size();
    }

    @Override
    public List<String> classNames() {
        return classes;
    }

    @Override
    public long label(int i) {
        checkIndex(i);
        return labels[i];
    }

    @Override
    public String describe() {
        return "ImageFolder " + splitDir + " [" + size() + " images, " + classes() + " classes, 3x" + crop + "x" + crop
                + (training ? ", RandomResizedCrop" + (hflip ? "+hflip" : "") : ", resize " + resize + " + center crop")
                + (strict ? ", strict" : "") + "]";
    }
}
