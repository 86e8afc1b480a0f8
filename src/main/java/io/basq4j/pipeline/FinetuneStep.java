package io.basq4j.pipeline;

import io.basq4j.data.DataLoader;
import io.basq4j.data.Dataset;
import io.basq4j.data.Folds;
import io.basq4j.data.Preprocessing;
import io.basq4j.deploy.SavedModel;
import io.basq4j.io.JsonFiles;
import io.basq4j.models.Supernet;
import io.basq4j.search.KFoldSearch;
import io.basq4j.tensor.Scope;
import io.basq4j.train.DataSources;
import io.basq4j.train.Finetuning;
import io.basq4j.train.RunConfig;
import io.basq4j.train.RunLog;
import io.basq4j.train.RunState;
import io.basq4j.train.Teacher;
import io.basq4j.train.Teachers;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Step 3 over every fold of a search result (SPEC 7), then the run's product and its final
 * report.
 *
 * <ol>
 *   <li>Each fold's architecture is finetuned; the network of the epoch whose accuracy is the
 *       fold's result (the best of before finetuning and each epoch, on the validation data
 *       outside the fold) is written to {@code models/fold-<k>.safetensors} ({@link SavedModel})
 *       each time it improves.
 *   <li>{@code models/model.safetensors} is the fold chosen by the run's own criterion, before
 *       any test data is read: the highest {@code val_finetuned_acc} under the holdout protocol;
 *       under the reference protocol, whose validation data is the test set, the highest search
 *       fitness ({@code test_fold_acc}), not the number the reference reports.
 *   <li>The final report: the test set is read once and every fold's saved network is evaluated
 *       on all of it ({@code test_acc}); the saved files record it.
 * </ol>
 */
public final class FinetuneStep {
    public static final String MODELS_DIR = RunState.MODELS_DIR;
    public static final String MODEL_FILE = RunState.MODEL_FILE;

    /**
     * What step 3 produced: per fold the finetuning result (accuracies on the validation data:
     * the validation split, or the test set under the reference protocol) and the saved network's
     * accuracy on the whole test set; the mean of the fold results; the chosen fold.
     *
     * @param data one-line descriptions of the train, val and test data
     * @param search the search result the folds' architectures came from
     */
    public record Result(List<Finetuning.FoldResult> folds, double mean, double seconds, List<Double> testAccs,
            int chosenFold, String criterion, Path modelFile, long modelBytes, String protocol,
            Map<String, String> data, KFoldSearch.Result search) {

        /** Mean of {@link #testAccs()}. */
        public double meanTest() {
            return testAccs.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
        }

        /** The prefix of the numbers measured on the validation data: val_, or test_ under the reference protocol. */
        public String valPrefix() {
            return prefix(protocol);
        }
    }

    private FinetuneStep() {
    }

    /** The prefix of numbers measured on a protocol's validation data (val_, or test_ for the reference protocol). */
    public static String prefix(String protocol) {
        return "reference".equals(protocol) ? "test_" : "val_";
    }

    /** {@code <run>/models/fold-<k>.safetensors}. */
    public static Path foldFile(Path runDir, int fold) {
        return runDir.resolve(MODELS_DIR).resolve("fold-" + fold + ".safetensors");
    }

    /** {@code <run>/models/model.safetensors}. */
    public static Path modelFile(Path runDir) {
        return runDir.resolve(MODELS_DIR).resolve(MODEL_FILE);
    }

    public static Result run(RunConfig c, Path runDir, RunLog log) {
        return run(c, runDir, log, () -> DataSources.test(c));
    }

    /** As {@link #run(RunConfig, Path, RunLog)}, with the test set of the final report from {@code testData}. */
    public static Result run(RunConfig c, Path runDir, RunLog log, Supplier<Dataset> testData) {
        c.validate();
        long t0 = System.nanoTime();
        String pre = prefix(c.protocol);
        removeModels(runDir);
        Map<String, String> data = new LinkedHashMap<>();
        List<Finetuning.FoldResult> out = new ArrayList<>();
        KFoldSearch.Result search;
        Dataset valData = DataSources.val(c);
        List<String> classNames = classNames(valData, c.classes);
        Preprocessing preprocessing = valData.preprocessing();
        try (KFoldSearch.ValidationSet val = new KFoldSearch.ValidationSet(c, valData);
                DataLoader train = trainLoader(c);
                Teacher teacher = openTeacher(c, runDir, log)) {
            data.put("train", train.dataset().describe());
            data.put("val", val.describe());
            int units;
            int branches;
            try (Supernet probe = KFoldSearch.loadSupernet(c, runDir)) {
                units = probe.searchedUnits();
                branches = probe.branches();
            }
            search = KFoldSearch.read(runDir.resolve(KFoldSearch.RESULT), units, branches);
            checkMeasuredOn(c, runDir.resolve(KFoldSearch.RESULT));
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
                int fold = f;
                Path file = foldFile(runDir, f);
                try (Supernet model = KFoldSearch.loadSupernet(c, runDir)) {
                    double before = fullAccuracy(model, arch, val, outside);
                    log.info("fold %d: %s  full acc before finetuning %.2f%% (%s)", f, Arrays.toString(arch), before,
                            pre + "full_acc");
                    out.add(Finetuning.run(c, f, arch, model, train, (m, a) -> fullAccuracy(m, a, val, outside),
                            before, teacher, log, (m, epoch, acc) -> SavedModel.write(file, m, arch, classNames,
                                    preprocessing, foldMetadata(c, fold, search, epoch, acc))));
                }
            }
        }
        double mean = Finetuning.mean(out);
        int chosen = choose(c, out, search);
        String criterion = criterion(c.protocol);
        log.info("model: fold %d (highest %s), before any test data is read", chosen, criterion);

        // The final report: the test set, read once; every fold's saved network on all of it.
        List<Double> testAccs = new ArrayList<>();
        Dataset test = testData.get();
        data.put("test", test.describe());
        try (KFoldSearch.ValidationSet ts = new KFoldSearch.ValidationSet(c, test)) {
            for (int f = 0; f < out.size(); f++) {
                Path file = foldFile(runDir, f);
                double acc;
                // through the engine that evaluate and predict use (io.basq4j.deploy.Classifier)
                try (io.basq4j.deploy.Classifier m = io.basq4j.deploy.Classifier.load(file, c.device())) {
                    acc = ts.accuracy(m::logits, ts.all());
                    data.put("test_run_by", m.engineName());
                }
                testAccs.add(acc);
                Finetuning.FoldResult r = out.get(f);
                SavedModel.updateMetadata(file, Map.of(SavedModel.ACCURACIES,
                        accuracies(c, f, search, r.chosenEpoch(), r.best(), acc)));
                log.info("fold %d: test acc %.2f%% (%s, the network of epoch %d)", f, acc, test.describe(),
                        r.chosenEpoch());
            }
        }
        Path modelFile = modelFile(runDir);
        SavedModel.rewrite(foldFile(runDir, chosen), modelFile, Map.of("chosen_by", criterion));
        long bytes;
        try {
            bytes = Files.size(modelFile);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        Result res = new Result(out, mean, secs, testAccs, chosen, criterion, modelFile, bytes, c.protocol, data,
                search);
        print(res, log);
        return res;
    }

    /** The search result must come from the same protocol's validation data (val, or test under reference). */
    private static void checkMeasuredOn(RunConfig c, Path searchFile) {
        String want = c.holdout() ? "val" : "test";
        String got;
        try {
            got = JsonFiles.MAPPER.readTree(searchFile.toFile()).path("measured_on").asText(null);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + searchFile + ": " + e.getMessage(), e);
        }
        if (got != null && !got.equals(want)) {
            throw new IllegalArgumentException(searchFile + " holds a search on the " + got + " data, but this run's "
                    + "protocol (" + c.protocol + ") validates on the " + want + " data: run 'search' again");
        }
    }

    /** The criterion that picks models/model.safetensors among the folds. */
    public static String criterion(String protocol) {
        return "reference".equals(protocol) ? "test_fold_acc" : "val_finetuned_acc";
    }

    /** The fold with the highest criterion value (the lowest such fold on ties). */
    static int choose(RunConfig c, List<Finetuning.FoldResult> folds, KFoldSearch.Result search) {
        int best = 0;
        for (int f = 1; f < folds.size(); f++) {
            double v = score(c, folds, search, f);
            if (v > score(c, folds, search, best)) {
                best = f;
            }
        }
        return best;
    }

    private static double score(RunConfig c, List<Finetuning.FoldResult> folds, KFoldSearch.Result search, int f) {
        return c.holdout() ? folds.get(f).best() : search.foldAccs().get(f);
    }

    /** The lines step 3 ends with (finetuned and test accuracies, the chosen model). */
    public static void print(Result r, RunLog log) {
        String p = r.valPrefix();
        boolean holdout = "val_".equals(p);
        log.plain((holdout ? "val_finetuned_accs " : "finetuned_accs ") + join(r.folds().stream()
                .map(Finetuning.FoldResult::best)));
        log.plain(String.format(Locale.ROOT, holdout ? "mean_val %.2f" : "mean %.2f", r.mean()));
        log.plain("test_accs " + join(r.testAccs().stream()));
        log.plain(String.format(Locale.ROOT, "mean_test %.2f", r.meanTest()));
        log.plain(String.format(Locale.ROOT, "model %s: fold %d (highest %s), %d bytes", r.modelFile(),
                r.chosenFold(), r.criterion(), r.modelBytes()));
    }

    private static String join(Stream<Double> v) {
        return v.map(d -> String.format(Locale.ROOT, "%.2f", d)).collect(Collectors.joining(" "));
    }

    /** The model file metadata of fold {@code f} (accuracies of its state at {@code epoch}). */
    static Map<String, String> foldMetadata(RunConfig c, int f, KFoldSearch.Result search, int epoch, double acc) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(SavedModel.FOLD, Integer.toString(f));
        m.put(SavedModel.PROTOCOL, c.protocol);
        m.put(SavedModel.ACCURACIES, accuracies(c, f, search, epoch, acc, null));
        Map<String, Object> td = new LinkedHashMap<>();
        td.put("dataset", c.dataset);
        if (c.dataDir != null) {
            td.put("dir", Path.of(c.dataDir).toAbsolutePath().normalize().toString());
        }
        td.put("limit", c.valLimit);
        td.put("seed", c.seed);
        m.put(SavedModel.TEST_DATA, json(td));
        return m;
    }

    private static String accuracies(RunConfig c, int f, KFoldSearch.Result search, int epoch, double acc,
            Double testAcc) {
        String p = prefix(c.protocol);
        Map<String, Object> a = new LinkedHashMap<>();
        a.put(p + "fold_acc", search.foldAccs().get(f));
        a.put(p + "full_acc", search.fullAccs().get(f));
        a.put(p + "finetuned_acc", acc);
        a.put("chosen_epoch", epoch);
        if (testAcc != null) {
            a.put("test_acc", testAcc);
        }
        return json(a);
    }

    private static String json(Object o) {
        try {
            return JsonFiles.MAPPER.writer().without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsString(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The data's class names, numbered names added up to the model's class count. */
    static List<String> classNames(Dataset d, int classes) {
        List<String> names = new ArrayList<>(d.classNames());
        for (int k = names.size(); k < classes; k++) {
            names.add(Integer.toString(k));
        }
        return names.subList(0, classes);
    }

    /** Removes the model files of an earlier run of this step, so that none outlives its results. */
    private static void removeModels(Path runDir) {
        Path dir = runDir.resolve(MODELS_DIR);
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                if (RunState.isSavedNetwork(p.getFileName().toString())) {
                    Files.delete(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot clear " + dir + ": " + e.getMessage(), e);
        }
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
