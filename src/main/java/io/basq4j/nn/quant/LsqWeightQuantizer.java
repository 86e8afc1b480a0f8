package io.basq4j.nn.quant;

import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.nn.Init;
import io.basq4j.nn.Module;
import io.basq4j.nn.Parameter;
import io.basq4j.tensor.Tensor;

/**
 * Symmetric per-output-channel LSQ weight quantizer (SPEC 1.3): parameter {@code s} [O] (group
 * OTHER), range [-(2^(bits-1) - 1), 2^(bits-1) - 1]; {@link #initFrom(Tensor)} sets
 * {@code s[o] = 2 * mean(|w[o]|) / sqrt(Qp)}.
 */
public final class LsqWeightQuantizer extends Module {
    private final Parameter step;
    private final int bits;
    private final int channels;

    public LsqWeightQuantizer(Init init, int outChannels, int bits) {
        QuantBits.check(bits);
        this.bits = bits;
        this.channels = outChannels;
        step = parameter("s", init.ones(outChannels));
    }

    public Parameter step() {
        return step;
    }

    public int bits() {
        return bits;
    }

    /** Re-initializes the steps from weights [O, ...] (no gradient recorded). */
    public void initFrom(Tensor w) {
        if (w.dim(0) != channels) {
            throw new IllegalArgumentException("LSQ weight init: " + channels + " channels, weights " + w.shape());
        }
        int qp = QuantBits.weightQp(bits);
        try (GradMode off = GradMode.off()) {
            Tensor s = step.tensor();
            s.backend().channelAbsMean(w, s, 1, channels, w.shape().numelFrom(1));
            s.backend().scale(s, (float) (2.0 / Math.sqrt(qp)));
        }
    }

    /** The fake-quantized weights w [O, ...] (differentiable in w and s). */
    public Tensor quantize(Tensor w) {
        int qp = QuantBits.weightQp(bits);
        return F.lsq(w, step.tensor(), -qp, qp, 0);
    }
}
