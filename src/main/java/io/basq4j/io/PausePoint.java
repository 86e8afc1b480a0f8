package io.basq4j.io;

/**
 * Named points where a crash test can freeze the process, to kill it exactly there: with
 * {@code -Dbasq4j.pauseAt=NAME:N} the N-th arrival (from 1) at point {@code NAME} prints
 * {@code basq4j: paused at NAME N} on stderr and blocks for good. Without the property a point
 * costs one comparison. The points: {@code iteration} (start of a supernet training iteration),
 * {@code safetensors-write} (halfway through a safetensors file's data, before the rename),
 * {@code atomic-write} (a JSON or other whole-file write, before the rename).
 */
public final class PausePoint {
    private static final String NAME;
    private static final long AT;
    private static long arrivals;

    static {
        String spec = System.getProperty("basq4j.pauseAt");
        String name = null;
        long at = 0;
        if (spec != null && spec.indexOf(':') > 0) {
            name = spec.substring(0, spec.indexOf(':'));
            at = Long.parseLong(spec.substring(spec.indexOf(':') + 1));
        }
        NAME = name;
        AT = at;
    }

    private PausePoint() {
    }

    /** Marks an arrival at point {@code name}; blocks for good at the configured arrival. */
    public static void reach(String name) {
        if (NAME == null || !NAME.equals(name)) {
            return;
        }
        synchronized (PausePoint.class) {
            if (++arrivals != AT) {
                return;
            }
        }
        System.err.println("basq4j: paused at " + name + " " + AT);
        System.err.flush();
        Object never = new Object();
        synchronized (never) {
            while (true) {
                try {
                    never.wait();
                } catch (InterruptedException e) {
                    // stay paused until killed
                }
            }
        }
    }
}
