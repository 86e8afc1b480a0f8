package io.basq4j.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.testutil.Cli;
import io.basq4j.testutil.Golden;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code import-supernet} on the golden reference checkpoints (2- and 4-bit MobileNet-v2, width
 * 0.5, 32x32, 10 classes), then steps 2 and 3 on synthetic data of their shape; and the inputs it
 * (and the teacher option) must refuse.
 */
class ImportSupernetTest {
    @TempDir
    Path tmp;

    static String ok(String... args) {
        Cli.Result r = Cli.run(args);
        assertEquals(0, r.rc(), String.join(" ", args) + "\n" + r.out() + r.err());
        return r.out();
    }

    /** Exit status 1, one short line on stderr and nothing else (no stack trace), the run directory not created. */
    static String refused(Path runDir, String... args) {
        Cli.Result r = Cli.run(args);
        String err = r.oneError();
        assertEquals(err, r.err().strip(), "one line: " + r);
        assertTrue(err.startsWith("error: "), err);
        assertFalse(err.contains("Exception"), err);
        assertFalse(Files.exists(runDir), runDir + " must not be created");
        return err;
    }

    private static final String[] DATA = {"--preset", "smoke", "--dataset", "synthetic", "--protocol", "reference"};

    @ParameterizedTest
    @ValueSource(strings = {"mbv2_w0.5_a2w2_r32", "mbv2_w0.5_a4w4_r32"})
    void goldenPthImportsExactlyAndStepsMatchTheSafetensorsState(String stem) throws Exception {
        Path pth = Golden.file(stem + ".pth");
        Path st = Golden.file(stem + ".safetensors");
        Path modulePth = withDataParallelPrefix(pth, tmp.resolve("module.pth"));
        Path a = tmp.resolve("from-pth");
        Path b = tmp.resolve("from-safetensors");
        Path c = tmp.resolve("from-module-pth");
        String report = ok(concat(new String[] {"import-supernet", pth.toString(), "--run", a.toString()}, DATA));
        int bits = stem.contains("a4w4") ? 4 : 2;
        assertTrue(report.contains("width 0.5 divisor 8") && report.contains("3 input channels")
                && report.contains("10 classes") && report.contains("7 branches")
                && report.contains(bits + " bits (from the clip quantizers' bin)"), report);
        ok(concat(new String[] {"import-supernet", st.toString(), "--run", b.toString()}, DATA));
        ok(concat(new String[] {"import-supernet", modulePth.toString(), "--run", c.toString()}, DATA));

        // The imported state is exactly the golden state.* (the reference's own tensors).
        SafeTensors.File golden = SafeTensors.read(st);
        for (Path run : List.of(a, b, c)) {
            SafeTensors.File imported = SafeTensors.read(run.resolve("supernet.safetensors"));
            assertEquals("true", imported.metadata().get("weight_quant"));
            assertEquals("supernet-final", imported.metadata().get("kind"));
            int compared = 0;
            for (Map.Entry<String, TensorData> e : golden.tensors().entrySet()) {
                if (!e.getKey().startsWith("state.")) {
                    continue;
                }
                TensorData want = e.getValue();
                TensorData got = imported.get("model." + e.getKey().substring("state.".length()));
                assertEquals(want.numel(), got.numel(), e.getKey());
                if (want.dtype() == TensorData.DType.F32) {
                    assertArrayEquals(want.f32(), got.f32(), e.getKey());
                } else {
                    assertArrayEquals(want.i64(), got.i64(), e.getKey());
                }
                compared++;
            }
            assertEquals(compared, imported.tensors().size());
            JsonNode cfg = new ObjectMapper().readTree(run.resolve("config.json").toFile());
            assertEquals("mobilenetv2", cfg.get("arch").asText());
            assertEquals(0.5, cfg.get("width").asDouble());
            assertEquals(8, cfg.get("divisor").asInt());
            assertEquals(3, cfg.get("inChannels").asInt());
            assertEquals(10, cfg.get("classes").asInt());
            assertEquals(bits, cfg.get("bits").asInt());
            assertEquals(7, cfg.get("branches").asInt());
            assertEquals(32, cfg.get("resolution").asInt());
            assertEquals("synthetic", cfg.get("dataset").asText());
        }

        ObjectMapper json = new ObjectMapper();
        JsonNode cfgA = json.readTree(a.resolve("config.json").toFile());
        assertEquals(cfgA, json.readTree(b.resolve("config.json").toFile()));
        assertEquals(cfgA, json.readTree(c.resolve("config.json").toFile()));

        // Steps 2 and 3, unchanged, on the .pth and the safetensors import: the same results. (The
        // module.-prefixed import holds the same tensors and configuration, checked above.)
        List<JsonNode[]> outcomes = new ArrayList<>();
        for (Path run : List.of(a, b)) {
            ok("search", "--run", run.toString());
            ok("finetune", "--run", run.toString());
            ObjectMapper m = new ObjectMapper();
            outcomes.add(new JsonNode[] {m.readTree(run.resolve("search.json").toFile()),
                m.readTree(run.resolve("results.json").toFile()).get("folds")});
        }
        JsonNode search = outcomes.get(0)[0];
        assertEquals(2, search.get("archs").size());
        assertEquals(2, outcomes.get(0)[1].size());
        for (int i = 1; i < outcomes.size(); i++) {
            assertEquals(search.get("archs"), outcomes.get(i)[0].get("archs"));
            assertEquals(search.get("fold_accs"), outcomes.get(i)[0].get("fold_accs"));
            assertEquals(search.get("full_accs"), outcomes.get(i)[0].get("full_accs"));
            assertEquals(outcomes.get(0)[1], outcomes.get(i)[1]);
        }
    }

    @Test
    void contradictionsAreListedInOneShortLine() {
        Path run = tmp.resolve("never");
        String err = refused(run, "import-supernet", Golden.file("mbv2_w0.5_a2w2_r32.pth").toString(), "--run",
                run.toString(), "--preset", "smoke", "--in-channels", "1", "--classes", "100", "--bits", "3",
                "--width", "0.75", "--branches", "5", "--arch", "resnet20");
        for (String part : new String[] {"architecture mobilenetv2 in the file, --arch resnet20",
            "input channels 3 in the file, --in-channels 1", "classes 10 in the file, --classes 100",
            "branches 7 in the file, --branches 5", "bits 2 in the file, --bits 3", "from --width 0.75"}) {
            assertTrue(err.contains(part), part + " in: " + err);
        }
        assertTrue(err.length() < 700, err.length() + " characters: " + err);
    }

    @Test
    void badInputsEndInOneLineAndNoRunDirectory() throws Exception {
        Path tv = Golden.file("torchvision_resnet_bottleneck.pth");
        Path sn = Golden.file("mbv2_w0.5_a2w2_r32.pth");
        Path run = tmp.resolve("r");
        // A torchvision checkpoint given as a supernet.
        String e = refused(run, "import-supernet", tv.toString(), "--run", run.toString());
        assertTrue(e.contains("is a torchvision ResNet state dict, not a BASQ supernet"), e);
        // A supernet given as a teacher, as .pth ...
        e = refused(run, "train-supernet", "--preset", "smoke", "--run", run.toString(), "--teacher",
                "torchvision:" + sn);
        assertTrue(e.contains("is a BASQ supernet checkpoint, not a torchvision ResNet teacher"), e);
        // ... and as basq4j's own supernet file.
        Path imported = tmp.resolve("imported");
        ok(concat(new String[] {"import-supernet", sn.toString(), "--run", imported.toString()}, DATA));
        e = refused(run, "train-supernet", "--preset", "smoke", "--run", run.toString(), "--teacher",
                imported.resolve("supernet.safetensors").toString());
        assertTrue(e.contains("is a BASQ supernet, not a full-precision teacher"), e);
        // A teacher whose classes differ from the student's (in training and in finetuning).
        e = refused(run, "train-supernet", "--preset", "smoke", "--in-channels", "3", "--classes", "5", "--run",
                run.toString(), "--teacher", "torchvision:" + tv);
        assertTrue(e.contains("predicts 10 classes but the student has 5"), e);
        e = refused(run, "finetune", "--preset", "smoke", "--in-channels", "3", "--classes", "5", "--run",
                run.toString(), "--teacher", "torchvision:" + tv, "--finetune-loss", "kd");
        assertTrue(e.contains("predicts 10 classes but the student has 5"), e);
        // The paper's preset without its teacher file: the option and torchvision's cache are named.
        e = refused(run, "train-supernet", "--preset", "imagenet-paper", "--data", tmp.toString(), "--run",
                run.toString());
        assertTrue(e.contains("--teacher torchvision:FILE.pth") && e.contains("~/.cache/torch/hub/checkpoints/"), e);
        e = refused(run, "pipeline", "--preset", "imagenet-paper", "--run", run.toString(), "--teacher",
                "torchvision:" + tmp.resolve("resnet50-missing.pth"));
        assertTrue(e.contains("does not exist") && e.contains("resnet50-0676ba61.pth"), e);
        // A teacher with 3 input channels and 2-channel data: refused (1-channel data is replicated).
        e = refused(run, "train-supernet", "--preset", "smoke", "--in-channels", "2", "--run", run.toString(),
                "--teacher", "torchvision:" + tv);
        assertTrue(e.contains("takes 3 input channels but the data has 2"), e);
        // Not a checkpoint at all; a missing file; an existing supernet without --force.
        Path junk = Files.writeString(tmp.resolve("junk.pth"), "not a checkpoint");
        e = refused(run, "import-supernet", junk.toString(), "--run", run.toString());
        assertTrue(e.contains("neither a PyTorch zip checkpoint"), e);
        e = refused(run, "import-supernet", tmp.resolve("missing.pth").toString(), "--run", run.toString());
        assertTrue(e.contains("does not exist"), e);
        Cli.Result again = Cli.run("import-supernet", sn.toString(), "--run", imported.toString());
        assertNotEquals(0, again.rc());
        assertTrue(again.err().contains("already holds supernet.safetensors"), again.err());
    }

    /**
     * import-supernet works under the run directory's lock (another command holding it is named),
     * and --force removes the outputs of the run that was there (search, results, saved networks)
     * before writing, keeping files of the user's.
     */
    @Test
    void importTakesTheRunDirectoryAndForceClearsTheOldRun() throws Exception {
        Path sn = Golden.file("mbv2_w0.5_a2w2_r32.pth");
        Path run = tmp.resolve("taken");
        ok(concat(new String[] {"import-supernet", sn.toString(), "--run", run.toString()}, DATA));
        Path models = Files.createDirectories(run.resolve("models"));
        List<Path> old = List.of(run.resolve("search.json"), run.resolve("results.json"), run.resolve("results.png"),
                models.resolve("fold-0.safetensors"), models.resolve("model.safetensors"),
                models.resolve("evaluation.json"));
        for (Path p : old) {
            Files.writeString(p, "from the earlier run");
        }
        Path mine = Files.writeString(models.resolve("notes.txt"), "the user's");
        byte[] before = Files.readAllBytes(run.resolve("supernet.safetensors"));
        try (io.basq4j.train.RunDirectory held = io.basq4j.train.RunDirectory.lock(run, "basq4j search --run x")) {
            Cli.Result busy = Cli.run(concat(new String[] {"import-supernet", sn.toString(), "--run", run.toString(),
                "--force"}, DATA));
            assertNotEquals(0, busy.rc());
            assertTrue(busy.err().contains("is in use by") && busy.err().contains("basq4j search --run x"),
                    busy.err());
        }
        for (Path p : old) {
            assertTrue(Files.exists(p), "a refused import leaves " + p);
        }
        ok(concat(new String[] {"import-supernet", sn.toString(), "--run", run.toString(), "--force"}, DATA));
        for (Path p : old) {
            assertFalse(Files.exists(p), p + " of the earlier run is removed by --force");
        }
        assertTrue(Files.exists(mine), "files that no step writes stay");
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(run.resolve("supernet.safetensors"))),
                "the same file imports to the same supernet");
    }

    /**
     * The README's "Reproducing the paper" commands on small stand-ins: the golden reference
     * checkpoint for the released supernet, the golden torchvision Bottleneck ResNet for ResNet-50,
     * a 10-class image folder for ImageNet; the imagenet-paper preset with its sizes scaled down.
     */
    @Test
    void paperWorkflowOnStandIns() throws Exception {
        Path data = tmp.resolve("imagenet");
        io.basq4j.data.SyntheticFiles.writeImageFolder(data, 10, 4, 4, 1, false);
        String teacher = "torchvision:" + Golden.file("torchvision_resnet_bottleneck.pth");
        String[] small = {"--resolution", "32", "--device", "cpu", "--workers", "1", "--batch", "8", "--eval-batch",
            "8", "--folds", "2", "--population", "6", "--parents", "3", "--mutations", "2", "--crossovers", "2",
            "--generations", "2"};
        Path run = tmp.resolve("paper");
        ok(concat(new String[] {"import-supernet", Golden.file("mbv2_w0.5_a2w2_r32.pth").toString(), "--preset",
            "imagenet-paper", "--data", data.toString(), "--teacher", teacher, "--run", run.toString()}, small));
        JsonNode cfg = new ObjectMapper().readTree(run.resolve("config.json").toFile());
        assertEquals("imagenet-paper", cfg.get("preset").asText());
        assertEquals(teacher, cfg.get("teacher").asText());
        assertEquals(466000, cfg.get("itersPerPhase").asLong());
        String s = ok("search", "--run", run.toString());
        assertTrue(s.contains("fold_accs ") && s.contains("archs [["), s);
        String f = ok("finetune", "--run", run.toString());
        assertTrue(f.contains("cross-entropy") && f.contains("finetuned_accs "), f);
        String kd = ok("finetune", "--run", run.toString(), "--finetune-loss", "kd");
        assertTrue(kd.contains("teacher: torchvision ResNet(Bottleneck [1, 1, 1, 1], width 16)"), kd);
        assertTrue(kd.contains("input: the student's batches as they are"), kd); // ImageNet normalization on both
        assertTrue(kd.contains("distillation loss") && kd.contains("finetuned_accs "), kd);
        // Step 1 from scratch distils from the same teacher.
        Path scratch = tmp.resolve("scratch");
        String t = ok(concat(new String[] {"train-supernet", "--preset", "imagenet-paper", "--data", data.toString(),
            "--teacher", teacher, "--run", scratch.toString(), "--iters", "2", "--width", "0.25", "--divisor",
            "8", "--classes", "10"}, small));
        assertTrue(t.contains("teacher: torchvision ResNet(Bottleneck"), t);
        assertTrue(Files.isRegularFile(scratch.resolve("supernet.safetensors")));
    }

    /** Fashion-MNIST-like 1-channel data and a 3-channel torchvision teacher: the gray channel is replicated. */
    @Test
    void grayDataDistilsFromAnRgbTeacher() throws Exception {
        Path data = tmp.resolve("fashion");
        io.basq4j.data.SyntheticFiles.writeFashionMnist(data, 96, 64, 2, false);
        Path run = tmp.resolve("gray");
        String t = ok("train-supernet", "--preset", "smoke", "--dataset", "fashion", "--data", data.toString(),
                "--train-limit", "0", "--val-limit", "0", "--val-split", "32", "--iters", "2", "--run", run.toString(),
                "--teacher",
                "torchvision:" + Golden.file("torchvision_resnet_bottleneck.pth"));
        assertTrue(t.contains("1-channel data replicated to 3 channels, re-normalized from the data's mean 0.2860,"
                + " std 0.3530 to the teacher's mean 0.4850/0.4560/0.4060, std 0.2290/0.2240/0.2250"), t);
        assertTrue(Files.isRegularFile(run.resolve("supernet.safetensors")));
    }

    // ------------------------------------------------------------------ helpers

    /**
     * A copy of a reference checkpoint as an {@code nn.DataParallel} model saves it: every state
     * name prefixed with "module." (the pickle's BINUNICODE strings rewritten; storages as they are).
     */
    static Path withDataParallelPrefix(Path pth, Path out) throws IOException {
        try (ZipFile in = new ZipFile(pth.toFile());
                ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(out))) {
            for (Enumeration<? extends ZipEntry> en = in.entries(); en.hasMoreElements(); ) {
                ZipEntry e = en.nextElement();
                byte[] data;
                try (InputStream s = in.getInputStream(e)) {
                    data = s.readAllBytes();
                }
                if (e.getName().endsWith("/data.pkl")) {
                    data = prefixNames(data);
                }
                zip.putNextEntry(new ZipEntry(e.getName()));
                zip.write(data);
                zip.closeEntry();
            }
        }
        return out;
    }

    private static byte[] prefixNames(byte[] p) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        int renamed = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 'X' && i + 5 < p.length) {
                int len = ByteBuffer.wrap(p, i + 1, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
                if (len > 0 && i + 5 + len <= p.length) {
                    String s = new String(p, i + 5, len, StandardCharsets.UTF_8);
                    if (s.startsWith("feature.") || s.startsWith("classifier.")) {
                        byte[] n = ("module." + s).getBytes(StandardCharsets.UTF_8);
                        o.write('X');
                        o.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(n.length).array());
                        o.writeBytes(n);
                        i += 4 + len;
                        renamed++;
                        continue;
                    }
                }
            }
            o.write(p[i]);
        }
        assertTrue(renamed > 1000, "renamed " + renamed + " names");
        return o.toByteArray();
    }

    static String[] concat(String[] a, String[] b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
