package io.basq4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.basq4j.io.JsonFiles;
import io.basq4j.tensor.CudaMath;
import io.basq4j.tensor.CudaMath.Tf32;
import io.basq4j.testutil.Cli;
import io.basq4j.train.RunConfig;
import io.basq4j.train.RunConfigFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TF32 and cuDNN-algorithm settings (runs everywhere: plain settings, no CUDA needed): the
 * modes, evaluation and parity scopes, and the run configuration's {@code tf32} field, which
 * config.json records.
 */
class CudaMathTest {
    @TempDir
    Path tmp;

    @AfterEach
    void restore() {
        CudaMath.setTf32(Tf32.AUTO);
        CudaMath.setAlgorithms(CudaMath.Algorithms.RANKED);
    }

    @Test
    void autoUsesTf32WhileTrainingOnly() {
        CudaMath.setTf32(Tf32.AUTO);
        assertTrue(CudaMath.convTf32(), "training: TF32 convolutions, as the reference");
        try (CudaMath.Scope e = CudaMath.evaluation()) {
            assertTrue(CudaMath.evaluating());
            assertFalse(CudaMath.convTf32(), "evaluation (the search's fitness, accuracies): float32");
            try (CudaMath.Scope inner = CudaMath.evaluation()) {
                assertFalse(CudaMath.convTf32());
            }
            assertFalse(CudaMath.convTf32(), "scopes nest");
        }
        assertTrue(CudaMath.convTf32());
        CudaMath.setTf32(Tf32.ON);
        try (CudaMath.Scope e = CudaMath.evaluation()) {
            assertTrue(CudaMath.convTf32(), "on: everywhere");
        }
        CudaMath.setTf32(Tf32.OFF);
        assertFalse(CudaMath.convTf32(), "off: nowhere");
    }

    @Test
    void evaluationIsPerThread() throws Exception {
        CudaMath.setTf32(Tf32.AUTO);
        try (CudaMath.Scope e = CudaMath.evaluation()) {
            boolean[] other = new boolean[1];
            Thread t = new Thread(() -> other[0] = CudaMath.convTf32());
            t.start();
            t.join();
            assertTrue(other[0], "another thread is not evaluating");
        }
    }

    @Test
    void parityTurnsTf32OffAndAsksForDirectSumsThenRestores() {
        CudaMath.setTf32(Tf32.ON);
        try (CudaMath.Scope p = CudaMath.parity()) {
            assertEquals(Tf32.OFF, CudaMath.tf32());
            assertFalse(CudaMath.convTf32());
            assertEquals(CudaMath.Algorithms.DIRECT_SUM, CudaMath.algorithms());
            assertTrue(CudaMath.describe().contains("tf32 off") && CudaMath.describe().contains("direct-sum"),
                    CudaMath.describe());
        }
        assertEquals(Tf32.ON, CudaMath.tf32());
        assertEquals(CudaMath.Algorithms.RANKED, CudaMath.algorithms());
    }

    @Test
    void modesParseAndBadOnesNameTheValidValues() {
        assertEquals(Tf32.AUTO, Tf32.parse("auto"));
        assertEquals(Tf32.ON, Tf32.parse("ON"));
        assertEquals(Tf32.OFF, Tf32.parse("false"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tf32.parse("sometimes"));
        assertTrue(e.getMessage().contains("'sometimes'") && e.getMessage().contains("auto, on, off"), e.getMessage());
        RunConfig c = RunConfig.preset("smoke");
        assertEquals("auto", c.tf32, "the default: the reference's training behaviour");
        c.tf32 = "maybe";
        assertThrows(IllegalArgumentException.class, c::validate);
    }

    @Test
    void theFlagIsRecordedInConfigJsonAndABadValueIsAUsageError() throws Exception {
        Path run = tmp.resolve("run");
        Cli.Result bad = Cli.run("train-supernet", "--preset", "smoke", "--run", run.toString(), "--tf32", "sometimes");
        assertEquals(2, bad.rc(), bad.toString());
        assertTrue(bad.err().contains("auto, on, off"), bad.toString());
        assertFalse(Files.exists(run.resolve("config.json")), "nothing written for a usage error");

        // the real command: one training iteration, then a checkpoint to resume from
        CudaMath.setTf32(Tf32.AUTO);
        Cli.Result r = Cli.run("train-supernet", "--preset", "smoke", "--run", run.toString(), "--tf32", "off",
                "--max-iterations", "1");
        assertEquals(0, r.rc(), r.toString());
        assertEquals(Tf32.OFF, CudaMath.tf32(), "the command ran with the mode it was given");
        JsonNode saved = JsonFiles.MAPPER.readTree(run.resolve("config.json").toFile());
        assertEquals("off", saved.get("tf32").asText());
        RunConfig back = RunConfigFile.read(run.resolve("config.json"));
        assertEquals(Tf32.OFF, back.tf32Mode(), "a later step starts from the recorded setting");
    }
}
