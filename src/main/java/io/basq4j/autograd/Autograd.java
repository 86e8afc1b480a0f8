package io.basq4j.autograd;

import io.basq4j.tensor.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reverse-mode differentiation over the recorded nodes. Gradients of leaves that require one
 * (parameters) accumulate into {@link Tensor#grad()}, a tensor the leaf owns (allocated on first
 * use, outside any scope). Intermediate gradients are freed as soon as they are consumed; the
 * graph is released as it is walked (one backward per graph).
 */
public final class Autograd {
    private Autograd() {
    }

    /** Backward from a one-element tensor with gradient 1. */
    public static void backward(Tensor loss) {
        if (loss.numel() != 1) {
            throw new IllegalArgumentException("backward() needs a one-element tensor, got " + loss.shape());
        }
        Tensor seed = Tensor.empty(loss.shape(), loss.dtype(), loss.device());
        seed.fill(1f);
        backward(loss, seed);
    }

    /** Backward from {@code root} with the given output gradient (which this call consumes). */
    public static void backward(Tensor root, Tensor gradRoot) {
        if (!(root.gradFn() instanceof Node rootNode)) {
            if (root.requiresGrad()) {
                accumulateLeaf(root, gradRoot);
            }
            gradRoot.close();
            return;
        }
        try (GradMode off = GradMode.off()) {
            List<Node> order = topoOrder(rootNode);
            Map<Node, Tensor> grads = new IdentityHashMap<>();
            Map<Tensor, Boolean> placed = new IdentityHashMap<>();
            grads.put(rootNode, gradRoot);
            placed.put(gradRoot, Boolean.TRUE);
            for (int k = order.size() - 1; k >= 0; k--) {
                Node node = order.get(k);
                Tensor g = grads.remove(node);
                if (g == null) {
                    node.release();
                    continue;
                }
                placed.remove(g);
                Tensor[] ins = node.inputs;
                Tensor[] gi = node.backward.apply(g, node);
                for (int i = 0; i < ins.length; i++) {
                    if (!node.needs[i] || gi[i] == null) {
                        continue;
                    }
                    Tensor in = ins[i];
                    if (in.gradFn() instanceof Node producer) {
                        Tensor existing = grads.get(producer);
                        if (existing != null) {
                            existing.backend().axpy(1f, gi[i], existing);
                        } else if (placed.containsKey(gi[i])) {
                            Tensor c = gi[i].duplicate();
                            grads.put(producer, c);
                            placed.put(c, Boolean.TRUE);
                        } else {
                            grads.put(producer, gi[i]);
                            placed.put(gi[i], Boolean.TRUE);
                        }
                    } else if (in.requiresGrad()) {
                        accumulateLeaf(in, gi[i]);
                    }
                }
                // Free what this step no longer needs: the consumed gradient and returned
                // gradients that were folded into other tensors.
                for (Tensor t : gi) {
                    if (t != null && t != g && !placed.containsKey(t)) {
                        t.close();
                    }
                }
                if (!placed.containsKey(g)) {
                    g.close();
                }
                node.release();
            }
            for (Tensor t : grads.values()) {
                t.close();
            }
        }
    }

    private static void accumulateLeaf(Tensor leaf, Tensor g) {
        Tensor acc = leaf.grad();
        if (acc == null || acc.isClosed()) {
            acc = Tensor.empty(leaf.shape(), leaf.dtype(), leaf.device()).detach();
            acc.copyFrom(g);
            leaf.setGrad(acc);
        } else {
            acc.backend().axpy(1f, g, acc);
        }
    }

    /** Nodes reachable from {@code root}, producers before the nodes that consume them, root last. */
    private static List<Node> topoOrder(Node root) {
        List<Node> order = new ArrayList<>();
        Map<Node, Boolean> visited = new IdentityHashMap<>();
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[] {root, 0});
        visited.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Node n = (Node) top[0];
            int i = (Integer) top[1];
            if (i < n.inputs.length) {
                top[1] = i + 1;
                Tensor in = n.inputs[i];
                if (in != null && n.needs[i] && in.gradFn() instanceof Node child && !visited.containsKey(child)) {
                    visited.put(child, Boolean.TRUE);
                    stack.push(new Object[] {child, 0});
                }
            } else {
                stack.pop();
                order.add(n);
            }
        }
        // Post-order: every producer precedes the nodes that consume its output; root last.
        return order;
    }
}
