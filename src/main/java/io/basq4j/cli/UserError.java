package io.basq4j.cli;

/**
 * An error the user can fix (a missing file, an invalid option value): printed as one line,
 * without a stack trace.
 */
public class UserError extends RuntimeException {
    private final int exitCode;

    public UserError(String message) {
        this(message, 1);
    }

    public UserError(String message, int exitCode) {
        super(message);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }

    /** The one-line message for any exception: its own message, or its type and cause. */
    static String message(Throwable t) {
        if (t instanceof UserError) {
            return t.getMessage();
        }
        Throwable root = t;
        while (root.getCause() != null && root.getMessage() == null) {
            root = root.getCause();
        }
        String m = root.getMessage();
        return m == null ? root.getClass().getSimpleName() : m;
    }
}
