package io.basq4j.deploy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.Version;
import io.basq4j.data.Preprocessing;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.nn.StateDictException;
import io.basq4j.tensor.CudaMath;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A searched and finetuned network as a standalone file: the network one selection picks out of
 * a supernet, without the unused branches and without optimizer state, plus everything needed to
 * rebuild and use it.
 *
 * <p>The file is safetensors. Its tensors are the state of a one-branch supernet of the same
 * configuration (see {@link Supernet#subnetState(int[])}): the reference names, with each searched
 * unit's chosen branch renumbered as branch 0. Its {@code __metadata__} holds the keys below
 * ({@link #FORMAT_KEY} = {@value #FORMAT} marks the file), and whatever further keys the writer
 * adds (class names, preprocessing, accuracies: see {@link #metadata()}).
 *
 * <p>Loaded, the network is a one-branch {@link Supernet} in evaluation mode, run with the
 * all-zero selection ({@link #networkSelection()}); {@link #selection()} is the selection in the
 * original supernet's branch numbers, for the record. {@link #close()} frees its native memory.
 */
public final class SavedModel implements AutoCloseable {
    public static final String FORMAT = "basq4j-model";
    public static final int FORMAT_VERSION = 1;

    public static final String FORMAT_KEY = "format";
    public static final String FORMAT_VERSION_KEY = "format_version";
    public static final String BASQ4J_VERSION = "basq4j_version";
    public static final String ARCH = "arch";
    public static final String WIDTH = "width";
    public static final String DIVISOR = "divisor";
    public static final String BITS = "bits";
    public static final String RESOLUTION = "resolution";
    public static final String IN_CHANNELS = "in_channels";
    public static final String CLASSES = "classes";
    public static final String DROPOUT = "dropout";
    public static final String WEIGHT_QUANT = "weight_quant";
    /** JSON array: the selection in the supernet's branch numbers. */
    public static final String SELECTION = "selection";
    /** Branches per searched unit of the supernet the network came from. */
    public static final String SUPERNET_BRANCHES = "supernet_branches";
    /** JSON array of strings: the name of each class, in label order (optional; default "0", "1", ...). */
    public static final String CLASS_NAMES = "class_names";
    /** JSON object: how an image file becomes the input ({@link Preprocessing#toJson()}; optional). */
    public static final String PREPROCESSING = "preprocessing";

    /** The keys {@link #write} sets itself; extra metadata may not use them. */
    public static final Set<String> RESERVED = Set.of(FORMAT_KEY, FORMAT_VERSION_KEY, BASQ4J_VERSION, ARCH, WIDTH,
            DIVISOR, BITS, RESOLUTION, IN_CHANNELS, CLASSES, DROPOUT, WEIGHT_QUANT, SELECTION, SUPERNET_BRANCHES,
            CLASS_NAMES, PREPROCESSING);

    // Extra keys the BASQ pipeline writes (step 3): not reserved, read where present.
    /** The fold of the k-fold search the network comes from. */
    public static final String FOLD = "fold";
    /** The evaluation protocol of the run: holdout or reference. */
    public static final String PROTOCOL = "protocol";
    /** JSON object of accuracies (%), each named after the data it was measured on (val_*, test_*). */
    public static final String ACCURACIES = "accuracies";
    /** JSON object naming the run's test set: {"dataset", "dir" (absent: the default), "limit", "seed"}. */
    public static final String TEST_DATA = "test_data";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final Supernet network;
    private final int[] selection;
    private final List<String> classNames;
    private final Preprocessing preprocessing;
    private final Map<String, String> metadata;

    private SavedModel(Path path, Supernet network, int[] selection, List<String> classNames,
            Preprocessing preprocessing, Map<String, String> metadata) {
        this.path = path;
        this.network = network;
        this.selection = selection;
        this.classNames = classNames;
        this.preprocessing = preprocessing;
        this.metadata = metadata;
    }

    // ------------------------------------------------------------------ writing

    /**
     * Writes the network that {@code selection} picks out of {@code supernet} (its current state:
     * weights, clip bounds, LSQ steps, BN running statistics) to {@code file}, atomically, with
     * the configuration metadata and {@code extra} (which may not use {@link #RESERVED} keys).
     */
    public static void write(Path file, Supernet supernet, int[] selection, Map<String, String> extra) {
        write(file, supernet, selection, null, null, extra);
    }

    /**
     * As {@link #write(Path, Supernet, int[], Map)}, with the class names (one per class of the
     * model; null: none recorded) and the rule that turns an image file into the input (its
     * channels and size must be the model's; null: none recorded).
     */
    public static void write(Path file, Supernet supernet, int[] selection, List<String> classNames,
            Preprocessing preprocessing, Map<String, String> extra) {
        ModelConfig c = supernet.config();
        if (classNames != null && classNames.size() != c.classes()) {
            throw new IllegalArgumentException(classNames.size() + " class names for a model of " + c.classes()
                    + " classes");
        }
        if (preprocessing != null) {
            checkPreprocessing(preprocessing, c, "");
        }
        Map<String, TensorData> state = supernet.subnetState(selection);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(FORMAT_KEY, FORMAT);
        meta.put(FORMAT_VERSION_KEY, Integer.toString(FORMAT_VERSION));
        meta.put(BASQ4J_VERSION, Version.get());
        meta.put(ARCH, supernet.arch());
        meta.put(WIDTH, Double.toString(c.widthMultiplier()));
        meta.put(DIVISOR, Integer.toString(c.divisor()));
        meta.put(BITS, Integer.toString(c.bits()));
        meta.put(RESOLUTION, Integer.toString(c.resolution()));
        meta.put(IN_CHANNELS, Integer.toString(c.inChannels()));
        meta.put(CLASSES, Integer.toString(c.classes()));
        meta.put(DROPOUT, Float.toString(c.dropout()));
        meta.put(WEIGHT_QUANT, Boolean.toString(supernet.weightQuantization()));
        meta.put(SELECTION, json(selection));
        meta.put(SUPERNET_BRANCHES, Integer.toString(c.branches()));
        if (classNames != null) {
            meta.put(CLASS_NAMES, json(classNames));
        }
        if (preprocessing != null) {
            meta.put(PREPROCESSING, preprocessing.toJson());
        }
        if (extra != null) {
            for (Map.Entry<String, String> e : extra.entrySet()) {
                if (RESERVED.contains(e.getKey())) {
                    throw new IllegalArgumentException("metadata key '" + e.getKey() + "' is set by SavedModel itself");
                }
                meta.put(e.getKey(), e.getValue());
            }
        }
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            SafeTensors.write(file, state, meta);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write model " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Adds (or replaces) non-reserved metadata entries of the saved model {@code file}, keeping
     * its tensors; written atomically.
     */
    public static void updateMetadata(Path file, Map<String, String> entries) {
        rewrite(file, file, entries);
    }

    /**
     * Writes the saved model {@code from} to {@code to} (which may be the same file) with
     * {@code entries} added to its metadata (non-reserved keys); written atomically.
     */
    public static void rewrite(Path from, Path to, Map<String, String> entries) {
        try {
            SafeTensors.File f = SafeTensors.read(from);
            if (!FORMAT.equals(f.metadata().get(FORMAT_KEY))) {
                throw notAModel(from, f);
            }
            Map<String, String> meta = new LinkedHashMap<>(f.metadata());
            for (Map.Entry<String, String> e : entries.entrySet()) {
                if (RESERVED.contains(e.getKey())) {
                    throw new IllegalArgumentException("metadata key '" + e.getKey() + "' is set by SavedModel itself");
                }
                meta.put(e.getKey(), e.getValue());
            }
            SafeTensors.write(to, new LinkedHashMap<>(f.tensors()), meta);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write model " + to + " from " + from + ": " + e.getMessage(), e);
        }
    }

    private static void checkPreprocessing(Preprocessing p, ModelConfig c, String where) {
        if (p.channels() != c.inChannels() || p.size() != c.resolution()) {
            throw new IllegalArgumentException(where + "the preprocessing makes " + p.channels() + "x" + p.size() + "x"
                    + p.size() + " input but the model takes " + c.inChannels() + "x" + c.resolution() + "x"
                    + c.resolution());
        }
    }

    // ------------------------------------------------------------------ reading

    /** Loads a saved model onto the CPU. */
    public static SavedModel load(Path file) {
        return load(file, Device.CPU);
    }

    /**
     * Loads a saved model onto {@code device}. Every way the file can be wrong (missing, not
     * safetensors, a training checkpoint or another kind of file, metadata that does not describe
     * its tensors) ends in an {@link IllegalArgumentException} whose message names the file.
     */
    public static SavedModel load(Path file, Device device) {
        SafeTensors.File f;
        try {
            f = SafeTensors.read(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("model file " + file + " does not exist");
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(file + " is not a basq4j model (not a readable safetensors file: "
                    + e.getMessage() + ")");
        }
        Map<String, String> meta = f.metadata();
        if (!FORMAT.equals(meta.get(FORMAT_KEY))) {
            throw notAModel(file, f);
        }
        int version = intMeta(file, meta, FORMAT_VERSION_KEY, 1, Integer.MAX_VALUE);
        if (version > FORMAT_VERSION) {
            throw new IllegalArgumentException(file + " is a basq4j model of format version " + version
                    + ", written by a newer basq4j (" + meta.getOrDefault(BASQ4J_VERSION, "?") + "); this one reads "
                    + "version " + FORMAT_VERSION);
        }
        String arch;
        try {
            arch = Models.canonical(meta.get(ARCH));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage());
        }
        ModelConfig config;
        try {
            config = new ModelConfig(doubleMeta(file, meta, WIDTH), intMeta(file, meta, DIVISOR, 1, 1 << 16),
                    intMeta(file, meta, RESOLUTION, 1, 1 << 16), intMeta(file, meta, IN_CHANNELS, 1, 1 << 16),
                    intMeta(file, meta, CLASSES, 1, 1 << 24), intMeta(file, meta, BITS, 2, 4), 1, null,
                    meta.containsKey(DROPOUT) ? (float) doubleMeta(file, meta, DROPOUT) : 0f, 0L, device);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": invalid model metadata: " + e.getMessage());
        }
        int[] selection = selectionMeta(file, meta);
        List<String> classNames = classNamesMeta(file, meta, config.classes());
        Preprocessing preprocessing = null;
        if (meta.containsKey(PREPROCESSING)) {
            try {
                preprocessing = Preprocessing.fromJson(meta.get(PREPROCESSING));
                checkPreprocessing(preprocessing, config, "");
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ": invalid metadata " + PREPROCESSING + ": " + e.getMessage());
            }
        }
        boolean weightQuant = Boolean.parseBoolean(meta.getOrDefault(WEIGHT_QUANT, "true"));
        Supernet net = Models.create(arch, config);
        try {
            if (selection.length != net.searchedUnits()) {
                throw new IllegalArgumentException(file + ": the selection has " + selection.length
                        + " entries, a " + arch + " has " + net.searchedUnits() + " searched units");
            }
            try {
                net.loadStateDict(f.tensors());
            } catch (StateDictException e) {
                throw new IllegalArgumentException(file + ": its tensors do not fit the " + arch
                        + " its metadata describes (" + e.brief() + ")");
            }
            net.setWeightQuantization(weightQuant, false);
            net.eval();
        } catch (RuntimeException e) {
            net.close();
            throw e;
        }
        return new SavedModel(file, net, selection, classNames, preprocessing,
                Collections.unmodifiableMap(new LinkedHashMap<>(meta)));
    }

    private static IllegalArgumentException notAModel(Path file, SafeTensors.File f) {
        boolean checkpoint = f.tensors().keySet().stream().anyMatch(n -> n.startsWith("model."));
        if (checkpoint) {
            String kind = f.metadata().getOrDefault("kind", "training checkpoint");
            return new IllegalArgumentException(file + " is a " + kind + " checkpoint, not a saved model: use a "
                    + "finetuned network (models/model.safetensors or models/fold-<k>.safetensors of a run directory)");
        }
        return new IllegalArgumentException(file + " is not a basq4j model (its metadata has no " + FORMAT_KEY + "="
                + FORMAT + ")");
    }

    private static int intMeta(Path file, Map<String, String> meta, String key, int min, int max) {
        String v = meta.get(key);
        try {
            int x = Integer.parseInt(v == null ? "" : v.trim());
            if (x < min || x > max) {
                throw new NumberFormatException();
            }
            return x;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(file + ": metadata " + key + " = " + v + " is not an integer in ["
                    + min + ", " + max + "]");
        }
    }

    private static double doubleMeta(Path file, Map<String, String> meta, String key) {
        String v = meta.get(key);
        try {
            double x = Double.parseDouble(v == null ? "" : v.trim());
            if (!Double.isFinite(x)) {
                throw new NumberFormatException();
            }
            return x;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(file + ": metadata " + key + " = " + v + " is not a finite number");
        }
    }

    private static int[] selectionMeta(Path file, Map<String, String> meta) {
        String v = meta.get(SELECTION);
        try {
            int[] s = JSON.readValue(v == null ? "" : v, int[].class);
            if (s == null) {
                throw new IOException();
            }
            return s;
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": metadata " + SELECTION + " = " + v
                    + " is not a JSON array of integers");
        }
    }

    private static List<String> classNamesMeta(Path file, Map<String, String> meta, int classes) {
        String v = meta.get(CLASS_NAMES);
        if (v == null) {
            List<String> names = new java.util.ArrayList<>(classes);
            for (int k = 0; k < classes; k++) {
                names.add(Integer.toString(k));
            }
            return Collections.unmodifiableList(names);
        }
        String[] names;
        try {
            names = JSON.readValue(v, String[].class);
        } catch (IOException e) {
            names = null;
        }
        if (names == null || names.length != classes || Arrays.stream(names).anyMatch(n -> n == null)) {
            throw new IllegalArgumentException(file + ": metadata " + CLASS_NAMES + " is not a JSON array of " + classes
                    + " strings (one per class)");
        }
        return List.of(names);
    }

    private static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------ use

    /** The file it was loaded from. */
    public Path path() {
        return path;
    }

    /** The network: a one-branch supernet in evaluation mode; run it with {@link #networkSelection()}. */
    public Supernet network() {
        return network;
    }

    /** The selection to run {@link #network()} with: all zeros (every unit has one branch). */
    public int[] networkSelection() {
        return new int[network.searchedUnits()];
    }

    /** The searched selection, in the branch numbers of the supernet the network came from. */
    public int[] selection() {
        return selection.clone();
    }

    public ModelConfig config() {
        return network.config();
    }

    /** The name of each class, in label order ("0", "1", ... when the file records none). */
    public List<String> classNames() {
        return classNames;
    }

    /** How an image file becomes this model's input, or null when the file records no rule. */
    public Preprocessing preprocessing() {
        return preprocessing;
    }

    public String arch() {
        return network.arch();
    }

    /** The whole {@code __metadata__} of the file (the keys above and the writer's extra keys). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** One metadata value, or null. */
    public String metadata(String key) {
        return metadata.get(key);
    }

    /**
     * Logits [N, classes] of {@code x} [N, inChannels, H, W] (evaluation mode, no gradient; on
     * CUDA float32 convolutions, as every accuracy of the pipeline: {@link CudaMath#evaluation}).
     * The result belongs to the caller's scope.
     */
    public Tensor logits(Tensor x) {
        try (CudaMath.Scope eval = CudaMath.evaluation()) {
            return network.forward(x, networkSelection());
        }
    }

    @Override
    public void close() {
        network.close();
    }

    @Override
    public String toString() {
        return "SavedModel[" + path + ", " + arch() + " " + config().bits() + "-bit, selection "
                + Arrays.toString(selection) + "]";
    }
}
