package io.basq4j.train;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.data.Batch;
import io.basq4j.data.DataLoader;
import io.basq4j.data.Dataset;
import io.basq4j.data.Normalization;
import io.basq4j.io.CheckpointFormatException;
import io.basq4j.io.StateFiles;
import io.basq4j.io.TensorData;
import io.basq4j.models.MobileNetV2;
import io.basq4j.models.TorchvisionResNet;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The frozen full-precision teachers of distillation (SPEC 5), named by {@link RunConfig#teacher}:
 *
 * <ul>
 * <li>{@code none}: no teacher (cross-entropy on labels);</li>
 * <li>{@code train}: the full-precision MobileNet-v2 of the run directory ({@value #FILE}), trained
 * here first when missing ({@link #train});</li>
 * <li>{@code torchvision:FILE}: a torchvision ResNet checkpoint ({@code torch.save(model.state_dict())},
 * e.g. the {@code resnet50} the BASQ reference distils from), run as {@link TorchvisionResNet} on the
 * ImageNet normalization its weights expect;</li>
 * <li>any other value: a full-precision MobileNet-v2 checkpoint written by {@code train-fp}.</li>
 * </ul>
 *
 * A teacher must predict the student's classes. {@link #check} finds what is wrong with the named
 * teacher before a command creates its run directory.
 */
public final class Teachers {
    public static final String FILE = "teacher.safetensors";
    /** The kind recorded in a teacher checkpoint's metadata. */
    static final String TEACHER_KIND = "fp-mobilenetv2";
    /** The prefix of a torchvision teacher: {@code torchvision:FILE.pth}. */
    public static final String TORCHVISION = "torchvision:";
    /** Where torchvision keeps downloaded weights, for error messages and help. */
    public static final String TORCHVISION_CACHE = "torchvision keeps downloaded weights in "
            + "~/.cache/torch/hub/checkpoints/; ResNet-50's is resnet50-0676ba61.pth, what "
            + "torchvision.models.resnet50(pretrained=True) loads";
    private static final String VALID = "valid --teacher values: none, train, torchvision:FILE.pth, or a checkpoint "
            + "written by 'train-fp'";

    private Teachers() {
    }

    /** Whether step 3 distils ({@code finetuneLoss = kd}) and so needs the teacher too. */
    public static boolean usedInFinetuning(RunConfig c) {
        return "kd".equals(c.finetuneLoss);
    }

    /**
     * Checks the teacher that supernet training would open (nothing for none and train): the file
     * exists, is a teacher of a supported kind (not a supernet), fits the data's input channels and
     * predicts the student's classes. Throws {@link IllegalArgumentException} with one line.
     */
    public static void check(RunConfig c) {
        if (isNone(c) || c.teacher.equals("train")) {
            return;
        }
        if (isTorchvision(c)) {
            Path file = torchvisionFile(c);
            TorchvisionResNet.Layout l = TorchvisionResNet.layout(readTorchvision(file));
            checkFits(c, file, l.name(), l.classes(), l.inChannels());
        } else {
            try (Teacher t = openFile(c, Path.of(c.teacher), Device.CPU)) {
                // opening checks kind, shapes, classes and channels
            }
        }
    }

    /** {@link #check} when step 3 uses the teacher ({@link #usedInFinetuning}). */
    public static void checkForFinetuning(RunConfig c) {
        if (usedInFinetuning(c)) {
            check(c);
        }
    }

    /**
     * The teacher a configuration asks for, frozen in evaluation mode: null for "none"; for
     * "train", the one in the run directory or a newly trained one; for "torchvision:FILE", that
     * torchvision ResNet; otherwise the file named.
     */
    public static Teacher open(RunConfig c, Path runDir, RunLog log) {
        if (isNone(c)) {
            return null;
        }
        Teacher t;
        if (isTorchvision(c)) {
            Path file = torchvisionFile(c);
            TorchvisionResNet m = TorchvisionResNet.fromStateDict(readTorchvision(file), c.device());
            TorchvisionResNet.Layout l = m.layout();
            try {
                checkFits(c, file, l.name(), l.classes(), l.inChannels());
                t = new Teacher(m, "torchvision " + l + " from " + file, l.classes(), l.inChannels(),
                        DataSources.normalization(c), Normalization.IMAGENET, c.device());
            } catch (RuntimeException e) {
                m.close();
                throw e;
            }
        } else {
            Path file = c.teacher.equals("train") ? runDir.resolve(FILE) : Path.of(c.teacher);
            if (c.teacher.equals("train") && !Files.exists(file)) {
                train(c, file, c.teacherEpochs, log);
            }
            t = openFile(c, file, c.device());
        }
        log.info("teacher: %s; input: %s", t.description(), t.inputNote());
        return t;
    }

    private static boolean isNone(RunConfig c) {
        return c.teacher == null || c.teacher.equals("none");
    }

    private static boolean isTorchvision(RunConfig c) {
        return c.teacher.startsWith(TORCHVISION) || c.teacher.equals("torchvision");
    }

    private static Path torchvisionFile(RunConfig c) {
        String f = c.teacher.startsWith(TORCHVISION) ? c.teacher.substring(TORCHVISION.length()) : "";
        if (f.isBlank()) {
            throw new IllegalArgumentException("the " + c.preset + " preset distils from a torchvision ResNet-50: give"
                    + " --teacher torchvision:FILE.pth; " + TORCHVISION_CACHE);
        }
        Path file = Path.of(f);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("teacher file " + file + " (--teacher torchvision:FILE) does not exist; "
                    + TORCHVISION_CACHE);
        }
        return file;
    }

    /** The state of a torchvision checkpoint; a clear error for anything else (a supernet above all). */
    private static Map<String, TensorData> readTorchvision(Path file) {
        StateFiles.Loaded s;
        try {
            s = StateFiles.read(file);
        } catch (CheckpointFormatException e) {
            throw new IllegalArgumentException("--teacher torchvision:" + file + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read teacher file " + file + ": " + e.getMessage(), e);
        }
        if (isSupernet(s.state())) {
            throw new IllegalArgumentException(file + " is a BASQ supernet checkpoint, not a torchvision ResNet teacher"
                    + " (a supernet is the student: 'import-supernet " + file + " --run DIR' makes a run of it)");
        }
        try {
            TorchvisionResNet.layout(s.state());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--teacher torchvision:" + file + ": " + e.getMessage(), e);
        }
        return s.state();
    }

    /** Whether the names are a BASQ supernet's ({@code feature.<i>...} and {@code classifier.1}). */
    static boolean isSupernet(Map<String, TensorData> state) {
        return state.containsKey("feature.0.conv1.weight") && state.containsKey("classifier.1.weight");
    }

    private static void checkFits(RunConfig c, Path file, String what, int classes, int channels) {
        if (classes != c.classes) {
            throw new IllegalArgumentException("teacher " + file + " (" + what + ") predicts " + classes
                    + " classes but the student has " + c.classes + " (--classes): a distillation teacher must "
                    + "predict the student's classes");
        }
        int data = DataSources.normalization(c).channels();
        if (channels != data && !(data == 1 && channels == 3)) {
            throw new IllegalArgumentException("teacher " + file + " (" + what + ") takes " + channels
                    + " input channels but the data has " + data + " (only 1-channel data is replicated to 3)");
        }
    }

    /** A full-precision MobileNet-v2 written by {@link #train} ({@code train-fp}). */
    private static Teacher openFile(RunConfig c, Path file, Device device) {
        if (!Files.exists(file)) {
            throw new IllegalArgumentException("teacher checkpoint " + file + " does not exist (" + VALID + ")");
        }
        Checkpoint ck;
        try {
            ck = Checkpoint.load(file);
        } catch (CheckpointFormatException e) {
            throw new IllegalArgumentException("teacher " + file + " is not a basq4j checkpoint (" + VALID
                    + "; a torchvision .pth needs the torchvision: prefix)", e);
        }
        String kind = ck.meta("kind", "");
        if (kind.startsWith("supernet")) {
            throw new IllegalArgumentException(file + " is a BASQ supernet, not a full-precision teacher (" + VALID
                    + ")");
        }
        if (!kind.equals(TEACHER_KIND)) {
            throw new IllegalArgumentException(file + " is a '" + kind + "' checkpoint, not a full-precision teacher ("
                    + VALID + ")");
        }
        MobileNetV2 m = new MobileNetV2(c.modelConfig().withDevice(device));
        try {
            ck.restoreModel(m);
            m.eval();
            checkFits(c, file, "full-precision MobileNet-v2", c.classes, c.inChannels);
            return new Teacher(m, "full-precision MobileNet-v2 from " + file, c.classes, c.inChannels,
                    DataSources.normalization(c), null, device);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** Trains the full-precision network for {@code epochs} and writes it to {@code file}; returns its accuracy. */
    public static double train(RunConfig c, Path file, int epochs, RunLog log) {
        Device dev = c.device();
        Dataset trainSet = DataSources.train(c);
        Dataset valSet = DataSources.val(c);
        try (DataLoader loader = DataLoader.builder(trainSet).batchSize(c.batch).shuffle(true).dropLast(true)
                .seed(c.seed + 101).workers(c.workers).build();
                MobileNetV2 model = new MobileNetV2(c.modelConfig());
                Adam adam = new Adam(Training.plainGroups(model, 0));
                LossMeter losses = new LossMeter()) {
            long total = (long) epochs * loader.batches();
            log.info("full-precision MobileNet-v2: %d epochs (%d iterations) on %s", epochs, total, trainSet.describe());
            CosineSchedule lr = new CosineSchedule(c.teacherLr, total);
            List<Tensor> params = Training.trainable(model);
            Training.BatchStream data = new Training.BatchStream(loader, 0);
            model.train();
            long t0 = System.nanoTime();
            for (long it = 0; it < total; it++) {
                Batch b = data.next();
                model.dropout().setOffset(it << 32);
                try (Scope s = Scope.open()) {
                    Tensor loss = F.crossEntropy(model.forward(Training.images(b, dev)), Training.labels(b, dev));
                    losses.add(loss, it); // read when a log line needs it
                    Autograd.backward(loss);
                }
                double gradNorm = GradClip.clipNorm(params, c.gradClip);
                NonFiniteException.check("full-precision training", losses, gradNorm, "iteration " + (it + 1),
                        "a learning rate too large for this network is the usual cause");
                adam.step(lr.at(it));
                adam.zeroGrad();
                if ((it + 1) % c.logEvery == 0 || it + 1 == total) {
                    double secs = (System.nanoTime() - t0) / 1e9;
                    log.info("fp  iter %d/%d  loss %.4f  %.0f img/s  ETA %s", it + 1, total,
                            losses.mean(null), (it + 1) * c.batch / secs,
                            RunLog.duration(secs / (it + 1) * (total - it - 1)));
                }
            }
            Checkpoint.save(file, model, null, Map.of("kind", TEACHER_KIND, "model",
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
