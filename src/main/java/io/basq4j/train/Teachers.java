package io.basq4j.train;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.data.Batch;
import io.basq4j.data.DataLoader;
import io.basq4j.data.Dataset;
import io.basq4j.models.MobileNetV2;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The full-precision MobileNet-v2: trained here (the distillation teacher of SPEC 5, and the
 * full-precision baseline), or loaded from a checkpoint.
 */
public final class Teachers {
    public static final String FILE = "teacher.safetensors";

    private Teachers() {
    }

    /**
     * The teacher a configuration asks for, frozen in evaluation mode: null for "none"; for
     * "train", the one in the run directory or a newly trained one; otherwise the file named.
     */
    public static MobileNetV2 open(RunConfig c, Path runDir, RunLog log) {
        if (c.teacher == null || c.teacher.equals("none")) {
            return null;
        }
        Path file = c.teacher.equals("train") ? runDir.resolve(FILE) : Path.of(c.teacher);
        if (c.teacher.equals("train") && !Files.exists(file)) {
            train(c, file, c.teacherEpochs, log);
        }
        if (!Files.exists(file)) {
            throw new IllegalArgumentException("teacher checkpoint " + file + " does not exist (valid --teacher "
                    + "values: none, train, or a checkpoint written by 'train-fp')");
        }
        MobileNetV2 t = new MobileNetV2(c.modelConfig());
        try {
            Checkpoint.load(file).restoreModel(t);
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        t.eval();
        log.info("teacher: full-precision MobileNet-v2 from %s", file);
        return t;
    }

    /** Trains the full-precision network for {@code epochs} and writes it to {@code file}; returns its accuracy. */
    public static double train(RunConfig c, Path file, int epochs, RunLog log) {
        Device dev = c.device();
        Dataset trainSet = DataSources.train(c);
        Dataset valSet = DataSources.val(c);
        try (DataLoader loader = DataLoader.builder(trainSet).batchSize(c.batch).shuffle(true).dropLast(true)
                .seed(c.seed + 101).workers(c.workers).build();
                MobileNetV2 model = new MobileNetV2(c.modelConfig());
                Adam adam = new Adam(Training.plainGroups(model, 0))) {
            long total = (long) epochs * loader.batches();
            log.info("full-precision MobileNet-v2: %d epochs (%d iterations) on %s", epochs, total, trainSet.describe());
            CosineSchedule lr = new CosineSchedule(c.teacherLr, total);
            List<Tensor> params = Training.trainable(model);
            Training.BatchStream data = new Training.BatchStream(loader, 0);
            model.train();
            long t0 = System.nanoTime();
            double lossSum = 0;
            for (long it = 0; it < total; it++) {
                Batch b = data.next();
                model.dropout().setOffset(it << 32);
                float lossValue;
                try (Scope s = Scope.open()) {
                    Tensor loss = F.crossEntropy(model.forward(Training.images(b, dev)), Training.labels(b, dev));
                    lossValue = loss.item();
                    Autograd.backward(loss);
                }
                double gradNorm = GradClip.clipNorm(params, c.gradClip);
                NonFiniteException.check("full-precision training", lossValue, gradNorm, "iteration " + (it + 1),
                        "a learning rate too large for this network is the usual cause");
                lossSum += lossValue;
                adam.step(lr.at(it));
                adam.zeroGrad();
                if ((it + 1) % c.logEvery == 0 || it + 1 == total) {
                    double secs = (System.nanoTime() - t0) / 1e9;
                    log.info("fp  iter %d/%d  loss %.4f  %.0f img/s  ETA %s", it + 1, total,
                            lossSum / ((it % c.logEvery) + 1), (it + 1) * c.batch / secs,
                            RunLog.duration(secs / (it + 1) * (total - it - 1)));
                    lossSum = 0;
                }
            }
            Checkpoint.save(file, model, null, Map.of("kind", "fp-mobilenetv2", "model",
                    "full-precision mobilenetv2 w" + c.width));
            double acc;
            try (DataLoader val = DataLoader.builder(valSet).batchSize(c.evalBatch).workers(c.workers).build()) {
                acc = Evaluation.accuracy(x -> model.forward(x), val, dev, model);
            }
            log.info("full-precision MobileNet-v2: top-1 %.2f%% on %s (written to %s)", acc, valSet.describe(), file);
            return acc;
        }
    }
}
