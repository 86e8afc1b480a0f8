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
 * The weight codes of an exported model read back from the file (the int8 initializer and the
 * per-channel scale of its DequantizeLinear) against the quantized weights basq4j's LSQ kernel
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
            TensorProto codes = inits.get(n + ".weight_codes");
            TensorProto scales = inits.get(n + ".w_quantize.s");
            assertNotNull(codes, n + ": no codes in the file");
            assertNotNull(scales, n + ": no scales in the file");
            assertEquals(TensorProto.DataType.INT8_VALUE, codes.getDataType(), n);
            // the graph: codes -> Clip(-Qp, Qp) -> DequantizeLinear(scales, axis 0) -> the convolution
            NodeProto dq = producers.get(n + ".weight");
            assertEquals("DequantizeLinear", dq.getOpType(), n);
            NodeProto clip = producers.get(dq.getInput(0));
            assertEquals("Clip", clip.getOpType(), n);
            assertEquals(codes.getName(), clip.getInput(0), n);
            assertEquals(scales.getName(), dq.getInput(1), n);
            byte[] c = codes.getRawData().toByteArray();
            float[] s = new float[scales.getRawData().size() / 4];
            ByteBuffer.wrap(scales.getRawData().toByteArray()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(s);
            float[] want;
            try (Scope sc = Scope.open()) {
                want = conv.effectiveWeight().toFloatArray();
            }
            assertEquals(want.length, c.length, n);
            int per = c.length / s.length;
            for (int i = 0; i < c.length; i++) {
                assertTrue(c[i] >= -qp && c[i] <= qp, n + ": code " + c[i] + " outside [-" + qp + ", " + qp + "]");
                histogram[c[i] + qp]++;
                assertTrue(c[i] * s[i / per] == want[i], n + " weight " + i + ": code " + c[i] + " x scale " + s[i / per]
                        + " = " + c[i] * s[i / per] + ", the LSQ kernel gives " + want[i]);
            }
            convs++;
        }
        assertTrue(convs > 0, "no quantized convolution");
        return histogram;
    }

    private static void name(Module m, String prefix, Map<Module, String> out) {
        for (Map.Entry<String, Module> e : m.children().entrySet()) {
            out.put(e.getValue(), prefix + e.getKey());
            name(e.getValue(), prefix + e.getKey() + ".", out);
        }
    }
}
