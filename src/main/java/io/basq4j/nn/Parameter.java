package io.basq4j.nn;

import io.basq4j.tensor.Tensor;

/**
 * A learnable tensor of a {@link Module} with the metadata the optimizer needs: its
 * {@linkplain Group group} (which decides weight decay and learning rate, SPEC 5 and 7) and,
 * for a clip bound, the branch it belongs to.
 *
 * <p>The tensor is owned by the module (created outside any scope) and keeps its identity for
 * the module's life: loading a state copies into it, so optimizers may hold on to it.
 */
public final class Parameter {
    /** Optimizer groups (SPEC 5): what kind of parameter this is. */
    public enum Group {
        /** Convolution weights (quantized and full-precision): weight decay 5e-6 in supernet training. */
        CONV_WEIGHT,
        /** A branch's clip {@code upper_bound}: weight decay l2[branch], the searched hyper-parameter. */
        CLIP_BOUND,
        /** Any parameter whose name contains "bias" (BN and classifier biases): finetuned in step 3. */
        BIAS,
        /** Everything else that learns: BN weights, LSQ steps, the classifier weight. */
        OTHER,
        /** Never optimized and never given a gradient (the clip quantizer's {@code bin}). */
        FROZEN
    }

    private final Tensor tensor;
    private final Group group;
    private final int branch;

    Parameter(Tensor tensor, Group group, int branch) {
        if (group == Group.CLIP_BOUND && branch < 0) {
            throw new IllegalArgumentException("a clip bound needs its branch index");
        }
        this.tensor = tensor;
        this.group = group;
        this.branch = group == Group.CLIP_BOUND ? branch : -1;
        tensor.setRequiresGrad(group != Group.FROZEN);
    }

    /** The tensor (requires a gradient unless {@link Group#FROZEN}). */
    public Tensor tensor() {
        return tensor;
    }

    public Group group() {
        return group;
    }

    /** Branch index j of a {@link Group#CLIP_BOUND}; -1 for the other groups. */
    public int branch() {
        return branch;
    }

    /** Whether an optimizer should step it (every group but {@link Group#FROZEN}). */
    public boolean trainable() {
        return group != Group.FROZEN;
    }

    /** The accumulated gradient, or null when no backward has reached it. */
    public Tensor grad() {
        return tensor.grad();
    }

    @Override
    public String toString() {
        return "Parameter(" + group + (branch >= 0 ? " branch " + branch : "") + ", " + tensor.shape() + ")";
    }
}
