package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.data.Batch;
import io.basq4j.data.DataLoader;
import io.basq4j.data.Normalization;
import io.basq4j.data.SyntheticImages;
import io.basq4j.io.StateFiles;
import io.basq4j.io.TensorData;
import io.basq4j.io.TorchCheckpoint;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.models.TorchvisionResNet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.testutil.Golden;
import io.basq4j.testutil.Ref64;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The teacher's input (its own normalization, gray replicated to RGB) and distillation in step 3,
 * each against a computation written out here.
 */
class TeacherTest {
    @TempDir
    Path tmp;

    private static Map<String, TensorData> goldenTeacher() throws Exception {
        return TorchCheckpoint.readStateDict(Golden.file("torchvision_resnet_bottleneck.pth"));
    }

    /** The raw pixels behind a normalized batch, re-normalized as torchvision's Normalize would. */
    private static float[] torchvisionInput(float[] x, int n, int cs, int hw, Normalization s, Normalization t) {
        float[] out = new float[n * 3 * hw];
        for (int e = 0; e < n; e++) {
            for (int k = 0; k < 3; k++) {
                int j = k % cs;
                for (int i = 0; i < hw; i++) {
                    double raw = x[(e * cs + j) * hw + i] * (double) s.std()[j] + s.mean()[j];
                    out[(e * 3 + k) * hw + i] = (float) ((raw - t.mean()[k]) / t.std()[k]);
                }
            }
        }
        return out;
    }

    @Test
    void grayDataIsReplicatedAndRenormalizedForAnImagenetTeacher() throws Exception {
        Map<String, TensorData> state = goldenTeacher();
        Normalization fashion = Normalization.uniform(1, 0.2860f, 0.3530f);
        int n = 3;
        int h = 40;
        float[] x = new float[n * h * h];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((r.nextDouble() - 0.2860) / 0.3530);
        }
        try (TorchvisionResNet net = TorchvisionResNet.fromStateDict(state, Device.CPU);
                Teacher t = new Teacher(TorchvisionResNet.fromStateDict(state, Device.CPU), "golden", 10, 3, fashion,
                        Normalization.IMAGENET, Device.CPU);
                Scope s = Scope.open()) {
            assertTrue(t.inputNote().contains("replicated to 3 channels"), t.inputNote());
            float[] got = t.logits(Tensor.of(Device.CPU, x, n, 1, h, h)).toFloatArray();
            float[] want = net.forward(Tensor.of(Device.CPU, torchvisionInput(x, n, 1, h * h, fashion,
                    Normalization.IMAGENET), n, 3, h, h)).toFloatArray();
            double diff = 0;
            double scale = 0;
            for (int i = 0; i < want.length; i++) {
                diff = Math.max(diff, Math.abs(got[i] - want[i]));
                scale = Math.max(scale, Math.abs(want[i]));
            }
            assertTrue(diff <= 1e-5 * scale, "relative error " + diff / scale);
        }
    }

    @Test
    void sameNormalizationPassesTheBatchAsItIs() throws Exception {
        Map<String, TensorData> state = goldenTeacher();
        int n = 2;
        int h = 32;
        float[] x = new float[n * 3 * h * h];
        SplittableRandom r = new SplittableRandom(9);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        try (TorchvisionResNet net = TorchvisionResNet.fromStateDict(state, Device.CPU);
                Teacher t = new Teacher(TorchvisionResNet.fromStateDict(state, Device.CPU), "golden", 10, 3,
                        Normalization.IMAGENET, Normalization.IMAGENET, Device.CPU);
                Scope s = Scope.open()) {
            assertEquals("the student's batches as they are", t.inputNote());
            assertArrayEquals(net.forward(Tensor.of(Device.CPU, x, n, 3, h, h)).toFloatArray(),
                    t.logits(Tensor.of(Device.CPU, x, n, 3, h, h)).toFloatArray());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Teacher(TorchvisionResNet.fromStateDict(state, Device.CPU), "golden", 10, 3,
                        Normalization.uniform(2, 0.5f, 0.25f), Normalization.IMAGENET, Device.CPU));
        assertTrue(e.getMessage().contains("takes 3 input channels but the data has 2"), e.getMessage());
    }

    /**
     * Step 3 with a teacher minimizes SPEC 5's distillation loss: the loss of the first batch, as
     * finetuning logs it, equals -mean sum softmax(teacher) log_softmax(student) computed here from
     * the two networks' logits (and not the cross-entropy on the labels).
     */
    @Test
    void finetuningDistillsFromTheTeacher() throws Exception {
        RunConfig c = RunConfig.preset("smoke");
        c.dataset = "synthetic";
        c.inChannels = 3;
        c.width = 0.5;
        c.trainLimit = 64;
        c.batch = 16;
        c.finetuneEpochs = 1;
        c.finetuneBatches = 1;
        c.teacher = Teachers.TORCHVISION + Golden.file("torchvision_resnet_bottleneck.pth");
        c.finetuneLoss = "kd";
        c.validate();
        Map<String, TensorData> sn = StateFiles.read(Golden.file("mbv2_w0.5_a2w2_r32.pth")).state();
        int[] arch = {0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2};
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (RunLog log = new RunLog(new PrintStream(buf, true, StandardCharsets.UTF_8), tmp.resolve("log.txt"));
                DataLoader train = DataLoader.builder(new SyntheticImages(64, 10, 3, 32, 32, 3)).batchSize(16)
                        .shuffle(true).dropLast(true).seed(4).workers(1).build();
                Teacher teacher = Teachers.open(c, tmp, log);
                Supernet model = Models.create("mobilenetv2", c.modelConfig());
                Supernet fresh = Models.create("mobilenetv2", c.modelConfig())) {
            for (Supernet m : new Supernet[] {model, fresh}) {
                m.loadStateDict(sn);
                m.setWeightQuantization(true, false);
            }
            Batch first = new Training.BatchStream(train, 0).next();
            double kd;
            double ce;
            try (Scope s = Scope.open()) {
                fresh.train();
                fresh.dropout().setOffset(0);
                Tensor x = Training.images(first, Device.CPU);
                float[] student = fresh.forward(x, arch).toFloatArray();
                float[] teach = teacher.model() instanceof TorchvisionResNet tv
                        ? tv.forward(Tensor.of(Device.CPU, torchvisionInput(first.images(), first.n(), 3, 32 * 32,
                                Normalization.uniform(3, 0.5f, 0.25f), Normalization.IMAGENET), first.n(), 3, 32, 32))
                                .toFloatArray()
                        : null;
                kd = Ref64.kdLoss(Ref64.toDouble(student), Ref64.toDouble(teach), first.n(), 10);
                ce = Ref64.crossEntropy(Ref64.toDouble(student), first.n(), 10, first.labels());
            }
            Finetuning.run(c, 0, arch, model, train, (m, a) -> 0.0, 0.0, teacher, log);
            Matcher m = Pattern.compile("epoch 1/1 .* loss (\\d+\\.\\d+)").matcher(buf.toString(StandardCharsets.UTF_8));
            assertTrue(m.find(), buf.toString(StandardCharsets.UTF_8));
            double logged = Double.parseDouble(m.group(1));
            assertEquals(kd, logged, 1e-4, String.format(Locale.ROOT, "kd %.5f ce %.5f logged %.4f", kd, ce, logged));
            assertTrue(Math.abs(ce - kd) > 1e-2, "the two losses differ enough to tell apart: " + kd + " " + ce);
        }
    }
}
