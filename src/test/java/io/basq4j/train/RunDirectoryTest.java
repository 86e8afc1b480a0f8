package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.io.AtomicFiles;
import io.basq4j.io.JsonFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One run per directory: the lock, its holder line, temporary files with unique names and their cleanup. */
class RunDirectoryTest {
    @TempDir
    Path tmp;

    @Test
    void aSecondHolderIsRefusedWithOneLineNamingTheFirst() throws Exception {
        Path dir = tmp.resolve("run");
        try (RunDirectory a = RunDirectory.lock(dir, "basq4j train-supernet --run run")) {
            String held = Files.readString(dir.resolve(RunDirectory.LOCK_FILE));
            assertTrue(held.startsWith("pid " + ProcessHandle.current().pid() + " on "), held);
            RunDirectory.BusyException e = assertThrows(RunDirectory.BusyException.class,
                    () -> RunDirectory.lock(dir, "basq4j search --run run"));
            String m = e.getMessage();
            assertTrue(m.startsWith("run directory " + dir + " is in use by pid " + ProcessHandle.current().pid()
                    + " on "), m);
            assertTrue(m.contains(" since ") && m.contains(": basq4j train-supernet --run run;"), m);
            assertFalse(m.contains("\n"), m);
        }
        // released: the next command gets it, and the lock file holds no stale holder
        assertEquals("", Files.readString(dir.resolve(RunDirectory.LOCK_FILE)));
        try (RunDirectory b = RunDirectory.lock(dir, "basq4j search --run run")) {
            assertTrue(Files.readString(dir.resolve(RunDirectory.LOCK_FILE)).contains("basq4j search"));
        }
    }

    @Test
    void takingTheLockRemovesTheTemporaryFilesOfKilledWriters() throws Exception {
        Path dir = tmp.resolve("run");
        Files.createDirectories(dir.resolve("checkpoints"));
        Path a = Files.writeString(dir.resolve(".config.json.0123456789abcdef.tmp"), "");
        Path b = Files.writeString(dir.resolve("checkpoints/.supernet-last.safetensors.fedcba9876543210.tmp"), "x");
        Path keep1 = Files.writeString(dir.resolve("notes.tmp"), "mine");
        Path keep2 = Files.writeString(dir.resolve(".hidden.tmp"), "mine");
        try (RunDirectory r = RunDirectory.lock(dir, "test")) {
            assertEquals(2, r.removedOrphans().size());
        }
        assertFalse(Files.exists(a) || Files.exists(b));
        assertTrue(Files.exists(keep1) && Files.exists(keep2));
    }

    @Test
    void aFailedWriteLeavesNeitherATemporaryFileNorAChangedTarget() throws Exception {
        Path f = tmp.resolve("config.json");
        Files.writeString(f, "{\"old\": 1}");
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> AtomicFiles.write(f, out -> {
            out.write("{\"new\"".getBytes());
            throw new IOException("No space left on device");
        }));
        assertTrue(e.getMessage().contains("cannot write " + f + ": No space left on device"), e.getMessage());
        assertEquals("{\"old\": 1}", Files.readString(f));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(f), s.toList());
        }
    }

    @Test
    void concurrentWritersOfOneFileNeverShareATemporaryFile() throws Exception {
        Path f = tmp.resolve("results.json");
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int id = t;
                fs.add(pool.submit(() -> {
                    for (int i = 0; i < 50; i++) {
                        JsonFiles.writeAtomically(f, Map.of("writer", id, "i", i));
                    }
                }));
            }
            for (Future<?> x : fs) {
                x.get(); // a shared temporary name would fail here (a rename of a vanished file)
            }
        } finally {
            pool.shutdown();
        }
        Map<?, ?> last = JsonFiles.MAPPER.readValue(f.toFile(), Map.class);
        assertEquals(49, last.get("i"));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(f), s.toList());
        }
    }
}
