package io.basq4j.io;

import java.nio.file.Path;

/**
 * A checkpoint file is malformed or does not hold what was asked for. The message always names
 * the file and says what is wrong.
 */
public class CheckpointFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;

    /** A problem with {@code file}; the message is {@code "<file>: <problem>"}. */
    public CheckpointFormatException(Path file, String problem) {
        super(file + ": " + problem);
        this.file = file;
    }

    /** A problem with {@code file} caused by {@code cause}. */
    public CheckpointFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /** The offending file. */
    public Path file() {
        return file;
    }
}
