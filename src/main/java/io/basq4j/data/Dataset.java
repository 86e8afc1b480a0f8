package io.basq4j.data;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A finite, indexable set of labelled images, producing examples already transformed
 * (padded/cropped/resized, augmented, normalized) as {@code channels()*height()*width()} floats
 * in CHW order.
 *
 * <p>Implementations must be safe for concurrent calls to {@link #load} from several worker
 * threads (they are read-only after construction, or synchronize what they cache).
 */
public interface Dataset {
    /** Number of examples. */
    int size();

    /** Channels of a loaded example (after transforms). */
    int channels();

    /** Height of a loaded example (after transforms). */
    int height();

    /** Width of a loaded example (after transforms). */
    int width();

    /** Number of classes; labels are in {@code [0, classes())}. */
    int classes();

    /** The label of example {@code i}. */
    long label(int i);

    /**
     * Writes example {@code i}, transformed and normalized, into
     * {@code dst[offset .. offset + exampleSize())} and returns its label.
     *
     * <p>The returned label is normally {@link #label(int) label(i)}; a data set that replaces an
     * unreadable example by another one (see {@link ImageFolder}) returns the replacement's label.
     *
     * @param rng the source of randomness for random augmentation; the same sequence of draws
     *     gives the same output. {@code null} means no random augmentation (a deterministic,
     *     evaluation-style transform).
     */
    long load(int i, float[] dst, int offset, Random rng);

    /** Floats per example: {@code channels()*height()*width()}. */
    default int exampleSize() {
        return channels() * height() * width();
    }

    /** Class names, in label order; by default "0", "1", ... */
    default List<String> classNames() {
        List<String> names = new ArrayList<>(classes());
        for (int k = 0; k < classes(); k++) {
            names.add(Integer.toString(k));
        }
        return names;
    }

    /**
     * The evaluation transform as a rule for image files (what a saved model records so that
     * files of any size can be classified), or null when the data set has none (its examples
     * are not images, or not of 1 or 3 channels).
     */
    default Preprocessing preprocessing() {
        return null;
    }

    /** A one-line description for logs. */
    default String describe() {
        return getClass().getSimpleName() + "[" + size() + " examples, " + classes() + " classes, "
                + channels() + "x" + height() + "x" + width() + "]";
    }
}
