package io.basq4j.nn;

import io.basq4j.autograd.F;
import io.basq4j.tensor.Tensor;

/**
 * Full-precision fully connected layer: {@code weight} [out, in] (group OTHER) and {@code bias}
 * [out] (group BIAS), both uniform in +-1/sqrt(in) as PyTorch initializes them.
 */
public final class Linear extends Module implements Layer {
    private final Parameter weight;
    private final Parameter bias;

    public Linear(Init init, int in, int out) {
        weight = parameter("weight", init.fanIn(in, out, in));
        bias = parameter("bias", init.fanIn(in, out));
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    /** x [N, in] (or [N, in, 1, 1], flattened) to [N, out]. */
    @Override
    public Tensor forward(Tensor x) {
        Tensor flat = x.rank() == 2 ? x : F.reshape(x, x.dim(0), Math.toIntExact(x.numel() / x.dim(0)));
        return F.linear(flat, weight.tensor(), bias.tensor());
    }
}
