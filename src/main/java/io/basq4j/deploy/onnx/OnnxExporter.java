package io.basq4j.deploy.onnx;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basq4j.Version;
import io.basq4j.deploy.SavedModel;
import io.basq4j.deploy.onnx.proto.Onnx.GraphProto;
import io.basq4j.deploy.onnx.proto.Onnx.ModelProto;
import io.basq4j.deploy.onnx.proto.Onnx.NodeProto;
import io.basq4j.deploy.onnx.proto.Onnx.OperatorSetIdProto;
import io.basq4j.deploy.onnx.proto.Onnx.StringStringEntryProto;
import io.basq4j.deploy.onnx.proto.Onnx.TensorProto;
import io.basq4j.io.AtomicFiles;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Scope;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Exports a basq4j network as a standard ONNX model (opset {@value #OPSET}, IR version
 * {@value #IR_VERSION}) in the QCDQ form of quantized models: every quantized activation is
 * QuantizeLinear -> Clip -> DequantizeLinear, and so is every quantized convolution's weight
 * (its quantized values code x scale as the constant, one scale per output channel, int8 codes),
 * so that the codes (three values at 2 bits) are recovered exactly from the file. Batch norm (running statistics), ReLU,
 * the flexible skips with their pooling, the residual adds, global average pooling and the
 * classifier are plain ONNX operators; dropout is left out (evaluation). See
 * {@link OnnxNetworkWriter} for the operators and why they compute what basq4j's kernels compute.
 *
 * <p>Input {@value #INPUT}: float32 [batch, C, H, W] (NCHW, batch free), already preprocessed;
 * output {@value #OUTPUT}: float32 [batch, classes]. The model's {@code metadata_props} carry the
 * saved model's metadata (architecture, bits, selection, class names, preprocessing, ...) and the
 * keys {@code input_name}, {@code input_shape}, {@code input_layout}, {@code output_name},
 * {@code output_shape}, {@code preprocessing} and {@code quantization}.
 */
public final class OnnxExporter {
    public static final int OPSET = 13;
    public static final long IR_VERSION = 7;
    public static final String INPUT = "input";
    public static final String OUTPUT = "logits";
    /** Metadata key of the input preprocessing (copied from the saved model when it has one). */
    public static final String PREPROCESSING = "preprocessing";

    private static final ObjectMapper JSON = new ObjectMapper();

    private OnnxExporter() {
    }

    /** What an export wrote. */
    public record Summary(Path path, long bytes, int opset, int nodes, Map<String, Integer> operators,
            String input, List<Object> inputShape, String output, List<Object> outputShape, String preprocessing) {
    }

    /** The ONNX model of a saved network, its metadata carried over. */
    public static ModelProto model(SavedModel m) {
        return model(m.network(), m.networkSelection(), m.metadata());
    }

    /**
     * The ONNX model of the network that {@code selection} picks out of {@code net} (its current
     * state; evaluation semantics whatever its mode), with {@code metadata} (may be empty) copied
     * into {@code metadata_props}.
     */
    public static ModelProto model(Supernet net, int[] selection, Map<String, String> metadata) {
        ModelConfig c = net.config();
        GraphBuilder b = new GraphBuilder();
        String logits;
        try (Scope s = Scope.open()) {
            OnnxNetworkWriter w = new OnnxNetworkWriter(b, net);
            String x = w.input(INPUT, c.inChannels(), c.resolution(), c.resolution());
            logits = b.renameOutput(net.describe(w, x, selection), OUTPUT);
        }
        b.output(logits, TensorProto.DataType.FLOAT_VALUE, new long[] {-1, c.classes()}, OnnxNetworkWriter.FREE_DIM);
        GraphProto graph = b.build("basq4j_" + net.arch());

        Map<String, String> meta = new LinkedHashMap<>(metadata == null ? Map.of() : metadata);
        meta.put("input_name", INPUT);
        meta.put("input_shape", json(List.of(OnnxNetworkWriter.FREE_DIM, c.inChannels(), c.resolution(), c.resolution())));
        meta.put("input_layout", "NCHW float32");
        meta.put("output_name", logits);
        meta.put("output_shape", json(List.of(OnnxNetworkWriter.FREE_DIM, c.classes())));
        if (!meta.containsKey(PREPROCESSING)) {
            // what the network itself fixes; the normalization is not recorded in the source
            Map<String, Object> p = new LinkedHashMap<>();
            p.put("channels", c.inChannels());
            p.put("height", c.resolution());
            p.put("width", c.resolution());
            p.put("normalization", null);
            meta.put(PREPROCESSING, json(p));
        }
        meta.put("quantization", "QCDQ: activations QuantizeLinear->Clip->DequantizeLinear (uint8 codes clipped to "
                + "[0, 2^bits-1], per tensor for the clip quantizers, per channel for LSQ); weights (code x scale) "
                + "QuantizeLinear->Clip(-(2^(bits-1)-1), 2^(bits-1)-1)->DequantizeLinear, int8 codes per output "
                + "channel");

        return model(graph, meta, "basq4j " + net.arch() + " w" + c.widthMultiplier() + ", " + c.bits()
                + "-bit, selection " + Arrays.toString(selection));
    }

    /** A model file around {@code graph}: versions, producer, {@code metadata} as metadata_props. */
    static ModelProto model(GraphProto graph, Map<String, String> metadata, String doc) {
        ModelProto.Builder m = ModelProto.newBuilder().setIrVersion(IR_VERSION).setProducerName("basq4j")
                .setProducerVersion(Version.get()).setDomain("io.basq4j").setModelVersion(1).setDocString(doc)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET)).setGraph(graph);
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            m.addMetadataProps(StringStringEntryProto.newBuilder().setKey(e.getKey())
                    .setValue(e.getValue() == null ? "" : e.getValue()));
        }
        return m.build();
    }

    /** Loads {@code savedModel} (a basq4j model file), exports it to {@code out} and says what was written. */
    public static Summary export(Path savedModel, Path out) {
        ModelProto model;
        try (SavedModel m = SavedModel.load(savedModel)) {
            try {
                model = model(m);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(savedModel + ": cannot be exported to ONNX: " + e.getMessage(), e);
            }
        }
        return write(model, out);
    }

    /**
     * Writes {@code model} to {@code out} whole or not at all (a temporary file beside it, then a
     * rename: never a half-written file), creating its directory.
     */
    public static Summary write(ModelProto model, Path out) {
        try {
            Path dir = out.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            AtomicFiles.write(out, model::writeTo);
            return summary(model, out, Files.size(out));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out + ": " + e.getMessage(), e);
        }
    }

    /** The summary of a model as written to {@code path} ({@code bytes} long). */
    public static Summary summary(ModelProto model, Path path, long bytes) {
        Map<String, Integer> ops = new TreeMap<>();
        for (NodeProto n : model.getGraph().getNodeList()) {
            ops.merge(n.getOpType(), 1, Integer::sum);
        }
        Map<String, String> meta = new LinkedHashMap<>();
        for (StringStringEntryProto e : model.getMetadataPropsList()) {
            meta.put(e.getKey(), e.getValue());
        }
        return new Summary(path, bytes, OPSET, model.getGraph().getNodeCount(), ops,
                model.getGraph().getInput(0).getName(), dims(model.getGraph().getInput(0)),
                model.getGraph().getOutput(0).getName(), dims(model.getGraph().getOutput(0)), meta.get(PREPROCESSING));
    }

    private static List<Object> dims(io.basq4j.deploy.onnx.proto.Onnx.ValueInfoProto v) {
        return v.getType().getTensorType().getShape().getDimList().stream()
                .map(d -> d.hasDimParam() ? (Object) d.getDimParam() : (Object) d.getDimValue()).toList();
    }

    private static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
