package io.basq4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.cli.Main;
import io.basq4j.data.SyntheticFiles;
import io.basq4j.data.DataLoader;
import io.basq4j.data.Dataset;
import io.basq4j.data.Folds;
import io.basq4j.io.JsonFiles;
import io.basq4j.io.SafeTensors;
import io.basq4j.autograd.GradMode;
import io.basq4j.data.Batch;
import io.basq4j.io.TensorData;
import io.basq4j.models.Supernet;
import io.basq4j.search.KFoldSearch;
import io.basq4j.train.DataSources;
import io.basq4j.train.Finetuning;
import io.basq4j.train.RunConfig;
import io.basq4j.train.RunLog;
import java.util.ArrayList;
import java.util.Random;
import java.util.concurrent.atomic.AtomicIntegerArray;
import io.basq4j.models.MobileNetV2;
import io.basq4j.models.Models;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.testutil.Ref64;
import io.basq4j.train.Checkpoint;
import io.basq4j.train.SupernetTraining;
import io.basq4j.train.Training;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `pipeline --preset smoke` end to end on a small generated data set in the Fashion-MNIST file
 * format, and the resume contract of supernet training.
 */
@Tag("slow")
class PipelineEndToEndTest {
    @TempDir
    Path tmp;

    private static String run(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = Main.run(args);
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, "exit status of " + String.join(" ", args) + "\n" + out);
        return out;
    }

    @Test
    void smokePipelineWritesEveryOutputAndLearns() throws Exception {
        Path data = tmp.resolve("data");
        SyntheticFiles.writeFashionMnist(data, 400, 160, 5, true);
        Path runDir = tmp.resolve("run");
        String out = run("pipeline", "--preset", "smoke", "--dataset", "fashion", "--data", data.toString(),
                "--run", runDir.toString(), "--train-limit", "0", "--val-limit", "0");
        for (String f : List.of("config.json", "log.txt", "supernet.safetensors", "search.json", "results.json",
                "results.png", "train-curve.tsv", "checkpoints/supernet-last.safetensors", "models/fold-0.safetensors",
                "models/fold-1.safetensors", "models/model.safetensors")) {
            assertTrue(Files.isRegularFile(runDir.resolve(f)), f + " written");
        }
        assertTrue(out.contains("fold_accs ") && out.contains("full_accs ") && out.contains("archs [["), out);
        assertTrue(out.contains("val_finetuned_accs ") && out.contains("test_accs ") && out.contains("mean_test "),
                out);
        JsonNode r = new ObjectMapper().readTree(runDir.resolve("results.json").toFile());
        assertEquals(2, r.get("folds").size());
        assertEquals("auto", r.get("configuration").get("tf32").asText(), "the TF32 choice is recorded");
        assertEquals("auto", new ObjectMapper().readTree(runDir.resolve("config.json").toFile()).get("tf32").asText());
        for (JsonNode f : r.get("folds")) {
            assertEquals(17, f.get("architecture").size());
            // Step 3 starts from the supernet: before finetuning, the fold's architecture scores what
            // the search measured on the same batches (a wrong checkpoint, mode or batch set would not).
            double before = f.get("val_full_acc_before_finetune").asDouble();
            // (search.json keeps two decimals)
            assertEquals(f.get("val_full_acc").asDouble(), before, 0.005 + 1e-9, "fold " + f.get("fold"));
            // one accuracy per finetuning epoch, and the fold's result is the best of all (SPEC 7)
            JsonNode epochs = f.get("val_full_acc_per_epoch");
            assertEquals(2, epochs.size());
            double best = before;
            for (JsonNode e : epochs) {
                best = Math.max(best, e.asDouble());
            }
            assertEquals(best, f.get("val_finetuned_acc").asDouble(), 0.0);
        }
        JsonNode curve = r.get("training_curve");
        assertTrue(curve.size() >= 4);
        double first = curve.get(0).get("loss").asDouble();
        double last = curve.get(curve.size() - 1).get("loss").asDouble();
        assertTrue(last < first, "the training loss fell: " + first + " -> " + last);
        assertTrue(Files.size(runDir.resolve("results.png")) > 1000);

        // The random-architecture baseline on the same supernet, with step 3 applied to each.
        String rnd = run("random", "--run", runDir.toString(), "--count", "2", "--finetune");
        assertTrue(rnd.contains("random_mean ") && rnd.contains("random_finetuned_mean "), rnd);
        JsonNode rj = new ObjectMapper().readTree(runDir.resolve("random.json").toFile());
        assertEquals("val", rj.get("measured_on").asText());
        assertEquals(2, rj.get("archs").size());
        for (int i = 0; i < 2; i++) {
            assertEquals(17, rj.get("archs").get(i).size());
            double acc = rj.get("finetuned_accs").get(i).asDouble();
            assertTrue(acc >= 0 && acc <= 100, "an accuracy: " + acc);
        }
    }

    @Test
    void resumedTrainingEqualsAnUninterruptedRun() throws Exception {
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        String[] common = {"--preset", "smoke", "--iters", "6", "--checkpoint-every", "4"};
        run(concat(new String[] {"train-supernet", "--run", a.toString()}, common));
        // Interrupted mid phase a, and again mid phase b, then resumed to the end.
        run(concat(new String[] {"train-supernet", "--run", b.toString(), "--max-iterations", "4"}, common));
        run(concat(new String[] {"train-supernet", "--run", b.toString(), "--resume", "--max-iterations", "5"},
                common));
        run(concat(new String[] {"train-supernet", "--run", b.toString(), "--resume"}, common));
        Map<String, TensorData> ta = SafeTensors.read(a.resolve("supernet.safetensors")).tensors();
        Map<String, TensorData> tb = SafeTensors.read(b.resolve("supernet.safetensors")).tensors();
        assertEquals(ta.keySet(), tb.keySet());
        int compared = 0;
        for (String k : ta.keySet()) {
            TensorData x = ta.get(k);
            TensorData y = tb.get(k);
            if (x.dtype() == TensorData.DType.F32) {
                assertArrayEquals(x.f32(), y.f32(), k);
            } else {
                assertArrayEquals(x.i64(), y.i64(), k);
            }
            compared++;
        }
        assertTrue(compared > 1000);
        // and training moved the parameters away from their initialization
        RunConfig c = RunConfig.preset("smoke");
        try (Supernet init = Models.create(c.arch, c.modelConfig())) {
            Map<String, io.basq4j.tensor.Tensor> st = init.stateTensors();
            for (String n : List.of("feature.18.bn_qconv_bn_relu_0.2.weights", "feature.3.conv1.weights",
                    "feature.18.bn_qconv_bn_relu_0.0.weight", "classifier.1.bias")) {
                float[] before = st.get(n).toFloatArray();
                float[] after = ta.get(Checkpoint.MODEL + n).f32();
                int moved = 0;
                for (int i = 0; i < before.length; i++) {
                    moved += before[i] != after[i] ? 1 : 0;
                }
                assertTrue(moved >= 0.9 * before.length, n + ": " + moved + " of " + before.length + " moved");
            }
        }
    }

    @Test
    void fullPrecisionTeacherTrainsAndDistills() throws Exception {
        Path runDir = tmp.resolve("kd");
        String fp = run("train-fp", "--preset", "smoke", "--run", runDir.toString(), "--epochs", "1");
        assertTrue(fp.contains("fp_top1 "), fp);
        Path teacher = runDir.resolve("teacher.safetensors");
        assertTrue(Files.isRegularFile(teacher));
        String out = run("train-supernet", "--preset", "smoke", "--run", runDir.toString(), "--iters", "1",
                "--log-every", "1", "--teacher", teacher.toString());
        assertTrue(out.contains("teacher: full-precision MobileNet-v2 from " + teacher), out);
        assertTrue(Files.isRegularFile(runDir.resolve("supernet.safetensors")));
        // The first iteration's loss (train-curve.tsv: step, loss, lr) is SPEC 5's distillation loss of
        // the student's logits against the teacher's, computed here in float64 from the same batch.
        double logged = Double.parseDouble(Files.readAllLines(runDir.resolve("train-curve.tsv")).stream()
                .filter(l -> l.startsWith("1\t")).findFirst().orElseThrow().split("\t")[1]);
        RunConfig c = RunConfig.preset("smoke");
        try (DataLoader loader = DataLoader.builder(DataSources.train(c)).batchSize(c.batch).shuffle(true)
                .dropLast(true).seed(c.seed).workers(c.workers).build();
                Supernet student = Models.create(c.arch, c.modelConfig());
                MobileNetV2 fpNet = new MobileNetV2(c.modelConfig());
                Scope s = Scope.open()) {
            Checkpoint.load(teacher).restoreModel(fpNet);
            fpNet.eval();
            Batch b = new Training.BatchStream(loader, 0).next();
            io.basq4j.tensor.Tensor x = Training.images(b, Device.CPU);
            int units = student.searchedUnits();
            student.initActivationSteps(x, SupernetTraining.selection(c.seed, -1, units, student.branches()));
            student.train();
            student.dropout().setOffset(0);
            float[] sl = student.forward(x, SupernetTraining.selection(c.seed, 0, units, student.branches()))
                    .toFloatArray();
            float[] tl;
            try (GradMode off = GradMode.off()) {
                tl = fpNet.forward(x).toFloatArray();
            }
            int k = c.classes;
            double kd = Ref64.kdLoss(Ref64.toDouble(sl), Ref64.toDouble(tl), b.n(), k);
            assertEquals(kd, logged, 1e-5 * kd, "the distillation loss of the first iteration");
            double ce = Ref64.crossEntropy(Ref64.toDouble(sl), b.n(), k, b.labels());
            assertTrue(Math.abs(ce - logged) > 1e-3, "not the cross-entropy on the labels: " + ce);
        }
    }

    /** A data set that counts the loads of each example and notes what existed on disk at the first one. */
    static final class Counting implements Dataset {
        final Dataset base;
        final AtomicIntegerArray loads;
        final java.util.function.BooleanSupplier stateAtFirstLoad;
        volatile Boolean firstLoadState;

        Counting(Dataset base, java.util.function.BooleanSupplier stateAtFirstLoad) {
            this.base = base;
            this.loads = new AtomicIntegerArray(base.size());
            this.stateAtFirstLoad = stateAtFirstLoad;
        }

        public int size() {
            return base.size();
        }

        public int channels() {
            return base.channels();
        }

        public int height() {
            return base.height();
        }

        public int width() {
            return base.width();
        }

        public int classes() {
            return base.classes();
        }

        public long label(int i) {
            return base.label(i);
        }

        public long load(int i, float[] dst, int offset, Random rng) {
            synchronized (this) {
                if (firstLoadState == null) {
                    firstLoadState = stateAtFirstLoad.getAsBoolean();
                }
            }
            loads.incrementAndGet(i);
            return base.load(i, dst, offset, rng);
        }

        public String describe() {
            return base.describe();
        }
    }

    /**
     * The holdout protocol end to end: steps 1 and 2 run without the test files; step 3 reads the
     * test set once, after every fold's network is saved; models/model.safetensors is the fold of
     * the best val_finetuned_acc; each saved network is the state of the epoch results.json
     * reports (re-finetuned here); evaluate reproduces results.json's test accuracies exactly.
     */
    @Test
    void holdoutRunSavesTheChosenNetworksAndEvaluateReproducesTheTestAccuracy() throws Exception {
        Path data = tmp.resolve("data");
        SyntheticFiles.writeFashionMnist(data, 400, 160, 5, true);
        Path runDir = tmp.resolve("run");
        String[] common = {"--preset", "smoke", "--dataset", "fashion", "--data", data.toString(), "--run",
            runDir.toString(), "--train-limit", "0", "--val-limit", "0", "--finetune-batches", "8",
            "--finetune-epochs", "3"};
        Path away = Files.createDirectories(tmp.resolve("away"));
        for (String f : List.of("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")) {
            Files.move(data.resolve(f), away.resolve(f));
        }
        run(concat(new String[] {"train-supernet"}, common));
        run(concat(new String[] {"search"}, common));
        for (String f : List.of("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")) {
            Files.move(away.resolve(f), data.resolve(f));
        }

        RunConfig c = JsonFiles.MAPPER.readValue(runDir.resolve("config.json").toFile(), RunConfig.class);
        assertEquals("holdout", c.protocol);
        Counting test = new Counting(DataSources.test(c), () -> Files.exists(FinetuneStep.foldFile(runDir, 0))
                && Files.exists(FinetuneStep.foldFile(runDir, 1)));
        FinetuneStep.Result ft;
        KFoldSearch.Result search;
        try (RunLog log = new RunLog(new PrintStream(new ByteArrayOutputStream()), tmp.resolve("log.txt"))) {
            ft = FinetuneStep.run(c, runDir, log, () -> test);
            try (Supernet probe = KFoldSearch.loadSupernet(c, runDir)) {
                search = KFoldSearch.read(runDir.resolve(KFoldSearch.RESULT), probe.searchedUnits(), probe.branches());
            }
            Results.write(runDir, c, null, search, ft, Map.of());
        }
        assertEquals(Boolean.TRUE, test.firstLoadState, "the test set is first read after every fold is saved");
        for (int i = 0; i < test.size(); i++) {
            assertEquals(1, test.loads.get(i), "test example " + i + " read once");
        }

        JsonNode r = new ObjectMapper().readTree(runDir.resolve("results.json").toFile());
        assertEquals("holdout", r.get("protocol").asText());
        assertTrue(r.get("data").get("val").asText().startsWith("validation split [128 of the 400"), r.toString());
        assertEquals("the packed inference engine", r.get("data").get("test_run_by").asText(), r.toString());
        int best = -1;
        for (JsonNode f : r.get("folds")) {
            for (String k : List.of("val_fold_acc", "val_full_acc", "val_full_acc_before_finetune",
                    "val_full_acc_per_epoch", "val_finetuned_acc", "chosen_epoch", "test_acc")) {
                assertTrue(f.has(k), k + " in " + f);
            }
            assertFalse(f.has("fold_acc") || f.has("full_acc") || f.has("finetuned_acc"), "unlabelled: " + f);
            // the reported number is the best of before and each epoch, and the chosen epoch reached it
            List<Double> accs = new ArrayList<>();
            accs.add(f.get("val_full_acc_before_finetune").asDouble());
            f.get("val_full_acc_per_epoch").forEach(v -> accs.add(v.asDouble()));
            int chosen = f.get("chosen_epoch").asInt();
            assertEquals(accs.stream().mapToDouble(Double::doubleValue).max().orElseThrow(),
                    f.get("val_finetuned_acc").asDouble());
            assertEquals(accs.indexOf(f.get("val_finetuned_acc").asDouble()), chosen);
            if (best < 0 || f.get("val_finetuned_acc").asDouble()
                    > r.get("folds").get(best).get("val_finetuned_acc").asDouble()) {
                best = f.get("fold").asInt();
            }
        }
        assertTrue(r.has("mean_val_finetuned_acc") && r.has("mean_test_acc") && !r.has("mean_finetuned_acc"));
        assertEquals(best, r.get("model").get("fold").asInt());
        assertEquals("val_finetuned_acc", r.get("model").get("chosen_by").asText());

        // model.safetensors holds exactly the tensors of the chosen fold's file
        Map<String, TensorData> model = SafeTensors.read(FinetuneStep.modelFile(runDir)).tensors();
        assertEquals(SafeTensors.read(FinetuneStep.foldFile(runDir, best)).tensors(), model);
        assertEquals(Files.size(FinetuneStep.modelFile(runDir)), r.get("model").get("bytes").asLong());

        // evaluate (the Classifier, the model's own preprocessing of the test images) gives results.json's numbers
        for (int f = 0; f < 2; f++) {
            Path out = tmp.resolve("eval-" + f);
            run("evaluate", FinetuneStep.foldFile(runDir, f).toString(), "--out", out.toString());
            JsonNode e = new ObjectMapper().readTree(out.resolve("evaluation.json").toFile());
            assertEquals(160, e.get("examples").asInt());
            assertEquals(r.get("folds").get(f).get("test_acc").asDouble(), e.get("top1").asDouble(), 0.0,
                    "fold " + f);
        }
        String ev = run("evaluate", FinetuneStep.modelFile(runDir).toString());
        JsonNode e = new ObjectMapper().readTree(runDir.resolve("models").resolve("evaluation.json").toFile());
        assertEquals(r.get("model").get("test_acc").asDouble(), e.get("top1").asDouble(), 0.0, ev);

        // each saved network is the state of its chosen epoch: finetune the fold again, keeping every epoch
        try (KFoldSearch.ValidationSet val = new KFoldSearch.ValidationSet(c);
                DataLoader train = FinetuneStep.trainLoader(c);
                RunLog log = new RunLog(new PrintStream(new ByteArrayOutputStream()), tmp.resolve("log2.txt"))) {
            Folds folds = new Folds(val.batches(), 2);
            int differing = 0;
            for (int f = 0; f < 2; f++) {
                int[] arch = search.archs().get(f);
                int[] outside = folds.complement(f);
                List<Map<String, TensorData>> states = new ArrayList<>();
                List<Double> accs = new ArrayList<>();
                try (Supernet m = KFoldSearch.loadSupernet(c, runDir)) {
                    states.add(m.subnetState(arch));
                    double before = FinetuneStep.fullAccuracy(m, arch, val, outside);
                    Finetuning.run(c, f, arch, m, train, (mm, a) -> {
                        double acc = FinetuneStep.fullAccuracy(mm, a, val, outside);
                        states.add(mm.subnetState(a));
                        accs.add(acc);
                        return acc;
                    }, before, log);
                }
                JsonNode fj = r.get("folds").get(f);
                for (int k = 0; k < accs.size(); k++) {
                    assertEquals(fj.get("val_full_acc_per_epoch").get(k).asDouble(), accs.get(k), 0.0);
                }
                int chosen = fj.get("chosen_epoch").asInt();
                System.out.println("fold " + f + ": val " + accs + " (before " + fj.get("val_full_acc_before_finetune")
                        + "), chosen epoch " + chosen + ", test " + fj.get("test_acc"));
                Map<String, TensorData> saved = SafeTensors.read(FinetuneStep.foldFile(runDir, f)).tensors();
                for (int k = 0; k < states.size(); k++) {
                    boolean same = states.get(k).equals(saved); // names, dtypes, shapes and values
                    assertEquals(k == chosen, same, "fold " + f + ": saved state vs epoch " + k + " (chosen "
                            + chosen + ")");
                    differing += same ? 0 : 1;
                }
            }
            assertTrue(differing >= 4, "the epochs' states differ");
        }
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
