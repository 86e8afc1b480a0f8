package io.basq4j.deploy.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.deploy.onnx.proto.Onnx.ModelProto;
import io.basq4j.deploy.onnx.proto.Onnx.NodeProto;
import io.basq4j.deploy.onnx.proto.Onnx.TensorProto;
import io.basq4j.models.Supernet;
import io.basq4j.nn.Module;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.nn.quant.QuantBits;
import io.basq4j.tensor.Scope;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The weight codes of an exported model read back from the file (the quantized weights and the
 * per-channel scale of their QuantizeLinear -> Clip -> DequantizeLinear) against the quantized weights basq4j's LSQ kernel
 * computes for the same network.
 */
final class WeightCodes {
    private WeightCodes() {
    }

    /** Checks every quantized convolution; returns how often each code occurs (index code + Qp). */
    static long[] check(ModelProto model, Supernet net) {
        Map<String, TensorProto> inits = new HashMap<>();
        for (TensorProto t : model.getGraph().getInitializerList()) {
            inits.put(t.getName(), t);
        }
        Map<String, NodeProto> producers = new HashMap<>();
        for (NodeProto n : model.getGraph().getNodeList()) {
            producers.put(n.getOutput(0), n);
        }
        Map<Module, String> names = new IdentityHashMap<>();
        name(net, "", names);
        int qp = QuantBits.weightQp(net.config().bits());
        long[] histogram = new long[2 * qp + 1];
        int convs = 0;
        for (QConv2d conv : net.quantizedConvs()) {
            String n = names.get(conv);
            TensorProto quantized = inits.get(n + ".weight_quantized");
            TensorProto scales = inits.get(n + ".w_quantize.s");
            assertNotNull(quantized, n + ": no quantized weights in the file");
            assertNotNull(scales, n + ": no scales in the file");
            assertEquals(TensorProto.DataType.FLOAT_VALUE, quantized.getDataType(), n);
            // the graph: weights -> QuantizeLinear(scales, axis 0) -> Clip(-Qp, Qp) -> DequantizeLinear(scales,
            // axis 0) -> the convolution
            NodeProto dq = producers.get(n + ".weight");
            assertEquals("DequantizeLinear", dq.getOpType(), n);
            NodeProto clip = producers.get(dq.getInput(0));
            assertEquals("Clip", clip.getOpType(), n);
            NodeProto q = producers.get(clip.getInput(0));
            assertEquals("QuantizeLinear", q.getOpType(), n);
            assertEquals(quantized.getName(), q.getInput(0), n);
            assertEquals(scales.getName(), q.getInput(1), n);
            assertEquals(scales.getName(), dq.getInput(1), n);
            float[] w = floats(quantized);
            float[] s = floats(scales);
            // the codes as QuantizeLinear recovers them: round half to even of w / s, which must be exact
            int per = w.length / s.length;
            byte[] c = new byte[w.length];
            for (int i = 0; i < w.length; i++) {
                float v = w[i] / s[i / per];
                c[i] = (byte) Math.rint(v);
                assertTrue(Math.abs(v - c[i]) < 1e-3f, n + " weight " + i + ": " + w[i] + " / " + s[i / per]
                        + " is not an integer code");
            }
            float[] want;
            try (Scope sc = Scope.open()) {
                want = conv.effectiveWeight().toFloatArray();
            }
            assertEquals(want.length, c.length, n);
            for (int i = 0; i < c.length; i++) {
                assertTrue(c[i] >= -qp && c[i] <= qp, n + ": code " + c[i] + " outside [-" + qp + ", " + qp + "]");
                histogram[c[i] + qp]++;
                assertTrue(w[i] == want[i] && c[i] * s[i / per] == want[i], n + " weight " + i + ": code " + c[i] + " x scale " + s[i / per]
                        + " = " + c[i] * s[i / per] + ", the LSQ kernel gives " + want[i]);
            }
            convs++;
        }
        assertTrue(convs > 0, "no quantized convolution");
        return histogram;
    }

    private static float[] floats(TensorProto t) {
        float[] v = new float[t.getRawData().size() / 4];
        ByteBuffer.wrap(t.getRawData().toByteArray()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        return v;
    }

    private static void name(Module m, String prefix, Map<Module, String> out) {
        for (Map.Entry<String, Module> e : m.children().entrySet()) {
            out.put(e.getValue(), prefix + e.getKey());
            name(e.getValue(), prefix + e.getKey() + ".", out);
        }
    }
}
