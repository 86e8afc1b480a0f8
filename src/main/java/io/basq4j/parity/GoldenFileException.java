package io.basq4j.parity;

/**
 * A golden model file (or the checkpoint or output path given with it) that cannot be used:
 * missing, unreadable, not in the format, or describing a model that cannot be built. The
 * message names the file and what is wrong, in one line.
 */
public final class GoldenFileException extends RuntimeException {
    public GoldenFileException(String message) {
        super(message);
    }
}
