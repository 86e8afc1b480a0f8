package io.basq4j.parity;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.F;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.testutil.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The parity engine on the shared golden files (against their float64 twins), and on files
 * changed so that it must fail.
 */
class ParityTest {
    static final String A2W2 = "mbv2_w0.5_a2w2_r32.safetensors";
    static final String A4W4 = "mbv2_w0.5_a4w4_r32.safetensors";

    /** Checks common to both shared files: every tensor held, the forward far inside its bound. */
    private static void assertPasses(Report r, int tieFeature) {
        assertTrue(r.ok(), r.format(true));
        assertEquals(Parity.Rule.FLOAT64, r.rule());
        Map<String, Report.GroupSummary> g = r.groups();
        assertEquals(List.of("logits_eval", "logits_train", "loss", "grad", "state_after", "act"),
                List.copyOf(g.keySet()));
        for (Check c : r.checks()) {
            assertTrue(c.held(), c.name() + " is held");
            assertTrue(Double.isFinite(c.error()) && Double.isFinite(c.referenceError()), c.toString());
        }
        // the forward as close to float64 as float32 allows (the stored twins are float32 themselves)
        for (String f : List.of("logits_eval", "logits_train", "loss", "act")) {
            assertTrue(g.get(f).worstError() < 1e-6, f + " " + g.get(f));
        }
        assertEquals(19, g.get("act").tensors());
        assertEquals(920, g.get("state_after").tensors());
        assertEquals(tieFeature, r.tieFeature(), "float-noise ReLU ties are found in feature " + tieFeature);
        // Downstream of the last tie every gradient meets its own bound, tightly.
        int downstream = 0;
        for (Check c : r.checks()) {
            if (c.group().equals("grad") && !c.tieAffected()) {
                assertTrue(c.ok() && c.error() < 1e-5, c.toString());
                downstream++;
            }
        }
        assertTrue(downstream > 50, "features after the ties and the classifier: " + downstream);
        // The tensors accepted as ties: tie-affected gradients, within the reference's worst there, and
        // fewer than the reference's own misses against basq4j.
        Report.TieVerdict tv = r.tieVerdict();
        assertEquals(tv.misses(), tv.accepted());
        for (Check c : tv.accepted()) {
            assertTrue(c.group().equals("grad") && c.tieAffected() && c.error() <= tv.tieBound(), c.toString());
        }
        assertTrue(tv.accepted().size() <= tv.referenceMisses(), tv.toString());
    }

    @Test
    void a2w2PassesWithEveryGradientHeld() {
        Report r = Parity.run(new Parity.Options(Golden.file(A2W2)));
        assertPasses(r, 14);
        assertEquals(744, r.groups().get("grad").held(), "every gradient the file has");
        String out = r.format(false);
        assertTrue(out.contains("note: feature 14 has"), out);
        assertTrue(out.contains("per tensor: "), out);
        assertTrue(out.endsWith(": OK"), out);
    }

    @Test
    void a4w4PassesWithEveryGradientHeld() {
        Report r = Parity.run(new Parity.Options(Golden.file(A4W4)));
        assertPasses(r, 15);
        assertEquals(723, r.groups().get("grad").held());
    }

    @Test
    void referenceCheckpointsGiveTheSameResult() {
        for (String f : List.of(A2W2, A4W4)) {
            Path file = Golden.file(f);
            Report a = Parity.run(new Parity.Options(file));
            Report b = Parity.run(new Parity.Options(file).withPth(Golden.file(f.replace(".safetensors", ".pth"))));
            assertTrue(b.ok(), b.format(false));
            assertEquals(a.checks(), b.checks());
            assertTrue(b.header().contains(".pth"), b.header());
        }
    }

    @Test
    void layerByLayerPathPassesToo() {
        boolean was = F.fusion();
        F.setFusion(false);
        try {
            Report r = Parity.run(new Parity.Options(Golden.file(A4W4)));
            assertPasses(r, 15);
        } finally {
            F.setFusion(was);
        }
    }

    @Test
    void perTensorAcceptsNoTieMiss() {
        Report r = Parity.run(new Parity.Options(Golden.file(A2W2)).withPerTensor(true));
        assertFalse(r.ok());
        assertFalse(r.failures().isEmpty());
        for (Check c : r.failures()) {
            assertTrue(c.tieAffected() && c.name().startsWith("grad.feature."), c.name());
        }
        assertTrue(r.format(false).contains("not accepted (--per-tensor)"), r.format(false));
    }

    @Test
    void againstFloat32KeepsTheOlderRule() {
        Report r = Parity.run(new Parity.Options(Golden.file(A2W2)).withAgainstFloat32(true));
        assertTrue(r.ok(), r.format(false));
        assertEquals(Parity.Rule.FLOAT32, r.rule());
        assertTrue(r.groups().containsKey(Parity.TIE_GROUP));
        assertTrue(r.format(false).contains("--against-float32"), r.format(false));
        // with --strict-grads only the gradients up to the tie feature fail
        Report s = Parity.run(new Parity.Options(Golden.file(A2W2)).withAgainstFloat32(true).withStrictGrads(true));
        assertFalse(s.ok());
        for (Check c : s.failures()) {
            int feature = Integer.parseInt(c.name().split("\\.")[2]);
            assertTrue(feature <= 14, "only gradients up to the tie feature differ: " + c.name());
        }
    }

    @Test
    void fileWithoutTwinsFallsBackAndSaysSo(@TempDir Path dir) throws IOException {
        SafeTensors.File g = SafeTensors.read(Golden.file(A4W4));
        Map<String, TensorData> t = new LinkedHashMap<>(g.tensors());
        t.keySet().removeIf(k -> k.startsWith("f64."));
        Path f = dir.resolve("no-f64.safetensors");
        SafeTensors.write(f, t, g.metadata());
        Report r = Parity.run(new Parity.Options(f));
        assertEquals(Parity.Rule.FLOAT32, r.rule());
        assertTrue(r.ok(), r.format(false));
        assertTrue(r.format(false).contains("the file has no f64.* tensors"), r.format(false));
    }

    @Test
    void changedStateFailsTheOutputs(@TempDir Path dir) throws IOException {
        SafeTensors.File g = SafeTensors.read(Golden.file(A2W2));
        Map<String, TensorData> t = new LinkedHashMap<>(g.tensors());
        // a changed classifier bias (one class) moves the logits (both modes) and the loss
        t.put("state.classifier.1.bias", shifted(t.get("state.classifier.1.bias"), 0.5f));
        Path bad = dir.resolve("bad-state.safetensors");
        SafeTensors.write(bad, t, g.metadata());
        Report r = Parity.run(new Parity.Options(bad));
        assertFalse(r.ok());
        List<String> failing = r.failures().stream().map(Check::name).toList();
        for (String n : List.of("logits_eval", "logits_train", "loss", "grad.classifier.1.bias")) {
            assertTrue(failing.contains(n), n + " in " + failing);
        }
    }

    @Test
    void perturbedTensorsFailByName(@TempDir Path dir) throws IOException {
        SafeTensors.File g = SafeTensors.read(Golden.file(A4W4));
        Map<String, TensorData> t = new LinkedHashMap<>(g.tensors());
        // A gradient after the ties 0.5% off in both the reference and its twin: basq4j is then 5e-3
        // from the "exact" value while the reference is as close as before.
        String late = "grad.feature.17.bn_qconv_bn_relu_2.2.weights";
        // A tie-affected gradient 20% off: beyond the reference's own worst error over those gradients.
        String early = "grad.feature.3.conv1.weights";
        // A running variance 0.1% off.
        String var = "state_after.feature.18.bn0_last.running_var";
        // A feature output 1e-3 off.
        String act = "act.feature.6";
        for (Object[] p : new Object[][] {{late, 1.005f}, {early, 1.2f}, {var, 1.001f}, {act, 1.001f}}) {
            String n = (String) p[0];
            t.put(n, scaled(t.get(n), (float) p[1]));
            t.put("f64." + n, scaled(t.get("f64." + n), (float) p[1]));
        }
        // a gradient the file has no twin for, while the reference is non-zero
        t.remove("f64.grad.feature.16.bn2_last.weight");
        Path bad = dir.resolve("perturbed.safetensors");
        SafeTensors.write(bad, t, g.metadata());
        Report r = Parity.run(new Parity.Options(bad));
        assertFalse(r.ok());
        List<String> failing = r.failures().stream().map(Check::name).toList();
        assertEquals(List.of(early, "grad.feature.16.bn2_last.weight", late, var, act), failing, r.format(false));
        String out = r.format(false);
        assertTrue(out.contains("FAIL grad.feature.16.bn2_last.weight: no f64.grad.feature.16.bn2_last.weight"), out);
        assertTrue(out.endsWith("FAILED (5 tensors)"), out);
    }

    @Test
    void dumpWritesOwnResultsUnderTheGoldenNames(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("ours.safetensors");
        Report r = Parity.run(new Parity.Options(Golden.file(A2W2)).withDump(out));
        assertTrue(r.ok());
        SafeTensors.File golden = SafeTensors.read(Golden.file(A2W2));
        SafeTensors.File d = SafeTensors.read(out);
        assertEquals("basq4j parity", d.metadata().get("producer"));
        assertEquals("32", d.metadata().get("resolution"));
        // every expected output of the golden file, with its shape
        for (String k : golden.tensors().keySet()) {
            boolean output = Stream.of("logits_", "loss", "grad.", "state_after.", "act.").anyMatch(k::startsWith);
            if (output && !k.startsWith("grad.") || k.startsWith("grad.") && maxAbs(golden.get(k)) > 0) {
                assertTrue(d.contains(k), k);
                assertArrayEquals(golden.get(k).shape(), d.get(k).shape(), k);
            }
        }
        assertTrue(Stream.of(dir.toFile().list()).allMatch(n -> n.equals("ours.safetensors")),
                "no temporary file is left");
        // the dumped values are what the report judged: logits within 1e-6 of the reference's
        assertEquals(r.checks().stream().filter(c -> c.name().equals("logits_train")).findFirst().orElseThrow()
                .error(), errAgainstTwin(d.get("logits_train"), golden, "logits_train"), 0);
        assertEquals(TensorData.DType.I64, d.get("state_after.feature.18.bn0_last.num_batches_tracked").dtype());

        GoldenFileException e = assertThrows(GoldenFileException.class, () -> Parity.run(
                new Parity.Options(Golden.file(A2W2)).withDump(dir.resolve("missing/ours.safetensors"))));
        assertTrue(e.getMessage().contains("missing") && e.getMessage().contains("no such directory"),
                e.getMessage());
    }

    /** err(X) of golden/README.md for a non-gradient tensor. */
    private static double errAgainstTwin(TensorData x, SafeTensors.File golden, String name) {
        float[] a = x.f32();
        float[] e = golden.get("f64." + name).f32();
        double d = 0;
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs((double) a[i] - e[i]));
            m = Math.max(m, Math.abs(e[i]));
        }
        return d / m;
    }

    /**
     * A file at resolution 48 (MobileNet-v2's feature 14 then sees a 3x3 input) built from a fresh
     * model: the fused run's dump serves as its expected values, and the layer-by-layer run must
     * agree with it, with the configuration read from the metadata.
     */
    @Test
    void resolution48FileRunsFromItsMetadata(@TempDir Path dir) throws IOException {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(48).withClasses(10).withBits(2)
                .withSeed(9);
        Map<String, TensorData> t = new LinkedHashMap<>();
        Random rnd = new Random(2);
        float[] x = new float[4 * 3 * 48 * 48];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        long[] sel = new long[17];
        int[] selInt = new int[17];
        for (int i = 0; i < sel.length; i++) {
            selInt[i] = rnd.nextInt(7);
            sel[i] = selInt[i];
        }
        try (Supernet m = Models.create("mobilenetv2", cfg); Scope s = Scope.open()) {
            // a state as training leaves it: weight and activation steps initialized, BN statistics moved
            m.setWeightQuantization(true);
            m.initActivationSteps(Tensor.of(Device.CPU, x, 4, 3, 48, 48), selInt);
            for (Map.Entry<String, Tensor> e : m.stateTensors().entrySet()) {
                Tensor v = e.getValue();
                t.put("state." + e.getKey(), v.dtype() == DType.F32
                        ? TensorData.ofFloat(v.shape().dims(), v.toFloatArray())
                        : TensorData.ofLong(v.shape().dims(), v.toLongArray()));
            }
        }
        t.put("input", TensorData.ofFloat(new int[] {4, 3, 48, 48}, x));
        t.put("target", TensorData.ofLong(new int[] {4}, new long[] {1, 7, 3, 3}));
        t.put("selection", TensorData.ofLong(new int[] {17}, sel));
        Map<String, String> meta = Map.of("model", "mobilenetv2-basq", "width_multiplier", "0.25", "width_divisor",
                "8", "resolution", "48", "classes", "10", "bits", "2");
        Path inputs = dir.resolve("r48-inputs.safetensors");
        SafeTensors.write(inputs, t, meta);
        Path dump = dir.resolve("r48-ours.safetensors");
        Report first = Parity.run(new Parity.Options(inputs).withDump(dump));
        assertFalse(first.ok(), "the expected values are missing from the inputs-only file");
        assertTrue(first.header().contains("resolution 48"), first.header());
        Map<String, TensorData> full = new LinkedHashMap<>(t);
        SafeTensors.read(dump).tensors().forEach((k, v) -> {
            full.put(k, v);
            if (v.dtype() == TensorData.DType.F32) {
                full.put("f64." + k, v);
            }
        });
        Path golden = dir.resolve("r48.safetensors");
        SafeTensors.write(golden, full, meta);
        boolean was = F.fusion();
        F.setFusion(false);
        try {
            Report r = Parity.run(new Parity.Options(golden));
            assertTrue(r.ok(), r.format(false));
            assertEquals(Parity.Rule.FLOAT64, r.rule());
            assertEquals(19, r.groups().get("act").tensors());
        } finally {
            F.setFusion(was);
        }
    }

    /** Adds {@code by} to the first element. */
    private static TensorData shifted(TensorData d, float by) {
        float[] a = d.f32().clone();
        a[0] += by;
        return TensorData.ofFloat(d.shape(), a);
    }

    private static TensorData scaled(TensorData d, float by) {
        float[] a = d.f32().clone();
        for (int i = 0; i < a.length; i++) {
            a[i] *= by;
        }
        return TensorData.ofFloat(d.shape(), a);
    }

    private static double maxAbs(TensorData d) {
        double m = 0;
        for (float v : d.f32()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
