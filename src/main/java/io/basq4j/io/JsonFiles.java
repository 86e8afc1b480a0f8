package io.basq4j.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** The run directory's JSON files: indented, written whole or not at all. */
public final class JsonFiles {
    /** Indented output; reads what it writes. */
    public static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private JsonFiles() {
    }

    /**
     * Writes {@code value} as JSON to {@code file} through a uniquely named temporary file beside
     * it and an atomic rename ({@link AtomicFiles}), so that a reader never sees a half-written
     * file and a failed write leaves nothing behind.
     *
     * @throws UncheckedIOException naming the file when it cannot be written
     */
    public static void writeAtomically(Path file, Object value) {
        byte[] bytes;
        try {
            bytes = MAPPER.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode " + file + ": " + e.getMessage(), e);
        }
        AtomicFiles.write(file, bytes);
    }
}
