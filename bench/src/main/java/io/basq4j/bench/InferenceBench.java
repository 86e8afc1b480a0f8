package io.basq4j.bench;

import io.basq4j.autograd.GradMode;
import io.basq4j.deploy.infer.InferenceEngine;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.SupernetTraining;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
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
 * The inference engine (io.basq4j.deploy.infer) on a 2-bit MobileNet-v2 that has trained a few
 * steps on noise ({@code SupernetTraining.trainOnNoise}), as {@code bench --infer} runs it:
 * {@code engine} runs one batch through the compiled network, {@code evalPath} the same network
 * through the supernet's evaluation forward. Throughput in calls/s (for batch 1 the latency is its inverse); the {@code images}
 * row is images/s. Configurations:
 * {@code issue} (width 1.0, 3x32x32, the issue's figures) and {@code fashion} (width 0.5,
 * 1x32x32); {@code batch} 64 (throughput) or 1 (latency).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class InferenceBench {
    @Param({"issue", "fashion"})
    public String config;

    @Param({"64", "1"})
    public int batch;

    private Supernet model;
    private InferenceEngine engine;
    private int[] selection;
    private float[] img;
    private float[] out;
    private Tensor x;

    @Setup
    public void setUp() {
        BenchSupport.threads();
        boolean issue = config.equals("issue");
        int in = issue ? 3 : 1;
        ModelConfig mc = ModelConfig.defaults().withWidth(issue ? 1.0 : 0.5).withResolution(32).withInChannels(in)
                .withClasses(10).withBits(2).withSeed(1);
        model = Models.create("mobilenetv2", mc);
        SupernetTraining.trainOnNoise(model);
        Random r = new Random(2);
        selection = SupernetTraining.selection(9, 0, model.searchedUnits(), model.branches());
        engine = InferenceEngine.compile(model, selection, batch);
        img = new float[batch * in * 32 * 32];
        for (int i = 0; i < img.length; i++) {
            img[i] = (float) r.nextGaussian();
        }
        out = new float[batch * 10];
        x = Tensor.of(Device.CPU, img, batch, in, 32, 32);
    }

    @TearDown
    public void tearDown() {
        engine.close();
        x.close();
        model.close();
    }

    @Benchmark
    public float engine(SupernetStepBench.Images n) {
        engine.logits(img, batch, out);
        n.images += batch;
        return out[0];
    }

    @Benchmark
    public float evalPath(SupernetStepBench.Images n) {
        try (io.basq4j.tensor.Scope s = io.basq4j.tensor.Scope.open(); GradMode off = GradMode.off()) {
            float[] l = model.forward(x, selection).toFloatArray();
            n.images += batch;
            return l[0];
        }
    }
}
