package io.basq4j.cli;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.kernels.CpuKernels;
import io.basq4j.testutil.Cli;
import io.basq4j.train.RunConfig;
import io.basq4j.train.SettingRanges;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Every numeric option is range-checked at parse time, by one table ({@link SettingRanges}),
 * with one line naming the option, its value and the valid range; before anything is created.
 */
class OptionRangesTest {
    @TempDir
    Path tmp;

    private static final Set<Class<?>> NUMERIC = Set.of(int.class, Integer.class, long.class, Long.class,
            double.class, Double.class, float.class, Float.class, short.class, Short.class, int[].class,
            long[].class, double[].class, float[].class);

    private static void collect(CommandLine cl, List<CommandLine> out) {
        out.add(cl);
        for (CommandLine sub : cl.getSubcommands().values()) {
            collect(sub, out);
        }
    }

    /** The guard for options added later: a numeric option without a range fails here. */
    @Test
    void everyNumericOptionOfEveryCommandHasARangeThatHoldsItsDefault() {
        List<CommandLine> all = new ArrayList<>();
        collect(Main.commandLine(), all);
        int checked = 0;
        for (CommandLine cl : all) {
            for (OptionSpec o : cl.getCommandSpec().options()) {
                if (!NUMERIC.contains(o.type())) {
                    continue;
                }
                String where = cl.getCommandSpec().qualifiedName() + " " + o.longestName();
                SettingRanges.Range r = SettingRanges.forOption(o.longestName());
                assertNotNull(r, where + " has no range in SettingRanges.TABLE");
                String d = o.defaultValue();
                if (d != null && !d.startsWith("$")) {
                    assertNull(SettingRanges.problem(r, Double.parseDouble(d)), where + " default " + d);
                }
                checked++;
            }
        }
        assertTrue(checked > 60, checked + " numeric options");
    }

    @Test
    void everyNumericSettingHasARangeThatHoldsEveryPreset() throws Exception {
        for (Field f : RunConfig.class.getFields()) {
            if (!Modifier.isStatic(f.getModifiers()) && NUMERIC.contains(f.getType())) {
                assertNotNull(SettingRanges.forField(f.getName()), "RunConfig." + f.getName() + " has no range");
            }
        }
        for (String p : RunConfig.PRESETS) {
            assertDoesNotThrow(() -> SettingRanges.check(RunConfig.preset(p), p));
        }
    }

    @Test
    void rangesAcceptTheirEndsAndRefuseWhatLiesOutside() {
        SettingRanges.Range dropout = SettingRanges.forOption("--dropout");
        assertTrue(dropout.contains(0) && dropout.contains(0.999));
        assertFalse(dropout.contains(1) || dropout.contains(-1e-9) || dropout.contains(Double.NaN));
        SettingRanges.Range lr = SettingRanges.forOption("--lr");
        assertTrue(lr.contains(1e-12) && lr.contains(1e30));
        assertFalse(lr.contains(0) || lr.contains(Double.POSITIVE_INFINITY) || lr.contains(-1));
        SettingRanges.Range batch = SettingRanges.forOption("--batch");
        assertTrue(batch.contains(1) && batch.contains(65536));
        assertFalse(batch.contains(0) || batch.contains(65537) || batch.contains(2.5));
        assertNull(SettingRanges.problem(SettingRanges.forOption("--seed"), Long.MIN_VALUE));
        assertNull(SettingRanges.problem(SettingRanges.forOption("--max-iterations"), Long.MAX_VALUE));
        assertNotNull(SettingRanges.problem(SettingRanges.forOption("--l2"), new double[] {1e-3, -1}));
        int cores = Runtime.getRuntime().availableProcessors();
        assertEquals(SettingRanges.THREADS_PER_CORE * cores, (int) SettingRanges.forOption("--threads").max());
    }

    /** The values the issue found accepted, crashing or misleading; each now ends in one line, exit 2. */
    @ParameterizedTest
    @ValueSource(strings = {
        "train-supernet --log-every 0", "train-supernet --max-iterations -1", "search --population 0",
        "train-supernet --dropout NaN", "finetune --finetune-epochs 0", "train-supernet --train-limit -5",
        "train-supernet --lr -1", "train-supernet --threads -3", "train-supernet --threads 100000",
        "train-supernet --threads 4096", "pipeline --mutation-prob 1.5", "finetune --finetune-lr NaN",
        "train-supernet --l2 1e-3,-1,0,0,0,0,0", "train-supernet --checkpoint-every -2",
        "train-fp --epochs 0", "random --count 0", "bench --batch 0", "bench --steps 0", "bench --warmup -1",
        "bench --width 0", "models --bits 5", "models --resolution 0", "parity x.safetensors --tolerance -1"})
    void outOfRangeOptionsEndInOneLineBeforeAnythingIsCreated(String cmd) {
        String[] words = cmd.split(" ");
        Path run = tmp.resolve("run");
        List<String> args = new ArrayList<>(List.of(words));
        if (!Set.of("bench", "models", "parity").contains(words[0])) {
            args.addAll(List.of("--preset", "smoke", "--run", run.toString()));
        }
        Cli.Result r = Cli.run(args.toArray(new String[0]));
        assertEquals(2, r.rc(), r.toString());
        assertEquals(1, r.errors().size(), r.toString());
        String line = r.errors().get(0);
        String option = words[words.length - 2];
        String value = words[words.length - 1];
        assertTrue(line.startsWith("error: " + option + " "), line);
        assertTrue(line.contains(value.contains(",") ? "-1" : value), line);
        assertTrue(line.contains("outside the valid range: "), line);
        assertFalse(Files.exists(run), "nothing created");
    }

    @Test
    void threadsAboveTheCoresWarnAndStillRun() {
        int cores = Runtime.getRuntime().availableProcessors();
        int before = CpuKernels.basq_num_threads();
        try {
            Cli.Result r = Cli.run("bench", "--width", "0.25", "--batch", "2", "--steps", "1", "--warmup", "0",
                    "--threads", Integer.toString(cores + 1));
            assertEquals(0, r.rc(), r.toString());
            assertTrue(r.err().contains("warning: --threads " + (cores + 1) + " is more than the " + cores + " cores"),
                    r.err());
            assertTrue(r.out().contains("train_img_per_s="), r.out());
        } finally {
            CpuKernels.basq_set_num_threads(before);
            CpuKernels.basq_blas_set_num_threads(before);
        }
    }

    /** A training step at batch 1 is undefined (batch norm over one value); evaluation is still measured. */
    @Test
    void benchAtBatchOneMeasuresEvaluationAndSaysWhyNotTraining() {
        Cli.Result r = Cli.run("bench", "--width", "0.25", "--batch", "1", "--steps", "2", "--warmup", "1");
        assertEquals(0, r.rc(), r.toString());
        assertTrue(r.out().contains("training step:  not measured: training-mode batch norm needs more than one "
                + "value per channel, and a batch of 1 gives one at the 1x1 last stage"), r.out());
        assertTrue(r.out().contains("eval_img_per_s="), r.out());
        assertFalse(r.out().contains("train_img_per_s="), r.out());
    }

    /** The engine benchmark at batch 1: its network trains on noise of its own, so a batch of 1 measures too. */
    @Test
    void inferBenchAtBatchOneMeasuresTheEngine() {
        Cli.Result r = Cli.run("bench", "--infer", "--width", "0.25", "--batch", "1", "--steps", "2", "--warmup", "1");
        assertEquals(0, r.rc(), r.toString());
        assertTrue(r.out().matches("(?s).*infer_img_per_s=[0-9.]+\\R.*"), r.out());
        assertTrue(r.out().matches("(?s).*infer_latency_ms_b1=[0-9.]+\\R?.*"), r.out());
    }
}
