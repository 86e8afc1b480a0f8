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
 * {@code classes}, {@code params} ({@code float32} or {@code int16}: how the per-channel
 * parameters and head weights are stored, see {@link PackedNetwork.Params}), {@code layers} (a JSON array: the stem
 * {@code {"type":"stem","name","cin","cout","kernel","stride","pad","max_pool"}}, each block
 * {@code {"type":"block","name","residual","units":[{"name","kind","cin","cout","stride"}]}}
 * with kind pointwise, depthwise or conv3x3, and the head
 * {@code {"type":"head","name","channels","classes"}}), and the saved model's own metadata
 * (selection, width, extra keys...). Tensors (the units' parameters concatenated in the order of
 * the layer table, which gives every unit's sizes, so that the header stays small):
 *
 * <ul>
 * <li>{@code stem.weight} F32 [cout, cin, k, k] (full precision), {@code stem.bn} F32 [2, cout]
 * (scale, shift);</li>
 * <li>{@code codes} U8: per unit, its weight codes q in PyTorch order ([cout, cin / groups, k, k]),
 * each stored as q + Qp (Qp = 2^(bits-1) - 1, so 0..2 for 2 bits) in {@code bits} bits, least
 * significant bit first, code i of the unit at bit i * bits of the unit's ceil(weights * bits /
 * 8) bytes;</li>
 * <li>{@code pro}: per unit 3 * cin values (LSQ: alpha, beta, step) or 2 * cin (clip: alpha,
 * beta); {@code epi}: per unit 4 * cout values (alpha, beta, scale, shift); {@code top} F32: per
 * unit its highest clip level (0 for LSQ units);</li>
 * <li>{@code head.weight} [classes, channels], {@code head.bias} [classes].</li>
 * </ul>
 * {@code pro}, {@code epi} and the head's tensors are F32, or with {@code params} = {@code int16}
 * I16 with a tensor {@code <name>.scale} (F32, a power of two per vector: per unit the 2 or 3
 * vectors of {@code pro}, the 4 of {@code epi}; one per row of {@code head.weight}; one for
 * {@code head.bias}): value = integer * scale of its vector.
 */
public final class PackedFormat {
    public static final String FORMAT = "basq4j-packed";
    public static final int FORMAT_VERSION = 1;
    public static final String LAYERS = "layers";
    public static final String PARAMS = "params";

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
        boolean int16 = net.params() == PackedNetwork.Params.INT16;
        meta.put(PARAMS, int16 ? "int16" : "float32");
        Map<String, TensorData> t = new LinkedHashMap<>();
        ArrayNode layers = JSON.createArrayNode();
        PackedNetwork.Stem s = net.stem();
        layers.addObject().put("type", "stem").put("name", s.name()).put("cin", s.cin()).put("cout", s.cout())
                .put("kernel", s.kernel()).put("stride", s.stride()).put("pad", s.pad()).put("max_pool", s.maxPool());
        t.put("stem.weight", TensorData.ofFloat(new int[] {s.cout(), s.cin(), s.kernel(), s.kernel()}, s.weight()));
        t.put("stem.bn", TensorData.ofFloat(new int[] {2, s.cout()}, s.bn()));
        java.io.ByteArrayOutputStream codes = new java.io.ByteArrayOutputStream();
        Vectors pro = new Vectors();
        Vectors epi = new Vectors();
        List<PackedNetwork.Unit> all = net.units();
        float[] top = new float[all.size()];
        for (PackedNetwork.Block b : net.blocks()) {
            ObjectNode bj = layers.addObject().put("type", "block").put("name", b.name()).put("residual", b.residual());
            ArrayNode units = bj.putArray("units");
            for (PackedNetwork.Unit u : b.units()) {
                units.addObject().put("name", u.name()).put("kind", u.kind().name().toLowerCase(java.util.Locale.ROOT))
                        .put("cin", u.cin()).put("cout", u.cout()).put("stride", u.stride());
                codes.writeBytes(pack(u.codes(), net.bits()));
                top[pro.parts.size()] = u.top();
                pro.add(u.pro(), u.cin());
                epi.add(u.epi(), u.cout());
            }
        }
        byte[] packedCodes = codes.toByteArray();
        t.put("codes", TensorData.ofBytes(new int[] {packedCodes.length}, packedCodes));
        pro.put(t, "pro", int16);
        epi.put(t, "epi", int16);
        t.put("top", TensorData.ofFloat(new int[] {top.length}, top));
        PackedNetwork.Head h = net.head();
        layers.addObject().put("type", "head").put("name", h.name()).put("channels", h.channels())
                .put("classes", h.classes());
        Vectors hw = new Vectors();
        hw.add(h.weight(), h.channels());
        hw.put(t, "head.weight", int16);
        Vectors hb = new Vectors();
        hb.add(h.bias(), h.classes());
        hb.put(t, "head.bias", int16);
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

    /** Parameters written as one tensor: parts of vectors of given lengths. */
    private static final class Vectors {
        final List<float[]> parts = new ArrayList<>();
        final List<Integer> lengths = new ArrayList<>();

        void add(float[] v, int vectorLength) {
            parts.add(v);
            lengths.add(vectorLength);
        }

        /** As F32, or as I16 with one power-of-two scale per vector in {@code name.scale}. */
        void put(Map<String, TensorData> t, String name, boolean int16) {
            int n = parts.stream().mapToInt(a -> a.length).sum();
            float[] all = new float[n];
            int o = 0;
            for (float[] a : parts) {
                System.arraycopy(a, 0, all, o, a.length);
                o += a.length;
            }
            if (!int16) {
                t.put(name, TensorData.ofFloat(new int[] {n}, all));
                return;
            }
            short[] q = new short[n];
            List<Float> scales = new ArrayList<>();
            o = 0;
            for (int p = 0; p < parts.size(); p++) {
                int len = lengths.get(p);
                for (int off = 0; off < parts.get(p).length; off += len, o += len) {
                    int e = Scaled16.exponent(all, o, len);
                    System.arraycopy(Scaled16.encode(all, o, len, e), 0, q, o, len);
                    scales.add((float) Math.scalb(1.0, e));
                }
            }
            float[] sc = new float[scales.size()];
            for (int i = 0; i < sc.length; i++) {
                sc[i] = scales.get(i);
            }
            t.put(name, TensorData.ofShorts(new int[] {n}, q));
            t.put(name + ".scale", TensorData.ofFloat(new int[] {sc.length}, sc));
        }
    }

    /** Reads back what {@link Vectors#put} wrote, vector by vector. */
    private static final class VectorReader {
        final String name;
        final float[] f32;
        final short[] i16;
        final float[] scales;
        int at;
        int vector;

        VectorReader(SafeTensors.File f, String name, boolean int16) {
            this.name = name;
            if (int16) {
                f32 = null;
                i16 = tensor(f, name, TensorData.DType.I16, -1).i16();
                scales = floats(f, name + ".scale", -1);
            } else {
                f32 = floats(f, name, -1);
                i16 = null;
                scales = null;
            }
        }

        int size() {
            return f32 != null ? f32.length : i16.length;
        }

        /** The next {@code count} vectors of {@code len} floats. */
        float[] next(int count, int len) {
            int n = count * len;
            if (at + n > size() || (scales != null && vector + count > scales.length)) {
                throw new IllegalArgumentException("the tensor " + name + " ends before the layer table does");
            }
            float[] v;
            if (f32 != null) {
                v = java.util.Arrays.copyOfRange(f32, at, at + n);
            } else {
                v = new float[n];
                for (int k = 0; k < count; k++) {
                    float scale = scales[vector + k];
                    int e = Math.getExponent(scale);
                    if (scale <= 0f || Math.scalb(1f, e) != scale) {
                        throw new IllegalArgumentException(name + ".scale holds " + scale + ", not a power of two");
                    }
                    for (int i = 0; i < len; i++) {
                        v[k * len + i] = Scaled16.decode(i16[at + k * len + i], e);
                    }
                }
                vector += count;
            }
            at += n;
            return v;
        }

        void finish() {
            if (at != size() || (scales != null && vector != scales.length)) {
                throw new IllegalArgumentException("the tensor " + name + " holds more than the layer table");
            }
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
        String p = meta.getOrDefault(PARAMS, "float32");
        if (!p.equals("float32") && !p.equals("int16")) {
            throw new IllegalArgumentException("metadata " + PARAMS + " = " + p + " (float32 or int16)");
        }
        boolean int16 = p.equals("int16");
        JsonNode layers = JSON.readTree(meta.get(LAYERS));
        if (layers == null || !layers.isArray() || layers.size() < 2) {
            throw new IllegalArgumentException("metadata '" + LAYERS + "' is not a layer table");
        }
        PackedNetwork.Stem stem = null;
        PackedNetwork.Head head = null;
        List<PackedNetwork.Block> blocks = new ArrayList<>();
        Cursor cur = new Cursor(f, bits, int16);
        for (JsonNode l : layers) {
            String type = text(l, "type");
            String name = text(l, "name");
            switch (type) {
                case "stem" -> {
                    int cin = num(l, "cin");
                    int cout = num(l, "cout");
                    int k = num(l, "kernel");
                    stem = new PackedNetwork.Stem(name, cin, cout, k, num(l, "stride"), num(l, "pad"),
                            l.path("max_pool").asBoolean(false), floats(f, "stem.weight", (long) cout * cin * k * k),
                            floats(f, "stem.bn", 2L * cout));
                }
                case "block" -> {
                    List<PackedNetwork.Unit> units = new ArrayList<>();
                    for (JsonNode u : l.path("units")) {
                        units.add(cur.unit(u));
                    }
                    blocks.add(new PackedNetwork.Block(name, units, l.path("residual").asBoolean(false)));
                }
                case "head" -> {
                    int c = num(l, "channels");
                    int k = num(l, "classes");
                    VectorReader w = new VectorReader(f, "head.weight", int16);
                    VectorReader b = new VectorReader(f, "head.bias", int16);
                    head = new PackedNetwork.Head(name, c, k, w.next(k, c), b.next(1, k));
                    w.finish();
                    b.finish();
                }
                default -> throw new IllegalArgumentException("unknown layer type '" + type + "'");
            }
        }
        cur.finish();
        if (stem == null || head == null) {
            throw new IllegalArgumentException("the layer table has no " + (stem == null ? "stem" : "head"));
        }
        Map<String, String> kept = new LinkedHashMap<>(meta);
        kept.remove(LAYERS);
        return new PackedNetwork(meta.get(SavedModel.ARCH), bits, Integer.parseInt(meta.get(SavedModel.IN_CHANNELS)),
                Integer.parseInt(meta.get(SavedModel.RESOLUTION)), stem, blocks, head,
                int16 ? PackedNetwork.Params.INT16 : PackedNetwork.Params.FLOAT32, kept);
    }

    /** Walks the concatenated unit tensors in the order of the layer table. */
    private static final class Cursor {
        final int bits;
        final byte[] codes;
        final VectorReader pro;
        final VectorReader epi;
        final float[] top;
        int codeAt;
        int unit;

        Cursor(SafeTensors.File f, int bits, boolean int16) {
            this.bits = bits;
            codes = tensor(f, "codes", TensorData.DType.U8, -1).u8();
            pro = new VectorReader(f, "pro", int16);
            epi = new VectorReader(f, "epi", int16);
            top = floats(f, "top", -1);
        }

        PackedNetwork.Unit unit(JsonNode u) {
            String name = text(u, "name");
            PackedNetwork.Kind kind;
            try {
                kind = PackedNetwork.Kind.valueOf(text(u, "kind").toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(name + ": unknown unit kind '" + text(u, "kind") + "'");
            }
            int cin = num(u, "cin");
            int cout = num(u, "cout");
            long weights = kind.weights(cin, cout);
            long bytes = (weights * bits + 7) / 8;
            if (codeAt + bytes > codes.length || unit >= top.length) {
                throw new IllegalArgumentException("the tensors codes, top end before unit " + name
                        + " of the layer table");
            }
            byte[] q = unpack(java.util.Arrays.copyOfRange(codes, codeAt, (int) (codeAt + bytes)), (int) weights, bits,
                    name);
            float[] p;
            float[] e;
            try {
                p = pro.next(kind.proVectors(), cin);
                e = epi.next(4, cout);
            } catch (IllegalArgumentException ex) {
                throw new IllegalArgumentException(ex.getMessage() + " (at unit " + name + ")");
            }
            PackedNetwork.Unit r = new PackedNetwork.Unit(name, kind, cin, cout, num(u, "stride"), p, top[unit], q, e);
            codeAt += bytes;
            unit++;
            return r;
        }

        void finish() {
            if (codeAt != codes.length || unit != top.length) {
                throw new IllegalArgumentException("the tensors codes, top hold more than the units of the layer table");
            }
            pro.finish();
            epi.finish();
        }
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

    /** The named tensor of that dtype and element count (any count when numel < 0). */
    private static TensorData tensor(SafeTensors.File f, String name, TensorData.DType dtype, long numel) {
        TensorData t = f.tensors().get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name);
        }
        if (t.dtype() != dtype || (numel >= 0 && t.numel() != numel)) {
            throw new IllegalArgumentException("tensor " + name + " is " + t.dtype() + " " + t.shapeString()
                    + ", the layer table needs " + (numel >= 0 ? numel + " " : "") + dtype + " elements");
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
