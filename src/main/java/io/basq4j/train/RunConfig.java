package io.basq4j.train;

import com.fasterxml.jackson.annotation.JsonIgnore;
import io.basq4j.models.ModelConfig;
import io.basq4j.search.Evolution;
import io.basq4j.tensor.CudaMath;
import io.basq4j.tensor.Device;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Every setting of the three BASQ steps (SPEC 5-7), with named presets. Plain fields, so that
 * command-line flags can override a preset field by field and the whole configuration can be
 * written to {@code results.json}.
 */
public final class RunConfig {
    public static final List<String> PRESETS = List.of("fashion", "smoke", "imagenet-paper");

    public String preset = "fashion";

    // ---- data
    /** fashion (IDX files), imagefolder (train/ and val/ class folders), synthetic (generated in memory). */
    public String dataset = "fashion";
    /** Data directory; null means the dataset's default. */
    public String dataDir;
    /** Training examples used (0: all); a stratified subset with the run's seed. */
    public int trainLimit;
    /**
     * Test-set examples used (0: all), in file order (option {@code --test-limit}, also
     * {@code --val-limit}); under the reference protocol the test set is the validation set too.
     */
    public int valLimit;
    /**
     * holdout (the default): {@link #valSplit} training examples are held out as the validation
     * split; the supernet never trains on them, and the search folds, the finetuning epoch choice
     * and the choice of {@code models/model.safetensors} use only them; the test set is read once,
     * for the final report. reference: the paper's way, the test set is also the validation set.
     */
    public String protocol = "holdout";
    /** Training examples held out as the validation split (holdout protocol): class-stratified, fixed. */
    public int valSplit = 10000;
    public int batch = 128;
    public int evalBatch = 500;
    public int workers = 2;
    public boolean hflip = true;

    // ---- model
    public String arch = "mobilenetv2";
    public double width = 0.5;
    public int divisor = 8;
    public int resolution = 32;
    public int inChannels = 1;
    public int classes = 10;
    public int bits = 2;
    public int branches = 7;
    public double[] l2 = ModelConfig.DEFAULT_L2.clone();
    public float dropout = 0.2f;

    // ---- step 1: supernet training (SPEC 5)
    public long itersPerPhase = 1000;
    public double lr = 1e-3;
    public double convWeightDecay = 5e-6;
    public double gradClip = 10;
    /**
     * none, train (a full-precision teacher trained first), torchvision:FILE (a torchvision ResNet
     * checkpoint) or a teacher checkpoint file written by train-fp ({@link Teachers}).
     */
    public String teacher = "none";
    public int teacherEpochs = 1;
    public double teacherLr = 2e-3;
    public long checkpointEvery = 500;
    public int logEvery = 50;

    // ---- step 2: k-fold evolution search (SPEC 6)
    public int folds = 4;
    public int population = 45;
    public int parents = 10;
    public int mutations = 15;
    public int crossovers = 15;
    public double mutationProb = 0.1;
    public int generations = 20;

    // ---- step 3: finetuning (SPEC 7)
    public int finetuneEpochs = 3;
    /** Batches per finetuning epoch (0: a full pass over the training data). */
    public int finetuneBatches;
    public double finetuneLr = 7.5e-6;
    public double finetuneMomentum = 0.9;
    /**
     * ce: cross-entropy on labels (SPEC 7, and what the reference's 03finetune.py computes); kd:
     * the distillation loss of SPEC 5 against the run's teacher.
     */
    public String finetuneLoss = "ce";

    // ---- run
    public long seed = 1;
    public String device = "cpu";
    public int threads;
    /**
     * TF32 tensor cores for CUDA convolutions (io.basq4j.tensor.CudaMath): auto (while training,
     * as the reference; not in the search's fitness evaluation nor any accuracy), on, off.
     */
    public String tf32 = "auto";

    /** The named preset; flags then override single fields. */
    public static RunConfig preset(String name) {
        RunConfig c = new RunConfig();
        switch (name.toLowerCase(Locale.ROOT)) {
            case "fashion" -> {
                // Fashion-MNIST, 2-bit MobileNet-v2 (width 0.5), sized for under 20 minutes on two cores
                // (about 13): 2 x 2,600 iterations of 128 (11 epochs) at Adam 2e-3, 3 folds of a small
                // evolution (48 architectures each), 3 finetuning epochs of 20 batches per fold.
                // Measured means (README, reference protocol): 89.0% finetuned; 87.1% with 2 x 1,300; 85.6% with
                // 2 x 1,100 at 1e-3. The holdout protocol holds 10,000 of the 60,000 training images out.
                c.preset = "fashion";
                c.itersPerPhase = 2600;
                c.lr = 2e-3;
                c.folds = 3;
                c.population = 12;
                c.parents = 4;
                c.mutations = 4;
                c.crossovers = 4;
                c.generations = 3;
                c.finetuneBatches = 20;
            }
            case "smoke" -> {
                // Seconds: a tiny synthetic data set and network, for tests.
                c.preset = "smoke";
                c.dataset = "synthetic";
                c.trainLimit = 256;
                c.valLimit = 128;
                c.valSplit = 128;
                c.batch = 32;
                c.evalBatch = 32;
                c.workers = 1;
                c.width = 0.25;
                c.itersPerPhase = 12;
                c.lr = 3e-3;
                c.checkpointEvery = 10;
                c.logEvery = 4;
                c.folds = 2;
                c.population = 6;
                c.parents = 3;
                c.mutations = 2;
                c.crossovers = 2;
                c.generations = 2;
                c.finetuneEpochs = 2;
                c.finetuneBatches = 3;
            }
            case "imagenet-paper" -> {
                // The paper's method with the reference's settings (its 01train_supernet.py,
                // 02kfold_evolution.py and 03finetune.py defaults; for a GPU). Step 1: 466,000 Adam
                // iterations per phase at 3.75e-4 (cosine per phase), batch 768, distilling from
                // torchvision's pretrained ResNet-50, which the user must give (--teacher
                // torchvision:FILE). Step 2: 10 folds, validation batches of 200 (SPEC 6 leaves B
                // open), P 45, T 10, M 15, X 15, p 0.1, 20 generations. Step 3: 3 full epochs of
                // batch 768, SGD Nesterov 0.9 at 7.5e-6 (cosine per epoch), cross-entropy: the
                // reference's finetuning loads the teacher but its loss is on the labels (SPEC 7).
                c.preset = "imagenet-paper";
                c.dataset = "imagefolder";
                c.batch = 768;
                c.evalBatch = 200;
                c.workers = 8;
                c.width = 1.0;
                c.divisor = 1;
                c.resolution = 224;
                c.inChannels = 3;
                c.classes = 1000;
                // The paper's protocol: the search and the finetuning choices on ImageNet's validation
                // set (the released supernet trained on every training image). --protocol holdout holds
                // out 50 training images per class instead, as many as the validation set has.
                c.protocol = "reference";
                c.valSplit = 50_000;
                c.itersPerPhase = 466_000;
                c.lr = 3.75e-4;
                c.teacher = "torchvision"; // the file is required: --teacher torchvision:FILE.pth
                c.checkpointEvery = 5000;
                c.logEvery = 100;
                c.folds = 10;
                c.finetuneBatches = 0;
                c.device = "auto";
            }
            default -> throw new IllegalArgumentException("unknown preset '" + name + "' (valid: "
                    + String.join(", ", PRESETS) + ")");
        }
        return c;
    }

    /** Whether a validation split is held out of the training data (the default protocol). */
    @JsonIgnore
    public boolean holdout() {
        return !"reference".equals(protocol);
    }

    /** The model configuration these settings describe. */
    public ModelConfig modelConfig() {
        return new ModelConfig(width, divisor, resolution, inChannels, classes, bits, branches, l2, dropout, seed,
                device());
    }

    @JsonIgnore
    public Device device() {
        return Device.parse(device);
    }

    @JsonIgnore
    public CudaMath.Tf32 tf32Mode() {
        return CudaMath.Tf32.parse(tf32);
    }

    @JsonIgnore
    public Evolution.Settings evolution() {
        return new Evolution.Settings(population, parents, mutations, crossovers, mutationProb, generations);
    }

    /** Checks every value's range ({@link SettingRanges}) and cross-field constraints; throws with a message naming the setting. */
    public void validate() {
        SettingRanges.check(this, null);
        if (!List.of("fashion", "imagefolder", "synthetic").contains(dataset)) {
            throw new IllegalArgumentException("unknown dataset '" + dataset + "' (valid: fashion, imagefolder, synthetic)");
        }
        if (!List.of("holdout", "reference").contains(protocol)) {
            throw new IllegalArgumentException("unknown protocol '" + protocol + "' (valid: holdout, reference)");
        }
        if (holdout() && valSplit < 1) {
            throw new IllegalArgumentException("--val-split " + valSplit + " is outside [1, training examples - 1] "
                    + "(the holdout protocol needs a validation split)");
        }
        if (l2.length != branches) {
            throw new IllegalArgumentException(l2.length + " l2 values " + Arrays.toString(l2) + " for " + branches
                    + " branches");
        }
        if (!"ce".equals(finetuneLoss) && !"kd".equals(finetuneLoss)) {
            throw new IllegalArgumentException("unknown --finetune-loss '" + finetuneLoss + "' (valid: ce, kd)");
        }
        if ("kd".equals(finetuneLoss) && (teacher == null || teacher.equals("none"))) {
            throw new IllegalArgumentException("--finetune-loss kd distils from the run's teacher, but --teacher is "
                    + "none");
        }
        evolution();
        modelConfig();
        tf32Mode();
    }
}
