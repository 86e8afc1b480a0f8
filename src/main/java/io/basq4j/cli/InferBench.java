package io.basq4j.cli;

import io.basq4j.autograd.GradMode;
import io.basq4j.deploy.infer.InferenceEngine;
import io.basq4j.kernels.CpuKernels;
import io.basq4j.models.MobileNetV2;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.SupernetTraining;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;

/**
 * {@code bench --infer}: the inference engine (io.basq4j.deploy.infer) against the training
 * library's evaluation path on the same network, and a float32 MobileNet-v2 of the same shape.
 * The supernet first trains a few steps on noise ({@link SupernetTraining#trainOnNoise}: the same
 * network whatever the measured batch), then one selection is compiled.
 */
final class InferBench {
    /** Timed single-image calls (the latency figure is their median). */
    static final int LATENCY_CALLS = 200;

    private InferBench() {
    }

    static int run(String arch, ModelConfig mc, int batch, int steps, int warmup, boolean profile) {
        if (mc.device() != Device.CPU) {
            throw new UserError("bench --infer measures the CPU engine (use --device cpu)", 2);
        }
        Random r = new Random(1);
        float[] img = new float[batch * mc.inChannels() * mc.resolution() * mc.resolution()];
        for (int i = 0; i < img.length; i++) {
            img[i] = (float) r.nextGaussian();
        }
        System.out.printf(Locale.ROOT, "bench --infer: %s w%s %d-bit, %dx%dx%d input, batch %d, %d threads, "
                + "inference kernels at ISA level %d%n", arch, mc.widthMultiplier(), mc.bits(), mc.inChannels(),
                mc.resolution(), mc.resolution(), batch, CpuKernels.basq_num_threads(), CpuKernels.basq_infer_isa());
        double engine;
        double latency;
        double evalPath;
        Map<String, double[]> prof;
        try (Supernet model = Models.create(arch, mc);
                Tensor x = Tensor.of(Device.CPU, img, batch, mc.inChannels(), mc.resolution(), mc.resolution())) {
            SupernetTraining.trainOnNoise(model);
            int[] sel = SupernetTraining.selection(9, 0, model.searchedUnits(), model.branches());
            try (InferenceEngine e = InferenceEngine.compile(model, sel, batch)) {
                float[] out = new float[batch * mc.classes()];
                engine = median(() -> {
                    e.logits(img, batch, out);
                    return null;
                }, steps, warmup);
                latency = median(() -> {
                    e.logits(img, 1, out);
                    return null;
                }, Math.max(steps, LATENCY_CALLS), warmup);
                e.setProfiling(true);
                for (int i = 0; i < steps; i++) {
                    e.logits(img, batch, out);
                }
                prof = e.profile();
                e.setProfiling(false);
            }
            evalPath = median(() -> {
                try (Scope s = Scope.open(); GradMode off = GradMode.off()) {
                    return model.forward(x, sel).toFloatArray();
                }
            }, steps, warmup);
            double fp = Double.NaN;
            if (Models.canonical(arch).equals("mobilenetv2")) {
                try (MobileNetV2 net = new MobileNetV2(mc)) {
                    net.eval();
                    fp = median(() -> {
                        try (Scope s = Scope.open(); GradMode off = GradMode.off()) {
                            return net.forward(x).toFloatArray();
                        }
                    }, steps, warmup);
                }
            }
            System.out.printf(Locale.ROOT, "engine, batch %d:        median %8.2f ms  %9.1f img/s%n", batch,
                    engine * 1e3, batch / engine);
            System.out.printf(Locale.ROOT, "engine, batch 1:         median %8.3f ms  %9.1f img/s%n", latency * 1e3,
                    1 / latency);
            System.out.printf(Locale.ROOT, "evaluation path, batch %d: median %8.2f ms  %9.1f img/s  (engine %.2fx)%n",
                    batch, evalPath * 1e3, batch / evalPath, evalPath / engine);
            if (!Double.isNaN(fp)) {
                System.out.printf(Locale.ROOT, "float32 mobilenetv2, batch %d: median %8.2f ms  %9.1f img/s  (engine "
                        + "%.2fx)%n", batch, fp * 1e3, batch / fp, fp / engine);
            }
        }
        if (profile) {
            double total = prof.values().stream().mapToDouble(v -> v[1]).sum();
            int lanes = Math.min(CpuKernels.basq_num_threads(), batch / InferenceEngine.IMAGES_PER_LANE);
            System.out.printf(Locale.ROOT, "engine profile (per batch of %d, %d batches%s):%n", batch, steps,
                    lanes > 1 ? ", the first thread's " + (batch / lanes) + " images of each (the batch is split across "
                            + lanes + " threads)" : "");
            System.out.printf(Locale.ROOT, "  %-12s %8s %10s %6s%n", "step", "calls", "ms", "share");
            for (Map.Entry<String, double[]> en : prof.entrySet()) {
                double[] v = en.getValue();
                System.out.printf(Locale.ROOT, "  %-12s %8d %10.3f %5.1f%%%n", en.getKey(), (long) v[0] / steps,
                        v[1] / steps * 1e3, 100 * v[1] / total);
            }
            System.out.printf(Locale.ROOT, "  %-12s %8s %10.3f%n", "total", "", total / steps * 1e3);
        }
        System.out.printf(Locale.ROOT, "infer_img_per_s=%.1f%n", batch / engine);
        System.out.printf(Locale.ROOT, "infer_latency_ms_b1=%.3f%n", latency * 1e3);
        return 0;
    }

    /** Median seconds of {@code steps} timed calls after {@code warmup} untimed ones. */
    private static double median(Supplier<Object> call, int steps, int warmup) {
        double[] t = new double[Math.max(1, steps)];
        for (int i = -warmup; i < t.length; i++) {
            long t0 = System.nanoTime();
            call.get();
            if (i >= 0) {
                t[i] = (System.nanoTime() - t0) / 1e9;
            }
        }
        return BenchCommand.median(t);
    }
}
