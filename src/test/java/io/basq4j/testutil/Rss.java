package io.basq4j.testutil;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The resident set of this process, for the tests that check a long run does not grow. */
public final class Rss {
    private Rss() {
    }

    /** Resident bytes of this process now (Linux: /proc/self/statm, 4 KiB pages). */
    public static long bytes() {
        try {
            String[] f = Files.readString(Path.of("/proc/self/statm")).trim().split("\\s+");
            return Long.parseLong(f[1]) * 4096;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
