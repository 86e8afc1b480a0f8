package io.basq4j.autograd;

import io.basq4j.tensor.GradFn;
import io.basq4j.tensor.Tensor;

/**
 * One recorded operation: its inputs, which of them need a gradient, and its backward, a
 * function from the output gradient to one gradient per input (null where not needed). A
 * backward may return the output gradient itself for an input (a pass-through); the engine
 * copies where that would alias.
 */
public final class Node implements GradFn {
    /** The backward of one operation. */
    @FunctionalInterface
    public interface Backward {
        Tensor[] apply(Tensor gradOut, Node self);
    }

    final String op;
    Tensor[] inputs;
    final boolean[] needs;
    Backward backward;
    private Tensor[] privateSaved;

    private Node(String op, Tensor[] inputs, boolean[] needs, Backward backward) {
        this.op = op;
        this.inputs = inputs;
        this.needs = needs;
        this.backward = backward;
    }

    /** Whether a tensor takes part in the gradient (a leaf that requires it, or a recorded result). */
    public static boolean tracks(Tensor t) {
        return t != null && (t.requiresGrad() || t.gradFn() != null);
    }

    /** True when grad mode is on and any of the inputs is tracked. */
    public static boolean needed(Tensor... inputs) {
        if (!GradMode.enabled()) {
            return false;
        }
        for (Tensor t : inputs) {
            if (tracks(t)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Records {@code out = op(inputs)} when {@link #needed(Tensor...)}; returns the node or null.
     * {@code saved} are tensors only this backward reads; they are freed right after it runs.
     */
    public static Node record(Tensor out, String op, Tensor[] inputs, Backward backward, Tensor... saved) {
        if (!needed(inputs)) {
            return null;
        }
        boolean[] needs = new boolean[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            needs[i] = tracks(inputs[i]);
        }
        Node n = new Node(op, inputs.clone(), needs, backward);
        n.privateSaved = saved;
        out.setGradFn(n);
        return n;
    }

    /** Whether input {@code i} needs a gradient. */
    public boolean needs(int i) {
        return needs[i];
    }

    public String op() {
        return op;
    }

    void release() {
        if (privateSaved != null) {
            for (Tensor t : privateSaved) {
                if (t != null) {
                    t.close();
                }
            }
            privateSaved = null;
        }
        inputs = null;
        backward = null;
    }

    @Override
    public String toString() {
        return "Node(" + op + ")";
    }
}
