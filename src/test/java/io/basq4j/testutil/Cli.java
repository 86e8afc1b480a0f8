package io.basq4j.testutil;

import io.basq4j.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Runs the basq4j command line in this JVM, capturing what it prints. */
public final class Cli {
    private Cli() {
    }

    /** Exit status, standard output and standard error of one command. */
    public record Result(int rc, String out, String err) {
        /** The lines of standard error that start with "error:". */
        public java.util.List<String> errors() {
            return err.lines().filter(l -> l.startsWith("error:")).toList();
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
