package io.basq4j.search;

import io.basq4j.data.Batch;
import io.basq4j.data.DataLoader;
import io.basq4j.data.Dataset;
import io.basq4j.data.Folds;
import com.fasterxml.jackson.databind.JsonNode;
import io.basq4j.io.JsonFiles;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.Checkpoint;
import io.basq4j.train.DataSources;
import io.basq4j.train.Evaluation;
import io.basq4j.train.NonFiniteException;
import io.basq4j.train.RunConfig;
import io.basq4j.train.RunLog;
import io.basq4j.train.RunState;
import io.basq4j.train.SupernetTraining;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Step 2 (SPEC 6): k-fold evolution search over the trained supernet. The validation set is
 * decoded once, kept as tensors on the model's device, and split into k folds of consecutive
 * batches; per fold an {@link Evolution} maximizes the top-1 accuracy on that fold, and the
 * winner's full accuracy is measured on every batch outside it. A batch's correct count is
 * memoized per architecture, so no (architecture, batch) pair is evaluated twice.
 */
public final class KFoldSearch {
    public static final String RESULT = "search.json";

    /** The block step 3 consumes: per fold, the fold accuracy, full accuracy and architecture. */
    public record Result(List<Double> foldAccs, List<Double> fullAccs, List<int[]> archs, List<Integer> evaluated,
            double seconds) {
    }

    private KFoldSearch() {
    }

    /**
     * Checks, reading only its header, that the run's trained supernet exists and was trained
     * with the model settings of {@code c}.
     */
    public static void checkSupernet(RunConfig c, Path runDir) {
        Path file = requireSupernet(runDir);
        try {
            RunState.checkModelSettings(SafeTensors.readMetadata(file).get("config"), c, file);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage());
        }
    }

    private static Path requireSupernet(Path runDir) {
        Path file = runDir.resolve(SupernetTraining.FINAL);
        if (!Files.exists(file)) {
            throw new IllegalArgumentException("no trained supernet at " + file + " (run 'train-supernet --run "
                    + runDir + "' first)");
        }
        return file;
    }

    /** The supernet with its trained state, weights quantized as at the end of step 1, in eval mode. */
    public static Supernet loadSupernet(RunConfig c, Path runDir) {
        Path file = requireSupernet(runDir);
        Checkpoint ck = Checkpoint.load(file);
        RunState.checkModelSettings(ck.meta("config", null), c, file);
        checkHeldOut(c, file, ck.meta("config", null), ck.meta("imported_from", null));
        checkFinite(ck, file);
        Supernet model = Models.create(c.arch, c.modelConfig());
        try {
            ck.restoreModel(model);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        model.setWeightQuantization(Boolean.parseBoolean(ck.meta("weight_quant", "true")), false);
        model.eval();
        return model;
    }

    /**
     * Under the holdout protocol, the supernet must have been trained without the same validation
     * split (the configuration its checkpoint records says how it was trained); an imported one was
     * trained on data nothing here records.
     */
    static void checkHeldOut(RunConfig c, Path file, String trainedConfig, String importedFrom) {
        if (!c.holdout()) {
            return;
        }
        if (importedFrom != null) {
            throw new IllegalArgumentException(file + " was imported from " + importedFrom + " and trained elsewhere, "
                    + "so the validation split of the holdout protocol may be among its training images: pass "
                    + "--protocol reference (the paper's way), or train the supernet here");
        }
        com.fasterxml.jackson.databind.JsonNode t = null;
        try {
            t = trainedConfig == null ? null : JsonFiles.MAPPER.readTree(trainedConfig);
        } catch (IOException e) {
            // treated as unknown below
        }
        String protocol = t == null ? "unknown" : t.path("protocol").asText("reference");
        if (!"holdout".equals(protocol) || t.path("valSplit").asInt(-1) != c.valSplit
                || !c.dataset.equals(t.path("dataset").asText(""))) {
            throw new IllegalArgumentException(file + " was not trained with this validation split held out (it was "
                    + "trained with protocol " + protocol + (t == null ? "" : ", dataset " + t.path("dataset").asText("?")
                    + ", --val-split " + t.path("valSplit").asText("none")) + "; this run: protocol holdout, dataset "
                    + c.dataset + ", --val-split " + c.valSplit + "): train the supernet again, or pass "
                    + "--protocol reference");
        }
    }

    /** A supernet holding NaN or infinite values comes from a diverged training: nothing it scores means anything. */
    private static void checkFinite(Checkpoint ck, Path file) {
        long bad = 0;
        String first = null;
        for (Map.Entry<String, TensorData> e : ck.modelState().entrySet()) {
            if (e.getValue().dtype() != TensorData.DType.F32) {
                continue;
            }
            for (float v : e.getValue().f32()) {
                if (!Float.isFinite(v)) {
                    bad++;
                    if (first == null) {
                        first = e.getKey();
                    }
                }
            }
        }
        if (bad > 0) {
            throw new NonFiniteException("the supernet " + file + " holds " + bad + " NaN or infinite values "
                    + "(the first in " + first + "): its training diverged; train it again with a lower --lr");
        }
    }

    /** Validation batches decoded once, as (images on the device, labels). */
    public static final class ValidationSet implements AutoCloseable {
        final List<Tensor> images = new ArrayList<>();
        final List<long[]> labels = new ArrayList<>();
        final List<Integer> sizes = new ArrayList<>();
        private final String description;

        public ValidationSet(RunConfig c) {
            this(c, DataSources.val(c));
        }

        /** The batches of {@code val} (of {@code c.evalBatch} examples, in order). */
        public ValidationSet(RunConfig c, Dataset val) {
            this.description = val.describe();
            Device dev = c.device();
            try (DataLoader loader = DataLoader.builder(val).batchSize(c.evalBatch).workers(c.workers).build()) {
                for (Batch b : loader.cacheAll()) {
                    images.add(Tensor.of(dev, b.images(), b.n(), b.c(), b.h(), b.w()).detach());
                    labels.add(b.labels());
                    sizes.add(b.n());
                }
            }
        }

        public int batches() {
            return images.size();
        }

        /** The data set's one-line description. */
        public String describe() {
            return description;
        }

        /** Every batch index, {@code 0 .. batches()-1}. */
        public int[] all() {
            int[] out = new int[batches()];
            for (int i = 0; i < out.length; i++) {
                out[i] = i;
            }
            return out;
        }

        /** The labels of batch {@code b} (do not modify). */
        public long[] labels(int b) {
            return labels.get(b);
        }

        /** The images of batch {@code b}, on the run's device. */
        public Tensor images(int b) {
            return images.get(b);
        }

        /** Accuracy (%) of {@code forward} on the listed batches. */
        public double accuracy(java.util.function.UnaryOperator<Tensor> forward, int[] batchIdx) {
            long correct = 0;
            for (int b : batchIdx) {
                correct += Evaluation.correct(forward, images.get(b), labels.get(b));
            }
            return 100.0 * correct / Math.max(1, examples(batchIdx));
        }

        public long examples(int[] batchIdx) {
            long n = 0;
            for (int b : batchIdx) {
                n += sizes.get(b);
            }
            return n;
        }

        @Override
        public void close() {
            images.forEach(Tensor::close);
        }
    }

    /** Memoized correct counts of (architecture, batch). */
    static final class Scorer {
        private final java.util.function.BiFunction<Tensor, int[], Tensor> forward;
        private final ValidationSet val;
        private final Map<Architecture, int[]> counts = new HashMap<>();
        /** Architectures that gave a NaN or infinite logit on some example (counted as wrong). */
        final java.util.Set<Architecture> nonFinite = new java.util.HashSet<>();

        Scorer(Supernet model, ValidationSet val) {
            this(model::forward, val);
        }

        /** {@code forward} maps (images, selection) to logits. */
        Scorer(java.util.function.BiFunction<Tensor, int[], Tensor> forward, ValidationSet val) {
            this.forward = forward;
            this.val = val;
        }

        double accuracy(Architecture a, int[] batchIdx) {
            int[] cs = counts.computeIfAbsent(a, k -> {
                int[] z = new int[val.batches()];
                java.util.Arrays.fill(z, -1);
                return z;
            });
            long correct = 0;
            int[] sel = a.genes();
            for (int b : batchIdx) {
                if (cs[b] < 0) {
                    Evaluation.Counts n = Evaluation.counts(x -> forward.apply(x, sel), val.images.get(b),
                            val.labels.get(b));
                    cs[b] = n.correct();
                    if (n.nonFinite() > 0) {
                        nonFinite.add(a);
                    }
                }
                correct += cs[b];
            }
            return 100.0 * correct / Math.max(1, val.examples(batchIdx));
        }
    }

    public static Result run(RunConfig c, Path runDir, RunLog log) {
        c.validate();
        long t0 = System.nanoTime();
        try (Supernet model = loadSupernet(c, runDir); ValidationSet val = new ValidationSet(c)) {
            Folds folds = new Folds(val.batches(), c.folds);
            log.info("validation data: %s", val.describe());
            log.info("k-fold evolution search: %d validation batches of %d, %d folds of %d batches; population %d, "
                    + "%d generations", val.batches(), c.evalBatch, c.folds, folds.batchesPerFold(), c.population,
                    c.generations);
            Scorer scorer = new Scorer(model, val);
            List<Double> foldAccs = new ArrayList<>();
            List<Double> fullAccs = new ArrayList<>();
            List<int[]> archs = new ArrayList<>();
            List<Integer> evaluated = new ArrayList<>();
            for (int f = 0; f < c.folds; f++) {
                int[] in = folds.fold(f);
                int[] out = folds.complement(f);
                int fold = f;
                long tf = System.nanoTime();
                Evolution evo = new Evolution(c.evolution(), model.searchedUnits(), model.branches(),
                        c.seed * 1000 + f, a -> scorer.accuracy(a, in));
                Evolution.Result r = evo.run((gen, total, best, fit, n) -> log.info(
                        "fold %d/%d  generation %d/%d  best %.2f%%  evaluated %d  ETA %s", fold + 1, c.folds, gen,
                        total, fit, n, RunLog.duration((System.nanoTime() - tf) / 1e9 / gen
                                * ((total - gen) + (long) (c.folds - fold - 1) * (total + 1)))));
                double full = out.length == 0 ? r.fitness() : scorer.accuracy(r.best(), out);
                if (scorer.nonFinite.contains(r.best())) {
                    throw new NonFiniteException("the search stopped: fold " + f + "'s best architecture " + r.best()
                            + " gives NaN or infinite logits on some validation examples; the supernet is numerically "
                            + "broken: train it again with a lower --lr");
                }
                foldAccs.add(round2(r.fitness()));
                fullAccs.add(round2(full));
                archs.add(r.best().genes());
                evaluated.add(r.evaluated());
                log.info("fold %d: %s  fold acc %.2f%%  full acc %.2f%%  (%d architectures evaluated)", f, r.best(),
                        r.fitness(), full, r.evaluated());
            }
            if (!scorer.nonFinite.isEmpty()) {
                log.info("%d architectures gave NaN or infinite logits on some validation examples; those examples "
                        + "counted as wrong", scorer.nonFinite.size());
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            Result res = new Result(foldAccs, fullAccs, archs, evaluated, secs);
            write(runDir.resolve(RESULT), res, c.holdout() ? "val" : "test");
            print(res, log, c.holdout());
            return res;
        }
    }

    static double round2(double v) {
        return Math.round(v * 100) / 100.0;
    }

    /**
     * Prints the fold_accs / full_accs / archs block, the accuracies named after the data they were
     * measured on ("val_" under the holdout protocol, as in results.json).
     */
    public static void print(Result r, RunLog log, boolean holdout) {
        String prefix = holdout ? "val_" : "";
        log.plain(prefix + "fold_accs " + join(r.foldAccs()));
        log.plain(prefix + "full_accs " + join(r.fullAccs()));
        log.plain("archs " + r.archs().stream().map(java.util.Arrays::toString)
                .collect(Collectors.joining(", ", "[", "]")));
    }

    static String join(List<Double> v) {
        return v.stream().map(d -> String.format(Locale.ROOT, "%.2f", d)).collect(Collectors.joining(" "));
    }

    public static void write(Path file, Result r) {
        write(file, r, null);
    }

    /** As {@link #write(Path, Result)}, recording the data the accuracies were measured on (val or test). */
    public static void write(Path file, Result r, String measuredOn) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (measuredOn != null) {
            m.put("measured_on", measuredOn);
        }
        m.put("fold_accs", r.foldAccs());
        m.put("full_accs", r.fullAccs());
        m.put("archs", r.archs());
        m.put("evaluated", r.evaluated());
        m.put("seconds", r.seconds());
        JsonFiles.writeAtomically(file, m);
    }

    /**
     * Reads a search result written by {@link #write}, strictly: fold_accs and full_accs lists of
     * finite numbers, archs a list of lists of whole numbers (each a branch index in [0, branches)
     * over {@code units} units), all three of one length. Anything else ends in one line naming
     * the file and the entry.
     */
    public static Result read(Path file, int units, int branches) {
        JsonNode m;
        try {
            m = JsonFiles.MAPPER.readTree(file.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new IllegalArgumentException("no search result at " + file + " (run 'search' first)");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("search result " + file + " is not valid JSON: "
                    + e.getOriginalMessage().replaceAll("\\s+", " "));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read search result " + file + ": " + e.getMessage());
        }
        if (m == null || !m.isObject()) {
            throw malformed(file, "it is not a JSON object");
        }
        List<Double> fold = accs(file, m, "fold_accs");
        List<Double> full = accs(file, m, "full_accs");
        JsonNode as = list(file, m, "archs");
        List<int[]> archs = new ArrayList<>();
        for (int i = 0; i < as.size(); i++) {
            JsonNode a = as.get(i);
            String where = "archs[" + i + "]";
            if (!a.isArray() || a.size() != units) {
                throw malformed(file, where + " must be a list of " + units + " branch indices, got " + brief(a));
            }
            int[] g = new int[units];
            for (int j = 0; j < units; j++) {
                JsonNode x = a.get(j);
                if (!x.isIntegralNumber() || !x.canConvertToInt() || x.intValue() < 0 || x.intValue() >= branches) {
                    throw malformed(file, where + "[" + j + "] must be a whole number from 0 to " + (branches - 1)
                            + ", got " + brief(x));
                }
                g[j] = x.intValue();
            }
            archs.add(g);
        }
        if (fold.size() != archs.size() || full.size() != archs.size()) {
            throw malformed(file, "fold_accs, full_accs and archs differ in length (" + fold.size() + ", "
                    + full.size() + ", " + archs.size() + ")");
        }
        if (archs.isEmpty()) {
            throw malformed(file, "it holds no architecture");
        }
        return new Result(fold, full, archs, List.of(), 0);
    }

    private static JsonNode list(Path file, JsonNode m, String key) {
        JsonNode v = m.get(key);
        if (v == null) {
            throw malformed(file, "'" + key + "' is missing");
        }
        if (!v.isArray()) {
            throw malformed(file, "'" + key + "' must be a list, got " + brief(v));
        }
        return v;
    }

    private static List<Double> accs(Path file, JsonNode m, String key) {
        JsonNode v = list(file, m, key);
        List<Double> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            JsonNode x = v.get(i);
            if (!x.isNumber() || !(x.doubleValue() >= 0 && x.doubleValue() <= 100)) {
                throw malformed(file, key + "[" + i + "] must be an accuracy from 0 to 100, got " + brief(x));
            }
            out.add(x.doubleValue());
        }
        return out;
    }

    private static IllegalArgumentException malformed(Path file, String what) {
        return new IllegalArgumentException("search result " + file + " is malformed: " + what);
    }

    private static String brief(JsonNode n) {
        String s = n.toString();
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }
}
