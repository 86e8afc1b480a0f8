package io.basq4j.deploy.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.basq4j.deploy.SavedModel;
import io.basq4j.kernels.CpuKernels;
import io.basq4j.models.ModelConfig;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The engine against the training library's evaluation path (the supernet in evaluation mode
 * with the selection) on random networks of realistic magnitudes, every bit width, MobileNet-v2
 * and ResNet-20, odd spatial sizes, at every instruction-set level. The two add the
 * convolutions' terms in different orders, so logits agree to float rounding (about 1e-6 of
 * their scale here); the tolerance, 1e-4 of each image's largest logit, lets through nothing
 * like a wrong formula (a wrong skip, tap, step or branch moves logits by 1e-2 and more).
 */
class InferenceEngineTest {
    private static final int IMAGES = 7;
    private static final int MAX_BATCH = 4; // < IMAGES: the engine runs them in two chunks
    private static final double RTOL = 1e-4;

    @TempDir
    Path dir;

    static void assertAgree(String what, float[] want, float[] got, int classes) {
        assertEquals(want.length, got.length);
        for (int n = 0; n < want.length / classes; n++) {
            double scale = 0;
            double worst = 0;
            for (int k = 0; k < classes; k++) {
                int i = n * classes + k;
                scale = Math.max(scale, Math.abs(want[i]));
                double d = Math.abs(want[i] - got[i]);
                worst = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(worst, d);
            }
            if (worst > RTOL * Math.max(1, scale)) {
                fail(String.format("%s: image %d differs by %.3g (its largest logit %.3g)", what, n, worst, scale));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({
        "mobilenetv2, 0.25, 32, 1, 2", "mobilenetv2, 0.25, 32, 3, 3", "mobilenetv2, 0.25, 32, 1, 4",
        // odd sizes: 52 -> stride-2 skips on 13 and 7 (zero-padded windows); 16 -> a stride-2 skip on 1x1
        "mobilenetv2, 0.25, 52, 1, 2", "mobilenetv2, 0.25, 16, 3, 3",
        "resnet20, 0.25, 16, 3, 2", "resnet20, 0.25, 16, 3, 3", "resnet20, 0.5, 16, 3, 4", "resnet20, 0.25, 13, 1, 2",
        // ResNet-18: the 7x7 / 2 stem and its max pooling
        "resnet18, 0.125, 32, 3, 2"})
    void engineAgreesWithTheEvaluationPath(String arch, double width, int res, int ch, int bits) {
        ModelConfig cfg = ModelConfig.defaults().withWidth(width).withResolution(res).withInChannels(ch)
                .withClasses(10).withBits(bits);
        try (InferTestNets.Net t = InferTestNets.realistic(arch, cfg, 17)) {
            float[] x = InferTestNets.images(new Random(3), IMAGES, cfg);
            float[] want = InferTestNets.evalLogits(t.net(), x, IMAGES, t.selection());
            int[] other = t.selection().clone();
            for (int i = 0; i < other.length; i += 2) {
                other[i] = (other[i] + 1) % t.net().branches();
            }
            int top = CpuKernels.basq_infer_isa();
            try {
                for (int isa = 0; isa <= top; isa++) {
                    CpuKernels.basq_infer_set_isa(isa);
                    try (InferenceEngine e = InferenceEngine.compile(t.net(), t.selection(), MAX_BATCH)) {
                        float[] got = new float[IMAGES * 10];
                        e.logits(x, IMAGES, got);
                        assertAgree(arch + " " + bits + "-bit " + res + "px isa " + isa, want, got, 10);
                    }
                }
            } finally {
                CpuKernels.basq_infer_set_isa(top);
            }
            // another selection gives other logits, which the engine of that selection reproduces
            float[] wantOther = InferTestNets.evalLogits(t.net(), x, IMAGES, other);
            assertFalse(java.util.Arrays.equals(want, wantOther), "branches must differ for this test to bite");
            try (InferenceEngine e = InferenceEngine.compile(t.net(), other, MAX_BATCH)) {
                float[] got = new float[IMAGES * 10];
                e.logits(x, IMAGES, got);
                assertAgree("other selection", wantOther, got, 10);
            }
        }
    }

    @Test
    void savedModelPackedFileAndTensorsGiveTheSameAnswers() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1).withClasses(10)
                .withBits(2);
        Path model = dir.resolve("model.safetensors");
        Path packed = dir.resolve("model.basq");
        try (InferTestNets.Net t = InferTestNets.realistic("mobilenetv2", cfg, 21)) {
            SavedModel.write(model, t.net(), t.selection(), Map.of("note", "kept"));
            float[] x = InferTestNets.images(new Random(4), IMAGES, cfg);
            float[] fromSupernet = new float[IMAGES * 10];
            try (InferenceEngine e = InferenceEngine.compile(t.net(), t.selection(), MAX_BATCH)) {
                e.logits(x, IMAGES, fromSupernet);
            }
            try (SavedModel m = SavedModel.load(model)) {
                PackedNetwork p = PackedNetwork.of(m);
                PackedFormat.write(packed, p);
                PackedNetwork back = PackedFormat.read(packed);
                PackedNetworkTest.assertSameNetwork(p, back);
                assertEquals("kept", back.metadata().get("note"));
                float[] fromModel = new float[IMAGES * 10];
                float[] fromFile = new float[IMAGES * 10];
                try (InferenceEngine e = InferenceEngine.compile(m, MAX_BATCH);
                        InferenceEngine f = InferenceEngine.load(packed, 3)) {
                    e.logits(x, IMAGES, fromModel);
                    f.logits(x, IMAGES, fromFile);
                    assertArrayEquals(fromSupernet, fromModel, "saved model = supernet with the selection");
                    assertArrayEquals(fromModel, fromFile, "packed file = saved model, bit for bit");
                    try (Scope s = Scope.open()) {
                        Tensor viaTensor = f.logits(InferTestNets.tensor(x, IMAGES, cfg));
                        assertArrayEquals(fromFile, viaTensor.toFloatArray(), "tensor API = array API");
                    }
                }
                // the compact file (16-bit parameters): the same network back, close to the float32 one
                PackedNetwork c = p.compact();
                Path compact = dir.resolve("compact.basq");
                PackedFormat.write(compact, c);
                PackedNetworkTest.assertSameNetwork(c, PackedFormat.read(compact));
                float[] fromCompact = new float[IMAGES * 10];
                float[] fromCompactFile = new float[IMAGES * 10];
                try (InferenceEngine e = InferenceEngine.compile(c, MAX_BATCH);
                        InferenceEngine f = InferenceEngine.load(compact, MAX_BATCH)) {
                    e.logits(x, IMAGES, fromCompact);
                    f.logits(x, IMAGES, fromCompactFile);
                }
                assertArrayEquals(fromCompact, fromCompactFile, "compact file = compact network, bit for bit");
                for (int i = 0; i < fromCompact.length; i++) {
                    assertEquals(fromModel[i], fromCompact[i], 0.02 * (1 + Math.abs(fromModel[i])), "logit " + i);
                }
            }
        }
    }

    /**
     * Resolution 48: feature 14's input is 3x3, where SPEC 2's skip broadcasts the mean of the
     * top-left 2x2 window (the engine's rule). Runs once the models compute that rule too.
     */
    @Test
    void threeByThreeSkipFollowsSpecTwo() {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.basq4j.models.SkipPoolProbe.broadcastsOnThreeByThree(),
                "the models' skip does not yet compute SPEC 2's broadcast on a 3x3 input");
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(48).withInChannels(1).withClasses(10)
                .withBits(2);
        try (InferTestNets.Net t = InferTestNets.realistic("mobilenetv2", cfg, 29);
                InferenceEngine e = InferenceEngine.compile(t.net(), t.selection(), MAX_BATCH)) {
            float[] x = InferTestNets.images(new Random(8), IMAGES, cfg);
            float[] got = new float[IMAGES * 10];
            e.logits(x, IMAGES, got);
            assertAgree("48px", InferTestNets.evalLogits(t.net(), x, IMAGES, t.selection()), got, 10);
        }
    }

    /** A batch split across threads (lanes) gives bit for bit what one thread gives. */
    @Test
    void splitBatchesGiveTheSameLogitsAsOneThread() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(3).withClasses(10)
                .withBits(3);
        int n = 13;
        int threads = CpuKernels.basq_num_threads();
        try (InferTestNets.Net t = InferTestNets.realistic("mobilenetv2", cfg, 23);
                InferenceEngine e = InferenceEngine.compile(t.net(), t.selection(), n)) {
            float[] x = InferTestNets.images(new Random(6), n, cfg);
            float[] one = new float[n * 10];
            float[] split = new float[n * 10];
            CpuKernels.basq_set_num_threads(1);
            e.logits(x, n, one);
            CpuKernels.basq_set_num_threads(3); // lanes of 5, 4 and 4 images
            e.logits(x, n, split);
            assertArrayEquals(one, split);
            assertAgree("split batch", InferTestNets.evalLogits(t.net(), x, n, t.selection()), split, 10);
        } finally {
            CpuKernels.basq_set_num_threads(threads);
        }
    }

    @Test
    void closedEnginesAndWrongInputsAreRefused() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(16).withInChannels(3).withClasses(10)
                .withBits(2);
        try (InferTestNets.Net t = InferTestNets.realistic("resnet20", cfg, 5)) {
            InferenceEngine e = InferenceEngine.compile(t.net(), t.selection(), 2);
            float[] out = new float[10];
            IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                    () -> e.logits(new float[5], 1, out));
            assertTrue(bad.getMessage().contains("input floats"), bad.getMessage());
            try (Scope s = Scope.open()) {
                Tensor wrong = Tensor.zeros(io.basq4j.tensor.Device.CPU, 1, 3, 8, 8);
                assertThrows(IllegalArgumentException.class, () -> e.logits(wrong));
            }
            e.close();
            assertThrows(IllegalStateException.class, () -> e.logits(new float[3 * 16 * 16], 1, out));
            assertThrows(IllegalArgumentException.class, () -> InferenceEngine.compile(t.net(), t.selection(), 0));
        }
    }
}
