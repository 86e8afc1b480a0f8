package io.basq4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.data.Batch;
import io.basq4j.data.DataLoader;
import io.basq4j.data.Dataset;
import io.basq4j.io.AtomicFiles;
import io.basq4j.io.PausePoint;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.LongFunction;
import java.util.SplittableRandom;

/**
 * Step 1 (SPEC 5): supernet training in two phases of equal length, (a) activations quantized,
 * (b) weights quantized as well (steps re-initialized, fresh optimizer and schedule); a fresh
 * random selection every iteration; distillation from a frozen full-precision teacher or
 * cross-entropy; Adam with the BASQ parameter groups, cosine schedule per iteration, gradient
 * norm clipped. Checkpoints every N iterations and at each phase end; {@code resume} continues
 * from the last one and gives the same result as an uninterrupted run (every random choice is a
 * function of the seed and the global step).
 */
public final class SupernetTraining {
    public static final String LAST = "checkpoints/supernet-last.safetensors";
    public static final String FINAL = "supernet.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a run produced. */
    public record Result(Path checkpoint, List<double[]> curve, double seconds, double imagesPerSecond) {
    }

    private SupernetTraining() {
    }

    /** The random selection of global step {@code g} (g = -1: the LSQ initialization batch). */
    public static int[] selection(long seed, long g, int units, int branches) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + g + 1);
        int[] s = new int[units];
        for (int i = 0; i < units; i++) {
            s[i] = r.nextInt(branches);
        }
        return s;
    }

    /** Images and steps of {@link #trainOnNoise}. */
    public static final int NOISE_IMAGES = 64;
    public static final int NOISE_STEPS = 8;

    /**
     * Trains a freshly built {@code model} a few steps on noise, for benchmarks of evaluation and
     * inference: {@value #NOISE_IMAGES} standard normal images with random labels (seed 1), LSQ
     * steps initialized on them, weights quantized, {@value #NOISE_STEPS} Adam steps (lr 1e-3,
     * gradients clipped at norm 10) over random selections; then evaluation mode. Its weights,
     * steps and batch-norm statistics are those of a network that has learned rather than an
     * initialization (untrained weights can be denormal floats, which distort any timing).
     */
    public static void trainOnNoise(Supernet model) {
        ModelConfig mc = model.config();
        int r = mc.resolution();
        Random rnd = new Random(1);
        float[] img = new float[NOISE_IMAGES * mc.inChannels() * r * r];
        for (int i = 0; i < img.length; i++) {
            img[i] = (float) rnd.nextGaussian();
        }
        long[] lab = new long[NOISE_IMAGES];
        for (int i = 0; i < lab.length; i++) {
            lab[i] = rnd.nextInt(mc.classes());
        }
        try (Tensor x = Tensor.of(mc.device(), img, NOISE_IMAGES, mc.inChannels(), r, r);
                Tensor y = Tensor.ofLongs(mc.device(), lab, NOISE_IMAGES);
                Adam adam = new Adam(Training.supernetGroups(model, mc.l2(), 5e-6))) {
            try (Scope s = Scope.open()) {
                model.initActivationSteps(x);
            }
            model.setWeightQuantization(true);
            List<Tensor> params = Training.trainable(model);
            model.train();
            for (int i = 0; i < NOISE_STEPS; i++) {
                int[] sel = selection(7, i, model.searchedUnits(), model.branches());
                try (Scope s = Scope.open()) {
                    Autograd.backward(F.crossEntropy(model.forward(x, sel), y));
                }
                GradClip.clipNorm(params, 10);
                adam.step(1e-3);
                adam.zeroGrad();
            }
        }
        model.eval();
    }

    public static Result run(RunConfig c, Path runDir, boolean resume, RunLog log) {
        return run(c, runDir, resume, log, Long.MAX_VALUE);
    }

    /**
     * As {@link #run(RunConfig, Path, boolean, RunLog)}, stopping after {@code maxIterations}
     * iterations of this call with a checkpoint to resume from; then the result's checkpoint is
     * null.
     */
    public static Result run(RunConfig c, Path runDir, boolean resume, RunLog log, long maxIterations) {
        c.validate();
        if (maxIterations < 1) {
            throw new IllegalArgumentException("--max-iterations must be at least 1, got " + maxIterations);
        }
        Device dev = c.device();
        Dataset train = DataSources.train(c);
        DataSources.val(c); // the validation data is checked now, not after training
        log.info("supernet training: %s, %s %s, %d bits, %d branches, %d iterations per phase, batch %d",
                train.describe(), c.arch, "w" + c.width, c.bits, c.branches, c.itersPerPhase, c.batch);
        Path last = runDir.resolve(LAST);
        try (DataLoader loader = DataLoader.builder(train).batchSize(c.batch).shuffle(true).dropLast(true)
                .seed(c.seed).workers(c.workers).build();
                Supernet model = Models.create(c.arch, c.modelConfig());
                Teacher teacher = Teachers.open(c, runDir, log);
                LossMeter losses = new LossMeter()) {
            int phase = 0;
            long it = 0;
            Checkpoint ck = null;
            Window window = new Window();
            if (resume && Files.exists(last)) {
                ck = Checkpoint.load(last);
                if (!"supernet".equals(ck.meta("kind", ""))) {
                    throw new IllegalArgumentException(last + " is not a supernet training checkpoint");
                }
                RunState.checkResumeSettings(ck.meta("config", null), c, last);
                ck.restoreModel(model);
                phase = Integer.parseInt(ck.meta("phase", "0"));
                it = Long.parseLong(ck.meta("next_iteration", "0"));
                window.restore(ck);
                model.setWeightQuantization(phase >= 1, false);
                log.info("resuming from %s: phase %s, iteration %d", last, phase == 0 ? "a" : phase == 1 ? "b" : "(done)", it);
            } else {
                if (resume) {
                    log.info("no checkpoint at %s: starting from the beginning", last);
                }
                initActivationSteps(c, model, loader, dev);
            }
            List<double[]> curve = loadCurve(runDir, phase * c.itersPerPhase + it);
            long t0 = System.nanoTime();
            long images = 0;
            long budget = maxIterations;
            for (; phase < 2; phase++, it = 0) {
                if (it == 0) {
                    // Phase (b) quantizes the weights too, with steps re-initialized from the weights.
                    model.setWeightQuantization(phase == 1, phase == 1);
                }
                try (Adam adam = new Adam(Training.supernetGroups(model, c.l2, c.convWeightDecay))) {
                    if (ck != null) {
                        ck.restoreOptimizer(adam);
                        ck = null;
                    }
                    long stop = budget >= c.itersPerPhase - it ? c.itersPerPhase : it + budget;
                    images += phase(c, runDir, model, teacher, loader, adam, phase, it, stop, curve, losses, window,
                            log);
                    budget -= stop - it;
                    if (stop < c.itersPerPhase) {
                        save(c, model, adam, runDir.resolve(LAST), phase, stop, phase == 1, window);
                        log.info("stopped after %d iterations as asked; resume with --resume", maxIterations);
                        double secs = (System.nanoTime() - t0) / 1e9;
                        return new Result(null, curve, secs, images / Math.max(secs, 1e-9));
                    }
                }
                save(c, model, null, runDir.resolve(LAST), phase + 1, 0, phase == 1, new Window());
                if (phase == 0) {
                    log.info("phase a done: activations quantized; phase b quantizes the weights as well");
                }
            }
            model.train();
            Path fin = runDir.resolve(FINAL);
            Map<String, String> meta = meta(c, "supernet-final", 2, 0);
            meta.put("weight_quant", "true");
            Checkpoint.save(fin, model, null, meta);
            double secs = (System.nanoTime() - t0) / 1e9;
            log.info("supernet written to %s (%.0f images/s over this run)", fin, images / Math.max(secs, 1e-9));
            return new Result(fin, curve, secs, images / Math.max(secs, 1e-9));
        }
    }

    /** LSQ activation steps from the first training batch (SPEC 1.2), before phase (a). */
    private static void initActivationSteps(RunConfig c, Supernet model, DataLoader loader, Device dev) {
        Batch first = new Training.BatchStream(loader, 0).next();
        try (Scope s = Scope.open()) {
            model.initActivationSteps(Training.images(first, dev),
                    selection(c.seed, -1, model.searchedUnits(), model.branches()));
        }
    }

    private static long phase(RunConfig c, Path runDir, Supernet model, Teacher teacher, DataLoader loader,
            Adam adam, int phase, long start, long stop, List<double[]> curve, LossMeter losses, Window window,
            RunLog log) {
        Device dev = c.device();
        CosineSchedule lr = new CosineSchedule(c.lr, c.itersPerPhase);
        List<Tensor> params = Training.trainable(model);
        long base = phase * c.itersPerPhase;
        Training.BatchStream data = new Training.BatchStream(loader, base + start);
        model.train();
        LongFunction<String> where = i -> "phase " + (phase == 0 ? "a" : "b") + " iteration " + (i + 1);
        if (start == 0) {
            window.reset();
        }
        long images = 0;
        long windowStart = System.nanoTime();
        long windowImages = 0;
        for (long it = start; it < stop; it++) {
            PausePoint.reach("iteration");
            long g = base + it;
            Batch b = data.next();
            int[] sel = selection(c.seed, g, model.searchedUnits(), model.branches());
            model.dropout().setOffset(g << 32);
            try (Scope s = Scope.open()) {
                Tensor x = Training.images(b, dev);
                Tensor logits = model.forward(x, sel);
                Tensor loss;
                if (teacher != null) {
                    Tensor t;
                    try (GradMode off = GradMode.off()) {
                        t = teacher.logits(x);
                    }
                    loss = F.kdLoss(logits, t);
                } else {
                    loss = F.crossEntropy(logits, Training.labels(b, dev));
                }
                losses.add(loss, it); // read when a log line needs it (checked there, and before a checkpoint)
                Autograd.backward(loss);
            }
            double gradNorm = GradClip.clipNorm(params, c.gradClip);
            NonFiniteException.check("supernet training", losses, gradNorm, "phase " + (phase == 0 ? "a" : "b")
                    + " iteration " + (it + 1), "a learning rate too large for this network is the usual cause: "
                    + "lower --lr (now " + c.lr + ") and start over with --force");
            adam.step(lr.at(it));
            adam.zeroGrad();
            images += b.n();
            windowImages += b.n();
            boolean end = it + 1 == c.itersPerPhase;
            if ((it + 1) % c.logEvery == 0 || end) {
                double secs = (System.nanoTime() - windowStart) / 1e9;
                double rate = windowImages / Math.max(secs, 1e-9);
                long left = (1 - phase) * c.itersPerPhase + (c.itersPerPhase - it - 1);
                window.add(losses.drain(where));
                double avg = window.lossSum / window.count;
                curve.add(new double[] {g + 1, avg, lr.at(it)});
                appendCurve(runDir, g + 1, avg, lr.at(it));
                log.info("phase %s  iter %d/%d  loss %.4f  lr %.3g  %.0f img/s  ETA %s", phase == 0 ? "a" : "b", it + 1,
                        c.itersPerPhase, avg, lr.at(it), rate, RunLog.duration(left * c.batch / Math.max(rate, 1e-9)));
                window.reset();
                windowStart = System.nanoTime();
                windowImages = 0;
            }
            if (c.checkpointEvery > 0 && (it + 1) % c.checkpointEvery == 0 && !end) {
                window.add(losses.drain(where));
                save(c, model, adam, runDir.resolve(LAST), phase, it + 1, phase == 1, window);
            }
        }
        window.add(losses.drain(where));
        return images;
    }

    /**
     * The losses of the iterations since the last curve line: saved with every checkpoint, so
     * that a run resumed between two curve lines writes the same next line as an uninterrupted
     * one.
     */
    private static final class Window {
        double lossSum;
        int count;

        void reset() {
            lossSum = 0;
            count = 0;
        }

        /** Adds losses read back from the device, in step order. */
        void add(double[] losses) {
            for (double v : losses) {
                lossSum += v;
                count++;
            }
        }

        void restore(Checkpoint ck) {
            lossSum = Double.parseDouble(ck.meta("window_loss_sum", "0"));
            count = Integer.parseInt(ck.meta("window_iterations", "0"));
        }

        void put(Map<String, String> meta) {
            meta.put("window_loss_sum", Double.toString(lossSum));
            meta.put("window_iterations", Integer.toString(count));
        }
    }

    /** The metadata of a supernet checkpoint: kind, model, phase, next iteration, configuration. */
    static Map<String, String> meta(RunConfig c, String kind, int phase, long next) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("kind", kind);
        m.put("model", c.arch + " w" + c.width + " " + c.bits + "-bit, " + c.branches + " branches");
        m.put("phase", Integer.toString(phase));
        m.put("next_iteration", Long.toString(next));
        try {
            m.put("config", JSON.writeValueAsString(c));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return m;
    }

    private static void save(RunConfig c, Supernet model, Optimizer opt, Path file, int phase, long next,
            boolean weightQuant, Window window) {
        Map<String, String> m = meta(c, "supernet", phase, next);
        m.put("weight_quant", Boolean.toString(weightQuant));
        window.put(m);
        Checkpoint.save(file, model, opt, m);
    }

    // The training curve, one line per logged window: global step, mean loss, learning rate.
    private static Path curveFile(Path runDir) {
        return runDir.resolve("train-curve.tsv");
    }

    private static void appendCurve(Path runDir, long step, double loss, double lr) {
        try {
            Files.writeString(curveFile(runDir), step + "\t" + loss + "\t" + lr + "\n",
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + curveFile(runDir) + ": " + e.getMessage(), e);
        }
    }

    /** The curve written so far, up to {@code upTo} (a resumed run rewrites what comes after). */
    static List<double[]> loadCurve(Path runDir, long upTo) {
        List<double[]> out = new ArrayList<>();
        Path f = curveFile(runDir);
        try {
            if (Files.exists(f)) {
                StringBuilder kept = new StringBuilder();
                String all = Files.readString(f);
                // only complete lines: a kill in the middle of an append leaves a line without its newline
                for (String line : all.substring(0, all.lastIndexOf('\n') + 1).split("\n")) {
                    String[] p = line.split("\t");
                    if (p.length == 3 && Double.parseDouble(p[0]) <= upTo) {
                        out.add(new double[] {Double.parseDouble(p[0]), Double.parseDouble(p[1]),
                            Double.parseDouble(p[2])});
                        kept.append(line).append('\n');
                    }
                }
                if (kept.length() != all.length()) {
                    AtomicFiles.write(f, kept.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                }
            }
        } catch (IOException | NumberFormatException e) {
            throw new UncheckedIOException("cannot read " + f + ": " + e.getMessage(),
                    e instanceof IOException io ? io : new IOException(e));
        }
        return out;
    }
}
