package io.basq4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.testutil.Golden;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ParityTest {
    static final String A2W2 = "mbv2_w0.5_a2w2_r32.safetensors";
    static final String A4W4 = "mbv2_w0.5_a4w4_r32.safetensors";

    /** Runs the command line, returning {exit status, stdout, stderr}. */
    static Object[] main(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            int rc = Main.run(args);
            return new Object[] {rc, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    private static void assertPasses(Parity.Report r) {
        assertTrue(r.ok(), r.format(true));
        Map<String, Double> w = r.worstByGroup();
        for (String g : List.of("logits_eval", "logits_train", "loss", "grad", "state_after")) {
            assertTrue(w.containsKey(g), g);
            assertTrue(w.get(g) <= 1e-4, g + " " + w.get(g));
        }
        // the forward is far tighter than the tolerance
        assertTrue(w.get("logits_train") < 1e-5 && w.get("logits_eval") < 1e-5, r.format(false));
    }

    @Test
    void a2w2Passes() {
        Parity.Report r = Parity.run(new Parity.Options(Golden.file(A2W2)).withVerbose(true));
        assertPasses(r);
        assertEquals(19, r.checks().stream().filter(c -> c.group().equals("act")).count());
        assertTrue(r.worstByGroup().get("act") < 1e-5, r.format(false));
        assertEquals(14, r.tieFeature(), "float-noise ReLU ties are found in feature 14");
        long strict = r.checks().stream().filter(c -> c.group().equals("grad")).count();
        assertTrue(strict >= 150, "features 15-18 and the classifier are held: " + strict);
    }

    @Test
    void a4w4Passes() {
        Parity.Report r = Parity.run(new Parity.Options(Golden.file(A4W4)));
        assertPasses(r);
        assertEquals(15, r.tieFeature());
        assertEquals(920, r.checks().stream().filter(c -> c.group().equals("state_after")).count());
    }

    @Test
    void referenceCheckpointGivesTheSameResult() {
        Path file = Golden.file(A4W4);
        Parity.Report a = Parity.run(new Parity.Options(file));
        Parity.Report b = Parity.run(new Parity.Options(file).withPth(Golden.file("mbv2_w0.5_a4w4_r32.pth")));
        assertPasses(b);
        assertEquals(a.checks(), b.checks());
        assertTrue(b.header().contains(".pth"), b.header());
    }

    @Test
    void commandExitsZero() {
        Object[] r = main("parity", Golden.file(A2W2).toString(), "--verbose");
        assertEquals(0, r[0], r[1] + "\n" + r[2]);
        String out = (String) r[1];
        assertTrue(out.contains(": OK"), out);
        assertTrue(out.contains("act.feature.18"), "verbose lists the features: " + out);
        assertTrue(out.contains("note: feature 14 has"), out);
    }

    @Test
    void toleranceOptionIsHonoured() {
        Object[] r = main("parity", Golden.file(A4W4).toString(), "--tolerance", "1e-9");
        assertEquals(1, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("FAIL logits_eval"), (String) r[1]);
        r = main("parity", Golden.file(A4W4).toString(), "--tolerance", "-1");
        assertEquals(2, r[0]);
    }

    @Test
    void strictGradientsFailOnlyWhereTheTiesAre() {
        Parity.Report r = Parity.run(new Parity.Options(Golden.file(A2W2)).withStrictGrads(true));
        assertFalse(r.ok());
        for (Parity.Check c : r.failures()) {
            assertTrue(c.name().startsWith("grad.feature."), c.name());
            int feature = Integer.parseInt(c.name().split("\\.")[2]);
            assertTrue(feature <= 14, "only gradients up to the tie feature differ: " + c.name());
        }
    }

    @Test
    void changedStateFailsTheOutputs(@TempDir Path dir) throws IOException {
        SafeTensors.File g = SafeTensors.read(Golden.file(A2W2));
        Map<String, TensorData> t = new LinkedHashMap<>(g.tensors());
        // a changed classifier bias (one class) moves the logits (both modes) and the loss
        t.put("state.classifier.1.bias", shifted(t.get("state.classifier.1.bias"), 0.5f));
        Path bad = dir.resolve("bad-state.safetensors");
        SafeTensors.write(bad, t, g.metadata());
        Parity.Report r = Parity.run(new Parity.Options(bad));
        assertFalse(r.ok());
        List<String> failing = r.failures().stream().map(Parity.Check::name).toList();
        for (String n : List.of("logits_eval", "logits_train", "loss", "grad.classifier.1.bias")) {
            assertTrue(failing.contains(n), n + " in " + failing);
        }
    }

    @Test
    void wrongGradientsFailNamingTheTensors(@TempDir Path dir) throws IOException {
        SafeTensors.File g = SafeTensors.read(Golden.file(A2W2));
        Map<String, TensorData> t = new LinkedHashMap<>(g.tensors());
        // a wrong reference gradient in the held region
        t.put("grad.feature.17.bn_qconv_bn_relu_2.2.weights",
                scaled(t.get("grad.feature.17.bn_qconv_bn_relu_2.2.weights"), 1.01f));
        // a gradient the reference does not have, while ours is non-zero
        t.remove("grad.feature.16.bn2_last.weight");
        // a running statistic
        t.put("state_after.feature.18.bn0_last.running_var",
                scaled(t.get("state_after.feature.18.bn0_last.running_var"), 1.001f));
        Path bad = dir.resolve("bad-grads.safetensors");
        SafeTensors.write(bad, t, g.metadata());
        Parity.Report r = Parity.run(new Parity.Options(bad));
        assertFalse(r.ok());
        List<String> failing = r.failures().stream().map(Parity.Check::name).toList();
        assertTrue(failing.containsAll(List.of("grad.feature.17.bn_qconv_bn_relu_2.2.weights",
                "grad.feature.16.bn2_last.weight", "state_after.feature.18.bn0_last.running_var")), failing.toString());
        assertTrue(failing.size() <= 4, "only the changed tensors (and the bias measured against the removed "
                + "weight gradient): " + failing);
        Object[] rc = main("parity", bad.toString());
        assertEquals(1, rc[0]);
        String out = (String) rc[1];
        assertTrue(out.contains("FAIL grad.feature.16.bn2_last.weight: nonzero gradient where the reference has none"),
                out);
        assertTrue(out.contains("FAILED (" + failing.size() + " tensors)"), out);
    }

    @Test
    void missingAndCorruptFilesGiveOneLineErrors(@TempDir Path dir) throws IOException {
        Object[] r = main("parity", dir.resolve("none.safetensors").toString());
        assertEquals(1, r[0]);
        String err = ((String) r[2]).trim();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("none.safetensors") && err.contains("no such file"), err);

        Path junk = dir.resolve("junk.safetensors");
        Files.write(junk, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        r = main("parity", junk.toString());
        assertEquals(1, r[0]);
        err = ((String) r[2]).trim();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("junk.safetensors"), err);

        r = main("parity", Golden.file(A2W2).toString(), "--pth", dir.resolve("x.pth").toString());
        assertEquals(1, r[0]);
        assertTrue(((String) r[2]).contains("x.pth: no such file"), (String) r[2]);

        UserError e = assertThrows(UserError.class,
                () -> Parity.run(new Parity.Options(Golden.file("ops.safetensors"))));
        assertTrue(e.getMessage().contains("ops.safetensors"), e.getMessage());
    }

    @Test
    void stateThatDoesNotFitIsReported(@TempDir Path dir) throws IOException {
        SafeTensors.File g = SafeTensors.read(Golden.file(A4W4));
        Map<String, TensorData> t = new LinkedHashMap<>(g.tensors());
        t.remove("state.feature.3.conv1.weights");
        t.put("state.feature.3.conv1.extra", TensorData.ofFloat(new int[] {1}, new float[1]));
        Path bad = dir.resolve("bad.safetensors");
        SafeTensors.write(bad, t, g.metadata());
        UserError e = assertThrows(UserError.class, () -> Parity.run(new Parity.Options(bad)));
        assertTrue(e.getMessage().contains("feature.3.conv1.weights F32[864, 1]"), e.getMessage());
        assertTrue(e.getMessage().contains("1 unexpected: feature.3.conv1.extra F32[1]"), e.getMessage());
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
}
