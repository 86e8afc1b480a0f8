package io.basq4j.deploy.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.F;
import io.basq4j.deploy.onnx.proto.Onnx.ModelProto;
import io.basq4j.deploy.onnx.proto.Onnx.TensorProto;
import io.basq4j.nn.Init;
import io.basq4j.nn.Module;
import io.basq4j.nn.quant.ClipQuantizer;
import io.basq4j.nn.quant.LsqActQuantizer;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.nn.quant.QuantBits;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Each quantizer's ONNX form, run by ONNX Runtime, against basq4j's own kernels on inputs chosen
 * where the arithmetic can differ: exact ties between two levels (QuantizeLinear rounds half to
 * even, as rintf), the neighbouring floats on both sides of every tie and level, the clip bound
 * and its neighbours, negatives, zeros and huge values. The outputs must be equal float for
 * float (a zero's sign aside): a multiplication by a reciprocal instead of the division, another
 * rounding mode, a step derived differently from u and bin, or an off-by-one clip would each
 * change some of them.
 */
class OnnxQuantizerArithmeticTest {
    private static final Init INIT = new Init(Device.CPU, 1);

    /** A one-quantizer graph: input [1, c, 1, m] -> the quantizer -> output; returns ORT's output. */
    private static float[] runOnnx(Module root, int c, int m, float[] x,
            java.util.function.BiFunction<OnnxNetworkWriter, String, String> layer) throws Exception {
        GraphBuilder b = new GraphBuilder();
        OnnxNetworkWriter w = new OnnxNetworkWriter(b, root);
        String in = w.input("input", c, 1, m);
        String y = layer.apply(w, in);
        b.output(y, TensorProto.DataType.FLOAT_VALUE, new long[] {-1, c, 1, m}, "batch");
        ModelProto model = OnnxExporter.model(b.build("quantizer"), Map.of(), "test");
        try (OrtRunner ort = new OrtRunner(model.toByteArray())) {
            return ort.run(x, 1, c, 1, m);
        }
    }

    private static float[] runBasq(float[] x, int c, int m, Function<Tensor, Tensor> op) {
        try (Scope s = Scope.open()) {
            return op.apply(Tensor.of(Device.CPU, x, 1, c, 1, m)).toFloatArray();
        }
    }

    /** Values around the levels k * step and the ties (k + 1/2) * step, k = -2 .. levels + 2, and around bound. */
    private static List<Float> probes(float step, int levels, float bound, Random r) {
        List<Float> v = new ArrayList<>();
        for (int k = -2; k <= levels + 2; k++) {
            for (float base : new float[] {k * step, (k + 0.5f) * step}) {
                v.add(base);
                v.add(Math.nextUp(base));
                v.add(Math.nextDown(base));
            }
        }
        v.add(bound);
        v.add(Math.nextUp(bound));
        v.add(Math.nextDown(bound));
        v.add(0f);
        v.add(-0f);
        v.add(-1e30f);
        v.add(1e30f);
        v.add(Float.MIN_VALUE);
        for (int i = 0; i < 200; i++) {
            v.add((r.nextFloat() * 1.6f - 0.3f) * bound);
        }
        return v;
    }

    /** How many probes sit on an exact tie whose round-half-even result differs from round-half-up. */
    private static int evenTies(float[] x, float step) {
        int n = 0;
        for (float v : x) {
            float q = v / step;
            if (q - (float) Math.floor(q) == 0.5f && ((long) Math.floor(q)) % 2 == 0) {
                n++;
            }
        }
        return n;
    }

    private static void assertSame(float[] want, float[] got, float[] x, String what) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            // equal as floats: bit for bit, except that basq4j may give -0 where ONNX gives +0
            assertTrue(want[i] == got[i], what + ": input " + x[i] + " (" + Float.floatToIntBits(x[i]) + "): basq4j "
                    + want[i] + ", ONNX Runtime " + got[i]);
        }
    }

    @ParameterizedTest
    @CsvSource({"2, 6.0", "2, 1.4537", "2, 0.37", "3, 2.9", "3, 5.5", "4, 1.0", "4, 3.3333", "2, 0.0", "3, -1.5"})
    void clipQuantizerIsTheKernelsArithmetic(int bits, float u) throws Exception {
        ClipQuantizer q = new ClipQuantizer(INIT, bits, 0);
        q.upperBound().tensor().copyFrom(new float[] {u});
        float step = u > 0 ? q.step() : 1f;
        List<Float> p = probes(step, (1 << bits) - 1, u > 0 ? u : 1f, new Random(bits * 31 + (long) (u * 1000)));
        float[] x = new float[p.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = p.get(i);
        }
        float[] got = runOnnx(q, 1, x.length, x, (w, in) -> w.clipQuant(in, q));
        float[] want = runBasq(x, 1, x.length, t -> F.clipQuant(t, q.upperBound().tensor(), q.bin().tensor()));
        assertSame(want, got, x, "clip quantizer " + bits + " bits, u " + u);
        if (u > 0) {
            assertTrue(evenTies(x, step) > 0, "the probes must include exact ties");
        }
        q.close();
    }

    @ParameterizedTest
    @CsvSource({"2, false", "3, false", "4, false", "2, true", "4, true"})
    void lsqActivationQuantizerIsTheKernelsArithmetic(int bits, boolean notPositive) throws Exception {
        // training can push a step below zero; the kernel still quantizes with it (and a zero step gives 0)
        float[] s = notPositive ? new float[] {0.0731f, -0.5f, 0f, 1.9f} : new float[] {0.0731f, 0.5f, 1.9f};
        LsqActQuantizer q = new LsqActQuantizer(INIT, s.length, bits);
        q.step().tensor().copyFrom(s);
        int qp = QuantBits.activationQp(bits);
        Random r = new Random(bits);
        List<List<Float>> perChannel = new ArrayList<>();
        int m = 0;
        for (float sc : s) {
            float a = sc == 0f ? 1f : Math.abs(sc);
            List<Float> p = probes(sc < 0 ? -a : a, qp, qp * (sc < 0 ? -a : a), r);
            perChannel.add(p);
            m = Math.max(m, p.size());
        }
        float[] x = new float[s.length * m];
        int ties = 0;
        for (int c = 0; c < s.length; c++) {
            List<Float> p = perChannel.get(c);
            float[] xc = new float[m];
            for (int i = 0; i < m; i++) {
                xc[i] = p.get(i % p.size());
            }
            System.arraycopy(xc, 0, x, c * m, m);
            ties += s[c] == 0f ? 0 : evenTies(xc, s[c]);
        }
        int width = m;
        float[] got = runOnnx(q, s.length, width, x, (w, in) -> w.lsqActivation(in, q));
        float[] want = runBasq(x, s.length, width, t -> F.lsq(t, q.step().tensor(), 0, qp, 1));
        assertSame(want, got, x, "LSQ activations " + bits + " bits, steps " + java.util.Arrays.toString(s));
        assertTrue(ties > 0, "the probes must include exact ties");
        q.close();
    }

    @Test
    void quantizedWeightsAreTheKernelsCodesTimesTheirSteps() throws Exception {
        // 2-bit weights [8, 4, 3, 3] with steps and weights placed on ties and levels of their channel
        int cout = 8;
        int cin = 4;
        QConv2d conv = new QConv2d(INIT, cin, cout, 3, 1, 1, 1, 2);
        float[] s = new float[cout];
        float[] w = new float[cout * cin * 9];
        Random r = new Random(3);
        for (int o = 0; o < cout; o++) {
            // channel 5 has a negative step, channel 6 a zero one (training can leave such steps)
            s[o] = (o == 5 ? -1 : 1) * (0.01f + 0.05f * r.nextFloat());
            for (int i = 0; i < cin * 9; i++) {
                float k = (r.nextInt(7) - 3) * 0.5f; // -1.5 .. 1.5 in halves: levels, ties and beyond the range
                float v = k * (o == 6 ? 0.02f : s[o]);
                w[o * cin * 9 + i] = switch (r.nextInt(3)) {
                    case 0 -> v;
                    case 1 -> Math.nextUp(v);
                    default -> Math.nextDown(v);
                };
            }
        }
        conv.weights().tensor().copyFrom(w);
        conv.setWeightQuantization(true, false);
        s[6] = 0f;
        conv.quantizer().step().tensor().copyFrom(s);
        float[] want;
        try (Scope sc = Scope.open()) {
            want = conv.effectiveWeight().toFloatArray();
        }
        byte[] codes = OnnxNetworkWriter.weightCodes(w, s, 1);
        float[] scales = OnnxNetworkWriter.weightScales(s);
        int[] seen = new int[3];
        for (int i = 0; i < w.length; i++) {
            assertTrue(codes[i] >= -1 && codes[i] <= 1, "2-bit code " + codes[i]);
            seen[codes[i] + 1]++;
            assertTrue(scales[i / (cin * 9)] > 0f);
            assertTrue(codes[i] * scales[i / (cin * 9)] == want[i], "weight " + i + ": code " + codes[i] + " x scale "
                    + scales[i / (cin * 9)] + " vs the kernel's " + want[i] + " (step " + s[i / (cin * 9)] + ")");
        }
        assertTrue(seen[0] > 0 && seen[1] > 0 && seen[2] > 0, "all three codes occur");
        // and ONNX Runtime's dequantized weights, read as a second graph output, are the kernel's
        GraphBuilder b = new GraphBuilder();
        OnnxNetworkWriter wr = new OnnxNetworkWriter(b, conv);
        String in = wr.input("input", cin, 5, 5);
        String y = wr.quantizedConv(in, conv);
        b.output(y, TensorProto.DataType.FLOAT_VALUE, new long[] {-1, cout, 5, 5}, "batch");
        String dq = "QConv2d.weight";
        b.output(dq, TensorProto.DataType.FLOAT_VALUE, new long[] {cout, cin, 3, 3}, "batch");
        try (OrtRunner ort = new OrtRunner(OnnxExporter.model(b.build("conv"), Map.of(), "test").toByteArray())) {
            float[] got = ort.runAll(new float[cin * 25], 1, cin, 5, 5).get(dq);
            assertSame(want, got, w, "dequantized weights");
        }
        conv.close();
    }
}
