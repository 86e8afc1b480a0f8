package io.basq4j.cli;

import io.basq4j.deploy.SavedModel;
import io.basq4j.deploy.infer.PackedFormat;
import io.basq4j.deploy.infer.PackedNetwork;
import io.basq4j.deploy.onnx.OnnxExporter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code basq4j export MODEL --format onnx|basq-packed --out FILE}: a saved model in a deployment format. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Export a saved model (models/model.safetensors of a run directory) for deployment:",
            "onnx = a standard ONNX model (opset 13) in QCDQ form, the integer weight codes in the file;",
            "basq-packed = the inference engine's file: weights as bit-packed integer codes, batch norms folded "
                    + "into per-channel affines (io.basq4j.deploy.infer.PackedFormat)."})
public final class ExportCommand implements Callable<Integer> {
    /** The formats this command writes. */
    public static final List<String> FORMATS = List.of("onnx", "basq-packed");

    @Parameters(index = "0", paramLabel = "MODEL", description = "The saved model (a .safetensors file).")
    Path model;

    @Option(names = "--format", defaultValue = "onnx", paramLabel = "FORMAT",
            description = "Output format: onnx or basq-packed (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = {"--out", "-o"}, paramLabel = "FILE",
            description = "Where to write (default: MODEL with .onnx, or .packed.safetensors, in place of "
                    + ".safetensors, beside it).")
    Path out;

    @Option(names = "--int16-params",
            description = "basq-packed only: store the per-channel parameters and the classifier in 16 bits "
                    + "(integers times a power-of-two scale per vector): about 0.7x the size, but the rounding moves "
                    + "some activations to another quantizer level, which changes about 1% of a 2-bit network's "
                    + "top-1 predictions; the default float32 keeps the engine's answers")
    boolean int16;

    @Override
    public Integer call() {
        switch (format) {
            case "onnx" -> {
                if (int16) {
                    throw new UserError("--int16-params applies to --format basq-packed only", 2);
                }
                print(System.out, OnnxExporter.export(model, target(".onnx")));
            }
            case "basq-packed" -> {
                Path target = target(".packed.safetensors");
                try (SavedModel m = SavedModel.load(model)) {
                    PackedNetwork p = PackedNetwork.of(m);
                    PackedFormat.write(target, int16 ? p.compact() : p);
                } catch (IllegalArgumentException e) {
                    throw new UserError(e.getMessage());
                }
                System.out.printf(Locale.ROOT, "wrote %s: %,d bytes (%s: %,d bytes; %.3f of it)%n", target,
                        size(target), model, size(model), (double) size(target) / size(model));
            }
            default -> throw new UserError("unknown format '" + format + "' (valid: " + String.join(", ", FORMATS)
                    + ")", 2);
        }
        return 0;
    }

    private Path target(String extension) {
        Path t = out;
        if (t == null) {
            String name = model.getFileName().toString();
            String base = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length())
                    : name.lastIndexOf('.') > 0 ? name.substring(0, name.lastIndexOf('.')) : name;
            t = model.resolveSibling(base + extension);
        }
        if (t.toAbsolutePath().normalize().equals(model.toAbsolutePath().normalize())) {
            throw new UserError("--out " + t + " is the model itself; choose another file", 2);
        }
        return t;
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return -1;
        }
    }

    static void print(PrintStream o, OnnxExporter.Summary s) {
        o.printf("wrote %s: %,d bytes, ONNX opset %d, %d nodes%n", s.path(), s.bytes(), s.opset(), s.nodes());
        o.printf("input   %s %s float32, NCHW%n", s.input(), s.inputShape());
        o.printf("output  %s %s float32%n", s.output(), s.outputShape());
        o.printf("preprocessing %s%n", s.preprocessing());
        o.printf("operators %s%n", s.operators().entrySet().stream().map(e -> e.getKey() + " " + e.getValue())
                .collect(Collectors.joining(", ")));
    }
}
