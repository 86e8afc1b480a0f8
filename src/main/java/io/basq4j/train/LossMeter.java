package io.basq4j.train;

import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;

/**
 * The training loss of each step, kept on the device that computed it until a log line needs
 * it. On a GPU, reading a value back waits for everything queued before it: a loop that read its
 * loss every step would stall the device once per step, between the forward and the backward.
 * {@link #add} keeps a copy of the step's loss (a device-to-device copy, no wait); {@link #mean}
 * reads the copies made since the last read (the first read waits, the rest find the stream
 * idle) and averages them in double, in step order: the value the loop got before, when it read
 * every step.
 */
public final class LossMeter implements AutoCloseable {
    private final List<Tensor> pending = new ArrayList<>();
    private final List<Long> pendingSteps = new ArrayList<>();
    private final List<Double> values = new ArrayList<>();
    private final List<Long> steps = new ArrayList<>();

    /** Keeps the loss of {@code step} (a one-element tensor; the caller may close it). */
    public void add(Tensor loss, long step) {
        Tensor copy = loss.duplicate().detach();
        pending.add(copy);
        pendingSteps.add(step);
    }

    /** The loss added last, read now (NaN when none is kept). */
    public double latest() {
        if (!pending.isEmpty()) {
            return pending.get(pending.size() - 1).item();
        }
        return values.isEmpty() ? Double.NaN : values.get(values.size() - 1);
    }

    /** Losses added since the last {@link #mean}. */
    public int count() {
        return pending.size() + values.size();
    }

    /**
     * Reads the losses kept so far to the host, and when {@code where} is given, throws an
     * IllegalStateException at the first one that is not finite, naming its step with
     * {@code where}: before a checkpoint is written from weights that such a step updated.
     */
    public void check(LongFunction<String> where) {
        for (int i = 0; i < pending.size(); i++) {
            Tensor t = pending.get(i);
            values.add((double) t.item());
            steps.add(pendingSteps.get(i));
        }
        closePending();
        if (where != null) {
            for (int i = 0; i < values.size(); i++) {
                double v = values.get(i);
                if (!Double.isFinite(v)) {
                    throw new IllegalStateException("the training loss became " + (float) v + " at "
                            + where.apply(steps.get(i)) + " (try a lower learning rate)");
                }
            }
        }
    }

    /**
     * Reads the losses kept so far (checked as {@link #check} does when {@code where} is given)
     * and hands them over in step order; the meter starts a new window.
     */
    public double[] drain(LongFunction<String> where) {
        check(where);
        double[] out = new double[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        values.clear();
        steps.clear();
        return out;
    }

    /**
     * The mean of the losses added since the last call (NaN when none), read now; checked as
     * {@link #check} does when {@code where} is given. Starts a new window.
     */
    public double mean(LongFunction<String> where) {
        check(where);
        double sum = 0;
        for (double v : values) {
            sum += v;
        }
        double mean = values.isEmpty() ? Double.NaN : sum / values.size();
        values.clear();
        steps.clear();
        return mean;
    }

    private void closePending() {
        for (Tensor t : pending) {
            t.close();
        }
        pending.clear();
        pendingSteps.clear();
    }

    @Override
    public void close() {
        closePending();
        values.clear();
        steps.clear();
    }
}
