package io.basq4j.nn.quant;

import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.nn.Init;
import io.basq4j.nn.Layer;
import io.basq4j.nn.Module;
import io.basq4j.nn.Parameter;
import io.basq4j.tensor.Tensor;

/**
 * Unsigned per-channel LSQ activation quantizer (SPEC 1.2): parameter {@code s} [C] (group
 * OTHER), range [0, 2^bits - 1], always active.
 *
 * <p>Initialization from data: after {@link #requestInit()}, the next forward first sets
 * {@code s[c] = 2 * mean(|x[:, c]|) / sqrt(Qp)} from its input (without recording a gradient)
 * and then quantizes with it. Models run that forward once, in training mode and without
 * gradient, before training (see the supernets' {@code initActivationSteps}). Until then
 * {@code s} is 1.
 */
public final class LsqActQuantizer extends Module implements Layer {
    private final Parameter step;
    private final int bits;
    private final int channels;
    private boolean initPending;
    private boolean initialized;

    public LsqActQuantizer(Init init, int channels, int bits) {
        QuantBits.check(bits);
        this.bits = bits;
        this.channels = channels;
        step = parameter("s", init.ones(channels));
    }

    public Parameter step() {
        return step;
    }

    public int bits() {
        return bits;
    }

    /** The next forward initializes {@code s} from its input. */
    public void requestInit() {
        initPending = true;
    }

    public boolean initPending() {
        return initPending;
    }

    /** Whether {@code s} was initialized from data (or loaded from a state). */
    public boolean initialized() {
        return initialized;
    }

    /** Sets {@code s[c] = 2 * mean(|x[:, c]|) / sqrt(Qp)} from an activation [N, C, ...]. */
    public void initFrom(Tensor x) {
        if (x.dim(1) != channels) {
            throw new IllegalArgumentException("LSQ init: " + channels + " channels, input " + x.shape());
        }
        int qp = QuantBits.activationQp(bits);
        int outer = x.dim(0);
        long inner = x.shape().numelFrom(2);
        try (GradMode off = GradMode.off()) {
            Tensor s = step.tensor();
            s.backend().channelAbsMean(x, s, outer, channels, inner);
            s.backend().scale(s, (float) (2.0 / Math.sqrt(qp)));
        }
        initPending = false;
        initialized = true;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (initPending) {
            initFrom(x);
        }
        return F.lsq(x, step.tensor(), 0, QuantBits.activationQp(bits), 1);
    }

    @Override
    protected void stateLoaded() {
        initialized = true;
        initPending = false;
    }
}
