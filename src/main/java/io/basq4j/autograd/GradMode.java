package io.basq4j.autograd;

/**
 * Whether operations record the autograd tape on this thread. Off inside
 * {@code try (var ng = GradMode.off()) { ... }} (evaluation, initialization, optimizer steps).
 */
public final class GradMode implements AutoCloseable {
    private static final ThreadLocal<boolean[]> ENABLED = ThreadLocal.withInitial(() -> new boolean[] {true});
    private final boolean previous;

    private GradMode(boolean enabled) {
        boolean[] e = ENABLED.get();
        previous = e[0];
        e[0] = enabled;
    }

    /** Turns recording off until the returned object is closed. */
    public static GradMode off() {
        return new GradMode(false);
    }

    /** Turns recording on until the returned object is closed. */
    public static GradMode on() {
        return new GradMode(true);
    }

    public static boolean enabled() {
        return ENABLED.get()[0];
    }

    @Override
    public void close() {
        ENABLED.get()[0] = previous;
    }
}
