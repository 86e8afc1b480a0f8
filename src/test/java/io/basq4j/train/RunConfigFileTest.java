package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.basq4j.io.JsonFiles;
import io.basq4j.testutil.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** config.json is read strictly: every value of its type and range, nothing coerced, nothing missing. */
class RunConfigFileTest {
    @TempDir
    Path tmp;

    private Path write(String field, String json) throws Exception {
        ObjectNode n = JsonFiles.MAPPER.valueToTree(RunConfig.preset("smoke"));
        if (json == null) {
            n.remove(field);
        } else {
            n.set(field, JsonFiles.MAPPER.readTree(json));
        }
        Path f = tmp.resolve("config.json");
        Files.writeString(f, n.toPrettyString());
        return f;
    }

    @Test
    void readsWhatIsWritten() throws Exception {
        RunConfig c = RunConfig.preset("fashion");
        c.seed = -5;
        c.l2 = new double[] {1, 2, 3, 4, 5, 6, 7};
        Path f = tmp.resolve("config.json");
        JsonFiles.writeAtomically(f, c);
        RunConfig back = RunConfigFile.read(f);
        assertEquals(JsonFiles.MAPPER.writeValueAsString(c), JsonFiles.MAPPER.writeValueAsString(back));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "batch|99999999999|setting 'batch' must be a whole number from -2147483648 to 2147483647, got 99999999999",
        "batch|2.7|setting 'batch' must be a whole number from -2147483648 to 2147483647, got 2.7",
        "batch|\"12\"|setting 'batch' must be a whole number from -2147483648 to 2147483647, got \"12\"",
        "batch|null|setting 'batch' must be set (not null), got null",
        "batch|0|batch (--batch) 0 is outside the valid range: a whole number from 1 to 65536",
        "lr|\"fast\"|setting 'lr' must be a number, got \"fast\"",
        "lr|-1|lr (--lr) -1.0 is outside the valid range: a finite number > 0",
        "itersPerPhase|1e3|setting 'itersPerPhase' must be a whole number that fits 64 bits, got 1000.0",
        "hflip|1|setting 'hflip' must be true or false, got 1",
        "arch|null|setting 'arch' must be set (not null), got null",
        "l2|[1, \"x\"]|setting 'l2' must be a list of numbers, got [1,\"x\"]",
        "dropout|1.5|dropout (--dropout) 1.5 is outside the valid range: a number in [0, 1)",
        "gradClip|0|gradClip 0.0 is outside the valid range: a finite number > 0",
        "logEvery|0|logEvery (--log-every) 0 is outside the valid range: a whole number from 1 to 1000000000",
    })
    void eachBadValueEndsInOneLineNamingTheFileAndSetting(String field, String json, String expected)
            throws Exception {
        Path f = write(field, json);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RunConfigFile.read(f));
        assertEquals(f + ": " + expected, e.getMessage());
    }

    @Test
    void missingAndUnknownSettingsAreNamed() throws Exception {
        Path f = write("batch", null);
        assertEquals(f + ": setting 'batch' is missing (a run directory of an older basq4j? add \"batch\": "
                + new RunConfig().batch + " (the default), or start a new run)",
                assertThrows(IllegalArgumentException.class, () -> RunConfigFile.read(f)).getMessage());
        Path p = write("protocol", null);
        assertEquals(p + ": setting 'protocol' is missing (a run directory of an older basq4j? add \"protocol\": "
                + "\"reference\" (how runs were made before the holdout protocol), or start a new run)",
                assertThrows(IllegalArgumentException.class, () -> RunConfigFile.read(p)).getMessage());
        Path g = write("batchSize", "64");
        assertEquals(g + ": unknown setting 'batchSize'",
                assertThrows(IllegalArgumentException.class, () -> RunConfigFile.read(g)).getMessage());
        Files.writeString(g, "{\"batch\": ");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> RunConfigFile.read(g)).getMessage()
                .startsWith(g + " is not valid JSON: "));
    }

    /** A run directory whose config.json has {@code json} as the value of {@code field}. */
    private Path runWith(String field, String json) throws Exception {
        Path run = tmp.resolve("run");
        Files.createDirectories(run);
        Files.move(write(field, json), run.resolve("config.json"));
        return run;
    }

    /** A later step reads the run's config.json: a bad value there ends in the same one line. */
    @Test
    void aLaterStepOnABadConfigJsonSaysWhichSetting() throws Exception {
        Path run = runWith("population", "2.5");
        Cli.Result r = Cli.run("search", "--run", run.toString());
        assertEquals(1, r.rc(), r.toString());
        assertEquals("error: " + run.resolve("config.json") + ": setting 'population' must be a whole number from "
                + "-2147483648 to 2147483647, got 2.5", r.errors().get(0));
    }

    /** A value out of range in config.json (threads of a larger machine) is named, and a flag can override it. */
    @Test
    void aFlagOverridesAnOutOfRangeValueOfConfigJson() throws Exception {
        Path run = runWith("threads", "100000");
        Cli.Result r = Cli.run("search", "--run", run.toString());
        assertEquals(1, r.rc(), r.toString());
        assertTrue(r.errors().get(0).startsWith("error: " + run.resolve("config.json") + ": threads (--threads) 100000 "
                + "is outside the valid range: a whole number from 0 to "), r.toString());
        r = Cli.run("search", "--run", run.toString(), "--threads", "1");
        assertEquals(1, r.rc(), r.toString());
        assertTrue(r.errors().get(0).contains("no trained supernet"), r.toString());
    }
}
