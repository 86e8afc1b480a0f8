package io.basq4j.data;

/**
 * A data set that cannot be read: a missing directory or file, a corrupt file (bad magic number,
 * truncated), an unreadable image in strict mode. The message names the offending path and, where
 * there is one, what to do about it.
 */
public class DataException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
