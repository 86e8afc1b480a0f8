package io.basq4j;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The basq4j version, as the build recorded it ({@code version.properties}). */
public final class Version {
    private static final String VERSION = read();

    private Version() {
    }

    /** For example {@code 0.1.0-SNAPSHOT}; "unknown" when the resource is missing. */
    public static String get() {
        return VERSION;
    }

    private static String read() {
        try (InputStream in = Version.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version", "unknown");
            return v.startsWith("${") ? "unknown" : v;
        } catch (IOException e) {
            return "unknown";
        }
    }
}
