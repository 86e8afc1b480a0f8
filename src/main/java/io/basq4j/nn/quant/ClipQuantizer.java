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

    /** The current step d of {@link #step(float, float)}. */
    public float step() {
        return step(upperBound.tensor().item(), bin.tensor().item());
    }

    /**
     * The quantization step d for bound {@code u} and bin {@code b} (SPEC 1.1), in the kernels'
     * float arithmetic ({@code basq_clip_step} of quant_math.h): {@code u * (1 - b)}, with
     * {@code 1 - b} snapped to the float nearest {@code 1/n} when it is within 1e-5 of it for an
     * integer n; {@code u} when {@code 1 - b >= 1}, {@code u / 255} when {@code 1 - b <= 1/255}.
     */
    public static float step(float u, float b) {
        float a = 1.0f - b;
        if (a >= 1.0f) {
            return u;
        }
        if (a <= 1.0f / 255.0f) {
            return u / 255.0f;
        }
        float levels = (float) Math.rint(1.0f / a);
        if (Math.abs(levels * a - 1.0f) < 1e-5f) {
            a = 1.0f / levels;
        }
        return u * a;
    }

    @Override
    public Tensor forward(Tensor x) {
        return F.clipQuant(x, upperBound.tensor(), bin.tensor());
    }
}
