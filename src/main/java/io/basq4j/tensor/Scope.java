package io.basq4j.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Deterministic release of native memory: every tensor created while a scope is open on the
 * current thread belongs to the innermost scope and is closed when the scope closes, unless it
 * was handed out with {@link #keep(Tensor)} (to the enclosing scope) or {@link Tensor#detach()}
 * (to nobody: the caller closes it). Tensors created with no scope open belong to the caller.
 *
 * <pre>{@code
 * try (Scope step = Scope.open()) {
 *     Tensor loss = model.forward(x) ...;   // intermediates
 *     loss.backward();
 * }                                          // all intermediates freed here
 * }</pre>
 */
public final class Scope implements AutoCloseable {
    private static final ThreadLocal<ArrayDeque<Scope>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private final List<Tensor> owned = new ArrayList<>();
    private final Thread thread = Thread.currentThread();
    private boolean closed;

    private Scope() {
    }

    /** Opens a scope on the current thread. */
    public static Scope open() {
        Scope s = new Scope();
        STACK.get().push(s);
        return s;
    }

    /** The innermost open scope of this thread, or null. */
    static Scope current() {
        ArrayDeque<Scope> st = STACK.get();
        return st.isEmpty() ? null : st.peek();
    }

    void add(Tensor t) {
        owned.add(t);
    }

    /**
     * Moves {@code t} out of this scope into the enclosing one (or to the caller when there is
     * none), so that it survives this scope's close. Returns {@code t}.
     */
    public Tensor keep(Tensor t) {
        if (!owned.remove(t)) {
            throw new IllegalArgumentException("tensor is not owned by this scope");
        }
        ArrayDeque<Scope> st = STACK.get();
        Scope parent = null;
        boolean seen = false;
        for (Scope s : st) {
            if (seen) {
                parent = s;
                break;
            }
            seen = s == this;
        }
        if (parent != null) {
            parent.owned.add(t);
        }
        t.owner = parent;
        return t;
    }

    boolean remove(Tensor t) {
        return owned.remove(t);
    }

    public int size() {
        return owned.size();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (Thread.currentThread() != thread) {
            throw new IllegalStateException("a scope must be closed on the thread that opened it");
        }
        ArrayDeque<Scope> st = STACK.get();
        if (st.peek() != this) {
            throw new IllegalStateException("scopes must be closed innermost first");
        }
        st.pop();
        closed = true;
        for (int i = owned.size() - 1; i >= 0; i--) {
            Tensor t = owned.get(i);
            t.owner = null;
            t.close();
        }
        owned.clear();
    }
}
