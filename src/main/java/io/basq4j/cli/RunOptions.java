package io.basq4j.cli;

import io.basq4j.io.JsonFiles;
import io.basq4j.tensor.CudaMath;
import io.basq4j.train.RunConfig;
import io.basq4j.train.RunConfigFile;
import io.basq4j.train.RunDirectory;
import io.basq4j.train.RunLog;
import io.basq4j.train.SettingRanges;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The options every pipeline command shares: a preset, the run directory, and one flag per
 * setting that overrides the preset. A later step run on an existing run directory starts from
 * that run's saved configuration ({@code config.json}) unless {@code --preset} is given.
 */
public final class RunOptions {
    @Spec(Spec.Target.MIXEE)
    CommandLine.Model.CommandSpec mixee;

    @Option(names = "--preset", paramLabel = "NAME",
            description = "fashion (default: Fashion-MNIST, 2-bit MobileNet-v2, ~13 min on 2 cores), smoke (seconds, "
                    + "synthetic data), imagenet-paper (the reference hyper-parameters, for a GPU)")
    String preset;

    @Option(names = "--run", paramLabel = "DIR", description = "run directory (default: runs/<preset>)")
    Path run;

    @Option(names = "--dataset", paramLabel = "KIND", description = "fashion, imagefolder or synthetic")
    String dataset;

    @Option(names = "--data", paramLabel = "DIR",
            description = "data directory (fashion: IDX files, default /usr/share/datasets/fashion-mnist; "
                    + "imagefolder: a folder with train/ and val/)")
    String data;

    @Option(names = "--train-limit", paramLabel = "N", description = "training examples used (0: all)")
    Integer trainLimit;

    @Option(names = {"--test-limit", "--val-limit"}, paramLabel = "N",
            description = "test-set examples used (0: all), in file order (with --protocol reference the test set "
                    + "is also the validation set)")
    Integer valLimit;

    @Option(names = "--protocol", paramLabel = "NAME",
            description = "holdout (default: search, epoch and model choice on a validation split held out of the "
                    + "training data; the test set read once, for the final report) or reference (the paper's way: "
                    + "search and finetuning choices on the test set)")
    String protocol;

    @Option(names = "--val-split", paramLabel = "N",
            description = "training examples held out as the validation split (holdout protocol; class-stratified, "
                    + "fixed)")
    Integer valSplit;

    @Option(names = "--batch", paramLabel = "N", description = "training batch size")
    Integer batch;

    @Option(names = "--eval-batch", paramLabel = "N", description = "validation batch size (B of SPEC 6)")
    Integer evalBatch;

    @Option(names = "--workers", paramLabel = "N", description = "data decoding threads")
    Integer workers;

    @Option(names = "--arch", paramLabel = "NAME", description = "mobilenetv2, resnet18 or resnet20")
    String arch;

    @Option(names = "--width", paramLabel = "X", description = "width multiplier")
    Double width;

    @Option(names = "--divisor", paramLabel = "N", description = "channel divisor of make_divisible")
    Integer divisor;

    @Option(names = "--resolution", paramLabel = "PX", description = "input resolution")
    Integer resolution;

    @Option(names = "--in-channels", paramLabel = "N", description = "input channels")
    Integer inChannels;

    @Option(names = "--classes", paramLabel = "N", description = "number of classes")
    Integer classes;

    @Option(names = "--bits", paramLabel = "B", description = "bits of weights and activations (2, 3 or 4)")
    Integer bits;

    @Option(names = "--branches", paramLabel = "L", description = "clip branches per searched unit")
    Integer branches;

    @Option(names = "--l2", paramLabel = "LIST", split = ",",
            description = "l2 decay of each branch's upper bound, comma-separated")
    double[] l2;

    @Option(names = "--dropout", paramLabel = "P", description = "dropout before the classifier")
    Float dropout;

    @Option(names = "--iters", paramLabel = "N", description = "supernet iterations per phase")
    Long iters;

    @Option(names = "--lr", paramLabel = "X", description = "Adam learning rate of supernet training")
    Double lr;

    @Option(names = "--teacher", paramLabel = "WHAT",
            description = "none (cross-entropy), train (train a full-precision teacher first), torchvision:FILE.pth "
                    + "(a torchvision ResNet, e.g. ~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth) or a "
                    + "train-fp checkpoint")
    String teacher;

    @Option(names = "--teacher-epochs", paramLabel = "N", description = "epochs of the full-precision teacher")
    Integer teacherEpochs;

    @Option(names = "--checkpoint-every", paramLabel = "N", description = "checkpoint every N iterations")
    Long checkpointEvery;

    @Option(names = "--log-every", paramLabel = "N", description = "progress line every N iterations")
    Integer logEvery;

    @Option(names = "--folds", paramLabel = "K", description = "folds of the search (k)")
    Integer folds;

    @Option(names = "--population", paramLabel = "P", description = "evolution population")
    Integer population;

    @Option(names = "--parents", paramLabel = "T", description = "evolution parents (top-T)")
    Integer parents;

    @Option(names = "--mutations", paramLabel = "M", description = "mutants per generation")
    Integer mutations;

    @Option(names = "--crossovers", paramLabel = "X", description = "crossovers per generation")
    Integer crossovers;

    @Option(names = "--mutation-prob", paramLabel = "P", description = "probability of resampling a gene")
    Double mutationProb;

    @Option(names = "--generations", paramLabel = "E", description = "evolution generations")
    Integer generations;

    @Option(names = "--finetune-epochs", paramLabel = "N", description = "finetuning epochs per fold")
    Integer finetuneEpochs;

    @Option(names = "--finetune-batches", paramLabel = "N", description = "batches per finetuning epoch (0: all)")
    Integer finetuneBatches;

    @Option(names = "--finetune-lr", paramLabel = "X", description = "finetuning learning rate")
    Double finetuneLr;

    @Option(names = "--finetune-loss", paramLabel = "KIND",
            description = "ce (cross-entropy on labels, SPEC 7 and the reference) or kd (distil from the teacher)")
    String finetuneLoss;

    @Option(names = "--seed", paramLabel = "N", description = "random seed")
    Long seed;

    @Option(names = "--device", paramLabel = "DEV", description = "cpu, cuda or auto")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads of the kernels and BLAS")
    Integer threads;

    @Option(names = "--tf32", paramLabel = "MODE", description = "TF32 for CUDA convolutions: auto (while training, "
            + "as the reference; not in the search's evaluation), on, off")
    String tf32;

    /** The configuration: saved run config or preset, then the flags given. */
    public RunConfig config() {
        RunConfig c;
        Path saved = runDir(null).resolve("config.json");
        boolean fromFile = preset == null && run != null && Files.exists(saved);
        if (fromFile) {
            try {
                c = RunConfigFile.read(saved, false); // ranges below, after the flags: a flag may fix a value
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
        } else {
            try {
                c = RunConfig.preset(preset == null ? "fashion" : preset);
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage(), 2);
            }
        }
        if (dataset != null) c.dataset = dataset;
        if (data != null) c.dataDir = data;
        if (trainLimit != null) c.trainLimit = trainLimit;
        if (valLimit != null) c.valLimit = valLimit;
        if (protocol != null) c.protocol = protocol;
        if (valSplit != null) c.valSplit = valSplit;
        if (batch != null) c.batch = batch;
        if (evalBatch != null) c.evalBatch = evalBatch;
        if (workers != null) c.workers = workers;
        if (arch != null) c.arch = arch;
        if (width != null) c.width = width;
        if (divisor != null) c.divisor = divisor;
        if (resolution != null) c.resolution = resolution;
        if (inChannels != null) c.inChannels = inChannels;
        if (classes != null) c.classes = classes;
        if (bits != null) c.bits = bits;
        if (branches != null) {
            c.branches = branches;
            if (l2 == null && branches <= io.basq4j.models.ModelConfig.DEFAULT_L2.length) {
                c.l2 = Arrays.copyOf(io.basq4j.models.ModelConfig.DEFAULT_L2, branches);
            }
        }
        if (l2 != null) c.l2 = l2;
        if (dropout != null) c.dropout = dropout;
        if (iters != null) c.itersPerPhase = iters;
        if (lr != null) c.lr = lr;
        if (teacher != null) c.teacher = teacher;
        if (teacherEpochs != null) c.teacherEpochs = teacherEpochs;
        if (checkpointEvery != null) c.checkpointEvery = checkpointEvery;
        if (logEvery != null) c.logEvery = logEvery;
        if (folds != null) c.folds = folds;
        if (population != null) c.population = population;
        if (parents != null) c.parents = parents;
        if (mutations != null) c.mutations = mutations;
        if (crossovers != null) c.crossovers = crossovers;
        if (mutationProb != null) c.mutationProb = mutationProb;
        if (generations != null) c.generations = generations;
        if (finetuneEpochs != null) c.finetuneEpochs = finetuneEpochs;
        if (finetuneBatches != null) c.finetuneBatches = finetuneBatches;
        if (finetuneLr != null) c.finetuneLr = finetuneLr;
        if (finetuneLoss != null) c.finetuneLoss = finetuneLoss;
        if (seed != null) c.seed = seed;
        if (device != null) c.device = device;
        if (threads != null) c.threads = threads;
        if (tf32 != null) c.tf32 = tf32;
        if (fromFile) {
            try {
                SettingRanges.check(c, saved.toString());
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
        }
        try {
            c.validate();
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage(), 2);
        }
        return c;
    }

    /** The run directory (given, or runs/<preset>). */
    public Path runDir(RunConfig c) {
        if (run != null) {
            return run;
        }
        return Path.of("runs", c != null ? c.preset : preset == null ? "fashion" : preset);
    }

    /** As {@link #open(RunConfig, Runnable)} with no further check. */
    public RunLog open(RunConfig c) {
        return open(c, () -> { });
    }

    /**
     * Takes the run directory for this command (created if needed; another command holding it
     * is refused, see {@link RunDirectory}), runs {@code underLock} (checks and clean-ups that
     * must see the directory as no other command changes it), then saves the configuration,
     * sets the threads and opens the log. Closing the log releases the directory. Call it only
     * after the inputs have been checked ({@link io.basq4j.train.Preflight}): nothing is created
     * before.
     */
    public RunLog open(RunConfig c, Runnable underLock) {
        Path dir = runDir(c);
        RunDirectory lock;
        try {
            lock = RunDirectory.lock(dir, command());
        } catch (java.io.UncheckedIOException e) {
            throw new UserError(e.getMessage());
        }
        try {
            underLock.run();
            JsonFiles.writeAtomically(dir.resolve("config.json"), c);
            Threads.apply(c.threads, System.err);
            CudaMath.setTf32(c.tf32Mode());
            RunLog log = new RunLog(System.out, dir.resolve("log.txt")).closeAlso(lock);
            if (!lock.removedOrphans().isEmpty()) {
                log.info("removed %d temporary files of interrupted writes: %s", lock.removedOrphans().size(),
                        lock.removedOrphans().stream().map(p -> p.getFileName().toString()).toList());
            }
            return log;
        } catch (java.io.UncheckedIOException e) {
            lock.close();
            throw new UserError("cannot write to run directory " + dir + ": " + e.getMessage());
        } catch (RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    /** This command as typed, for the lock file ("basq4j train-supernet --run runs/x ..."). */
    private String command() {
        StringBuilder sb = new StringBuilder("basq4j");
        CommandLine root = mixee == null ? null : mixee.root().commandLine();
        CommandLine.ParseResult pr = root == null ? null : root.getParseResult();
        if (pr != null) {
            for (String a : pr.originalArgs()) {
                sb.append(' ').append(a);
            }
        } else if (mixee != null) {
            sb.append(' ').append(mixee.name());
        }
        return sb.toString();
    }
}
