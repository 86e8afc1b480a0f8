package io.basq4j.train;

import io.basq4j.data.Dataset;
import io.basq4j.data.FashionMnist;
import io.basq4j.data.ImageFolder;
import io.basq4j.data.Normalization;
import io.basq4j.data.Subset;
import io.basq4j.data.SyntheticImages;
import java.nio.file.Path;

/** Opens the training and validation data a {@link RunConfig} names. */
public final class DataSources {
    private DataSources() {
    }

    /** Training data (with augmentation where the dataset has it). */
    public static Dataset train(RunConfig c) {
        Dataset d = switch (c.dataset) {
            case "fashion" -> FashionMnist.builder().dir(dir(c, FashionMnist.DEFAULT_DIR))
                    .split(FashionMnist.Split.TRAIN).hflip(c.hflip).build();
            case "imagefolder" -> ImageFolder.builder(requireDir(c)).split("train").training(true).hflip(c.hflip)
                    .crop(c.resolution).resize(resizeFor(c.resolution)).build();
            case "synthetic" -> synthetic(c, Math.max(c.trainLimit, 1), c.seed);
            default -> throw new IllegalArgumentException("unknown dataset " + c.dataset);
        };
        if (c.trainLimit > 0 && c.trainLimit < d.size()) {
            d = Subset.stratified(d, c.trainLimit, c.seed);
        }
        return checkShape(c, d);
    }

    /** Validation data in a fixed order, with the evaluation transform. */
    public static Dataset val(RunConfig c) {
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
