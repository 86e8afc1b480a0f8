package io.basq4j.nn;

import io.basq4j.autograd.F;
import io.basq4j.tensor.Tensor;
import java.util.function.Consumer;

/** max(x, 0). Parameter-free. An optional probe sees each input (diagnostics, e.g. parity checks). */
public final class ReLU extends Module implements Layer {
    private Consumer<Tensor> probe;

    /** Shows every forward input to {@code probe} (null removes it); the tensor is only valid during the call. */
    public void setInputProbe(Consumer<Tensor> probe) {
        this.probe = probe;
    }

    /** Whether a probe is set (its inputs must then be materialized: no fused path around this layer). */
    public boolean hasProbe() {
        return probe != null;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (probe != null) {
            probe.accept(x);
        }
        return F.relu(x);
    }
}
