package io.basq4j.data;

import java.io.IOException;
import java.util.List;
import java.util.Random;

/**
 * Labelled images turned into a network's input by a {@link Preprocessing} rule (the rule a saved
 * model records), not by a data set's own transform. An image that cannot be read or decoded
 * makes {@link #load} throw a {@link DataException} naming it; nothing is substituted.
 */
public final class PreprocessedImages implements Dataset {
    /** Labelled images before any transform. */
    public interface Source {
        int size();

        long label(int i);

        List<String> classNames();

        /** Image {@code i}, decoded; IOException when it cannot be read. */
        RgbImage image(int i) throws IOException;

        /** The name of image {@code i} in messages (its file, or its index). */
        String name(int i);

        String describe();
    }

    private final Source source;
    private final Preprocessing rule;

    public PreprocessedImages(Source source, Preprocessing rule) {
        this.source = source;
        this.rule = rule;
    }

    /** Fashion-MNIST's raw 28 x 28 images (replicated to RGB) through {@code rule}. */
    public static PreprocessedImages of(FashionMnist raw, Preprocessing rule) {
        return new PreprocessedImages(new Source() {
            @Override
            public int size() {
                return raw.size();
            }

            @Override
            public long label(int i) {
                return raw.label(i);
            }

            @Override
            public List<String> classNames() {
                return raw.classNames();
            }

            @Override
            public RgbImage image(int i) {
                return raw.image(i);
            }

            @Override
            public String name(int i) {
                return "Fashion-MNIST " + raw.split().name().toLowerCase() + " example " + i;
            }

            @Override
            public String describe() {
                return "Fashion-MNIST " + raw.split().name().toLowerCase() + " [" + raw.size() + " examples from "
                        + raw.dir() + "]";
            }
        }, rule);
    }

    /** The files of an image folder split (decoded anew, its own transform unused) through {@code rule}. */
    public static PreprocessedImages of(ImageFolder folder, Preprocessing rule) {
        return new PreprocessedImages(new Source() {
            @Override
            public int size() {
                return folder.size();
            }

            @Override
            public long label(int i) {
                return folder.label(i);
            }

            @Override
            public List<String> classNames() {
                return folder.classNames();
            }

            @Override
            public RgbImage image(int i) throws IOException {
                return RgbImage.read(folder.path(i));
            }

            @Override
            public String name(int i) {
                return folder.path(i).toString();
            }

            @Override
            public String describe() {
                return "image folder " + folder.root().resolve(folder.split()) + " [" + folder.size() + " images, "
                        + folder.classes() + " classes]";
            }
        }, rule);
    }

    public Preprocessing rule() {
        return rule;
    }

    /** The name of example {@code i} in messages. */
    public String name(int i) {
        return source.name(i);
    }

    @Override
    public int size() {
        return source.size();
    }

    @Override
    public int channels() {
        return rule.channels();
    }

    @Override
    public int height() {
        return rule.size();
    }

    @Override
    public int width() {
        return rule.size();
    }

    @Override
    public int classes() {
        return source.classNames().size();
    }

    @Override
    public List<String> classNames() {
        return source.classNames();
    }

    @Override
    public long label(int i) {
        return source.label(i);
    }

    @Override
    public long load(int i, float[] dst, int offset, Random rng) {
        RgbImage img;
        try {
            img = source.image(i);
        } catch (IOException | RuntimeException e) {
            throw new DataException("unreadable image " + source.name(i) + ": "
                    + (e.getMessage() == null ? e.toString() : e.getMessage()), e);
        }
        rule.apply(img, dst, offset);
        return source.label(i);
    }

    @Override
    public Preprocessing preprocessing() {
        return rule;
    }

    @Override
    public String describe() {
        return source.describe() + " preprocessed as " + rule.toJson();
    }
}
