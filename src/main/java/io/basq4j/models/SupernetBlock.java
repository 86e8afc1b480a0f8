package io.basq4j.models;

import io.basq4j.nn.Module;
import io.basq4j.tensor.Tensor;

/** One feature of a supernet: consumes {@link #searchedUnits()} entries of the selection. */
public abstract class SupernetBlock extends Module {
    /**
     * Runs the block with the branches {@code selection[offset .. offset + searchedUnits())}.
     * Intermediates belong to the caller's scope.
     */
    public abstract Tensor forward(Tensor x, int[] selection, int offset);

    /**
     * Tells {@code g} what {@link #forward} computes in evaluation mode with the branches
     * {@code selection[offset .. offset + searchedUnits())}, and returns the block's output value.
     */
    public abstract <T> T describe(GraphWriter<T> g, T x, int[] selection, int offset);

    /** How many selection entries this block consumes. */
    public abstract int searchedUnits();

    /** Its row in the block table. */
    public abstract BlockInfo info();
}
