package io.basq4j.cli;

import io.basq4j.data.DataException;
import io.basq4j.data.DataLoader;
import io.basq4j.io.CheckpointFormatException;
import io.basq4j.io.JsonFiles;
import io.basq4j.models.Supernet;
import io.basq4j.pipeline.FinetuneStep;
import io.basq4j.pipeline.Results;
import io.basq4j.search.Architecture;
import io.basq4j.search.KFoldSearch;
import io.basq4j.train.Finetuning;
import io.basq4j.train.NonFiniteException;
import io.basq4j.train.Preflight;
import io.basq4j.train.RunConfig;
import io.basq4j.train.RunDirectory;
import io.basq4j.train.RunLog;
import io.basq4j.train.RunState;
import io.basq4j.train.SupernetTraining;
import io.basq4j.train.Teacher;
import io.basq4j.train.Teachers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The BASQ steps as subcommands: train-supernet, search, finetune, pipeline; and two baselines. */
public final class PipelineCommands {
    private PipelineCommands() {
    }

    /** Runs a step, turning the errors a user can cause into one-line messages. */
    static int guarded(Callable<Integer> body) throws Exception {
        try {
            return body.call();
        } catch (DataException | IllegalArgumentException | java.io.UncheckedIOException | NonFiniteException
                | RunDirectory.BusyException | CheckpointFormatException e) {
            if (Main.debug()) {
                e.printStackTrace();
            }
            throw new UserError(e.getMessage());
        }
    }

    @Command(name = "train-supernet", mixinStandardHelpOptions = true,
            description = "Step 1 (SPEC 5): train the BASQ supernet, phase a (activations quantized) then phase b "
                    + "(weights too). Writes <run>/supernet.safetensors.")
    public static final class TrainSupernet implements Callable<Integer> {
        @Mixin
        RunOptions opts;

        @Option(names = "--resume", description = "continue from <run>/" + SupernetTraining.LAST)
        boolean resume;

        @Option(names = "--max-iterations", paramLabel = "N",
                description = "stop after N iterations of this invocation, with a checkpoint to --resume from")
        Long maxIterations;

        @Option(names = "--force", description = "start over on a run directory that holds a run (deletes its "
                + "supernet, checkpoint, curve and later results)")
        boolean force;

        @Override
        public Integer call() throws Exception {
            return guarded(() -> {
                RunConfig c = opts.config();
                Path dir = opts.runDir(c);
                Teachers.check(c);
                Preflight.check(c, true, true);
                RunState.checkStart(c, dir, resume, force);
                try (RunLog log = opts.open(c, () -> startUnderLock(c, dir, resume, force))) {
                    SupernetTraining.run(c, dir, resume, log,
                            maxIterations == null ? Long.MAX_VALUE : maxIterations);
                }
                return 0;
            });
        }
    }

    /** The start checks again, now that no other command can change the directory; then a forced start clears it. */
    static void startUnderLock(RunConfig c, Path dir, boolean resume, boolean force) {
        RunState.checkStart(c, dir, resume, force);
        if (force) {
            RunState.clear(dir);
        }
    }

    @Command(name = "search", mixinStandardHelpOptions = true,
            description = "Step 2 (SPEC 6): k-fold evolution search on <run>/supernet.safetensors. "
                    + "Prints and writes the fold_accs / full_accs / archs block (<run>/search.json).")
    public static final class Search implements Callable<Integer> {
        @Mixin
        RunOptions opts;

        @Override
        public Integer call() throws Exception {
            return guarded(() -> {
                RunConfig c = opts.config();
                Preflight.check(c, false, true);
                KFoldSearch.checkSupernet(c, opts.runDir(c));
                try (RunLog log = opts.open(c)) {
                    KFoldSearch.run(c, opts.runDir(c), log);
                }
                return 0;
            });
        }
    }

    @Command(name = "finetune", mixinStandardHelpOptions = true,
            description = "Step 3 (SPEC 7): finetune each fold's architecture of <run>/search.json from the supernet; "
                    + "saves each fold's network (<run>/models/fold-<k>.safetensors) and the chosen one "
                    + "(<run>/models/model.safetensors), evaluates them on the test set, writes <run>/results.json.")
    public static final class Finetune implements Callable<Integer> {
        @Mixin
        RunOptions opts;

        @Override
        public Integer call() throws Exception {
            return guarded(() -> {
                RunConfig c = opts.config();
                Path dir = opts.runDir(c);
                Teachers.checkForFinetuning(c);
                Preflight.check(c, true, true);
                KFoldSearch.checkSupernet(c, dir);
                if (!java.nio.file.Files.exists(dir.resolve(KFoldSearch.RESULT))) {
                    throw new IllegalArgumentException("no search result at " + dir.resolve(KFoldSearch.RESULT)
                            + " (run 'search --run " + dir + "' first)");
                }
                try (RunLog log = opts.open(c)) {
                    FinetuneStep.Result ft = FinetuneStep.run(c, dir, log);
                    Results.write(dir, c, null, ft.search(), ft, Map.of("finetune", ft.seconds()));
                    Results.chart(dir, null, ft.search(), ft);
                }
                return 0;
            });
        }
    }

    @Command(name = "pipeline", mixinStandardHelpOptions = true,
            description = "All three steps in a row (train-supernet, search, finetune) in one run directory, "
                    + "ending with results.json and results.png.")
    public static final class Pipeline implements Callable<Integer> {
        @Mixin
        RunOptions opts;

        @Option(names = "--resume", description = "continue supernet training from its last checkpoint")
        boolean resume;

        @Option(names = "--force", description = "start over on a run directory that holds a run (deletes its "
                + "supernet, checkpoint, curve and later results)")
        boolean force;

        @Override
        public Integer call() throws Exception {
            return guarded(() -> {
                RunConfig c = opts.config();
                Path dir = opts.runDir(c);
                Teachers.check(c);
                Preflight.check(c, true, true);
                RunState.checkStart(c, dir, resume, force);
                try (RunLog log = opts.open(c, () -> startUnderLock(c, dir, resume, force))) {
                    long t0 = System.nanoTime();
                    log.info("BASQ pipeline, preset %s, run directory %s", c.preset, dir);
                    SupernetTraining.Result tr = SupernetTraining.run(c, dir, resume, log);
                    KFoldSearch.Result s = KFoldSearch.run(c, dir, log);
                    FinetuneStep.Result ft = FinetuneStep.run(c, dir, log);
                    Map<String, Double> t = new LinkedHashMap<>();
                    t.put("train_supernet", tr.seconds());
                    t.put("search", s.seconds());
                    t.put("finetune", ft.seconds());
                    t.put("total", (System.nanoTime() - t0) / 1e9);
                    Results.write(dir, c, tr.curve(), s, ft, t);
                    Results.chart(dir, tr.curve(), s, ft);
                    log.plain("");
                    KFoldSearch.print(s, log, c.holdout());
                    FinetuneStep.print(ft, log);
                    log.info("done in %s: %s, %s, %s", RunLog.duration(t.get("total")), dir.resolve(Results.JSON_FILE),
                            dir.resolve(Results.CHART_FILE), ft.modelFile());
                }
                return 0;
            });
        }
    }

    @Command(name = "train-fp", mixinStandardHelpOptions = true,
            description = "Train the full-precision MobileNet-v2 (teacher and baseline); prints its top-1 accuracy "
                    + "and writes <run>/" + Teachers.FILE + ".")
    public static final class TrainFp implements Callable<Integer> {
        @Mixin
        RunOptions opts;

        @Option(names = "--epochs", paramLabel = "N", description = "training epochs (default: --teacher-epochs)")
        Integer epochs;

        @Override
        public Integer call() throws Exception {
            return guarded(() -> {
                RunConfig c = opts.config();
                Preflight.check(c, true, true);
                try (RunLog log = opts.open(c)) {
                    double acc = Teachers.train(c, opts.runDir(c).resolve(Teachers.FILE),
                            epochs != null ? epochs : c.teacherEpochs, log);
                    log.plain(String.format(Locale.ROOT, "fp_top1 %.2f", acc));
                }
                return 0;
            });
        }
    }

    @Command(name = "random", mixinStandardHelpOptions = true,
            description = "Accuracy of random architectures of the trained supernet on the whole validation set "
                    + "(the baseline the search must beat); with --finetune each one also goes through step 3. "
                    + "Writes <run>/random.json.")
    public static final class RandomArchs implements Callable<Integer> {
        @Mixin
        RunOptions opts;

        @Option(names = "--count", paramLabel = "N", defaultValue = "10", description = "architectures (default 10)")
        int count;

        @Option(names = "--finetune", description = "finetune each architecture as step 3 does (SPEC 7), measured "
                + "on the whole validation set")
        boolean finetune;

        @Override
        public Integer call() throws Exception {
            return guarded(() -> {
                RunConfig c = opts.config();
                Path dir = opts.runDir(c);
                if (finetune) {
                    Teachers.checkForFinetuning(c);
                }
                Preflight.check(c, finetune, true);
                KFoldSearch.checkSupernet(c, dir);
                try (RunLog log = opts.open(c); KFoldSearch.ValidationSet val = new KFoldSearch.ValidationSet(c)) {
                    Random r = new Random(c.seed + 4242);
                    int[] all = new int[val.batches()];
                    for (int i = 0; i < all.length; i++) {
                        all[i] = i;
                    }
                    List<int[]> archs = new ArrayList<>();
                    List<Double> accs = new ArrayList<>();
                    try (Supernet model = KFoldSearch.loadSupernet(c, dir)) {
                        for (int i = 0; i < count; i++) {
                            int[] g = Architecture.random(r, model.searchedUnits(), model.branches()).genes();
                            double acc = FinetuneStep.fullAccuracy(model, g, val, all);
                            archs.add(g);
                            accs.add(acc);
                            log.info("random %d: %s  %.2f%%", i, Arrays.toString(g), acc);
                        }
                    }
                    Map<String, Object> out = new LinkedHashMap<>();
                    out.put("measured_on", c.holdout() ? "val" : "test");
                    out.put("archs", archs);
                    out.put("accs", accs);
                    out.put("mean", mean(accs));
                    log.plain(String.format(Locale.ROOT, "random_mean %.2f", mean(accs)));
                    if (finetune) {
                        List<Double> tuned = new ArrayList<>();
                        try (DataLoader train = FinetuneStep.trainLoader(c);
                                Teacher teacher = FinetuneStep.openTeacher(c, dir, log)) {
                            for (int i = 0; i < count; i++) {
                                try (Supernet model = KFoldSearch.loadSupernet(c, dir)) {
                                    Finetuning.FoldResult fr = Finetuning.run(c, i,
                                            archs.get(i), model, train,
                                            (m, a) -> FinetuneStep.fullAccuracy(m, a, val, all), accs.get(i),
                                            teacher, log);
                                    tuned.add(fr.best());
                                }
                            }
                        }
                        out.put("finetuned_accs", tuned);
                        out.put("finetuned_mean", mean(tuned));
                        log.plain(String.format(Locale.ROOT, "random_finetuned_mean %.2f", mean(tuned)));
                    }
                    JsonFiles.writeAtomically(dir.resolve("random.json"), out);
                }
                return 0;
            });
        }

        private static double mean(List<Double> xs) {
            return xs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        }
    }
}
