package io.basq4j.deploy.onnx;

import com.google.protobuf.ByteString;
import io.basq4j.deploy.onnx.proto.Onnx.AttributeProto;
import io.basq4j.deploy.onnx.proto.Onnx.GraphProto;
import io.basq4j.deploy.onnx.proto.Onnx.NodeProto;
import io.basq4j.deploy.onnx.proto.Onnx.TensorProto;
import io.basq4j.deploy.onnx.proto.Onnx.TensorShapeProto;
import io.basq4j.deploy.onnx.proto.Onnx.TypeProto;
import io.basq4j.deploy.onnx.proto.Onnx.ValueInfoProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Collects the nodes and constant tensors of one ONNX graph: unique value names, tensors stored
 * little-endian in {@code raw_data}, attributes with their type set. Knows nothing of basq4j's
 * layers ({@link OnnxNetworkWriter} does).
 */
final class GraphBuilder {
    private final List<NodeProto> nodes = new ArrayList<>();
    private final List<TensorProto> initializers = new ArrayList<>();
    private final List<ValueInfoProto> inputs = new ArrayList<>();
    private final List<ValueInfoProto> outputs = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    /** Small shared constants (zero points, clip bounds, shapes) by content key. */
    private final Map<String, String> shared = new HashMap<>();

    /** A name not used yet: {@code base}, or {@code base_2}, {@code base_3}, ... */
    String unique(String base) {
        String n = base;
        for (int i = 2; names.contains(n); i++) {
            n = base + "_" + i;
        }
        names.add(n);
        return n;
    }

    /** A graph input of element type {@code elemType}; a negative dimension is the free one named {@code freeDim}. */
    String input(String name, int elemType, long[] dims, String freeDim) {
        String n = unique(name);
        inputs.add(valueInfo(n, elemType, dims, freeDim));
        return n;
    }

    /** Declares {@code value} a graph output. */
    void output(String value, int elemType, long[] dims, String freeDim) {
        outputs.add(valueInfo(value, elemType, dims, freeDim));
    }

    private static ValueInfoProto valueInfo(String name, int elemType, long[] dims, String freeDim) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : dims) {
            TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
            if (d < 0) {
                dim.setDimParam(freeDim);
            } else {
                dim.setDimValue(d);
            }
            shape.addDim(dim);
        }
        TypeProto type = TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape)).build();
        return ValueInfoProto.newBuilder().setName(name).setType(type).build();
    }

    // ------------------------------------------------------------------ constants

    String floats(String name, float[] v, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return tensor(name, TensorProto.DataType.FLOAT_VALUE, b.array(), dims);
    }

    String int8s(String name, byte[] v, long... dims) {
        return tensor(name, TensorProto.DataType.INT8_VALUE, v, dims);
    }

    String uint8s(String name, byte[] v, long... dims) {
        return tensor(name, TensorProto.DataType.UINT8_VALUE, v, dims);
    }

    String int64s(String name, long[] v, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(v);
        return tensor(name, TensorProto.DataType.INT64_VALUE, b.array(), dims);
    }

    private String tensor(String name, int dataType, byte[] raw, long[] dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        int width = dataType == TensorProto.DataType.FLOAT_VALUE ? 4 : dataType == TensorProto.DataType.INT64_VALUE ? 8 : 1;
        if (n * width != raw.length) {
            throw new IllegalArgumentException("tensor " + name + ": " + raw.length + " bytes for " + n + " elements");
        }
        String u = unique(name);
        TensorProto.Builder t = TensorProto.newBuilder().setName(u).setDataType(dataType)
                .setRawData(ByteString.copyFrom(raw));
        for (long d : dims) {
            t.addDims(d);
        }
        initializers.add(t.build());
        return u;
    }

    /** A scalar uint8 constant, shared by every node that needs the same value. */
    String uint8Scalar(int v) {
        return shared.computeIfAbsent("u8:" + v, k -> uint8s("u8_" + v, new byte[] {(byte) v}));
    }

    /** A scalar int8 constant, shared. */
    String int8Scalar(int v) {
        return shared.computeIfAbsent("i8:" + v, k -> int8s("i8_" + (v < 0 ? "m" + -v : v), new byte[] {(byte) v}));
    }

    /** A constant int64 vector, shared. */
    String int64Vector(String name, long... v) {
        StringBuilder key = new StringBuilder("i64:");
        for (long x : v) {
            key.append(x).append(',');
        }
        return shared.computeIfAbsent(key.toString(), k -> int64s(name, v, v.length));
    }

    // ------------------------------------------------------------------ nodes

    /** Adds a node with one output named {@code name} (made unique); returns the output's name. */
    String node(String opType, String name, List<String> in, AttributeProto... attrs) {
        String out = unique(name);
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(opType).setName(out).addAllInput(in).addOutput(out);
        for (AttributeProto a : attrs) {
            n.addAttribute(a);
        }
        nodes.add(n.build());
        return out;
    }

    static AttributeProto intAttr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    static AttributeProto floatAttr(String name, float v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build();
    }

    static AttributeProto intsAttr(String name, long... v) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long x : v) {
            a.addInts(x);
        }
        return a.build();
    }

    /** Renames the output {@code from} of the last node that produces it (for the graph's output name). */
    String renameOutput(String from, String to) {
        String u = unique(to);
        for (int i = nodes.size() - 1; i >= 0; i--) {
            NodeProto n = nodes.get(i);
            for (int k = 0; k < n.getOutputCount(); k++) {
                if (n.getOutput(k).equals(from)) {
                    nodes.set(i, n.toBuilder().setOutput(k, u).build());
                    return u;
                }
            }
        }
        throw new IllegalStateException("no node produces " + from);
    }

    int nodeCount() {
        return nodes.size();
    }

    GraphProto build(String graphName) {
        return GraphProto.newBuilder().setName(graphName).addAllNode(nodes).addAllInitializer(initializers)
                .addAllInput(inputs).addAllOutput(outputs).build();
    }
}
