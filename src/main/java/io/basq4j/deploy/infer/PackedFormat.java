package io.basq4j.deploy.infer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.basq4j.Version;
import io.basq4j.deploy.SavedModel;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.nn.quant.QuantBits;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The packed file of a deployed network ({@code export --format basq-packed}): a safetensors
 * file whose weights are their integer codes, bit-packed at the network's bit width, with the
 * batch norms folded into per-channel affines ({@link PackedNetwork} says how and what is
 * exact). Reading it back gives exactly the network that was written: the same codes and the
 * same float32 parameters, so the same predictions.
 *
 * <p>Layout. {@code __metadata__}: {@code format} = {@value #FORMAT}, {@code format_version},
 * {@code basq4j_version}, {@code arch}, {@code bits}, {@code resolution}, {@code in_channels},
 * {@code classes}, {@code layers} (a JSON array: the stem
 * {@code {"type":"stem","name","cin","cout","kernel","stride","pad","max_pool"}}, each block
 * {@code {"type":"block","name","residual","units":[{"name","kind","cin","cout","stride"}]}}
 * with kind pointwise, depthwise or conv3x3, and the head
 * {@code {"type":"head","name","channels","classes"}}), and the saved model's own metadata
 * (selection, width, extra keys...). Tensors, under each layer's name:
 *
 * <ul>
 * <li>stem: {@code weight} F32 [cout, cin, k, k] (full precision), {@code bn} F32 [2, cout]
 * (scale, shift);</li>
 * <li>unit: {@code codes} U8 [ceil(weights * bits / 8)]: the codes q in PyTorch order
 * ([cout, cin / groups, k, k]), each stored as q + Qp (Qp = 2^(bits-1) - 1, so 0..2 for 2 bits)
 * in {@code bits} bits, least significant bit first, code i starting at bit i * bits;
 * {@code pro} F32 [3, cin] (LSQ: alpha, beta, step) or [2, cin] (clip: alpha, beta);
 * {@code top} F32 [1] (clip units: the highest level); {@code epi} F32 [4, cout] (alpha, beta,
 * scale, shift);</li>
 * <li>head: {@code weight} F32 [classes, channels], {@code bias} F32 [classes].</li>
 * </ul>
 */
public final class PackedFormat {
    public static final String FORMAT = "basq4j-packed";
    public static final int FORMAT_VERSION = 1;
    public static final String LAYERS = "layers";

    private static final ObjectMapper JSON = new ObjectMapper();

    private PackedFormat() {
    }

    /** Writes the packed network of a saved model to {@code file} (atomically). */
    public static void export(SavedModel model, Path file) {
        write(file, PackedNetwork.of(model));
    }

    /** Writes {@code net} to {@code file}, atomically (a temporary file, then a move). */
    public static void write(Path file, PackedNetwork net) {
        Map<String, String> meta = new LinkedHashMap<>(net.metadata());
        meta.put(SavedModel.FORMAT_KEY, FORMAT);
        meta.put(SavedModel.FORMAT_VERSION_KEY, Integer.toString(FORMAT_VERSION));
        meta.put(SavedModel.BASQ4J_VERSION, Version.get());
        meta.put(SavedModel.ARCH, net.arch());
        meta.put(SavedModel.BITS, Integer.toString(net.bits()));
        meta.put(SavedModel.RESOLUTION, Integer.toString(net.resolution()));
        meta.put(SavedModel.IN_CHANNELS, Integer.toString(net.inChannels()));
        meta.put(SavedModel.CLASSES, Integer.toString(net.classes()));
        Map<String, TensorData> t = new LinkedHashMap<>();
        ArrayNode layers = JSON.createArrayNode();
        PackedNetwork.Stem s = net.stem();
        layers.addObject().put("type", "stem").put("name", s.name()).put("cin", s.cin()).put("cout", s.cout())
                .put("kernel", s.kernel()).put("stride", s.stride()).put("pad", s.pad()).put("max_pool", s.maxPool());
        t.put(s.name() + ".weight", TensorData.ofFloat(new int[] {s.cout(), s.cin(), s.kernel(), s.kernel()},
                s.weight()));
        t.put(s.name() + ".bn", TensorData.ofFloat(new int[] {2, s.cout()}, s.bn()));
        for (PackedNetwork.Block b : net.blocks()) {
            ObjectNode bj = layers.addObject().put("type", "block").put("name", b.name()).put("residual", b.residual());
            ArrayNode units = bj.putArray("units");
            for (PackedNetwork.Unit u : b.units()) {
                units.addObject().put("name", u.name()).put("kind", u.kind().name().toLowerCase(java.util.Locale.ROOT))
                        .put("cin", u.cin()).put("cout", u.cout()).put("stride", u.stride());
                byte[] packed = pack(u.codes(), net.bits());
                t.put(u.name() + ".codes", TensorData.ofBytes(new int[] {packed.length}, packed));
                boolean lsq = u.kind() == PackedNetwork.Kind.POINTWISE;
                t.put(u.name() + ".pro", TensorData.ofFloat(new int[] {lsq ? 3 : 2, u.cin()}, u.pro()));
                if (!lsq) {
                    t.put(u.name() + ".top", TensorData.ofFloat(new int[] {1}, new float[] {u.top()}));
                }
                t.put(u.name() + ".epi", TensorData.ofFloat(new int[] {4, u.cout()}, u.epi()));
            }
        }
        PackedNetwork.Head h = net.head();
        layers.addObject().put("type", "head").put("name", h.name()).put("channels", h.channels())
                .put("classes", h.classes());
        t.put(h.name() + ".weight", TensorData.ofFloat(new int[] {h.classes(), h.channels()}, h.weight()));
        t.put(h.name() + ".bias", TensorData.ofFloat(new int[] {h.classes()}, h.bias()));
        try {
            meta.put(LAYERS, JSON.writeValueAsString(layers));
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            SafeTensors.write(file, t, meta);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write packed model " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads a packed file. Every way it can be wrong (missing, not safetensors, another kind of
     * file, a layer table that does not fit its tensors) ends in an
     * {@link IllegalArgumentException} whose message names the file.
     */
    public static PackedNetwork read(Path file) {
        SafeTensors.File f;
        try {
            f = SafeTensors.read(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("packed model " + file + " does not exist");
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(file + " is not a packed basq4j model (not a readable safetensors "
                    + "file: " + e.getMessage() + ")");
        }
        Map<String, String> meta = f.metadata();
        if (!FORMAT.equals(meta.get(SavedModel.FORMAT_KEY))) {
            String kind = SavedModel.FORMAT.equals(meta.get(SavedModel.FORMAT_KEY))
                    ? "a float basq4j model (write its packed form with: basq4j export MODEL --format basq-packed)"
                    : "not a packed basq4j model (its metadata has no format=" + FORMAT + ")";
            throw new IllegalArgumentException(file + " is " + kind);
        }
        try {
            int version = Integer.parseInt(meta.getOrDefault(SavedModel.FORMAT_VERSION_KEY, "?"));
            if (version > FORMAT_VERSION) {
                throw new IllegalArgumentException("format version " + version + ", written by a newer basq4j ("
                        + meta.getOrDefault(SavedModel.BASQ4J_VERSION, "?") + "); this one reads version "
                        + FORMAT_VERSION);
            }
            return parse(f, meta);
        } catch (NumberFormatException | IOException | NullPointerException e) {
            throw new IllegalArgumentException(file + ": invalid packed model metadata (" + e.getMessage() + ")");
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage());
        }
    }

    private static PackedNetwork parse(SafeTensors.File f, Map<String, String> meta) throws IOException {
        int bits = Integer.parseInt(meta.get(SavedModel.BITS));
        QuantBits.check(bits);
        JsonNode layers = JSON.readTree(meta.get(LAYERS));
        if (layers == null || !layers.isArray() || layers.size() < 2) {
            throw new IllegalArgumentException("metadata '" + LAYERS + "' is not a layer table");
        }
        PackedNetwork.Stem stem = null;
        PackedNetwork.Head head = null;
        List<PackedNetwork.Block> blocks = new ArrayList<>();
        for (JsonNode l : layers) {
            String type = text(l, "type");
            String name = text(l, "name");
            switch (type) {
                case "stem" -> {
                    int cin = num(l, "cin");
                    int cout = num(l, "cout");
                    int k = num(l, "kernel");
                    stem = new PackedNetwork.Stem(name, cin, cout, k, num(l, "stride"), num(l, "pad"),
                            l.path("max_pool").asBoolean(false), floats(f, name + ".weight", (long) cout * cin * k * k),
                            floats(f, name + ".bn", 2L * cout));
                }
                case "block" -> {
                    List<PackedNetwork.Unit> units = new ArrayList<>();
                    for (JsonNode u : l.path("units")) {
                        units.add(unit(f, u, bits));
                    }
                    blocks.add(new PackedNetwork.Block(name, units, l.path("residual").asBoolean(false)));
                }
                case "head" -> {
                    int c = num(l, "channels");
                    int k = num(l, "classes");
                    head = new PackedNetwork.Head(name, c, k, floats(f, name + ".weight", (long) c * k),
                            floats(f, name + ".bias", k));
                }
                default -> throw new IllegalArgumentException("unknown layer type '" + type + "'");
            }
        }
        if (stem == null || head == null) {
            throw new IllegalArgumentException("the layer table has no " + (stem == null ? "stem" : "head"));
        }
        Map<String, String> kept = new LinkedHashMap<>(meta);
        kept.remove(LAYERS);
        return new PackedNetwork(meta.get(SavedModel.ARCH), bits, Integer.parseInt(meta.get(SavedModel.IN_CHANNELS)),
                Integer.parseInt(meta.get(SavedModel.RESOLUTION)), stem, blocks, head, kept);
    }

    private static PackedNetwork.Unit unit(SafeTensors.File f, JsonNode u, int bits) {
        String name = text(u, "name");
        PackedNetwork.Kind kind;
        try {
            kind = PackedNetwork.Kind.valueOf(text(u, "kind").toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + ": unknown unit kind '" + text(u, "kind") + "'");
        }
        int cin = num(u, "cin");
        int cout = num(u, "cout");
        int stride = num(u, "stride");
        long weights = switch (kind) {
            case POINTWISE -> (long) cin * cout;
            case DEPTHWISE -> 9L * cout;
            case CONV3X3 -> 9L * cin * cout;
        };
        if (weights > Integer.MAX_VALUE / 4) {
            throw new IllegalArgumentException(name + ": " + weights + " weights");
        }
        TensorData packed = tensor(f, name + ".codes", TensorData.DType.U8, (weights * bits + 7) / 8);
        byte[] codes = unpack(packed.u8(), (int) weights, bits, name);
        boolean lsq = kind == PackedNetwork.Kind.POINTWISE;
        float[] pro = floats(f, name + ".pro", (long) (lsq ? 3 : 2) * cin);
        float top = lsq ? 0f : floats(f, name + ".top", 1)[0];
        return new PackedNetwork.Unit(name, kind, cin, cout, stride, pro, top, codes, floats(f, name + ".epi",
                4L * cout));
    }

    private static String text(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.isTextual()) {
            throw new IllegalArgumentException("layer table entry without a string '" + key + "': " + n);
        }
        return v.textValue();
    }

    private static int num(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.canConvertToInt() || v.intValue() < 0) {
            throw new IllegalArgumentException("layer table entry without an integer '" + key + "': " + n);
        }
        return v.intValue();
    }

    private static TensorData tensor(SafeTensors.File f, String name, TensorData.DType dtype, long numel) {
        TensorData t = f.tensors().get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name);
        }
        if (t.dtype() != dtype || t.numel() != numel) {
            throw new IllegalArgumentException("tensor " + name + " is " + t.dtype() + " " + t.shapeString()
                    + ", the layer table needs " + numel + " " + dtype + " elements");
        }
        return t;
    }

    private static float[] floats(SafeTensors.File f, String name, long numel) {
        return tensor(f, name, TensorData.DType.F32, numel).f32();
    }

    /** Codes in [-Qp, Qp] as q + Qp in {@code bits} bits each, least significant bit first. */
    static byte[] pack(byte[] codes, int bits) {
        int qp = QuantBits.weightQp(bits);
        byte[] out = new byte[(int) (((long) codes.length * bits + 7) / 8)];
        long bit = 0;
        for (byte q : codes) {
            int v = q + qp;
            for (int i = 0; i < bits; i++, bit++) {
                if ((v >> i & 1) != 0) {
                    out[(int) (bit >> 3)] |= (byte) (1 << (bit & 7));
                }
            }
        }
        return out;
    }

    /** The inverse of {@link #pack}; a field above 2 Qp is an error naming the tensor. */
    static byte[] unpack(byte[] packed, int count, int bits, String name) {
        int qp = QuantBits.weightQp(bits);
        byte[] codes = new byte[count];
        long bit = 0;
        for (int k = 0; k < count; k++) {
            int v = 0;
            for (int i = 0; i < bits; i++, bit++) {
                v |= (packed[(int) (bit >> 3)] >> (bit & 7) & 1) << i;
            }
            if (v > 2 * qp) {
                throw new IllegalArgumentException(name + ".codes: field " + v + " of code " + k + " is above "
                        + 2 * qp + " (" + bits + "-bit codes)");
            }
            codes[k] = (byte) (v - qp);
        }
        return codes;
    }
}
