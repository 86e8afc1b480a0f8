package io.basq4j.deploy.onnx;

import static io.basq4j.deploy.onnx.GraphBuilder.floatAttr;
import static io.basq4j.deploy.onnx.GraphBuilder.intAttr;
import static io.basq4j.deploy.onnx.GraphBuilder.intsAttr;

import io.basq4j.deploy.onnx.proto.Onnx.AttributeProto;
import io.basq4j.models.GraphWriter;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.Conv2d;
import io.basq4j.nn.Linear;
import io.basq4j.nn.Module;
import io.basq4j.nn.quant.ClipQuantizer;
import io.basq4j.nn.quant.LsqActQuantizer;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.nn.quant.QuantBits;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns the layer calls of {@link io.basq4j.models.Supernet#describe} into ONNX nodes (opset
 * {@value OnnxExporter#OPSET}), the quantizers in QCDQ form:
 *
 * <ul>
 * <li>clip quantizer (SPEC 1.1): {@code QuantizeLinear(x, d, 0:uint8) -> Clip(0, m) -> DequantizeLinear(d, 0)},
 * per tensor, with d the kernels' step ({@link ClipQuantizer#step(float, float)}) and m = rint(u / d)
 * (2^bits - 1 for the bin every quantizer has); a bound u <= 0 (the kernel's all-zero case) becomes
 * scale 1 and m = 0;</li>
 * <li>LSQ activation quantizer (SPEC 1.2): the same with the per-channel steps s[c] (axis 1) and
 * m = 2^bits - 1 (steps that are not positive: see {@link #lsqActivation});</li>
 * <li>LSQ weights (SPEC 1.3): the quantized weights code x s[o] as a float constant (at most
 * 2^bits - 1 values per output channel: three at 2 bits), with the codes
 * rint(clamp(w / s[o], -Qp, Qp)), {@code -> QuantizeLinear(s, 0:int8, axis 0) -> Clip(-Qp, Qp)
 * -> DequantizeLinear(s, 0:int8, axis 0)}, so that the integer codes are recovered exactly from
 * the file (negative steps: see {@link #weightCodes});</li>
 * </ul>
 *
 * Why this is the kernels' arithmetic: QuantizeLinear computes {@code saturate(round(x / scale))}
 * with a true division and rounding half to even, as the kernels do ({@code rintf(c / d)}); clamping
 * before rounding (the kernels) and clipping the rounded integer (here) agree because the bounds
 * are integers and division is monotonic ({@code rint(u / d) = m} is exactly the kernel's value for
 * x >= u); DequantizeLinear multiplies the integer by the same float scale.
 *
 * <p>Batch norm is BatchNormalization with the running statistics (eps {@link BatchNorm2d#EPS}), the
 * flexible skip is Gather (tiling) or Pad/Reshape/ReduceSum/Reshape (folding), the skip pooling
 * AveragePool (at odd sizes with the end padding counted, or followed by Expand where basq4j
 * broadcasts the floored pooling as the reference does), the classifier Gemm.
 */
final class OnnxNetworkWriter implements GraphWriter<String> {
    static final String FREE_DIM = "batch";

    private final GraphBuilder b;
    private final Map<Module, String> moduleNames = new IdentityHashMap<>();
    private final Map<String, int[]> shapes = new HashMap<>();

    OnnxNetworkWriter(GraphBuilder b, Module root) {
        this.b = b;
        nameModules(root, "");
    }

    private void nameModules(Module m, String prefix) {
        for (Map.Entry<String, Module> e : m.children().entrySet()) {
            String name = prefix + e.getKey();
            moduleNames.put(e.getValue(), name);
            nameModules(e.getValue(), name + ".");
        }
    }

    private String name(Module m) {
        String n = moduleNames.get(m);
        return n == null ? m.getClass().getSimpleName() : n;
    }

    /** Declares the graph input [batch, c, h, w]. */
    String input(String name, int c, int h, int w) {
        String x = b.input(name, 1, new long[] {-1, c, h, w}, FREE_DIM);
        shapes.put(x, new int[] {c, h, w});
        return x;
    }

    private String put(String value, int... shape) {
        shapes.put(value, shape);
        return value;
    }

    @Override
    public int[] shape(String x) {
        int[] s = shapes.get(x);
        if (s == null) {
            throw new IllegalStateException("unknown value " + x);
        }
        return s.clone();
    }

    // ------------------------------------------------------------------ convolutions

    @Override
    public String conv(String x, Conv2d conv) {
        float[] w = conv.weight().tensor().toFloatArray();
        int k = conv.kernel();
        String wn = b.floats(name(conv) + ".weight", w, conv.outChannels(), conv.inChannels() / conv.groups(), k, k);
        return convNode(x, wn, name(conv), conv.outChannels(), k, conv.stride(), conv.pad(), conv.groups());
    }

    @Override
    public String quantizedConv(String x, QConv2d conv) {
        String n = name(conv);
        int cout = conv.outChannels();
        int k = conv.kernel();
        long[] dims = {cout, conv.inChannels() / conv.groups(), k, k};
        float[] w = conv.weights().tensor().toFloatArray();
        String wn;
        if (conv.quantizesWeights()) {
            int qp = QuantBits.weightQp(conv.quantizer().bits());
            float[] s = conv.quantizer().step().tensor().toFloatArray();
            requireFinite(s, n + ".w_quantize.s");
            byte[] codes = weightCodes(w, s, qp);
            float[] scales = weightScales(s);
            String quantized = b.floats(n + ".weight_quantized", dequantized(codes, scales), dims);
            String scale = b.floats(n + ".w_quantize.s", scales, cout);
            String zero = b.int8s(n + ".w_quantize.zero_point", new byte[cout], cout);
            String codesName = b.node("QuantizeLinear", n + ".weight_codes", List.of(quantized, scale, zero),
                    intAttr("axis", 0));
            String clipped = b.node("Clip", n + ".weight_codes/clip",
                    List.of(codesName, b.int8Scalar(-qp), b.int8Scalar(qp)));
            wn = b.node("DequantizeLinear", n + ".weight", List.of(clipped, scale, zero), intAttr("axis", 0));
        } else {
            wn = b.floats(n + ".weight", w, dims);
        }
        return convNode(x, wn, n, cout, k, conv.stride(), conv.pad(), conv.groups());
    }

    /**
     * The LSQ weight codes (SPEC 1.3) of weights [O, ...] stored flat, one step per output
     * channel, for the scales {@link #weightScales}: the kernel computes
     * {@code rint(clamp(w / s, -qp, qp)) * s}; with a negative step (training can push one below 0)
     * that is, bit for bit, {@code rint(clamp(w / |s|, -qp, qp)) * |s|} (the range is symmetric, and
     * division and round-half-even are odd functions), so the codes use |s|; a zero step gives 0.
     */
    static byte[] weightCodes(float[] w, float[] s, int qp) {
        int per = w.length / s.length;
        byte[] codes = new byte[w.length];
        for (int i = 0; i < w.length; i++) {
            float step = Math.abs(s[i / per]);
            if (step == 0f) {
                continue;
            }
            float v = w[i] / step;
            if (Float.isNaN(v)) {
                throw new IllegalArgumentException("weight " + i + " is " + w[i]);
            }
            codes[i] = (byte) Math.rint(Math.min(Math.max(v, -qp), qp));
        }
        return codes;
    }

    /**
     * The quantized weights code x scale, one scale per output channel: bit for bit what the LSQ
     * kernel gives, and read back exactly as the codes by QuantizeLinear (|code| <= 7, so
     * code x scale / scale rounds to code).
     */
    static float[] dequantized(byte[] codes, float[] scales) {
        int per = codes.length / scales.length;
        float[] out = new float[codes.length];
        for (int i = 0; i < codes.length; i++) {
            out[i] = codes[i] * scales[i / per];
        }
        return out;
    }

    /** The positive dequantization scales of LSQ weight steps: |s|, and 1 for a zero step (whose codes are 0). */
    static float[] weightScales(float[] s) {
        float[] a = new float[s.length];
        for (int i = 0; i < s.length; i++) {
            a[i] = s[i] == 0f ? 1f : Math.abs(s[i]);
        }
        return a;
    }

    private String convNode(String x, String w, String name, int cout, int k, int stride, int pad, int groups) {
        int[] s = shape(x);
        String y = b.node("Conv", name, List.of(x, w), intsAttr("kernel_shape", k, k), intsAttr("strides", stride, stride),
                intsAttr("pads", pad, pad, pad, pad), intAttr("group", groups));
        return put(y, cout, (s[1] + 2 * pad - k) / stride + 1, (s[2] + 2 * pad - k) / stride + 1);
    }

    // ------------------------------------------------------------------ normalization, activation

    @Override
    public String batchNorm(String x, BatchNorm2d bn) {
        String n = name(bn);
        int c = bn.channels();
        String y = b.node("BatchNormalization", n, List.of(x,
                b.floats(n + ".weight", bn.weight().tensor().toFloatArray(), c),
                b.floats(n + ".bias", bn.bias().tensor().toFloatArray(), c),
                b.floats(n + ".running_mean", bn.runningMean().toFloatArray(), c),
                b.floats(n + ".running_var", bn.runningVar().toFloatArray(), c)), floatAttr("epsilon", BatchNorm2d.EPS));
        return put(y, shape(x));
    }

    @Override
    public String relu(String x) {
        return put(b.node("Relu", "relu", List.of(x)), shape(x));
    }

    @Override
    public String add(String a, String c) {
        int[] sa = shape(a);
        if (!Arrays.equals(sa, shape(c))) {
            throw new IllegalStateException("add of " + Arrays.toString(sa) + " and "
                    + Arrays.toString(shape(c)));
        }
        return put(b.node("Add", "add", List.of(a, c)), sa);
    }

    // ------------------------------------------------------------------ quantizers

    @Override
    public String clipQuant(String x, ClipQuantizer q) {
        String n = name(q);
        float u = q.upperBound().tensor().item();
        float d = ClipQuantizer.step(u, q.bin().tensor().item());
        int max;
        if (!(u > 0f)) {
            // the kernel gives 0 everywhere: any positive scale with the codes clipped to 0
            d = 1f;
            max = 0;
        } else {
            if (!(d > 0f) || !Float.isFinite(d)) {
                throw new IllegalArgumentException(n + ": upper bound " + u + " gives the step " + d);
            }
            double m = Math.rint(u / d);
            if (m < 1 || m > 255) {
                throw new IllegalArgumentException(n + ": upper bound " + u + " and step " + d + " give " + m
                        + " levels, outside the uint8 range");
            }
            max = (int) m;
        }
        return qcdq(x, n, b.floats(n + ".step", new float[] {d}), b.uint8Scalar(0), max, -1);
    }

    /**
     * LSQ activations. A step that training pushed below zero still quantizes in the kernel (it
     * then maps x <= 0 to the codes: {@code rint(clamp(x / s, 0, Qp)) * s}); QuantizeLinear wants a
     * positive scale, so such channels are wrapped as {@code -(QCDQ_|s|(-x))}, which is the same
     * arithmetic bit for bit (x / s = (-x) / |s| exactly). A zero step gives 0, as in the kernel.
     * The sign multiplications (Mul by +1, -1 or 0 per channel) appear only when some step is not
     * positive.
     */
    @Override
    public String lsqActivation(String x, LsqActQuantizer q) {
        String n = name(q);
        float[] s = q.step().tensor().toFloatArray();
        requireFinite(s, n + ".s");
        int c = s.length;
        float[] sign = new float[c];
        boolean allPositive = true;
        for (int i = 0; i < c; i++) {
            sign[i] = Math.signum(s[i]);
            allPositive &= s[i] > 0f;
        }
        String scale = b.floats(n + ".s", weightScales(s), c);
        String zero = b.uint8s(n + ".zero_point", new byte[c], c);
        int qp = QuantBits.activationQp(q.bits());
        if (allPositive) {
            return qcdq(x, n, scale, zero, qp, 1);
        }
        String signs = b.floats(n + ".sign", sign, 1, c, 1, 1);
        String flipped = put(b.node("Mul", n + "/sign_in", List.of(x, signs)), shape(x));
        String y = qcdq(flipped, n, scale, zero, qp, 1);
        return put(b.node("Mul", n + "/sign_out", List.of(y, signs)), shape(x));
    }

    /** QuantizeLinear -> Clip(0, max) -> DequantizeLinear, per tensor (axis < 0) or along {@code axis}. */
    private String qcdq(String x, String n, String scale, String zero, int max, int axis) {
        AttributeProto[] attrs = axis < 0 ? new AttributeProto[0] : new AttributeProto[] {intAttr("axis", axis)};
        String q = b.node("QuantizeLinear", n + "/quantize", List.of(x, scale, zero), attrs);
        String c = b.node("Clip", n + "/clip", List.of(q, b.uint8Scalar(0), b.uint8Scalar(max)));
        String y = b.node("DequantizeLinear", n + "/dequantize", List.of(c, scale, zero), attrs);
        return put(y, shape(x));
    }

    private static void requireFinite(float[] s, String what) {
        for (int i = 0; i < s.length; i++) {
            if (!Float.isFinite(s[i])) {
                throw new IllegalArgumentException(what + "[" + i + "] = " + s[i] + ": a quantizer step must be finite");
            }
        }
    }

    // ------------------------------------------------------------------ skips and pooling

    @Override
    public String flexSkip(String x, int cout) {
        int[] s = shape(x);
        int cin = s[0];
        if (cin == cout) {
            return x;
        }
        if (cin < cout) {
            long[] idx = new long[cout];
            for (int k = 0; k < cout; k++) {
                idx[k] = k % cin;
            }
            String y = b.node("Gather", "tile", List.of(x, b.int64Vector("tile_" + cin + "_to_" + cout, idx)),
                    intAttr("axis", 1));
            return put(y, cout, s[1], s[2]);
        }
        int groups = (cin + cout - 1) / cout;
        String padded = x;
        if (groups * cout > cin) {
            padded = b.node("Pad", "fold_pad",
                    List.of(x, b.int64Vector("pads_c" + (groups * cout - cin), 0, 0, 0, 0, 0, groups * cout - cin, 0, 0)));
        }
        String grouped = b.node("Reshape", "fold_groups",
                List.of(padded, b.int64Vector("shape_fold", 0, groups, cout, (long) s[1] * s[2])));
        String summed = b.node("ReduceSum", "fold_sum", List.of(grouped, b.int64Vector("axis_1", 1)),
                intAttr("keepdims", 0));
        String y = b.node("Reshape", "fold", List.of(summed, b.int64Vector("shape_nchw", 0, cout, s[1], s[2])));
        return put(y, cout, s[1], s[2]);
    }

    @Override
    public String avgPool(String x, int kernel, int stride, int padBottom, int padRight) {
        int[] s = shape(x);
        String y;
        if (padBottom == 0 && padRight == 0) {
            y = b.node("AveragePool", "skip_pool", List.of(x), intsAttr("kernel_shape", kernel, kernel),
                    intsAttr("strides", stride, stride));
        } else {
            y = b.node("AveragePool", "skip_pool", List.of(x), intsAttr("kernel_shape", kernel, kernel),
                    intsAttr("strides", stride, stride), intsAttr("pads", 0, 0, padBottom, padRight),
                    intAttr("count_include_pad", 1));
        }
        return put(y, s[0], (s[1] + padBottom - kernel) / stride + 1, (s[2] + padRight - kernel) / stride + 1);
    }

    @Override
    public String broadcast(String x, int h, int w) {
        int[] s = shape(x);
        if (s[1] == h && s[2] == w) {
            return x;
        }
        if ((s[1] != h && s[1] != 1) || (s[2] != w && s[2] != 1)) {
            throw new IllegalStateException("broadcast of " + Arrays.toString(s) + " to " + h + "x" + w);
        }
        String y = b.node("Expand", "skip_broadcast", List.of(x, b.int64Vector("shape_" + h + "x" + w, 1, 1, h, w)));
        return put(y, s[0], h, w);
    }

    @Override
    public String maxPool(String x, int kernel, int stride, int pad) {
        int[] s = shape(x);
        String y = b.node("MaxPool", "max_pool", List.of(x), intsAttr("kernel_shape", kernel, kernel),
                intsAttr("strides", stride, stride), intsAttr("pads", pad, pad, pad, pad));
        return put(y, s[0], (s[1] + 2 * pad - kernel) / stride + 1, (s[2] + 2 * pad - kernel) / stride + 1);
    }

    @Override
    public String globalAvgPool(String x) {
        int[] s = shape(x);
        String p = b.node("GlobalAveragePool", "global_pool", List.of(x));
        return put(b.node("Flatten", "flatten", List.of(p), intAttr("axis", 1)), s[0]);
    }

    @Override
    public String linear(String x, Linear fc) {
        String n = name(fc);
        float[] w = fc.weight().tensor().toFloatArray();
        float[] bias = fc.bias().tensor().toFloatArray();
        int out = bias.length;
        int in = w.length / out;
        if (shape(x)[0] != in) {
            throw new IllegalStateException("linear " + in + " -> " + out + " on " + Arrays.toString(shape(x)));
        }
        String y = b.node("Gemm", n, List.of(x, b.floats(n + ".weight", w, out, in), b.floats(n + ".bias", bias, out)),
                intAttr("transB", 1));
        return put(y, out);
    }
}
