package io.basq4j.testutil;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the golden vectors live: ../shared/golden beside the checkout, or -Dbasq4j.golden=DIR. */
public final class Golden {
    private Golden() {
    }

    public static Path dir() {
        return Path.of(System.getProperty("basq4j.golden", "../shared/golden")).toAbsolutePath().normalize();
    }

    /** A golden file; fails the test with a clear message if it is missing. */
    public static Path file(String name) {
        Path p = dir().resolve(name);
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException("golden file " + p + " not found (set -Dbasq4j.golden=DIR)");
        }
        return p;
    }
}
