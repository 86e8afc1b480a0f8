package io.basq4j.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.models.Supernet;
import io.basq4j.autograd.F;
import io.basq4j.tensor.Tensor;
import io.basq4j.testutil.Cli;
import io.basq4j.testutil.Dirs;
import io.basq4j.train.RunConfig;
import io.basq4j.train.RunConfigFile;
import io.basq4j.train.SupernetTraining;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A diverged network never scores: training, search and finetuning stop on a NaN or infinite
 * loss (or gradient, or supernet) with one line and a non-zero exit status, and an
 * architecture whose outputs are NaN scores 0% in the search, never 100%.
 */
class DivergenceTest {
    @TempDir
    static Path shared;
    @TempDir
    Path tmp;

    private static Path base;

    @BeforeAll
    static void trainSmallSupernet() {
        base = shared.resolve("base");
        Cli.Result r = Cli.run("train-supernet", "--preset", "smoke", "--run", base.toString(), "--iters", "3");
        assertEquals(0, r.rc(), r.toString());
        r = Cli.run("search", "--run", base.toString(), "--population", "4", "--generations", "1");
        assertEquals(0, r.rc(), r.toString());
    }

    private static void assertOneErrorLine(Cli.Result r, String... parts) {
        String line = r.oneError();
        for (String p : parts) {
            assertTrue(line.contains(p), "'" + p + "' in: " + line);
        }
    }

    @Test
    void supernetTrainingStopsOnNonFiniteLoss() {
        Path run = tmp.resolve("t");
        Cli.Result r = Cli.run("train-supernet", "--preset", "smoke", "--run", run.toString(), "--lr", "1e30");
        assertOneErrorLine(r, "supernet training stopped: the ", " became ", " at phase a iteration ", "--lr");
        assertTrue(r.errors().get(0).matches(".* became (NaN|-?Infinity) .*"), r.errors().get(0));
        assertFalse(Files.exists(run.resolve(SupernetTraining.FINAL)));
    }

    @Test
    void finetuningStopsOnNonFiniteLossAndWritesNoResult() {
        Path run = Dirs.copy(base, tmp.resolve("f"));
        Cli.Result r = Cli.run("finetune", "--run", run.toString(), "--finetune-lr", "1e30");
        assertOneErrorLine(r, "finetuning stopped: the ", " at fold 0 epoch 1 batch ", "--finetune-lr");
        assertFalse(r.out().contains("100.00"), r.out());
        assertFalse(Files.exists(run.resolve("results.json")));
    }

    @Test
    void searchRefusesASupernetHoldingNaN() throws Exception {
        Path run = Dirs.copy(base, tmp.resolve("s"));
        Path file = run.resolve(SupernetTraining.FINAL);
        SafeTensors.File f = SafeTensors.read(file);
        Map<String, TensorData> t = new LinkedHashMap<>(f.tensors());
        String victim = "model.feature.3.branch_bn_q_1.2.1.upper_bound";
        String reported = victim.substring("model.".length());
        float[] v = t.get(victim).f32().clone();
        v[0] = Float.NaN;
        t.put(victim, TensorData.ofFloat(t.get(victim).shape(), v));
        SafeTensors.write(file, t, f.metadata());
        Files.delete(run.resolve(KFoldSearch.RESULT));
        Cli.Result r = Cli.run("search", "--run", run.toString());
        assertOneErrorLine(r, "holds 1 NaN or infinite values", reported, "diverged");
        assertFalse(Files.exists(run.resolve(KFoldSearch.RESULT)));
    }

    @Test
    void anArchitectureWithNaNOutputsScoresZeroAndLoses() {
        RunConfig c = RunConfigFile.read(base.resolve("config.json"));
        try (Supernet model = KFoldSearch.loadSupernet(c, base);
                KFoldSearch.ValidationSet val = new KFoldSearch.ValidationSet(c)) {
            int[] all = {0}; // one validation batch keeps this quick
            int[] genes = new int[model.searchedUnits()];
            java.util.Arrays.fill(genes, 3);
            Architecture withThree = new Architecture(genes);
            double before = new KFoldSearch.Scorer(model, val).accuracy(withThree, all);
            assertTrue(before > 0, "the intact supernet gets some examples right: " + before);
            // a network that outputs NaN logits whenever unit 0 takes branch 3 (as a diverged
            // branch would), and its real logits otherwise
            java.util.function.BiFunction<Tensor, int[], Tensor> broken = (x, sel) -> {
                Tensor y = model.forward(x, sel);
                return sel[0] == 3 ? F.add(y, Tensor.full(y.device(), Float.NaN, y.shape().dims())) : y;
            };
            KFoldSearch.Scorer scorer = new KFoldSearch.Scorer(broken, val);
            assertEquals(0.0, scorer.accuracy(withThree, all));
            assertTrue(scorer.nonFinite.contains(withThree));
            // the evolution never prefers such an architecture
            Evolution evo = new Evolution(new Evolution.Settings(10, 3, 3, 3, 0.3, 1), model.searchedUnits(),
                    model.branches(), 5, a -> scorer.accuracy(a, all));
            Evolution.Result best = evo.run(null);
            assertTrue(best.fitness() > 0, "best fitness " + best.fitness());
            assertFalse(scorer.nonFinite.contains(best.best()), "the winner " + best.best() + " outputs NaN");
            assertFalse(scorer.nonFinite.isEmpty(), "some candidates took the NaN branch");
        }
    }
}
