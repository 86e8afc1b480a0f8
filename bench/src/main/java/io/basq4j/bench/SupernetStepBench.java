package io.basq4j.bench;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.Adam;
import io.basq4j.train.GradClip;
import io.basq4j.train.SupernetTraining;
import io.basq4j.train.Training;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Whole 2-bit MobileNet-v2 supernet steps on random data, as the {@code bench} command runs them:
 * a training step (forward with a random selection, cross-entropy, backward, gradient clipping,
 * Adam, weight quantization on) and an evaluation forward. The {@code images} row is images/s.
 * Configurations: {@code issue} (width 1.0, 32x32x3, batch 64: the "CPU performance" issue's
 * figures) and {@code fashion} (width 0.5, 32x32x1, batch 128: the fashion preset's shapes);
 * {@code fused} false runs the BASQ block layer by layer (the same values, see F.setFusion).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class SupernetStepBench {
    /** Images per call, reported per second. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Images {
        public long images;

        @Setup(Level.Iteration)
        public void reset() {
            images = 0;
        }
    }

    @Param({"issue", "fashion"})
    public String config;

    @Param({"true", "false"})
    public boolean fused;

    private Supernet model;
    private Tensor x, y;
    private Adam adam;
    private List<Tensor> params;
    private int batch;
    private long step;

    @Setup
    public void setUp() {
        BenchSupport.threads();
        F.setFusion(fused);
        double width;
        int in;
        if (config.equals("issue")) {
            width = 1.0;
            in = 3;
            batch = 64;
        } else if (config.equals("fashion")) {
            width = 0.5;
            in = 1;
            batch = 128;
        } else {
            throw new IllegalArgumentException("config " + config + ": issue or fashion");
        }
        int res = 32, classes = 10;
        ModelConfig mc = new ModelConfig(width, 8, res, in, classes, 2, 7, null, 0.2f, 1, Device.CPU);
        model = Models.create("mobilenetv2", mc);
        Random r = new Random(1);
        float[] img = new float[batch * in * res * res];
        for (int i = 0; i < img.length; i++) {
            img[i] = (float) r.nextGaussian();
        }
        long[] lab = new long[batch];
        for (int i = 0; i < batch; i++) {
            lab[i] = r.nextInt(classes);
        }
        x = Tensor.of(Device.CPU, img, batch, in, res, res);
        y = Tensor.ofLongs(Device.CPU, lab, batch);
        adam = new Adam(Training.supernetGroups(model, mc.l2(), 5e-6));
        try (io.basq4j.tensor.Scope s = io.basq4j.tensor.Scope.open()) {
            model.initActivationSteps(x);
        }
        model.setWeightQuantization(true);
        params = Training.trainable(model);
    }

    @TearDown
    public void tearDown() {
        adam.close();
        x.close();
        y.close();
        model.close();
        F.setFusion(true);
    }

    @Benchmark
    public void trainStep(Images count) {
        model.train();
        int[] sel = SupernetTraining.selection(7, step++, model.searchedUnits(), model.branches());
        try (io.basq4j.tensor.Scope s = io.basq4j.tensor.Scope.open()) {
            Tensor loss = F.crossEntropy(model.forward(x, sel), y);
            Autograd.backward(loss);
        }
        GradClip.clipNorm(params, 10);
        adam.step(1e-4);
        adam.zeroGrad();
        count.images += batch;
    }

    @Benchmark
    public float evalStep(Images count) {
        model.eval();
        int[] sel = SupernetTraining.selection(9, step++, model.searchedUnits(), model.branches());
        float first;
        try (io.basq4j.tensor.Scope s = io.basq4j.tensor.Scope.open(); GradMode off = GradMode.off()) {
            first = model.forward(x, sel).toFloatArray()[0];
        }
        count.images += batch;
        return first;
    }
}
