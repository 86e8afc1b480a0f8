package io.basq4j.testutil;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Runs the basq4j command line in this JVM, capturing what it prints. */
public final class Cli {
    private Cli() {
    }

    /** Exit status, standard output and standard error of one command. */
    public record Result(int rc, String out, String err) {
        /** The lines of standard error that start with "error:". */
        public List<String> errors() {
            return err.lines().filter(l -> l.startsWith("error:")).toList();
        }

        /**
         * The message of a command refused as a user's error: exit status 1 and exactly one
         * "error:" line on standard error (warnings may come before it), shorter than 400
         * characters.
         */
        public String oneError() {
            assertEquals(1, rc, toString());
            List<String> e = errors();
            assertEquals(1, e.size(), toString());
            String line = e.get(0);
            assertTrue(line.length() < 400, line.length() + " characters: " + line);
            return line;
        }

        @Override
        public String toString() {
            return "rc " + rc + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    public static synchronized Result run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = Main.run(args);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        return new Result(rc, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
