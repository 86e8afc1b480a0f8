package io.basq4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.basq4j.data.SyntheticFiles;
import io.basq4j.tensor.Backends;
import io.basq4j.testutil.Cli;
import io.basq4j.testutil.Dirs;
import io.basq4j.train.RunDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run directory belongs to one run: a second command is refused while one holds it, a fresh
 * start refuses a directory holding a run unless --force, --resume refuses other settings in one
 * short line, a resumed curve equals the uninterrupted one, and nothing is created before the
 * inputs have been checked.
 */
class RunDirectoryCommandsTest {
    @TempDir
    Path tmp;

    private static final String[] SMOKE = {"--preset", "smoke", "--iters", "3", "--checkpoint-every", "2",
        "--log-every", "2"};

    private static Cli.Result ok(String... args) {
        Cli.Result r = Cli.run(args);
        assertEquals(0, r.rc(), r.toString());
        return r;
    }

    private static String[] args(String cmd, Path run, String... more) {
        List<String> a = new ArrayList<>(List.of(cmd, "--run", run.toString()));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    private static void assertSameFiles(Map<String, byte[]> expected, Map<String, byte[]> actual) {
        assertEquals(expected.keySet(), actual.keySet());
        for (String k : expected.keySet()) {
            assertArrayEquals(expected.get(k), actual.get(k), k);
        }
    }

    @Test
    void aFreshStartRefusesADirectoryHoldingARunUnlessForced() throws Exception {
        Path run = tmp.resolve("run");
        ok(args("train-supernet", run, SMOKE));
        Files.writeString(run.resolve("search.json"), "{}");
        Map<String, byte[]> before = Dirs.snapshot(run);
        String line = Cli.run(args("train-supernet", run, SMOKE)).oneError();
        assertTrue(line.contains(run + " already holds a supernet training run (finished); continue it with --resume, "
                + "or start over with --force"), line);
        assertSameFiles(before, Dirs.snapshot(run));
        Cli.run(args("pipeline", run, SMOKE)).oneError();
        assertSameFiles(before, Dirs.snapshot(run));
        // --force starts over: the old run's later results go with it
        ok(args("train-supernet", run, concat(SMOKE, "--force")));
        assertFalse(Files.exists(run.resolve("search.json")));
        assertTrue(Files.exists(run.resolve("supernet.safetensors")));
    }

    @Test
    void resumeRefusesOtherSettingsInOneShortLineAndChangesNothing() throws Exception {
        Path run = tmp.resolve("run");
        ok(args("train-supernet", run, concat(SMOKE, "--max-iterations", "2")));
        Map<String, byte[]> before = Dirs.snapshot(run);
        String line = Cli.run(args("train-supernet", run, "--resume", "--bits", "3", "--seed", "9", "--lr",
                "0.1", "--iters", "5")).oneError();
        assertTrue(line.startsWith("error: cannot resume from " + run.resolve("checkpoints/supernet-last.safetensors")
                + ": it was written with other settings: "), line);
        for (String d : List.of("bits 2 (now 3)", "seed 1 (now 9)", "lr 0.003 (now 0.1)", "itersPerPhase 3 (now 5)")) {
            assertTrue(line.contains(d), d + " in " + line);
        }
        // another width: the same short line (the state dict mismatch would list hundreds of tensors)
        line = Cli.run(args("train-supernet", run, "--resume", "--width", "0.5")).oneError();
        assertTrue(line.contains("width 0.25 (now 0.5)"), line);
        line = Cli.run(args("search", run, "--width", "0.5")).oneError();
        assertTrue(line.contains("no trained supernet"), line);
        assertSameFiles(before, Dirs.snapshot(run));
        // settings that do not change the checkpoint's meaning may differ
        ok(args("train-supernet", run, "--resume", "--folds", "3", "--eval-batch", "16"));
        line = Cli.run(args("search", run, "--width", "0.5")).oneError();
        assertTrue(line.contains(run.resolve("supernet.safetensors") + " was trained with other model settings: "
                + "width 0.25 (now 0.5)"), line);
    }

    /** Stopped at iteration 3 with a curve line every 2: the resumed curve still equals the uninterrupted one. */
    @Test
    void aResumedRunWritesTheSameFilesAsAnUninterruptedOne() {
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        String[] s = {"--preset", "smoke", "--iters", "5", "--checkpoint-every", "2", "--log-every", "2"};
        ok(args("train-supernet", a, s));
        ok(args("train-supernet", b, concat(s, "--max-iterations", "3")));
        ok(args("train-supernet", b, concat(s, "--resume", "--max-iterations", "4")));
        ok(args("train-supernet", b, concat(s, "--resume")));
        Map<String, byte[]> fa = Dirs.snapshot(a);
        Map<String, byte[]> fb = Dirs.snapshot(b);
        fa.remove("log.txt");
        fb.remove("log.txt");
        assertSameFiles(fa, fb);
        assertTrue(fa.containsKey("train-curve.tsv") && fa.containsKey("supernet.safetensors"));
        assertEquals(6, new String(fa.get("train-curve.tsv")).lines().count()); // steps 2, 4, 5 of each phase
    }

    @Test
    void aSecondCommandOnAHeldDirectoryIsRefusedNamingTheHolder() {
        Path run = tmp.resolve("run");
        try (RunDirectory held = RunDirectory.lock(run, "basq4j train-supernet --run " + run)) {
            String line = Cli.run(args("train-supernet", run, SMOKE)).oneError();
            assertTrue(line.contains("is in use by pid " + ProcessHandle.current().pid() + " on "), line);
            assertTrue(line.contains("basq4j train-supernet --run " + run), line);
        }
    }

    @Test
    void nothingIsCreatedBeforeTheInputsAreChecked() throws Exception {
        Path run = tmp.resolve("run");
        String line = Cli.run(args("train-supernet", run, "--preset", "smoke", "--dataset", "fashion",
                "--data", tmp.resolve("nowhere").toString())).oneError();
        assertTrue(line.contains("nowhere"), line);
        line = Cli.run(args("search", run, "--preset", "smoke")).oneError();
        assertTrue(line.contains("no trained supernet at " + run.resolve("supernet.safetensors")), line);
        line = Cli.run(args("finetune", run, "--preset", "smoke")).oneError();
        assertTrue(line.contains("no trained supernet"), line);
        line = Cli.run(args("train-supernet", run, "--preset", "smoke", "--resume", "--force")).oneError();
        assertTrue(line.contains("give one of them"), line);
        if (!Backends.cudaAvailable()) {
            line = Cli.run(args("train-supernet", run, "--preset", "smoke", "--device", "cuda")).oneError();
            assertTrue(line.startsWith("error: --device cuda: CUDA is not usable here"), line);
        }
        assertFalse(Files.exists(run));
    }

    /** The ImageFolder cases: an unknown validation class before training, unreadable images, empty class folders. */
    @Test
    void imageFolderProblemsAreFoundBeforeTraining() throws Exception {
        Path root = tmp.resolve("images");
        SyntheticFiles.writeImageFolder(root, 3, 12, 2, 7, false);
        String[] img = {"--preset", "smoke", "--dataset", "imagefolder", "--data", root.toString(), "--in-channels",
            "3", "--classes", "3", "--batch", "4", "--iters", "1", "--train-limit", "0", "--val-limit", "0", "--protocol",
            "reference"}; // (the validation classes are those of val/, checked before training)
        Path run = tmp.resolve("run");
        // a validation class that training lacks
        Path extra = Files.createDirectories(root.resolve("val/zz_unknown"));
        Files.copy(Files.list(root.resolve("val/n00001000")).findFirst().orElseThrow(), extra.resolve("a.png"));
        String line = Cli.run(args("train-supernet", run, img)).oneError();
        assertTrue(line.contains("class folder " + extra + " has no counterpart in " + root.resolve("train")), line);
        assertFalse(Files.exists(run));
        Dirs.delete(extra);
        // an empty class folder would shift every later label
        Path empty = Files.createDirectories(root.resolve("train/n00000999"));
        line = Cli.run(args("train-supernet", run, img)).oneError();
        assertTrue(line.contains("class folder " + empty + " holds no images"), line);
        assertFalse(Files.exists(run));
        Files.delete(empty);
        // every training image unreadable
        try (var s = Files.walk(root.resolve("train"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) {
                    Files.writeString(p, "not an image");
                }
            }
        }
        line = Cli.run(args("train-supernet", run, img)).oneError();
        assertTrue(line.contains("no readable image in " + root.resolve("train") + " (36 files, all unreadable)"),
                line);
        assertFalse(Files.exists(run));
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
