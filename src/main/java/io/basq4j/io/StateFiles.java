package io.basq4j.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A model state from a file in any of the formats a user may hold: a PyTorch checkpoint
 * ({@code .pth}: a bare {@code state_dict}, or a dict with {@code model_state_dict} /
 * {@code state_dict} as the BASQ reference saves it) or a safetensors file (a plain state, a
 * basq4j checkpoint with {@code model.*} tensors, or a golden model file with {@code state.*}
 * tensors). The format is told by the file's first bytes, not its name. Names lose the
 * {@code module.} prefix that {@code nn.DataParallel} adds, when every name has it.
 */
public final class StateFiles {
    /** What {@code nn.DataParallel} prefixes to every name. */
    public static final String DATA_PARALLEL_PREFIX = "module.";

    private StateFiles() {
    }

    /**
     * A state and what the file says about it.
     *
     * @param format "pth" or "safetensors"
     * @param state the tensors by name (prefixes removed)
     * @param metadata safetensors {@code __metadata__}, or the scalar top-level entries of a
     *     {@code .pth} dict (e.g. {@code iter}, {@code best_top1_acc}) as text; may be empty
     */
    public record Loaded(Path path, String format, Map<String, TensorData> state, Map<String, String> metadata) {
    }

    /**
     * Reads the state of a file.
     *
     * @throws NoSuchFileException when the file does not exist
     * @throws CheckpointFormatException when it is neither format, or holds no state
     * @throws IOException when it cannot be read
     */
    public static Loaded read(Path path) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new NoSuchFileException(path.toString());
        }
        byte[] head = new byte[4];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, 4);
        }
        if (n == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            TorchCheckpoint.Contents c = TorchCheckpoint.read(path);
            Map<String, String> meta = new LinkedHashMap<>();
            if (c.root() instanceof Map<?, ?> top) {
                top.forEach((k, v) -> {
                    if (v instanceof Number || v instanceof String || v instanceof Boolean) {
                        meta.put(String.valueOf(k), String.valueOf(v));
                    }
                });
            }
            return new Loaded(path, "pth", stripDataParallel(c.stateDict()), Collections.unmodifiableMap(meta));
        }
        if (n == 4 && head[0] == (byte) 0x80 && head[1] == 2 && head[2] == (byte) 0x8a) { // pickle PROTO 2, magic
            throw new CheckpointFormatException(path, "a PyTorch checkpoint in the legacy (pre-1.6, non-zip) format;"
                    + " re-save it with torch.save(torch.load(FILE), FILE) in any PyTorch >= 1.6");
        }
        SafeTensors.File f;
        try {
            f = SafeTensors.read(path);
        } catch (CheckpointFormatException e) {
            throw new CheckpointFormatException(path, "neither a PyTorch zip checkpoint (.pth) nor a safetensors file",
                    e);
        }
        Map<String, TensorData> state = f.tensors();
        if (hasPrefix(state, "model.") && f.metadata().containsKey("kind")) {
            state = withPrefix(state, "model."); // a basq4j checkpoint: the model, not the optimizer state
        } else if (hasPrefix(state, "state.")) {
            state = withPrefix(state, "state."); // a golden model file
        }
        if (state.isEmpty()) {
            throw new CheckpointFormatException(path, "holds no tensors");
        }
        return new Loaded(path, "safetensors", stripDataParallel(state), f.metadata());
    }

    /** The names without {@code module.} when every name has it; else the map itself. */
    public static Map<String, TensorData> stripDataParallel(Map<String, TensorData> state) {
        if (state.isEmpty() || !state.keySet().stream().allMatch(k -> k.startsWith(DATA_PARALLEL_PREFIX))) {
            return state;
        }
        return withPrefix(state, DATA_PARALLEL_PREFIX);
    }

    private static boolean hasPrefix(Map<String, TensorData> state, String prefix) {
        return state.keySet().stream().anyMatch(k -> k.startsWith(prefix));
    }

    /** The tensors whose names start with {@code prefix}, with it removed, in order. */
    private static Map<String, TensorData> withPrefix(Map<String, TensorData> state, String prefix) {
        Map<String, TensorData> out = new LinkedHashMap<>();
        state.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return Collections.unmodifiableMap(out);
    }
}
