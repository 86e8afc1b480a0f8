package io.basq4j.pipeline;

import io.basq4j.data.DataLoader;
import io.basq4j.data.Folds;
import io.basq4j.models.Supernet;
import io.basq4j.search.KFoldSearch;
import io.basq4j.tensor.Scope;
import io.basq4j.train.DataSources;
import io.basq4j.train.Finetuning;
import io.basq4j.train.RunConfig;
import io.basq4j.train.RunLog;
import io.basq4j.train.Teacher;
import io.basq4j.train.Teachers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** Step 3 over every fold of a search result (SPEC 7), printing the final block and its mean. */
public final class FinetuneStep {
    /** Per fold results, their mean and the time taken. */
    public record Result(List<Finetuning.FoldResult> folds, double mean, double seconds) {
    }

    private FinetuneStep() {
    }

    public static Result run(RunConfig c, Path runDir, RunLog log) {
        c.validate();
        long t0 = System.nanoTime();
        List<Finetuning.FoldResult> out = new ArrayList<>();
        try (KFoldSearch.ValidationSet val = new KFoldSearch.ValidationSet(c);
                DataLoader train = trainLoader(c);
                Teacher teacher = openTeacher(c, runDir, log)) {
            KFoldSearch.Result search;
            int units;
            int branches;
            try (Supernet probe = KFoldSearch.loadSupernet(c, runDir)) {
                units = probe.searchedUnits();
                branches = probe.branches();
            }
            search = KFoldSearch.read(runDir.resolve(KFoldSearch.RESULT), units, branches);
            if (search.archs().size() != c.folds) {
                log.info("the search result has %d folds (configuration: %d); finetuning all of them",
                        search.archs().size(), c.folds);
            }
            Folds folds = new Folds(val.batches(), search.archs().size());
            log.info("finetuning %d architectures: %d epochs of %s batches, lr %.3g, SGD Nesterov %.2f, %s",
                    search.archs().size(), c.finetuneEpochs, c.finetuneBatches > 0 ? c.finetuneBatches : "all",
                    c.finetuneLr, c.finetuneMomentum, teacher != null ? "distillation loss" : "cross-entropy");
            for (int f = 0; f < search.archs().size(); f++) {
                int[] outside = folds.complement(f);
                int[] arch = search.archs().get(f);
                try (Supernet model = KFoldSearch.loadSupernet(c, runDir)) {
                    double before = fullAccuracy(model, arch, val, outside);
                    log.info("fold %d: %s  full acc before finetuning %.2f%%", f,
                            java.util.Arrays.toString(arch), before);
                    out.add(Finetuning.run(c, f, arch, model, train, (m, a) -> fullAccuracy(m, a, val, outside),
                            before, teacher, log));
                }
            }
        }
        double mean = Finetuning.mean(out);
        double secs = (System.nanoTime() - t0) / 1e9;
        log.plain("finetuned_accs " + out.stream().map(r -> String.format(Locale.ROOT, "%.2f", r.best()))
                .collect(Collectors.joining(" ")));
        log.plain(String.format(Locale.ROOT, "mean %.2f", mean));
        return new Result(out, mean, secs);
    }

    /** The teacher step 3 distils from (null: cross-entropy, the default; see {@link Finetuning}). */
    public static Teacher openTeacher(RunConfig c, Path runDir, RunLog log) {
        return Teachers.usedInFinetuning(c) ? Teachers.open(c, runDir, log) : null;
    }

    /** The training batches step 3 draws from (shuffled with the run's seed). */
    public static DataLoader trainLoader(RunConfig c) {
        return DataLoader.builder(DataSources.train(c)).batchSize(c.batch).shuffle(true).dropLast(true)
                .seed(c.seed + 17).workers(c.workers).build();
    }

    /** Accuracy (%) of {@code arch} on the listed validation batches, in evaluation mode. */
    public static double fullAccuracy(Supernet model, int[] arch, KFoldSearch.ValidationSet val, int[] batches) {
        boolean was = model.isTraining();
        model.eval();
        try (Scope s = Scope.open()) {
            return val.accuracy(x -> model.forward(x, arch), batches);
        } finally {
            model.train(was);
        }
    }

}
