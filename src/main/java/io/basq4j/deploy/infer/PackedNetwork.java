package io.basq4j.deploy.infer;

import io.basq4j.deploy.SavedModel;
import io.basq4j.io.TensorData;
import io.basq4j.models.BlockInfo;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.quant.ClipQuantizer;
import io.basq4j.nn.quant.QuantBits;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A deployed network as the inference engine runs it: the network one selection picks out of a
 * supernet (SPEC 2-4, evaluation mode), with every quantized weight as its integer code and the
 * batch norms folded into per-channel affines. What {@link PackedFormat} writes and reads, and
 * what {@link InferenceEngine} compiles.
 *
 * <p>Structure: a full-precision {@link Stem}, {@link Block}s of quantized {@link Unit}s (the
 * last unit of a block adds the block's input when {@link Block#residual()}), and the
 * {@link Head} (global average pooling, linear layer). Each unit of SPEC 2,
 * {@code y = BN_c(ReLU(BN_b(QConv(Q(BN_a(x))))) + F(x))}, is held as:
 *
 * <ul>
 * <li>{@code codes}: the weight codes {@code q = rint(clamp(w / s, -Qp, Qp))} of SPEC 1.3 in
 * PyTorch order ([cout, cin / groups, k, k]); the evaluation path's weights are exactly
 * {@code q * s} (float), so codes and steps reproduce them bit for bit.</li>
 * <li>{@code pro} (prologue, per input channel): BN_a folded into the activation quantizer.
 * LSQ (1x1 units): {@code alpha = a / s}, {@code beta = (b - m a) / s} and {@code s} itself,
 * level {@code rint(clamp(x alpha + beta, 0, Qp))}, value {@code level * s}. Clip (3x3 units):
 * {@code alpha = a / d}, {@code beta = (b - m a) / d}, level
 * {@code rint(clamp(x alpha + beta, 0, top))} with {@code top = u / d} (d the clip step; all
 * levels zero when u <= 0). Here a = gamma / sqrt(var + eps), m the running mean, b the bias.</li>
 * <li>{@code epi} (epilogue, per output channel, 4 vectors): {@code alpha = sw a_b} (times d for
 * clip units, whose convolution sums the levels), {@code beta = b_b - m_b a_b} (BN_b after the
 * weight step {@code sw}), and BN_c as {@code scale = a_c}, {@code shift = b_c - m_c a_c}:
 * {@code y = (relu(acc alpha + beta) + skip) scale + shift}.</li>
 * </ul>
 *
 * <p>What is exact. The codes are exact. The folds are exact in real arithmetic, but in float32
 * a folded affine rounds differently from the sequence it replaces by an ulp or so, like the
 * convolution sums that the engine adds in another order than the training library's BLAS: a
 * value lying within that distance of a quantizer's rounding boundary may land on the other
 * level. Kept apart because folding would change more than that: the per-channel LSQ step
 * {@code s} (it scales each input channel inside the 1x1 convolution's sum, so it stays with the
 * activation values instead of moving into the weights); BN_c (its output is also the next
 * unit's skip and the block's residual, so it cannot merge into the next BN_a); the ReLU and the
 * skip between BN_b and BN_c. Nothing is folded across a quantizer. The folds are computed in
 * double from the float32 parameters and rounded once.
 *
 * <p>Precision of the per-channel parameters ({@link Params}): float32 (what {@link #of} gives)
 * or, on request ({@link #compact()}), 16 bits: each vector (one of a unit's alpha, beta, step,
 * scale, shift; one row of the head's weights) as 16-bit integers times a power-of-two scale of
 * its own. In a 2-bit network these parameters outweigh the codes (three batch norms per unit),
 * so 16 bits make the file about 0.7 times as large; but rounding moves each value by up to
 * 2^-15 of its vector's largest magnitude, and in a trained 2-bit network that moves enough
 * activations across a quantizer's rounding boundary to change about 1% of the top-1 answers
 * (float16, 2^-11 of each value, about 4%), where float32's ulp-level differences change none
 * that were measured. The stem keeps float32.
 */
public final class PackedNetwork {
    /** The kinds of quantized unit. */
    public enum Kind {
        /** U1: 1x1 convolution, LSQ activations (one step per input channel). */
        POINTWISE,
        /** U3 of MobileNet-v2: depthwise 3x3 (pad 1), clip activations. */
        DEPTHWISE,
        /** U3 of the ResNets: full 3x3 (pad 1), clip activations. */
        CONV3X3;

        /** Weights of a unit of this kind from {@code cin} to {@code cout} channels. */
        public long weights(int cin, int cout) {
            return switch (this) {
                case POINTWISE -> (long) cin * cout;
                case DEPTHWISE -> 9L * cout;
                case CONV3X3 -> 9L * cin * cout;
            };
        }

        /** Vectors of cin values in a unit's {@code pro}: alpha, beta and the LSQ step, or alpha and beta. */
        public int proVectors() {
            return this == POINTWISE ? 3 : 2;
        }
    }

    /**
     * The full-precision stem: {@code y = relu(conv(x) * bn[o] + bn[cout + o])}, conv k x k with
     * stride and padding, weights [cout, cin, k, k]; then 3x3 / 2 max pooling (pad 1) when
     * {@code maxPool}.
     */
    public record Stem(String name, int cin, int cout, int kernel, int stride, int pad, boolean maxPool,
            float[] weight, float[] bn) {
    }

    /**
     * A quantized unit (see the class comment): {@code pro} has 3 * cin floats (LSQ) or 2 * cin
     * (clip, with {@code top}); {@code epi} 4 * cout; {@code codes} the weight codes in PyTorch
     * order.
     */
    public record Unit(String name, Kind kind, int cin, int cout, int stride, float[] pro, float top, byte[] codes,
            float[] epi) {
        /** Weights of the unit's convolution. */
        public int weightCount() {
            return Math.toIntExact(kind.weights(cin, cout));
        }
    }

    /** Units in order; the last adds the block's input when {@code residual}. */
    public record Block(String name, List<Unit> units, boolean residual) {
    }

    /** Global average pooling and the linear layer: weight [classes, channels], bias [classes]. */
    public record Head(String name, int channels, int classes, float[] weight, float[] bias) {
    }

    /** Precision of the per-channel parameters (pro, epi) and of the head's weights. */
    public enum Params {
        /** float32. */
        FLOAT32,
        /** Each vector as 16-bit integers times a power-of-two scale ({@link #compact()}). */
        INT16
    }

    private final String arch;
    private final int bits;
    private final int inChannels;
    private final int resolution;
    private final Stem stem;
    private final List<Block> blocks;
    private final Head head;
    private final Params params;
    private final Map<String, String> metadata;

    /**
     * A network from its parts; {@code metadata} is kept for the record (for a saved model: its
     * file's metadata, e.g. the selection and the accuracies). With {@link Params#INT16} every
     * vector of per-channel parameters and every row of head weights must hold 16-bit scaled values.
     */
    public PackedNetwork(String arch, int bits, int inChannels, int resolution, Stem stem, List<Block> blocks,
            Head head, Params params, Map<String, String> metadata) {
        QuantBits.check(bits);
        this.params = params;
        this.arch = Models.canonical(arch);
        this.bits = bits;
        this.inChannels = inChannels;
        this.resolution = resolution;
        this.stem = stem;
        this.blocks = List.copyOf(blocks);
        this.head = head;
        this.metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
        check();
    }

    private void check() {
        if (stem.cin() != inChannels) {
            throw new IllegalArgumentException("stem takes " + stem.cin() + " channels, input has " + inChannels);
        }
        int c = stem.cout();
        int qw = QuantBits.weightQp(bits);
        for (Block b : blocks) {
            int blockIn = c;
            for (Unit u : b.units()) {
                if (u.cin() != c) {
                    throw new IllegalArgumentException(u.name() + " takes " + u.cin() + " channels, gets " + c);
                }
                if (u.kind() == Kind.DEPTHWISE && u.cin() != u.cout()) {
                    throw new IllegalArgumentException(u.name() + ": depthwise with " + u.cin() + " -> " + u.cout());
                }
                if (u.stride() < 1 || u.stride() > 2 || (u.kind() == Kind.POINTWISE && u.stride() != 1)) {
                    throw new IllegalArgumentException(u.name() + ": stride " + u.stride());
                }
                int proLen = u.kind().proVectors() * u.cin();
                if (u.pro().length != proLen || u.epi().length != 4 * u.cout()
                        || u.codes().length != u.kind().weights(u.cin(), u.cout())) {
                    throw new IllegalArgumentException(u.name() + ": parameter sizes do not fit " + u.cin() + " -> "
                            + u.cout());
                }
                if (u.kind() != Kind.POINTWISE && !(u.top() >= 0f && u.top() <= 255f)) {
                    throw new IllegalArgumentException(u.name() + ": clip levels up to " + u.top() + " (0..255)");
                }
                if (params == Params.INT16 && !(scaled(u.pro(), u.cin()) && scaled(u.epi(), u.cout()))) {
                    throw new IllegalArgumentException(u.name() + ": parameters are not 16-bit scaled values");
                }
                for (byte q : u.codes()) {
                    if (q < -qw || q > qw) {
                        throw new IllegalArgumentException(u.name() + ": code " + q + " outside [" + -qw + ", " + qw
                                + "] of " + bits + "-bit weights");
                    }
                }
                c = u.cout();
            }
            if (b.residual() && c != blockIn) {
                throw new IllegalArgumentException(b.name() + ": residual of " + blockIn + " channels onto " + c);
            }
        }
        if (head.channels() != c || head.weight().length != head.channels() * head.classes()
                || head.bias().length != head.classes()) {
            throw new IllegalArgumentException("head " + head.channels() + " -> " + head.classes() + " after "
                    + c + " channels");
        }
        if (params == Params.INT16 && !(scaled(head.weight(), head.channels()) && scaled(head.bias(), head.classes()))) {
            throw new IllegalArgumentException("head: parameters are not 16-bit scaled values");
        }
    }

    /** Whether every vector of {@code len} floats in {@code v} holds 16-bit scaled values. */
    private static boolean scaled(float[] v, int len) {
        for (int off = 0; off < v.length; off += len) {
            if (!Scaled16.holds(v, off, len)) {
                return false;
            }
        }
        return true;
    }

    /** A copy of v with each vector of {@code len} floats rounded to 16-bit scaled values. */
    private static float[] toScaled(String what, float[] v, int len) {
        float[] r = v.clone();
        try {
            for (int off = 0; off < r.length; off += len) {
                Scaled16.round(r, off, len);
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + ": " + e.getMessage());
        }
        return r;
    }

    /**
     * This network with its per-channel parameters and head weights in 16 bits (each vector as
     * integers times a power-of-two scale; codes, stem and structure unchanged); itself when
     * already so.
     */
    public PackedNetwork compact() {
        if (params == Params.INT16) {
            return this;
        }
        List<Block> bs = new ArrayList<>();
        for (Block b : blocks) {
            List<Unit> us = new ArrayList<>();
            for (Unit u : b.units()) {
                us.add(new Unit(u.name(), u.kind(), u.cin(), u.cout(), u.stride(), toScaled(u.name(), u.pro(), u.cin()),
                        u.top(), u.codes(), toScaled(u.name(), u.epi(), u.cout())));
            }
            bs.add(new Block(b.name(), us, b.residual()));
        }
        Head h = new Head(head.name(), head.channels(), head.classes(),
                toScaled(head.name(), head.weight(), head.channels()), toScaled(head.name(), head.bias(), head.classes()));
        return new PackedNetwork(arch, bits, inChannels, resolution, stem, bs, h, Params.INT16, metadata);
    }

    /** Precision of the per-channel parameters and head weights. */
    public Params params() {
        return params;
    }

    public String arch() {
        return arch;
    }

    /** Bits of weights and activations. */
    public int bits() {
        return bits;
    }

    public int inChannels() {
        return inChannels;
    }

    /** The input size the network was built for (height = width). */
    public int resolution() {
        return resolution;
    }

    public int classes() {
        return head.classes();
    }

    public Stem stem() {
        return stem;
    }

    public List<Block> blocks() {
        return blocks;
    }

    public Head head() {
        return head;
    }

    /** The units of all blocks, in order. */
    public List<Unit> units() {
        List<Unit> all = new ArrayList<>();
        for (Block b : blocks) {
            all.addAll(b.units());
        }
        return all;
    }

    /** Metadata kept with the network (the saved model's, when it came from one). */
    public Map<String, String> metadata() {
        return metadata;
    }

    // ------------------------------------------------------------------ from a supernet

    /** The network of a saved model. */
    public static PackedNetwork of(SavedModel model) {
        return of(model.network(), model.networkSelection(), model.metadata());
    }

    /**
     * The network that {@code selection} picks out of {@code net} (its current state: weights,
     * steps, clip bounds, BN running statistics). The supernet must quantize its weights (phase b
     * of SPEC 5), as every finetuned network does.
     */
    public static PackedNetwork of(Supernet net, int[] selection, Map<String, String> metadata) {
        net.checkSelection(selection);
        if (!net.weightQuantization()) {
            throw new IllegalArgumentException("the network does not quantize its weights (trained in phase a only); "
                    + "the packed format and the inference engine need quantized weights");
        }
        Map<String, TensorData> state = net.subnetState(selection);
        Extract ex = new Extract(state, net.config().bits());
        String arch = net.arch();
        List<BlockInfo> infos = net.blocks();
        Stem stem = null;
        List<Block> blocks = new ArrayList<>();
        for (BlockInfo b : infos) {
            String p = "feature." + b.index() + ".";
            switch (b.kind()) {
                case "stem" -> stem = ex.stem(p, b, arch.equals("resnet18"));
                case "inverted-residual" -> {
                    List<Unit> units = new ArrayList<>();
                    if (state.containsKey(p + "bn_qconv_bn_relu_0.2.weights")) {
                        units.add(ex.pointwise(p, 0, b.in(), b.hidden()));
                    }
                    units.add(ex.branch(p, 1, Kind.DEPTHWISE, b.hidden(), b.hidden(), b.stride()));
                    units.add(ex.pointwise(p, 2, b.hidden(), b.out()));
                    blocks.add(new Block(p + "block", units, b.stride() == 1 && b.in() == b.out()));
                }
                case "last-unit" -> blocks.add(new Block(p + "block", List.of(ex.pointwise(p, 0, b.in(), b.out())),
                        false));
                case "basic" -> blocks.add(new Block(p + "block", List.of(
                        ex.branch(p, 1, Kind.CONV3X3, b.in(), b.out(), b.stride()),
                        ex.branch(p, 2, Kind.CONV3X3, b.out(), b.out(), 1)), b.stride() == 1 && b.in() == b.out()));
                case "classifier" -> {
                }
                default -> throw new IllegalArgumentException("no inference for a block of kind " + b.kind());
            }
        }
        float[] w = ex.f32("classifier.1.weight");
        float[] bias = ex.f32("classifier.1.bias");
        int classes = net.config().classes();
        Head head = new Head("classifier.1", w.length / classes, classes, w, bias);
        return new PackedNetwork(arch, net.config().bits(), net.config().inChannels(), net.config().resolution(),
                stem, blocks, head, Params.FLOAT32, metadata == null ? Map.of() : metadata);
    }

    /** Reads the one-branch state and folds it. */
    private static final class Extract {
        private final Map<String, TensorData> state;
        private final int bits;

        Extract(Map<String, TensorData> state, int bits) {
            this.state = state;
            this.bits = bits;
        }

        float[] f32(String name) {
            TensorData t = state.get(name);
            if (t == null) {
                throw new IllegalArgumentException("the network has no tensor " + name);
            }
            return t.f32();
        }

        /** BN in evaluation mode as (a, b - m a) in double: y = x a + c. */
        double[][] bn(String prefix) {
            float[] g = f32(prefix + "weight");
            float[] b = f32(prefix + "bias");
            float[] m = f32(prefix + "running_mean");
            float[] v = f32(prefix + "running_var");
            double[][] r = new double[2][g.length];
            for (int c = 0; c < g.length; c++) {
                double a = g[c] / Math.sqrt((double) v[c] + BatchNorm2d.EPS);
                r[0][c] = a;
                r[1][c] = b[c] - m[c] * a;
            }
            return r;
        }

        Stem stem(String p, BlockInfo b, boolean maxPool) {
            TensorData w = state.get(p + "conv1.weight");
            if (w == null || w.rank() != 4) {
                throw new IllegalArgumentException("the stem has no 4-d weight " + p + "conv1.weight");
            }
            int k = w.dim(2);
            double[][] bn = bn(p + "bn1.");
            int cout = w.dim(0);
            float[] fbn = new float[2 * cout];
            for (int o = 0; o < cout; o++) {
                fbn[o] = (float) bn[0][o];
                fbn[cout + o] = (float) bn[1][o];
            }
            // ResNet-18's stem is a 7x7 / 2 convolution and a 3x3 / 2 max pooling (the table's stride 4)
            int stride = maxPool ? 2 : b.stride();
            return new Stem(p + "conv1", w.dim(1), cout, k, stride, k / 2, maxPool, w.f32(), fbn);
        }

        /** Codes of a QConv2d (weights, w_quantize.s) as the LSQ weight quantizer computes them. */
        byte[] codes(String conv, int perOut) {
            float[] w = f32(conv + "weights");
            float[] s = f32(conv + "w_quantize.s");
            int qp = QuantBits.weightQp(bits);
            byte[] q = new byte[w.length];
            for (int i = 0; i < w.length; i++) {
                float st = s[i / perOut];
                if (!(Float.isFinite(st) && st != 0f)) {
                    throw new IllegalArgumentException(conv + "w_quantize.s has a step " + st);
                }
                float v = w[i] / st;
                v = v >= -qp ? v : -qp; // NaN -> -qp, as the kernel's fmax
                v = v <= qp ? v : qp;
                q[i] = (byte) Math.rint(v);
            }
            return q;
        }

        /** U1: bn_qconv_bn_relu_k (0 BN_a, 1 LSQ, 2 QConv, 3 BN_b), bnk_last (BN_c). */
        Unit pointwise(String p, int k, int cin, int cout) {
            String seq = p + "bn_qconv_bn_relu_" + k + ".";
            double[][] a = bn(seq + "0.");
            float[] s = f32(seq + "1.s");
            float[] pro = new float[3 * cin];
            for (int c = 0; c < cin; c++) {
                pro[c] = (float) (a[0][c] / s[c]);
                pro[cin + c] = (float) (a[1][c] / s[c]);
                pro[2 * cin + c] = s[c];
            }
            byte[] codes = codes(seq + "2.", cin);
            float[] epi = epilogue(f32(seq + "2.w_quantize.s"), 1.0, bn(seq + "3."), bn(p + "bn" + k + "_last."));
            return new Unit(seq + "2", Kind.POINTWISE, cin, cout, 1, pro, 0f, codes, epi);
        }

        /** U3: branch_bn_q_k.0 (0 BN_a, 1 clip), convk, branch_bn_k.0 (0 BN_b), bnk_last.0 (BN_c). */
        Unit branch(String p, int k, Kind kind, int cin, int cout, int stride) {
            double[][] a = bn(p + "branch_bn_q_" + k + ".0.0.");
            float u = f32(p + "branch_bn_q_" + k + ".0.1.upper_bound")[0];
            float bin = f32(p + "branch_bn_q_" + k + ".0.1.bin")[0];
            float d = ClipQuantizer.step(u, bin); // as the kernels compute it
            float[] pro = new float[2 * cin];
            float top = 0f;
            if (u > 0f) {
                for (int c = 0; c < cin; c++) {
                    pro[c] = (float) (a[0][c] / d);
                    pro[cin + c] = (float) (a[1][c] / d);
                }
                double t = (double) u / d;
                double r = Math.rint(t);
                top = (float) (Math.abs(t - r) < 1e-4 * Math.max(1, r) ? r : t);
            }
            String conv = p + "conv" + k + ".";
            byte[] codes = codes(conv, kind == Kind.DEPTHWISE ? 9 : 9 * cin);
            float[] epi = epilogue(f32(conv + "w_quantize.s"), d, bn(p + "branch_bn_" + k + ".0.0."),
                    bn(p + "bn" + k + "_last.0."));
            return new Unit(p + "conv" + k, kind, cin, cout, stride, pro, top, codes, epi);
        }

        /** alpha = sw * scale * a_b, beta = c_b; BN_c's scale and shift. */
        static float[] epilogue(float[] sw, double scale, double[][] bnB, double[][] bnC) {
            int n = sw.length;
            float[] e = new float[4 * n];
            for (int o = 0; o < n; o++) {
                e[o] = (float) (sw[o] * scale * bnB[0][o]);
                e[n + o] = (float) bnB[1][o];
                e[2 * n + o] = (float) bnC[0][o];
                e[3 * n + o] = (float) bnC[1][o];
            }
            return e;
        }
    }
}
