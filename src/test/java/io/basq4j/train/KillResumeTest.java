package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.basq4j.io.AtomicFiles;
import io.basq4j.testutil.Dirs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Supernet training killed with SIGKILL at several points (between checkpoints, in the middle of
 * checkpoint writes, in the middle of the config.json write, during the final supernet write),
 * resumed each time, ends with every file of its run directory byte-identical to an
 * uninterrupted run's (log.txt aside: it holds times); the temporary files of the killed writes
 * are gone, and while one process holds the directory a second one is refused. The training runs
 * in child JVMs ({@code java -cp <test class path> io.basq4j.cli.Main}), frozen at a named
 * {@link io.basq4j.io.PausePoint} and killed there.
 */
class KillResumeTest {
    @TempDir
    Path tmp;

    /** 2 x 6 iterations; checkpoints every 2 and curve lines every 4, so resumes fall between curve lines. */
    private static final List<String> SETTINGS = List.of("--preset", "smoke", "--iters", "6", "--batch", "16",
            "--checkpoint-every", "2", "--log-every", "4");

    private Process start(Path run, String pauseAt, Path out, String... extra) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx512m");
        String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
        if (cache != null) {
            cmd.add("-Dorg.bytedeco.javacpp.cachedir=" + cache);
        }
        if (pauseAt != null) {
            cmd.add("-Dbasq4j.pauseAt=" + pauseAt);
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
        cmd.add("io.basq4j.cli.Main");
        cmd.add("train-supernet");
        cmd.add("--run");
        cmd.add(run.toString());
        cmd.addAll(SETTINGS);
        cmd.addAll(List.of(extra));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
    }

    private static int finish(Process p) throws Exception {
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "the child ends");
        return p.exitValue();
    }

    private static List<Path> temporaryFiles(Path run) throws IOException {
        try (Stream<Path> s = Files.walk(run)) {
            return s.filter(p -> AtomicFiles.isTempName(p.getFileName().toString())).toList();
        }
    }

    @Test
    void killedAndResumedTrainingEqualsAnUninterruptedRunByteForByte() throws Exception {
        // the uninterrupted run, in a child JVM as well (same threads, same everything)
        Path ref = tmp.resolve("ref");
        Path refOut = tmp.resolve("ref.txt");
        assertEquals(0, finish(start(ref, null, refOut)), Files.readString(refOut));

        Path run = tmp.resolve("run");
        Path log = tmp.resolve("child.txt");
        // 1: killed at the start of iteration 4 of phase a (the checkpoint of iteration 2 holds half a curve window)
        Process first = start(run, "iteration:4", log);
        killWhenPaused(first, log, "iteration 4", () -> {
            // while it holds the directory, a second process is refused, naming it
            Path other = tmp.resolve("other.txt");
            Process q = start(run, null, other, "--resume");
            int rc = finish(q);
            String said = Files.readString(other);
            assertEquals(1, rc, said);
            assertTrue(said.contains("error: run directory " + run + " is in use by pid " + first.pid() + " on "), said);
            assertTrue(said.contains("basq4j train-supernet --run " + run), said);
        });
        // 2: killed in the middle of writing the checkpoint at the end of phase a
        Process p = start(run, "safetensors-write:2", log, "--resume");
        killWhenPaused(p, log, "safetensors-write 2", null);
        assertEquals(1, temporaryFiles(run.resolve("checkpoints")).size(), "a half-written checkpoint");
        // 3: killed in the middle of writing config.json
        p = start(run, "atomic-write:1", log, "--resume");
        killWhenPaused(p, log, "atomic-write 1", null);
        List<Path> tmps = temporaryFiles(run);
        assertEquals(1, tmps.size(), tmps.toString());
        assertTrue(tmps.get(0).getFileName().toString().startsWith(".config.json."), tmps.toString());
        // 4: killed at iteration 3 of phase b (after the checkpoint of iteration 2)
        p = start(run, "iteration:5", log, "--resume");
        killWhenPaused(p, log, "iteration 5", null);
        assertTrue(temporaryFiles(run).isEmpty(), "the next start removed the temporary files");
        assertTrue(Files.readString(run.resolve("log.txt")).contains("removed 1 temporary files of interrupted writes"));
        // 5: killed in the middle of writing supernet.safetensors, after the last checkpoint
        p = start(run, "safetensors-write:3", log, "--resume");
        killWhenPaused(p, log, "safetensors-write 3", null);
        assertFalse(Files.exists(run.resolve(SupernetTraining.FINAL)));
        // 6: to the end
        p = start(run, null, log, "--resume");
        assertEquals(0, finish(p), Files.readString(log));

        Map<String, byte[]> a = Dirs.snapshot(ref);
        Map<String, byte[]> b = Dirs.snapshot(run);
        a.remove("log.txt");
        b.remove("log.txt");
        assertEquals(a.keySet(), b.keySet());
        for (String f : List.of(SupernetTraining.FINAL, SupernetTraining.LAST, "train-curve.tsv", "config.json",
                RunDirectory.LOCK_FILE)) {
            assertTrue(a.containsKey(f), f);
        }
        for (String f : a.keySet()) {
            assertArrayEquals(a.get(f), b.get(f), f + " differs from the uninterrupted run's");
        }
        assertEquals(4, new String(a.get("train-curve.tsv")).lines().count());
    }

    private interface Check {
        void run() throws Exception;
    }

    /** Waits until the child says it is paused at {@code point}, runs {@code whilePaused}, then kills it with SIGKILL. */
    private void killWhenPaused(Process p, Path out, String point, Check whilePaused) throws Exception {
        String marker = "basq4j: paused at " + point;
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
        while (!Files.readString(out).contains(marker)) {
            if (!p.isAlive()) {
                fail("the child ended (status " + p.exitValue() + ") before pausing at " + point + ":\n"
                        + Files.readString(out));
            }
            if (System.nanoTime() > deadline) {
                p.destroyForcibly();
                fail("no pause at " + point + ":\n" + Files.readString(out));
            }
            Thread.sleep(20);
        }
        try {
            if (whilePaused != null) {
                whilePaused.run();
            }
        } finally {
            p.destroyForcibly(); // SIGKILL
        }
        assertEquals(128 + 9, p.waitFor(), "killed by SIGKILL");
    }
}
