package io.basq4j.train;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.nn.Module;
import io.basq4j.nn.StateDictException;
import io.basq4j.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A training checkpoint in one safetensors file, written atomically: the model state
 * ({@code model.<name>}), the optimizer state ({@code optim.<param>.<slot>}) and metadata
 * (what was trained, where it stopped, the optimizer's step counts, the configuration).
 */
public final class Checkpoint {
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String MODEL = "model.";
    public static final String OPTIM = "optim.";

    private final Map<String, TensorData> model;
    private final Map<String, float[]> optim;
    private final Map<String, String> meta;
    private final Path path;

    private Checkpoint(Path path, Map<String, TensorData> model, Map<String, float[]> optim, Map<String, String> meta) {
        this.path = path;
        this.model = model;
        this.optim = optim;
        this.meta = meta;
    }

    /** Writes {@code module}'s state, {@code opt}'s state (may be null) and {@code meta}. */
    public static void save(Path file, Module module, Optimizer opt, Map<String, String> meta) {
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, TensorData> e : module.stateDict().entrySet()) {
            tensors.put(MODEL + e.getKey(), e.getValue());
        }
        Map<String, String> m = new LinkedHashMap<>(meta);
        if (opt != null) {
            for (Map.Entry<String, Tensor> e : opt.stateTensors().entrySet()) {
                tensors.put(OPTIM + e.getKey(), Module.toData(e.getValue()));
            }
            try {
                m.put("optimizer_steps", JSON.writeValueAsString(opt.stepCounts()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            SafeTensors.write(file, tensors, m);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    /** Reads a checkpoint written by {@link #save}; a clear error when missing or of another kind. */
    public static Checkpoint load(Path file) {
        SafeTensors.File f;
        try {
            f = SafeTensors.read(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("checkpoint " + file + " does not exist");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + file + ": " + e.getMessage(), e);
        }
        Map<String, TensorData> model = new LinkedHashMap<>();
        Map<String, float[]> optim = new LinkedHashMap<>();
        for (Map.Entry<String, TensorData> e : f.tensors().entrySet()) {
            if (e.getKey().startsWith(MODEL)) {
                model.put(e.getKey().substring(MODEL.length()), e.getValue());
            } else if (e.getKey().startsWith(OPTIM)) {
                optim.put(e.getKey().substring(OPTIM.length()), e.getValue().f32());
            }
        }
        if (model.isEmpty()) {
            throw new IllegalArgumentException(file + " is not a basq4j checkpoint (no model.* tensors)");
        }
        return new Checkpoint(file, model, optim, f.metadata());
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorData> modelState() {
        return model;
    }

    public Map<String, String> meta() {
        return meta;
    }

    public String meta(String key, String dflt) {
        return meta.getOrDefault(key, dflt);
    }

    /** Restores the optimizer state saved with this checkpoint (nothing when none was saved). */
    public void restoreOptimizer(Optimizer opt) {
        String steps = meta.get("optimizer_steps");
        if (steps == null) {
            return;
        }
        try {
            Map<String, Long> counts = JSON.readValue(steps, new TypeReference<Map<String, Long>>() { });
            opt.loadState(optim, counts);
        } catch (IOException e) {
            throw new IllegalArgumentException("checkpoint " + path + ": unreadable optimizer metadata");
        }
    }

    /**
     * Loads the model state, with the file named in the error when it belongs to another model.
     * The error is one line of a few hundred characters: the counts of missing, unexpected and
     * mis-shaped tensors with the first names of each ({@link StateDictException#brief}; the full
     * lists stay in the cause).
     */
    public void restoreModel(Module m) {
        try {
            m.loadStateDict(model);
        } catch (StateDictException e) {
            throw new IllegalArgumentException("checkpoint " + path + " does not fit this model (written for "
                    + meta.getOrDefault("model", "another model") + "): " + e.brief(), e);
        } catch (RuntimeException e) {
            String msg = String.valueOf(e.getMessage());
            throw new IllegalArgumentException("checkpoint " + path + " does not fit this model (written for "
                    + meta.getOrDefault("model", "another model") + "): "
                    + (msg.length() <= 200 ? msg : msg.substring(0, 197) + "..."), e);
        }
    }
}
