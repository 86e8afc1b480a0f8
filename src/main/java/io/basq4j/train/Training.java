package io.basq4j.train;

import io.basq4j.data.Batch;
import io.basq4j.data.DataLoader;
import io.basq4j.nn.Module;
import io.basq4j.nn.Parameter;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Predicate;

/** Pieces shared by the training steps: batches to tensors, parameter groups, a positioned batch stream. */
public final class Training {
    private Training() {
    }

    /** The images of a batch as an [N, C, H, W] tensor on {@code device} (in the current scope). */
    public static Tensor images(Batch b, Device device) {
        return Tensor.of(device, b.images(), b.n(), b.c(), b.h(), b.w());
    }

    public static Tensor labels(Batch b, Device device) {
        return Tensor.ofLongs(device, b.labels(), b.n());
    }

    /** Every trainable parameter's tensor. */
    public static List<Tensor> trainable(Module m) {
        List<Tensor> out = new ArrayList<>();
        for (Parameter p : m.parameters()) {
            if (p.trainable()) {
                out.add(p.tensor());
            }
        }
        return out;
    }

    /**
     * SPEC 5 groups: each branch's clip bound with its l2 decay, convolution weights with
     * {@code convDecay}, everything else that learns without decay.
     */
    public static List<ParamGroup> supernetGroups(Module m, double[] l2, double convDecay) {
        return groups(m, l2, convDecay, p -> true);
    }

    /** SPEC 7 groups: only biases (no decay) and clip bounds (their l2 decay) learn. */
    public static List<ParamGroup> finetuneGroups(Module m, double[] l2) {
        return groups(m, l2, 0, p -> p.group() == Parameter.Group.BIAS || p.group() == Parameter.Group.CLIP_BOUND);
    }

    /** All trainable parameters without decay (full-precision training). */
    public static List<ParamGroup> plainGroups(Module m, double decay) {
        List<String> names = new ArrayList<>();
        List<Tensor> ts = new ArrayList<>();
        m.namedParameters().forEach((n, p) -> {
            if (p.trainable()) {
                names.add(n);
                ts.add(p.tensor());
            }
        });
        return List.of(new ParamGroup("all", names, ts, decay));
    }

    private static List<ParamGroup> groups(Module m, double[] l2, double convDecay, Predicate<Parameter> keep) {
        List<List<String>> boundNames = new ArrayList<>();
        List<List<Tensor>> bounds = new ArrayList<>();
        for (int j = 0; j < l2.length; j++) {
            boundNames.add(new ArrayList<>());
            bounds.add(new ArrayList<>());
        }
        List<String> convNames = new ArrayList<>();
        List<Tensor> convs = new ArrayList<>();
        List<String> restNames = new ArrayList<>();
        List<Tensor> rest = new ArrayList<>();
        m.namedParameters().forEach((name, p) -> {
            if (!p.trainable() || !keep.test(p)) {
                return;
            }
            switch (p.group()) {
                case CLIP_BOUND -> {
                    if (p.branch() >= l2.length) {
                        throw new IllegalArgumentException(name + " is a bound of branch " + p.branch() + " but only "
                                + l2.length + " l2 values are given");
                    }
                    boundNames.get(p.branch()).add(name);
                    bounds.get(p.branch()).add(p.tensor());
                }
                case CONV_WEIGHT -> {
                    convNames.add(name);
                    convs.add(p.tensor());
                }
                default -> {
                    restNames.add(name);
                    rest.add(p.tensor());
                }
            }
        });
        List<ParamGroup> out = new ArrayList<>();
        for (int j = 0; j < l2.length; j++) {
            if (!bounds.get(j).isEmpty()) {
                out.add(new ParamGroup("upper_bound." + j, boundNames.get(j), bounds.get(j), l2[j]));
            }
        }
        if (!convs.isEmpty()) {
            out.add(new ParamGroup("conv_weight", convNames, convs, convDecay));
        }
        if (!rest.isEmpty()) {
            out.add(new ParamGroup("other", restNames, rest, 0));
        }
        return out;
    }

    /**
     * Batches for consecutive global steps, epoch after epoch, starting at any step: step g is
     * batch g mod B of epoch g / B (B batches per epoch), so a resumed run sees the same data.
     */
    public static final class BatchStream {
        private final DataLoader loader;
        private final int perEpoch;
        private int epoch;
        private Iterator<Batch> it;

        public BatchStream(DataLoader loader, long firstStep) {
            this.loader = loader;
            this.perEpoch = loader.batches();
            if (perEpoch <= 0) {
                throw new IllegalArgumentException("the training data has " + loader.dataset().size()
                        + " examples, fewer than one batch of " + loader.batchSize() + " (lower --batch)");
            }
            this.epoch = (int) (firstStep / perEpoch);
            this.it = loader.epoch(epoch).iterator();
            for (long k = 0; k < firstStep % perEpoch; k++) {
                it.next();
            }
        }

        public int batchesPerEpoch() {
            return perEpoch;
        }

        public Batch next() {
            if (!it.hasNext()) {
                epoch++;
                it = loader.epoch(epoch).iterator();
                if (!it.hasNext()) {
                    throw new NoSuchElementException("empty epoch");
                }
            }
            return it.next();
        }
    }
}
