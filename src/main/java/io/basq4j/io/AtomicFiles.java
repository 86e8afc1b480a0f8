package io.basq4j.io;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Whole-or-nothing file writes: the content goes to a temporary file beside the target, named
 * {@code .<name>.<random hex>.tmp} (unique, so that two writers never share one), is flushed to
 * disk, and is renamed over the target. A failed write (a full disk) removes its temporary file;
 * a killed process leaves one behind, which {@link #removeOrphans} deletes on the next start.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /** What writes the content; may throw. */
    @FunctionalInterface
    public interface Writer {
        void write(OutputStream out) throws IOException;
    }

    /** A fresh temporary name beside {@code file}: {@code .<name>.<16 hex digits>.tmp}. */
    public static Path tempSibling(Path file) {
        Path abs = file.toAbsolutePath();
        return abs.resolveSibling("." + abs.getFileName() + "."
                + String.format("%016x", ThreadLocalRandom.current().nextLong()) + ".tmp");
    }

    /** Whether {@code name} is a temporary name of {@link #tempSibling}. */
    public static boolean isTempName(String name) {
        return name.startsWith(".") && name.endsWith(".tmp") && name.matches("\\..+\\.[0-9a-f]{16}\\.tmp");
    }

    /** What writes the content through the temporary file's channel; may throw. */
    @FunctionalInterface
    public interface ChannelWriter {
        void write(FileChannel ch) throws IOException;
    }

    /**
     * Writes {@code file} whole or not at all: {@code content} writes a fresh temporary sibling,
     * which is forced to disk and renamed over {@code file}; on failure the temporary file is
     * removed. The primitive under {@link #write(Path, Writer)} and {@link SafeTensors#write}.
     *
     * @throws IOException what the writer or the file system threw
     */
    public static void writeChannel(Path file, ChannelWriter content) throws IOException {
        // not Files.createTempFile: that creates mode 0600, the result should get the usual umask mode
        Path tmp = tempSibling(file);
        boolean moved = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                content.write(ch);
                ch.force(true);
            }
            move(tmp, file);
            moved = true;
        } finally {
            if (!moved) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the next start removes it
                }
            }
        }
    }

    /**
     * Writes {@code file} whole or not at all.
     *
     * @throws UncheckedIOException naming the file when it cannot be written (the temporary
     *     file is removed)
     */
    public static void write(Path file, Writer content) {
        try {
            writeChannel(file, ch -> {
                OutputStream out = Channels.newOutputStream(ch);
                content.write(out);
                out.flush();
                PausePoint.reach("atomic-write");
            });
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes {@code bytes} to {@code file} whole or not at all. */
    public static void write(Path file, byte[] bytes) {
        write(file, out -> out.write(bytes));
    }

    /** Renames {@code tmp} over {@code target}, atomically where the file system can. */
    static void move(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target.toAbsolutePath(), StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target.toAbsolutePath(), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * Deletes the temporary files that killed writers left in {@code dir} (not recursively);
     * call it only while no other writer can be active there (under the run directory's lock).
     *
     * @return the files deleted
     */
    public static List<Path> removeOrphans(Path dir) {
        List<Path> removed = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return removed;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, p -> isTempName(p.getFileName().toString()))) {
            for (Path p : ds) {
                if (Files.isRegularFile(p) && Files.deleteIfExists(p)) {
                    removed.add(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot clean up " + dir + ": " + e.getMessage(), e);
        }
        return removed;
    }
}
