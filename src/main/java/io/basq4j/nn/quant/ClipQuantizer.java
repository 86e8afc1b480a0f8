package io.basq4j.nn.quant;

import io.basq4j.autograd.F;
import io.basq4j.nn.Init;
import io.basq4j.nn.Layer;
import io.basq4j.nn.Module;
import io.basq4j.nn.Parameter;
import io.basq4j.tensor.Tensor;

/**
 * The searched activation quantizer of branch j (SPEC 1.1): clamp to [0, upper_bound], then
 * round to {@code 2^bits} levels with step {@code upper_bound * (1 - bin)}; straight-through
 * (PACT-style) gradients to the input and to the bound.
 *
 * <p>State, in the reference order: {@code bin} (init {@code 1 - 1/(2^bits - 1)}, group
 * {@link Parameter.Group#FROZEN}: never optimized, never given a gradient) and
 * {@code upper_bound} (init 6.0, group {@link Parameter.Group#CLIP_BOUND} with this branch's
 * index, so that the optimizer can give it the branch's L2 decay).
 */
public final class ClipQuantizer extends Module implements Layer {
    public static final float INITIAL_UPPER_BOUND = 6.0f;

    private final Parameter bin;
    private final Parameter upperBound;
    private final int bits;
    private final int branch;

    public ClipQuantizer(Init init, int bits, int branch) {
        QuantBits.check(bits);
        this.bits = bits;
        this.branch = branch;
        int levels = 1 << bits;
        bin = parameter("bin", init.full(1f - 1f / (levels - 1), 1), Parameter.Group.FROZEN);
        upperBound = clipBound("upper_bound", init.full(INITIAL_UPPER_BOUND, 1), branch);
    }

    public Parameter upperBound() {
        return upperBound;
    }

    public Parameter bin() {
        return bin;
    }

    public int bits() {
        return bits;
    }

    public int branch() {
        return branch;
    }

    @Override
    public Tensor forward(Tensor x) {
        return F.clipQuant(x, upperBound.tensor(), bin.tensor());
    }
}
