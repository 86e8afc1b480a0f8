package io.basq4j.train;

import io.basq4j.io.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One run per directory: a lock on {@code <run>/.lock} held for the command's lifetime (an
 * advisory {@link FileLock}, released by the operating system when the process dies, even by
 * {@code kill -9}). The lock file names the holder (pid, host, command, start time), so that a
 * second command on the same directory is refused with one line saying who has it. Taking the
 * lock also removes the temporary files that a killed writer left behind
 * ({@link AtomicFiles#removeOrphans}).
 */
public final class RunDirectory implements AutoCloseable {
    public static final String LOCK_FILE = ".lock";

    /** Another process (or another command in this one) holds the run directory. */
    public static final class BusyException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BusyException(String message) {
            super(message);
        }
    }

    private final Path dir;
    private final FileChannel channel;
    private final FileLock lock;
    private final List<Path> removedOrphans;
    private final Path key;

    /** Run directories (real paths) locked by this process, with their holder line. */
    private static final Map<Path, String> HELD = new ConcurrentHashMap<>();

    private RunDirectory(Path dir, FileChannel channel, FileLock lock, List<Path> removedOrphans, Path key) {
        this.dir = dir;
        this.channel = channel;
        this.lock = lock;
        this.removedOrphans = removedOrphans;
        this.key = key;
    }

    /**
     * Creates {@code dir} if needed and locks it for this process.
     *
     * @param command what holds the lock, as a person would type it (e.g. "basq4j search --run runs/x")
     * @throws BusyException naming the holder when another command holds it
     * @throws UncheckedIOException when the directory or its lock file cannot be created
     */
    public static RunDirectory lock(Path dir, String command) {
        FileChannel ch = null;
        Path key = null;
        String me = "pid " + ProcessHandle.current().pid() + " on " + hostName() + " since "
                + Instant.now().truncatedTo(ChronoUnit.SECONDS) + ": " + oneLine(command);
        try {
            Files.createDirectories(dir);
            key = dir.toRealPath();
            // Within one process the lock file is never opened twice: closing any descriptor of a
            // file drops the process's POSIX lock on it.
            String held = HELD.putIfAbsent(key, me);
            if (held != null) {
                key = null;
                throw busy(dir, held);
            }
            ch = FileChannel.open(dir.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                String holder = holder(ch);
                ch.close();
                ch = null;
                throw busy(dir, holder);
            }
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((me + "\n").getBytes(StandardCharsets.UTF_8)), 0);
            ch.force(false);
            List<Path> removed = new ArrayList<>(AtomicFiles.removeOrphans(dir));
            removed.addAll(AtomicFiles.removeOrphans(dir.resolve("checkpoints")));
            RunDirectory rd = new RunDirectory(dir, ch, l, removed, key);
            key = null;
            return rd;
        } catch (IOException e) {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // already failing
                }
            }
            throw new UncheckedIOException("cannot lock run directory " + dir + ": " + e.getMessage(), e);
        } finally {
            if (key != null) {
                HELD.remove(key);
            }
        }
    }

    private static BusyException busy(Path dir, String holder) {
        return new BusyException("run directory " + dir + " is in use by " + (holder.isEmpty()
                ? "another process" : holder) + "; wait for it to finish, or choose another --run");
    }

    private static String holder(FileChannel ch) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(400);
        int n = Math.max(0, ch.read(b, 0));
        return oneLine(new String(b.array(), 0, n, StandardCharsets.UTF_8));
    }

    private static String oneLine(String s) {
        String t = s.replaceAll("\\s+", " ").trim();
        return t.length() <= 300 ? t : t.substring(0, 297) + "...";
    }

    private static String hostName() {
        try {
            String h = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
            if (!h.isEmpty()) {
                return h;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: fall through
        }
        String env = System.getenv("HOSTNAME");
        return env != null && !env.isBlank() ? env.trim() : "this host";
    }

    public Path path() {
        return dir;
    }

    /** Temporary files of interrupted writes that taking the lock removed. */
    public List<Path> removedOrphans() {
        return removedOrphans;
    }

    /** Empties the lock file and releases the lock. */
    @Override
    public void close() {
        try {
            if (channel.isOpen()) {
                channel.truncate(0);
                lock.release();
                channel.close();
                HELD.remove(key);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot release run directory " + dir + ": " + e.getMessage(), e);
        }
    }
}
