package io.basq4j.train;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;

/** Lines a person can read, on the console and appended to the run's log file. */
public final class RunLog implements AutoCloseable {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss");
    private final PrintStream out;
    private final PrintStream file;
    private final java.util.List<AutoCloseable> alsoClose = new java.util.ArrayList<>();

    public RunLog(PrintStream out, Path logFile) {
        this.out = out;
        try {
            if (logFile != null) {
                Files.createDirectories(logFile.toAbsolutePath().getParent());
                this.file = new PrintStream(Files.newOutputStream(logFile, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND), true, StandardCharsets.UTF_8);
            } else {
                this.file = null;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open log file " + logFile + ": " + e.getMessage(), e);
        }
    }

    /** A log that only prints. */
    public static RunLog console(PrintStream out) {
        return new RunLog(out, null);
    }

    public synchronized void info(String fmt, Object... args) {
        String line = "[" + LocalTime.now().format(TIME) + "] " + (args.length == 0 ? fmt : String.format(fmt, args));
        out.println(line);
        out.flush();
        if (file != null) {
            file.println(line);
        }
    }

    /** Prints a line without the time stamp (result blocks). */
    public synchronized void plain(String line) {
        out.println(line);
        out.flush();
        if (file != null) {
            file.println(line);
        }
    }

    /** "1h02m", "3m05s", "12s". */
    public static String duration(double seconds) {
        long s = Math.max(0, Math.round(seconds));
        if (s >= 3600) {
            return String.format("%dh%02dm", s / 3600, (s % 3600) / 60);
        }
        if (s >= 60) {
            return String.format("%dm%02ds", s / 60, s % 60);
        }
        return s + "s";
    }

    /** Closes {@code r} (e.g. the run directory's lock) when this log is closed, after the log file. */
    public RunLog closeAlso(AutoCloseable r) {
        alsoClose.add(r);
        return this;
    }

    @Override
    public void close() {
        if (file != null) {
            file.close();
        }
        for (AutoCloseable r : alsoClose) {
            try {
                r.close();
            } catch (Exception e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        }
    }
}
