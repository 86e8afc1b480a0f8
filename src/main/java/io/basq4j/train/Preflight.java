package io.basq4j.train;

import io.basq4j.data.Dataset;
import io.basq4j.tensor.Backends;
import io.basq4j.tensor.Device;

/**
 * The checks a step makes before it writes anything to its run directory: the settings are
 * valid, the device is usable, and the data is there (both splits open, which for an image
 * folder also checks that every validation class exists in training; the training split holds
 * at least one batch; the first example of each split decodes, so a folder of unreadable
 * images fails now rather than after training).
 */
public final class Preflight {
    private Preflight() {
    }

    /**
     * @param train whether the step reads the training data
     * @param val whether it reads the validation data
     * @throws IllegalArgumentException or {@link io.basq4j.data.DataException} with one line
     */
    public static void check(RunConfig c, boolean train, boolean val) {
        c.validate();
        device(c);
        if (train) {
            Dataset d = DataSources.train(c);
            if (d.size() < c.batch) {
                throw new IllegalArgumentException("the training data has " + d.size() + " examples, fewer than one "
                        + "batch of " + c.batch + " (lower --batch)");
            }
            decodeFirst(d);
        }
        if (val) {
            decodeFirst(DataSources.val(c));
        }
    }

    /** A CUDA device must be usable ("auto" falls back to the CPU by itself). */
    public static void device(RunConfig c) {
        if (c.device() == Device.CUDA && !Backends.cudaAvailable()) {
            throw new IllegalArgumentException("--device cuda: CUDA is not usable here (" + Backends.cudaProblem()
                    + "); use --device cpu, or auto to take a GPU only when there is one");
        }
    }

    private static void decodeFirst(Dataset d) {
        if (d.size() > 0) {
            d.load(0, new float[d.channels() * d.height() * d.width()], 0, null);
        }
    }
}
