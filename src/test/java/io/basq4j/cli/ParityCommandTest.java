package io.basq4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.testutil.Golden;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code basq4j parity}: options, output, exit status and one-line errors. */
class ParityCommandTest {
    static final String A2W2 = "mbv2_w0.5_a2w2_r32.safetensors";
    static final String A4W4 = "mbv2_w0.5_a4w4_r32.safetensors";

    @Test
    void passesAndPrintsTheGroupsWorstRatios(@TempDir Path dir) {
        Path dump = dir.resolve("ours.safetensors");
        Object[] r = CliRun.main("parity", Golden.file(A2W2).toString(), "--verbose", "--dump", dump.toString());
        assertEquals(0, r[0], r[1] + "\n" + r[2]);
        String out = (String) r[1];
        assertTrue(out.contains("worst ratio") && out.contains("err(ref)"), out);
        for (String g : new String[] {"logits_eval", "logits_train", "loss", "grad", "state_after", "act"}) {
            assertTrue(out.contains("\n  " + g + " "), g + " in " + out);
        }
        assertTrue(out.contains("act.feature.18"), "verbose lists the features: " + out);
        assertTrue(out.contains("note: feature 14 has"), out);
        assertTrue(out.contains("wrote basq4j's results") && Files.isRegularFile(dump), out);
        assertTrue(out.strip().endsWith(": OK"), out);
    }

    @Test
    void optionsAreHonouredAndChecked() {
        Object[] r = CliRun.main("parity", Golden.file(A4W4).toString(), "--per-tensor");
        assertEquals(1, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("FAIL grad.feature."), (String) r[1]);
        r = CliRun.main("parity", Golden.file(A4W4).toString(), "--against-float32", "--tolerance", "1e-9");
        assertEquals(1, r[0], (String) r[1]);
        assertTrue(((String) r[1]).contains("FAIL logits_eval"), (String) r[1]);
        assertEquals(2, CliRun.main("parity", Golden.file(A4W4).toString(), "--tolerance", "-1")[0]);
        assertEquals(2, CliRun.main("parity", Golden.file(A4W4).toString(), "--factor", "nan")[0]);
    }

    @Test
    void missingAndCorruptFilesGiveOneLineErrors(@TempDir Path dir) throws IOException {
        Object[] r = CliRun.main("parity", dir.resolve("none.safetensors").toString());
        assertEquals(1, r[0]);
        String err = ((String) r[2]).trim();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("none.safetensors") && err.contains("no such file"), err);

        Path junk = dir.resolve("junk.safetensors");
        Files.write(junk, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        r = CliRun.main("parity", junk.toString());
        assertEquals(1, r[0]);
        err = ((String) r[2]).trim();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("junk.safetensors"), err);

        r = CliRun.main("parity", Golden.file(A2W2).toString(), "--pth", dir.resolve("x.pth").toString());
        assertEquals(1, r[0]);
        assertTrue(((String) r[2]).contains("x.pth: no such file"), (String) r[2]);

        r = CliRun.main("parity", Golden.file("ops.safetensors").toString());
        assertEquals(1, r[0]);
        assertTrue(((String) r[2]).contains("ops.safetensors"), (String) r[2]);

        r = CliRun.main("parity", Golden.file(A2W2).toString(), "--dump", dir.resolve("no/dir/x.safetensors")
                .toString());
        assertEquals(1, r[0]);
        assertTrue(((String) r[2]).contains("no such directory"), (String) r[2]);
        assertEquals("", r[1], "nothing is run before the output path is known to be writable");
    }

    @Test
    void stateThatDoesNotFitIsReported(@TempDir Path dir) throws IOException {
        SafeTensors.File g = SafeTensors.read(Golden.file(A4W4));
        Map<String, TensorData> t = new LinkedHashMap<>(g.tensors());
        t.remove("state.feature.3.conv1.weights");
        t.put("state.feature.3.conv1.extra", TensorData.ofFloat(new int[] {1}, new float[1]));
        Path bad = dir.resolve("bad.safetensors");
        SafeTensors.write(bad, t, g.metadata());
        Object[] r = CliRun.main("parity", bad.toString());
        assertEquals(1, r[0]);
        String err = ((String) r[2]).trim();
        assertEquals(1, err.lines().count(), err);
        assertTrue(err.contains("feature.3.conv1.weights F32[864, 1]"), err);
        assertTrue(err.contains("1 unexpected: feature.3.conv1.extra F32[1]"), err);
    }
}
