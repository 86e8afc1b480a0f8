package io.basq4j.deploy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.Checkpoint;
import io.basq4j.train.SupernetTraining;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A saved network against the supernet it came from: the supernet's state is randomized so that
 * every branch differs (clip bounds, BN affines and statistics), and the saved one-branch network
 * must give bitwise the same evaluation logits as the supernet run with the selection.
 */
class SavedModelTest {
    @TempDir
    Path dir;

    private static final int BATCH = 6;

    /** Every BN, clip bound and quantizer step set to random values that differ per branch. */
    static void randomize(Supernet m, long seed) {
        Random r = new Random(seed);
        for (Map.Entry<String, Tensor> e : m.stateTensors().entrySet()) {
            String n = e.getKey();
            Tensor t = e.getValue();
            if (t.dtype() != io.basq4j.tensor.DType.F32 || n.endsWith(".bin")) {
                continue;
            }
            float[] v = t.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                if (n.endsWith("upper_bound")) {
                    v[i] = 1f + 5f * r.nextFloat();
                } else if (n.endsWith("running_var")) {
                    v[i] = 0.5f + r.nextFloat();
                } else if (n.endsWith("running_mean") || n.endsWith(".bias")) {
                    v[i] = 0.2f * (float) r.nextGaussian();
                } else if (n.endsWith(".s")) {
                    v[i] = 0.05f + 0.1f * r.nextFloat();
                } else if (n.contains("bn") && n.endsWith(".weight")) {
                    v[i] = 1f + 0.2f * (float) r.nextGaussian();
                } else if (n.endsWith("weight")) {
                    v[i] = v[i] + 0.05f * (float) r.nextGaussian();
                }
            }
            t.copyFrom(v);
        }
    }

    private static Tensor input(ModelConfig c, long seed) {
        Random r = new Random(seed);
        float[] x = new float[BATCH * c.inChannels() * c.resolution() * c.resolution()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return Tensor.of(Device.CPU, x, BATCH, c.inChannels(), c.resolution(), c.resolution());
    }

    private static float[] logits(Supernet m, Tensor x, int[] sel) {
        try (Scope s = Scope.open()) {
            return m.forward(x, sel).toFloatArray();
        }
    }

    @ParameterizedTest
    @CsvSource({"mobilenetv2, 0.25, 32, 1, 2", "mobilenetv2, 0.25, 32, 3, 4", "resnet20, 0.25, 16, 3, 3"})
    void savedNetworkComputesWhatTheSupernetComputesWithItsSelection(String arch, double width, int res, int ch,
            int bits) throws IOException {
        ModelConfig cfg = ModelConfig.defaults().withWidth(width).withResolution(res).withInChannels(ch)
                .withClasses(10).withBits(bits);
        Path file = dir.resolve(arch + bits + ".safetensors");
        try (Supernet sup = Models.create(arch, cfg); Tensor x = input(cfg, 5)) {
            sup.setWeightQuantization(true);
            randomize(sup, 7);
            sup.eval();
            int[] sel = SupernetTraining.selection(9, 2, sup.searchedUnits(), sup.branches());
            int[] other = sel.clone();
            other[other.length / 2] = (other[other.length / 2] + 1) % sup.branches();
            float[] want = logits(sup, x, sel);
            assertFalse(Arrays.equals(want, logits(sup, x, other)), "branches must differ for this test to bite");
            SavedModel.write(file, sup, sel, Map.of("note", "test"));
            try (SavedModel m = SavedModel.load(file)) {
                assertArrayEquals(want, logits(m.network(), x, m.networkSelection()));
                assertArrayEquals(sel, m.selection());
                assertEquals(1, m.config().branches());
                assertEquals(bits, m.config().bits());
                assertEquals(Models.canonical(arch), m.arch());
                assertEquals("test", m.metadata("note"));
                assertEquals(SavedModel.FORMAT, m.metadata(SavedModel.FORMAT_KEY));
            }
            // no unused branch is stored: only branch 0 of every per-branch list
            Map<String, TensorData> t = SafeTensors.read(file).tensors();
            assertTrue(t.keySet().stream().noneMatch(n -> n.matches(".*(branch_bn_q_\\d+|branch_bn_\\d+|bn\\d+_last)"
                    + "\\.[1-9]\\d*\\..*")), "only branch 0 is stored");
            long supernetFloats = sup.stateDict().values().stream().mapToLong(TensorData::numel).sum();
            long savedFloats = t.values().stream().mapToLong(TensorData::numel).sum();
            assertTrue(savedFloats < supernetFloats, savedFloats + " vs " + supernetFloats);
        }
    }

    @Test
    void aTrainingCheckpointIsRefusedWithAPointer() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(10);
        Path ck = dir.resolve("supernet.safetensors");
        try (Supernet sup = Models.create("mobilenetv2", cfg)) {
            Checkpoint.save(ck, sup, null, Map.of("kind", "supernet-final"));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SavedModel.load(ck));
        assertTrue(e.getMessage().contains("supernet-final checkpoint, not a saved model"), e.getMessage());
        assertTrue(e.getMessage().contains(ck.toString()), e.getMessage());
    }

    @Test
    void foreignAndMissingFilesAreRefused() throws IOException {
        Path junk = dir.resolve("junk.safetensors");
        Files.write(junk, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SavedModel.load(junk));
        assertTrue(e.getMessage().startsWith(junk + " is not a basq4j model"), e.getMessage());

        Path other = dir.resolve("other.safetensors");
        SafeTensors.write(other, Map.of("w", TensorData.ofFloat(new int[] {2}, new float[] {1, 2})), Map.of());
        e = assertThrows(IllegalArgumentException.class, () -> SavedModel.load(other));
        assertTrue(e.getMessage().contains("is not a basq4j model"), e.getMessage());

        Path none = dir.resolve("none.safetensors");
        e = assertThrows(IllegalArgumentException.class, () -> SavedModel.load(none));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void metadataThatContradictsTheTensorsIsRefused() throws IOException {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(10);
        Path file = dir.resolve("m.safetensors");
        try (Supernet sup = Models.create("mobilenetv2", cfg)) {
            SavedModel.write(file, sup, new int[sup.searchedUnits()], Map.of());
            assertThrows(IllegalArgumentException.class, () -> SavedModel.write(dir.resolve("x.safetensors"),
                    sup, new int[sup.searchedUnits()], Map.of(SavedModel.ARCH, "resnet20")));
        }
        SafeTensors.File f = SafeTensors.read(file);
        Map<String, String> meta = new java.util.LinkedHashMap<>(f.metadata());
        meta.put(SavedModel.WIDTH, "0.5");
        Path bad = dir.resolve("bad.safetensors");
        SafeTensors.write(bad, f.tensors(), meta);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SavedModel.load(bad));
        assertTrue(e.getMessage().contains("do not fit"), e.getMessage());
        assertTrue(e.getMessage().length() < 600, "one short line: " + e.getMessage().length());
    }

    @Test
    void classNamesAndPreprocessingTravelWithTheModelAndAreChecked() throws IOException {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(3);
        io.basq4j.data.Preprocessing grey = new io.basq4j.data.Preprocessing(1, 28, 28, 2, new float[] {0.3f},
                new float[] {0.4f});
        Path file = dir.resolve("named.safetensors");
        try (Supernet sup = Models.create("mobilenetv2", cfg)) {
            int[] sel = new int[sup.searchedUnits()];
            SavedModel.write(file, sup, sel, java.util.List.of("cat", "dog", "bird"), grey, Map.of("fold", "2"));
            // class names of the wrong count, preprocessing of the wrong channels or size: refused when writing
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SavedModel.write(
                    dir.resolve("x.safetensors"), sup, sel, java.util.List.of("a", "b"), null, Map.of()));
            assertTrue(e.getMessage().contains("2 class names for a model of 3 classes"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> SavedModel.write(dir.resolve("x.safetensors"), sup,
                    sel, null, new io.basq4j.data.Preprocessing(3, 32, 32, 0, new float[3], new float[] {1, 1, 1}),
                    Map.of()));
            assertTrue(e.getMessage().contains("3x32x32 input but the model takes 1x32x32"), e.getMessage());
            assertFalse(Files.exists(dir.resolve("x.safetensors")), "nothing written");
        }
        try (SavedModel m = SavedModel.load(file)) {
            assertEquals(java.util.List.of("cat", "dog", "bird"), m.classNames());
            assertEquals(grey, m.preprocessing());
            assertEquals("2", m.metadata(SavedModel.FOLD));
        }
        // metadata added later keeps the tensors; reserved keys cannot be changed that way
        SavedModel.updateMetadata(file, Map.of(SavedModel.ACCURACIES, "{\"test_acc\":12.5}"));
        Map<String, TensorData> before = SafeTensors.read(file).tensors();
        try (SavedModel m = SavedModel.load(file)) {
            assertEquals("{\"test_acc\":12.5}", m.metadata(SavedModel.ACCURACIES));
            assertEquals("2", m.metadata(SavedModel.FOLD));
        }
        assertEquals(before.keySet(), SafeTensors.read(file).tensors().keySet());
        assertThrows(IllegalArgumentException.class, () -> SavedModel.updateMetadata(file,
                Map.of(SavedModel.CLASSES, "7")));
        // a file whose recorded names or rule contradict the model is refused on loading
        SafeTensors.File f = SafeTensors.read(file);
        for (String[] bad : new String[][] {{SavedModel.CLASS_NAMES, "[\"a\", \"b\"]"},
            {SavedModel.CLASS_NAMES, "{}"},
            {SavedModel.PREPROCESSING, "{\"color\":\"rgb\",\"resize\":32,\"crop\":32,\"pad\":0,"
                    + "\"mean\":[0,0,0],\"std\":[1,1,1]}"},
            {SavedModel.PREPROCESSING, "grey please"}}) {
            Map<String, String> meta = new java.util.LinkedHashMap<>(f.metadata());
            meta.put(bad[0], bad[1]);
            Path b = dir.resolve("bad-" + bad[0] + ".safetensors");
            SafeTensors.write(b, f.tensors(), meta);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SavedModel.load(b));
            assertTrue(e.getMessage().startsWith(b.toString()) && e.getMessage().contains(bad[0]), e.getMessage());
        }
    }
}
