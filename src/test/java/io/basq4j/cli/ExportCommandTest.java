package io.basq4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.deploy.SavedModel;
import io.basq4j.deploy.TestModels;
import io.basq4j.deploy.onnx.proto.Onnx.ModelProto;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.train.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExportCommandTest {
    @TempDir
    Path dir;

    private Path model;

    @BeforeEach
    void savedModel() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(10);
        model = dir.resolve("model.safetensors");
        try (Supernet net = Models.create("mobilenetv2", cfg)) {
            net.setWeightQuantization(true);
            TestModels.randomize(net, 3);
            SavedModel.write(model, net, new int[net.searchedUnits()], Map.of());
        }
    }

    private List<String> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void exportsAndSaysWhatItWrote() throws IOException {
        Path out = dir.resolve("sub").resolve("m.onnx");
        Object[] r = CliRun.main("export", model.toString(), "--format", "onnx", "--out", out.toString());
        assertEquals(0, r[0], (String) r[2]);
        List<String> lines = ((String) r[1]).lines().toList();
        ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
        assertTrue(lines.get(0).equals(String.format("wrote %s: %,d bytes, ONNX opset 13, %d nodes", out,
                Files.size(out), m.getGraph().getNodeCount())), lines.get(0));
        assertEquals("input   input [batch, 1, 32, 32] float32, NCHW", lines.get(1));
        assertEquals("output  logits [batch, 10] float32", lines.get(2));
        assertTrue(lines.get(3).startsWith("preprocessing {\"channels\":1,\"height\":32,\"width\":32"), lines.get(3));
        assertTrue(lines.get(4).startsWith("operators Add ") && lines.get(4).contains("QuantizeLinear "), lines.get(4));
        assertEquals(5, lines.size(), (String) r[1]);
        // the default output: beside the model, the format's extension
        r = CliRun.main("export", model.toString());
        assertEquals(0, r[0], (String) r[2]);
        assertTrue(Files.isRegularFile(dir.resolve("model.onnx")));
        assertEquals(List.of("model.onnx", "model.safetensors", "sub"), files());
    }

    @Test
    void anUnknownFormatIsOneLineListingTheValidOnes() throws IOException {
        Object[] r = CliRun.main("export", model.toString(), "--format", "tflite", "--out",
                dir.resolve("m.tflite").toString());
        assertEquals(2, r[0]);
        String err = ((String) r[2]).trim();
        assertEquals("error: unknown format 'tflite' (valid: onnx, basq-packed)", err);
        assertEquals(List.of("model.safetensors"), files());
    }

    @Test
    void aCheckpointOrAForeignFileIsRefusedAndNothingIsWritten() throws IOException {
        Path ck = dir.resolve("supernet.safetensors");
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(10);
        try (Supernet net = Models.create("mobilenetv2", cfg)) {
            Checkpoint.save(ck, net, null, Map.of("kind", "supernet-final"));
        }
        Path junk = dir.resolve("notes.txt");
        Files.writeString(junk, "not a model");
        Path out = dir.resolve("out.onnx");
        Object[] r = CliRun.main("export", ck.toString(), "--out", out.toString());
        assertEquals(1, r[0]);
        String err = ((String) r[2]).trim();
        assertTrue(err.startsWith("error: " + ck + " is a supernet-final checkpoint, not a saved model"), err);
        assertEquals(1, err.lines().count(), err);

        r = CliRun.main("export", junk.toString(), "--out", out.toString());
        assertEquals(1, r[0]);
        err = ((String) r[2]).trim();
        assertTrue(err.startsWith("error: " + junk + " is not a basq4j model"), err);
        assertEquals(1, err.lines().count(), err);

        r = CliRun.main("export", dir.resolve("missing.safetensors").toString(), "--out", out.toString());
        assertEquals(1, r[0]);
        assertTrue(((String) r[2]).contains("does not exist"), (String) r[2]);

        r = CliRun.main("export", model.toString(), "--out", model.toString());
        assertEquals(2, r[0]);
        assertTrue(((String) r[2]).contains("is the model itself"), (String) r[2]);
        assertEquals(List.of("model.safetensors", "notes.txt", "supernet.safetensors"), files());
    }
}
