package io.basq4j.train;

import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Base of the optimizers: parameter groups, per-parameter state tensors (owned here, freed by
 * {@link #close()}), and a per-parameter step count. As in torch.optim, a parameter whose
 * gradient was never created is skipped (no state, no step); once it has a gradient tensor
 * it is stepped every time, a zero gradient included ({@link #zeroGrad()} fills with zeros).
 */
public abstract class Optimizer implements AutoCloseable {
    protected final List<ParamGroup> groups;
    private final Map<Tensor, long[]> steps = new IdentityHashMap<>();
    private final Map<Tensor, Tensor[]> state = new IdentityHashMap<>();

    protected Optimizer(List<ParamGroup> groups) {
        this.groups = List.copyOf(groups);
        Map<Tensor, String> seen = new IdentityHashMap<>();
        for (ParamGroup g : groups) {
            for (int i = 0; i < g.params().size(); i++) {
                String prev = seen.put(g.params().get(i), g.names().get(i));
                if (prev != null) {
                    throw new IllegalArgumentException("parameter " + prev + " is in two groups");
                }
            }
        }
    }

    public List<ParamGroup> groups() {
        return groups;
    }

    /** Number of state tensors per parameter (Adam: 2, SGD: 1). */
    protected abstract int stateSlots();

    protected abstract String[] stateNames();

    /** Updates one parameter with its gradient, state, step number (1-based) and rate. */
    protected abstract void update(Tensor p, Tensor grad, Tensor[] st, long step, double lr, double weightDecay);

    /** One step of every parameter that has a gradient, at rate {@code lr} times the group factor. */
    public void step(double lr) {
        for (ParamGroup g : groups) {
            for (Tensor p : g.params()) {
                Tensor grad = p.grad();
                if (grad == null) {
                    continue;
                }
                Tensor[] st = state.computeIfAbsent(p, k -> newState(k));
                long[] n = steps.computeIfAbsent(p, k -> new long[1]);
                n[0]++;
                update(p, grad, st, n[0], lr * g.lrFactor(), g.weightDecay());
            }
        }
    }

    private Tensor[] newState(Tensor p) {
        Tensor[] st = new Tensor[stateSlots()];
        for (int i = 0; i < st.length; i++) {
            st[i] = Tensor.zeros(p.device(), p.shape().dims()).detach();
        }
        return st;
    }

    /** Fills every gradient with zeros (keeping the tensors, as torch's zero_grad(set_to_none=False)). */
    public void zeroGrad() {
        for (ParamGroup g : groups) {
            for (Tensor p : g.params()) {
                if (p.grad() != null) {
                    p.grad().fill(0f);
                }
            }
        }
    }

    /**
     * The optimizer state by name: {@code <param>.<slot>} tensors (views of the live state) and
     * {@code <param>.step} counts. For checkpoints.
     */
    public Map<String, Tensor> stateTensors() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (ParamGroup g : groups) {
            for (int i = 0; i < g.params().size(); i++) {
                Tensor[] st = state.get(g.params().get(i));
                if (st != null) {
                    for (int s = 0; s < st.length; s++) {
                        out.put(g.names().get(i) + "." + stateNames()[s], st[s]);
                    }
                }
            }
        }
        return out;
    }

    public Map<String, Long> stepCounts() {
        Map<String, Long> out = new LinkedHashMap<>();
        for (ParamGroup g : groups) {
            for (int i = 0; i < g.params().size(); i++) {
                long[] n = steps.get(g.params().get(i));
                if (n != null) {
                    out.put(g.names().get(i), n[0]);
                }
            }
        }
        return out;
    }

    /** Restores state written by {@link #stateTensors()} and {@link #stepCounts()}. */
    public void loadState(Map<String, float[]> tensors, Map<String, Long> stepCounts) {
        List<String> problems = new ArrayList<>();
        for (ParamGroup g : groups) {
            for (int i = 0; i < g.params().size(); i++) {
                String name = g.names().get(i);
                Long n = stepCounts.get(name);
                if (n == null) {
                    continue;
                }
                Tensor p = g.params().get(i);
                Tensor[] st = state.computeIfAbsent(p, this::newState);
                for (int s = 0; s < st.length; s++) {
                    float[] v = tensors.get(name + "." + stateNames()[s]);
                    if (v == null || v.length != st[s].numel()) {
                        problems.add(name + "." + stateNames()[s]);
                    } else {
                        st[s].copyFrom(v);
                    }
                }
                steps.computeIfAbsent(p, k -> new long[1])[0] = n;
                if (p.grad() == null) {
                    // It had a gradient tensor when saved (it was stepped), so it is stepped from now on.
                    p.setGrad(io.basq4j.tensor.Tensor.zeros(p.device(), p.shape().dims()).detach());
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("optimizer state missing or mis-shaped: " + problems);
        }
    }

    @Override
    public void close() {
        for (Tensor[] st : state.values()) {
            for (Tensor t : st) {
                t.close();
            }
        }
        state.clear();
        steps.clear();
    }
}
