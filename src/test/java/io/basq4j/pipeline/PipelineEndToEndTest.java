package io.basq4j.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.cli.Main;
import io.basq4j.data.SyntheticFiles;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `pipeline --preset smoke` end to end on a small generated data set in the Fashion-MNIST file
 * format, and the resume contract of supernet training.
 */
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
                "results.png", "train-curve.tsv", "checkpoints/supernet-last.safetensors")) {
            assertTrue(Files.isRegularFile(runDir.resolve(f)), f + " written");
        }
        assertTrue(out.contains("fold_accs ") && out.contains("full_accs ") && out.contains("archs [["), out);
        assertTrue(out.contains("finetuned_accs ") && out.contains("mean "), out);
        JsonNode r = new ObjectMapper().readTree(runDir.resolve("results.json").toFile());
        assertEquals(2, r.get("folds").size());
        assertEquals("auto", r.get("configuration").get("tf32").asText(), "the TF32 choice is recorded");
        assertEquals("auto", new ObjectMapper().readTree(runDir.resolve("config.json").toFile()).get("tf32").asText());
        for (JsonNode f : r.get("folds")) {
            assertEquals(17, f.get("architecture").size());
            assertTrue(f.get("finetuned_acc").asDouble() >= f.get("full_acc_before_finetune").asDouble());
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
        assertEquals(2, rj.get("archs").size());
        for (int i = 0; i < 2; i++) {
            assertEquals(17, rj.get("archs").get(i).size());
            assertTrue(rj.get("finetuned_accs").get(i).asDouble() >= rj.get("accs").get(i).asDouble());
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
        // and training moved the weights away from their initialization
        TensorData w = ta.get("model.feature.18.bn_qconv_bn_relu_0.2.weights");
        assertNotEquals(0f, w.f32()[0]);
    }

    @Test
    void fullPrecisionTeacherTrainsAndDistills() throws Exception {
        Path runDir = tmp.resolve("kd");
        String fp = run("train-fp", "--preset", "smoke", "--run", runDir.toString(), "--epochs", "1");
        assertTrue(fp.contains("fp_top1 "), fp);
        Path teacher = runDir.resolve("teacher.safetensors");
        assertTrue(Files.isRegularFile(teacher));
        String out = run("train-supernet", "--preset", "smoke", "--run", runDir.toString(), "--iters", "3",
                "--teacher", teacher.toString());
        assertTrue(out.contains("teacher: full-precision MobileNet-v2 from " + teacher), out);
        assertTrue(Files.isRegularFile(runDir.resolve("supernet.safetensors")));
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
