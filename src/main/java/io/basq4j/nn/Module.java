package io.basq4j.nn;

import io.basq4j.io.TensorData;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.bytedeco.javacpp.LongPointer;

/**
 * Base of the layers and models: named children, parameters and buffers, addressed by dotted
 * names in registration order exactly as PyTorch's {@code state_dict} does (a module's own
 * parameters, then its own buffers, then each child's entries under {@code child.}), so that a
 * state written by the reference implementation loads by name.
 *
 * <p>Memory: parameters and buffers are owned by the module (created outside any scope, or
 * detached on registration) and freed by {@link #close()}, which also frees their gradients and
 * closes every child. Forward passes allocate their intermediates in the caller's
 * {@link io.basq4j.tensor.Scope}.
 */
public abstract class Module implements AutoCloseable {
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;
    private boolean closed;

    // ------------------------------------------------------------------ registration

    private void checkName(String name) {
        if (name == null || name.isEmpty() || name.indexOf('.') >= 0) {
            throw new IllegalArgumentException("invalid member name '" + name + "' (non-empty, no dots)");
        }
        if (params.containsKey(name) || buffers.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " already has a member '" + name + "'");
        }
    }

    /** Registers a child module under {@code name}; returns it. */
    protected final <M extends Module> M register(String name, M child) {
        checkName(name);
        children.put(name, child);
        return child;
    }

    /**
     * Registers a parameter in the given group. The tensor is taken out of any scope: the module
     * owns it from now on.
     */
    protected final Parameter parameter(String name, Tensor t, Parameter.Group group) {
        checkName(name);
        Parameter p = new Parameter(t.detach(), group, -1);
        t.setName(name);
        params.put(name, p);
        return p;
    }

    /** Registers a parameter: group {@link Parameter.Group#BIAS} when the name contains "bias", else OTHER. */
    protected final Parameter parameter(String name, Tensor t) {
        return parameter(name, t, name.contains("bias") ? Parameter.Group.BIAS : Parameter.Group.OTHER);
    }

    /** Registers the clip bound of branch {@code branch} (group {@link Parameter.Group#CLIP_BOUND}). */
    protected final Parameter clipBound(String name, Tensor t, int branch) {
        checkName(name);
        Parameter p = new Parameter(t.detach(), Parameter.Group.CLIP_BOUND, branch);
        t.setName(name);
        params.put(name, p);
        return p;
    }

    /** Registers a buffer (state that is saved and loaded but not learned). */
    protected final Tensor buffer(String name, Tensor t) {
        checkName(name);
        buffers.put(name, t.detach().setName(name));
        return t;
    }

    // ------------------------------------------------------------------ structure

    /** Direct children by name, in registration order (unmodifiable). */
    public final Map<String, Module> children() {
        return Collections.unmodifiableMap(children);
    }

    /** The direct child {@code name} (null if none). */
    public final Module child(String name) {
        return children.get(name);
    }

    /** This module and all its descendants, depth first, parents before children. */
    public final List<Module> modules() {
        List<Module> out = new ArrayList<>();
        collectModules(out);
        return out;
    }

    private void collectModules(List<Module> out) {
        out.add(this);
        for (Module c : children.values()) {
            c.collectModules(out);
        }
    }

    /** All modules of a type in this tree (depth first). */
    public final <T> List<T> modules(Class<T> type) {
        List<T> out = new ArrayList<>();
        for (Module m : modules()) {
            if (type.isInstance(m)) {
                out.add(type.cast(m));
            }
        }
        return out;
    }

    /** Every parameter by dotted name (own first, then each child's), frozen ones included. */
    public final Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collectParams("", out);
        return out;
    }

    private void collectParams(String prefix, Map<String, Parameter> out) {
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            out.put(prefix + e.getKey(), e.getValue());
        }
        for (Map.Entry<String, Module> e : children.entrySet()) {
            e.getValue().collectParams(prefix + e.getKey() + ".", out);
        }
    }

    /** Every parameter (frozen ones included), in {@link #namedParameters()} order. */
    public final List<Parameter> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** Every buffer by dotted name. */
    public final Map<String, Tensor> namedBuffers() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collectBuffers("", out);
        return out;
    }

    private void collectBuffers(String prefix, Map<String, Tensor> out) {
        syncState();
        for (Map.Entry<String, Tensor> e : buffers.entrySet()) {
            out.put(prefix + e.getKey(), e.getValue());
        }
        for (Map.Entry<String, Module> e : children.entrySet()) {
            e.getValue().collectBuffers(prefix + e.getKey() + ".", out);
        }
    }

    /** Number of parameter elements, frozen ones excluded. */
    public final long parameterCount() {
        long n = 0;
        for (Parameter p : namedParameters().values()) {
            if (p.trainable()) {
                n += p.tensor().numel();
            }
        }
        return n;
    }

    // ------------------------------------------------------------------ state

    /**
     * The live state tensors (parameters and buffers) by dotted name, in PyTorch
     * {@code state_dict} order. These are the module's own tensors, not copies.
     */
    public final Map<String, Tensor> stateTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collectState("", out);
        return out;
    }

    private void collectState(String prefix, Map<String, Tensor> out) {
        syncState();
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            out.put(prefix + e.getKey(), e.getValue().tensor());
        }
        for (Map.Entry<String, Tensor> e : buffers.entrySet()) {
            out.put(prefix + e.getKey(), e.getValue());
        }
        for (Map.Entry<String, Module> e : children.entrySet()) {
            e.getValue().collectState(prefix + e.getKey() + ".", out);
        }
    }

    /** A host copy of the whole state, by dotted name in {@code state_dict} order. */
    public final Map<String, TensorData> stateDict() {
        Map<String, TensorData> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : stateTensors().entrySet()) {
            out.put(e.getKey(), toData(e.getValue()));
        }
        return out;
    }

    /** A host copy of one tensor. */
    public static TensorData toData(Tensor t) {
        int[] dims = t.shape().dims();
        return t.dtype() == DType.I64 ? TensorData.ofLong(dims, t.toLongArray())
                : TensorData.ofFloat(dims, t.toFloatArray());
    }

    /**
     * Copies a state into this module's tensors, matched by name. The state must hold exactly the
     * module's names with the same shapes and element types (a one-element tensor may be stored
     * with shape [] or [1]); otherwise nothing is copied and a {@link StateDictException} lists
     * every missing, unexpected and mis-shaped tensor.
     */
    public final void loadStateDict(Map<String, TensorData> state) {
        Map<String, Tensor> mine = stateTensors();
        List<String> missing = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : mine.entrySet()) {
            TensorData d = state.get(e.getKey());
            Tensor t = e.getValue();
            if (d == null) {
                missing.add(e.getKey() + " " + describe(t));
            } else if (!fits(t, d)) {
                misShaped.add(e.getKey() + " (model " + describe(t) + ", state " + describe(d) + ")");
            }
        }
        Set<String> extra = new LinkedHashSet<>(state.keySet());
        extra.removeAll(mine.keySet());
        for (String name : extra) {
            unexpected.add(name + " " + describe(state.get(name)));
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !misShaped.isEmpty()) {
            StringBuilder sb = new StringBuilder("state does not match " + getClass().getSimpleName() + ":");
            appendList(sb, "missing", missing);
            appendList(sb, "unexpected", unexpected);
            appendList(sb, "mis-shaped", misShaped);
            throw new StateDictException(sb.toString(), missing, unexpected, misShaped);
        }
        for (Map.Entry<String, Tensor> e : mine.entrySet()) {
            copyInto(e.getValue(), state.get(e.getKey()));
        }
        for (Module m : modules()) {
            m.stateLoaded();
        }
    }

    private static void appendList(StringBuilder sb, String what, List<String> items) {
        if (!items.isEmpty()) {
            sb.append(' ').append(items.size()).append(' ').append(what).append(": ")
                    .append(String.join(", ", items)).append(';');
        }
    }

    private static String describe(Tensor t) {
        return (t.dtype() == DType.I64 ? "I64" : "F32") + Arrays.toString(t.shape().dims());
    }

    private static String describe(TensorData d) {
        return d.dtype() + d.shapeString();
    }

    private static boolean fits(Tensor t, TensorData d) {
        boolean typeOk = (t.dtype() == DType.F32 && d.dtype() == TensorData.DType.F32)
                || (t.dtype() == DType.I64 && d.dtype() == TensorData.DType.I64);
        if (!typeOk) {
            return false;
        }
        if (Arrays.equals(t.shape().dims(), d.shape())) {
            return true;
        }
        // A scalar saved as a 0-d tensor and held as [1] (or the reverse).
        return t.numel() == 1 && d.numel() == 1 && t.rank() <= 1 && d.rank() <= 1;
    }

    private static void copyInto(Tensor t, TensorData d) {
        if (t.dtype() == DType.I64) {
            try (LongPointer p = new LongPointer(d.i64())) {
                t.backend().fromHost(p, t, t.bytes());
            }
        } else {
            t.copyFrom(d.f32());
        }
    }

    /** Called on every module after {@link #loadStateDict(Map)} copied the tensors. */
    protected void stateLoaded() {
    }

    /**
     * Called before this module's buffers are handed out ({@link #stateTensors()},
     * {@link #namedBuffers()}, {@link #stateDict()}): a module that keeps part of its state on
     * the host (a counter) writes it into its buffer here.
     */
    protected void syncState() {
    }

    // ------------------------------------------------------------------ mode, gradients, lifetime

    /** Training mode (batch statistics, dropout on) for this module and all descendants. */
    public Module train() {
        return train(true);
    }

    /** Evaluation mode (running statistics, no dropout) for this module and all descendants. */
    public Module eval() {
        return train(false);
    }

    public Module train(boolean on) {
        for (Module m : modules()) {
            m.training = on;
        }
        return this;
    }

    public final boolean isTraining() {
        return training;
    }

    /** Frees every parameter's gradient (the next backward allocates fresh ones). */
    public final void clearGrads() {
        for (Parameter p : namedParameters().values()) {
            Tensor g = p.tensor().grad();
            if (g != null) {
                g.close();
                p.tensor().setGrad(null);
            }
        }
    }

    public final boolean isClosed() {
        return closed;
    }

    /** Frees the parameters (with their gradients), the buffers and every child. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Parameter p : params.values()) {
            p.tensor().close();
        }
        for (Tensor b : buffers.values()) {
            b.close();
        }
        for (Module c : children.values()) {
            c.close();
        }
    }

    @Override
    public String toString() {
        return getClass().getSimpleName();
    }
}
