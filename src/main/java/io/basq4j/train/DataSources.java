package io.basq4j.train;

import io.basq4j.data.Dataset;
import io.basq4j.data.FashionMnist;
import io.basq4j.data.ImageFolder;
import io.basq4j.data.Normalization;
import io.basq4j.data.Subset;
import io.basq4j.data.SyntheticImages;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Opens the training, validation and test data a {@link RunConfig} names.
 *
 * <p>Under the holdout protocol (the default) the validation split is carved out of the training
 * data: {@link RunConfig#valSplit} examples drawn class-stratified with the fixed seed
 * {@value #VAL_SPLIT_SEED} from the whole training set (Fashion-MNIST's 60,000 training images,
 * an image folder's {@code train/}, or the synthetic training set), independent of the run's
 * seed; training uses the rest (then {@link RunConfig#trainLimit} of them), with augmentation;
 * the validation split uses the evaluation transform. The test set (Fashion-MNIST's 10,000 test
 * images, an image folder's {@code val/}, a synthetic set of another seed) is not part of
 * either. Under the reference protocol the validation data is the test set.
 */
public final class DataSources {
    /** The seed of the stratified draw of the validation split (the same split for every run seed). */
    public static final long VAL_SPLIT_SEED = 0;

    private DataSources() {
    }

    /** Training data (with augmentation where the dataset has it), without the validation split. */
    public static Dataset train(RunConfig c) {
        if (c.holdout()) {
            Dataset pool = trainingPool(c, true);
            int[] val = valSplitIndices(c, pool);
            int[] rest = complement(val, pool.size());
            if (c.trainLimit > 0 && c.trainLimit < rest.length) {
                long[] labels = new long[rest.length];
                for (int i = 0; i < rest.length; i++) {
                    labels[i] = pool.label(rest[i]);
                }
                int[] pick = Subset.stratifiedIndices(labels, pool.classes(), c.trainLimit, c.seed);
                int[] chosen = new int[pick.length];
                for (int i = 0; i < pick.length; i++) {
                    chosen[i] = rest[pick[i]];
                }
                rest = chosen;
            }
            return checkShape(c, new Subset(pool, rest, pool.describe() + " without the validation split: "
                    + rest.length + " examples"));
        }
        Dataset d = trainingPool(c, true);
        if (c.trainLimit > 0 && c.trainLimit < d.size()) {
            d = Subset.stratified(d, c.trainLimit, c.seed);
        }
        return checkShape(c, d);
    }

    /**
     * Validation data in a fixed order, with the evaluation transform: the validation split held
     * out of the training data (holdout), or the test set (reference).
     */
    public static Dataset val(RunConfig c) {
        if (!c.holdout()) {
            return test(c);
        }
        Dataset pool = trainingPool(c, false);
        int[] idx = valSplitIndices(c, pool);
        return checkShape(c, new Subset(pool, idx, "validation split [" + idx.length + " of the " + pool.size()
                + " training examples, class-stratified, held out of training; " + pool.describe() + "]"));
    }

    /** The test set, in file order, with the evaluation transform (its first {@code valLimit} examples when set). */
    public static Dataset test(RunConfig c) {
        Dataset d = switch (c.dataset) {
            case "fashion" -> FashionMnist.builder().dir(dir(c, FashionMnist.DEFAULT_DIR))
                    .split(FashionMnist.Split.TEST).build();
            case "imagefolder" -> ImageFolder.builder(requireDir(c)).split("val").training(false)
                    .crop(c.resolution).resize(resizeFor(c.resolution)).build();
            case "synthetic" -> synthetic(c, Math.max(c.valLimit, 1), c.seed + 7919);
            default -> throw new IllegalArgumentException("unknown dataset " + c.dataset);
        };
        if (c.valLimit > 0 && c.valLimit < d.size()) {
            d = Subset.first(d, c.valLimit);
        }
        return checkShape(c, d);
    }

    /** The whole training set (before any split or limit), with the training or the evaluation transform. */
    private static Dataset trainingPool(RunConfig c, boolean training) {
        return switch (c.dataset) {
            case "fashion" -> FashionMnist.builder().dir(dir(c, FashionMnist.DEFAULT_DIR))
                    .split(FashionMnist.Split.TRAIN).hflip(training && c.hflip).build();
            case "imagefolder" -> training
                    ? ImageFolder.builder(requireDir(c)).split("train").training(true).hflip(c.hflip)
                            .crop(c.resolution).resize(resizeFor(c.resolution)).build()
                    : ImageFolder.builder(requireDir(c)).split("train").training(false)
                            .crop(c.resolution).resize(resizeFor(c.resolution)).build();
            // the holdout protocol's synthetic training set holds the validation split on top of trainLimit
            case "synthetic" -> synthetic(c, Math.max(c.trainLimit, 1) + (c.holdout() ? c.valSplit : 0), c.seed);
            default -> throw new IllegalArgumentException("unknown dataset " + c.dataset);
        };
    }

    /**
     * The normalization the data comes with (the data sets' defaults): Fashion-MNIST's mean and std,
     * ImageNet's for an image folder, 0.5/0.25 for the synthetic set. A teacher that expects
     * another one gets its own ({@link Teacher}).
     */
    public static Normalization normalization(RunConfig c) {
        return switch (c.dataset) {
            case "fashion" -> Normalization.uniform(1, FashionMnist.DEFAULT_MEAN, FashionMnist.DEFAULT_STD);
            case "imagefolder" -> Normalization.IMAGENET;
            case "synthetic" -> Normalization.uniform(c.inChannels, SyntheticImages.DEFAULT_MEAN,
                    SyntheticImages.DEFAULT_STD);
            default -> throw new IllegalArgumentException("unknown dataset " + c.dataset);
        };
    }

    /** The validation split's indices into the training pool (ascending). */
    private static int[] valSplitIndices(RunConfig c, Dataset pool) {
        if (c.valSplit < 1 || c.valSplit >= pool.size()) {
            throw new IllegalArgumentException("--val-split " + c.valSplit + " is outside [1, " + (pool.size() - 1)
                    + "] (the training data has " + pool.size() + " examples)");
        }
        long[] labels = new long[pool.size()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = pool.label(i);
        }
        return Subset.stratifiedIndices(labels, pool.classes(), c.valSplit, VAL_SPLIT_SEED);
    }

    private static int[] complement(int[] sortedIdx, int n) {
        boolean[] taken = new boolean[n];
        for (int i : sortedIdx) {
            taken[i] = true;
        }
        int[] out = new int[n - sortedIdx.length];
        int o = 0;
        for (int i = 0; i < n; i++) {
            if (!taken[i]) {
                out[o++] = i;
            }
        }
        return o == out.length ? out : Arrays.copyOf(out, o);
    }

    private static Dataset synthetic(RunConfig c, int size, long seed) {
        return new SyntheticImages(size, c.classes, c.inChannels, c.resolution, c.resolution, seed);
    }

    /** The evaluation resize that goes with a crop (256 for 224, as torchvision's recipe). */
    static int resizeFor(int crop) {
        return (int) Math.round(crop * 256.0 / 224.0);
    }

    private static Path dir(RunConfig c, Path dflt) {
        return c.dataDir == null ? dflt : Path.of(c.dataDir);
    }

    private static Path requireDir(RunConfig c) {
        if (c.dataDir == null) {
            throw new IllegalArgumentException("--data DIR is required for the imagefolder dataset "
                    + "(a folder with train/ and val/, one sub-folder per class)");
        }
        return Path.of(c.dataDir);
    }

    private static Dataset checkShape(RunConfig c, Dataset d) {
        if (d.channels() != c.inChannels || d.height() != c.resolution || d.width() != c.resolution) {
            throw new IllegalArgumentException("the data gives " + d.channels() + "x" + d.height() + "x" + d.width()
                    + " images but the model expects " + c.inChannels + "x" + c.resolution + "x" + c.resolution
                    + " (set --in-channels / --resolution)");
        }
        if (d.classes() > c.classes) {
            throw new IllegalArgumentException("the data has " + d.classes() + " classes but the model " + c.classes
                    + " (set --classes)");
        }
        return d;
    }
}
