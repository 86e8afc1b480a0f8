package io.basq4j.cli;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.kernels.CpuKernels;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Backends;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.OpProfile;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.train.Adam;
import io.basq4j.train.GradClip;
import io.basq4j.train.SupernetTraining;
import io.basq4j.train.Training;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Supernet training-step and evaluation throughput on random data: the median of timed steps
 * after warm-up, and with {@code --profile} the time per backend operation.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Median supernet training-step and evaluation throughput (random data, random selection "
                + "per step, Adam). Ends with train_img_per_s=<x>, eval_img_per_s=<y> and the peak memory of "
                + "tensors, peak_tensor_mib=<z> (on CUDA also device_used_mib).")
public final class BenchCommand implements Callable<Integer> {
    @Option(names = "--arch", defaultValue = "mobilenetv2", description = "mobilenetv2, resnet18 or resnet20")
    String arch;

    @Option(names = "--width", defaultValue = "1.0", description = "width multiplier (default 1.0)")
    double width;

    @Option(names = "--divisor", defaultValue = "8", description = "channel divisor (default 8)")
    int divisor;

    @Option(names = "--bits", defaultValue = "2", description = "bits (default 2)")
    int bits;

    @Option(names = "--resolution", defaultValue = "32", description = "input size (default 32)")
    int resolution;

    @Option(names = "--in-channels", defaultValue = "3", description = "input channels (default 3)")
    int inChannels;

    @Option(names = "--classes", defaultValue = "10", description = "classes (default 10)")
    int classes;

    @Option(names = "--batch", defaultValue = "64", description = "batch size (default 64)")
    int batch;

    @Option(names = "--threads", description = "kernel and BLAS threads (default: all cores)")
    Integer threads;

    @Option(names = "--steps", defaultValue = "20", description = "timed steps (default 20)")
    int steps;

    @Option(names = "--warmup", defaultValue = "3", description = "untimed steps first (default 3)")
    int warmup;

    @Option(names = "--weight-quant", defaultValue = "true", negatable = true,
            description = "quantize weights too (phase b; default true)")
    boolean weightQuant;

    @Option(names = "--profile", description = "also print the time per backend operation")
    boolean profile;

    @Option(names = "--fused", defaultValue = "${sys:basq4j.fused:-true}", negatable = true,
            description = "use the fused BASQ-block kernels where the backend has them (default true; "
                    + "--no-fused runs the block layer by layer, with the same results)")
    boolean fused;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or auto")
    String device;

    @Option(names = "--infer", description = "measure the inference engine instead (batch --batch and batch 1, "
            + "against the evaluation path and a float32 MobileNet-v2); ends with infer_img_per_s=<x> and "
            + "infer_latency_ms_b1=<y>")
    boolean infer;

    @Override
    public Integer call() {
        Device dev;
        ModelConfig mc;
        try {
            dev = Device.parse(device);
            mc = new ModelConfig(width, divisor, resolution, inChannels, classes, bits, 7, null, 0.2f, 1, dev);
            Models.canonical(arch);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage(), 2);
        }
        Threads.apply(threads, System.err);
        F.setFusion(fused);
        if (infer) { // bench --infer: the deployed network's engine (InferBench)
            return InferBench.run(arch, mc, batch, steps, warmup, profile);
        }
        OpProfile prof = profile && dev == Device.CPU ? Backends.profileCpu() : null;
        Random r = new Random(1);
        float[] img = new float[batch * inChannels * resolution * resolution];
        for (int i = 0; i < img.length; i++) {
            img[i] = (float) r.nextGaussian();
        }
        long[] lab = new long[batch];
        for (int i = 0; i < batch; i++) {
            lab[i] = r.nextInt(classes);
        }
        System.out.printf(Locale.ROOT, "bench: %s w%s %d-bit, %dx%dx%d input, batch %d, %d threads, %s%s%n", arch,
                width, bits, inChannels, resolution, resolution, batch, CpuKernels.basq_num_threads(), dev,
                fused ? "" : ", unfused");
        try (Supernet model = Models.create(arch, mc); Tensor x = Tensor.of(dev, img, batch, inChannels, resolution,
                resolution); Tensor y = Tensor.ofLongs(dev, lab, batch);
                Adam adam = new Adam(Training.supernetGroups(model, mc.l2(), 5e-6))) {
            // Training-mode batch norm needs more than one value per channel; the last feature map
            // is the smallest, so a batch of 1 at a 1x1 last stage cannot train (evaluation can).
            boolean trainable = (long) batch * model.outputSize() * model.outputSize() >= 2;
            try (Scope s = Scope.open()) {
                model.initActivationSteps(trainable ? x : Tensor.of(dev, java.util.Arrays.copyOf(img, 2 * img.length),
                        2, inChannels, resolution, resolution));
            }
            model.setWeightQuantization(weightQuant);
            List<Tensor> params = Training.trainable(model);
            model.train();
            double[] train = new double[trainable ? steps : 0];
            for (int i = -warmup; trainable && i < steps; i++) {
                if (i == 0 && prof != null) {
                    prof.reset();
                }
                int[] sel = SupernetTraining.selection(7, i + warmup, model.searchedUnits(), model.branches());
                long t0 = System.nanoTime();
                try (Scope s = Scope.open()) {
                    Tensor loss = F.crossEntropy(model.forward(x, sel), y);
                    Autograd.backward(loss);
                }
                GradClip.clipNorm(params, 10);
                adam.step(1e-4);
                adam.zeroGrad();
                x.backend().synchronize();
                if (i >= 0) {
                    train[i] = (System.nanoTime() - t0) / 1e9;
                }
            }
            if (prof != null && trainable) {
                printProfile(prof, "training step", steps);
            }
            model.eval();
            double[] eval = new double[steps];
            for (int i = -warmup; i < steps; i++) {
                if (i == 0 && prof != null) {
                    prof.reset();
                }
                int[] sel = SupernetTraining.selection(9, i + warmup, model.searchedUnits(), model.branches());
                long t0 = System.nanoTime();
                try (Scope s = Scope.open(); GradMode off = GradMode.off()) {
                    model.forward(x, sel).toFloatArray();
                }
                if (i >= 0) {
                    eval[i] = (System.nanoTime() - t0) / 1e9;
                }
            }
            if (prof != null) {
                printProfile(prof, "evaluation", steps);
            }
            double em = median(eval);
            if (trainable) {
                System.out.printf(Locale.ROOT, "training step:  median %.1f ms (min %.1f, max %.1f) over %d steps%n",
                        median(train) * 1e3, Arrays.stream(train).min().orElse(0) * 1e3,
                        Arrays.stream(train).max().orElse(0) * 1e3, steps);
            } else {
                System.out.printf(Locale.ROOT, "training step:  not measured: training-mode batch norm needs more than "
                        + "one value per channel, and a batch of %d gives one at the %dx%d last stage (use --batch 2 "
                        + "or more)%n", batch, model.outputSize(), model.outputSize());
            }
            System.out.printf(Locale.ROOT, "evaluation:     median %.1f ms (min %.1f, max %.1f) over %d steps%n",
                    em * 1e3, Arrays.stream(eval).min().orElse(0) * 1e3, Arrays.stream(eval).max().orElse(0) * 1e3,
                    steps);
            if (trainable) {
                System.out.printf(Locale.ROOT, "train_img_per_s=%.1f%n", batch / median(train));
            }
            System.out.printf(Locale.ROOT, "eval_img_per_s=%.1f%n", batch / em);
            // peak of the tensors and workspaces alive at once; on a GPU also all its memory in use now
            System.out.printf(Locale.ROOT, "peak_tensor_mib=%.1f%n", x.backend().allocator().peakBytes() / 1048576.0);
            if (x.backend() instanceof io.basq4j.tensor.CudaBackend cb) {
                System.out.printf(Locale.ROOT, "device_used_mib=%.1f%n", cb.deviceBytesUsed() / 1048576.0);
            }
        }
        return 0;
    }

    private static void printProfile(OpProfile prof, String what, int steps) {
        List<Object[]> rows = prof.rows();
        double total = rows.stream().mapToDouble(o -> (Double) o[2]).sum();
        System.out.printf(Locale.ROOT, "profile of the %s (per step, %d steps):%n", what, steps);
        System.out.printf(Locale.ROOT, "  %-28s %8s %10s %6s%n", "operation", "calls", "ms", "share");
        for (Object[] o : rows) {
            double s = (Double) o[2];
            System.out.printf(Locale.ROOT, "  %-28s %8d %10.2f %5.1f%%%n", o[0], (Long) o[1] / steps,
                    s / steps * 1e3, 100 * s / total);
        }
        System.out.printf(Locale.ROOT, "  %-28s %8s %10.2f%n", "total in kernels", "", total / steps * 1e3);
    }

    static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
