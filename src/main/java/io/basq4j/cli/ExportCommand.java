package io.basq4j.cli;

import io.basq4j.deploy.onnx.OnnxExporter;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code basq4j export MODEL --format onnx --out FILE}: a saved model in a format other runtimes read. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Export a saved model (models/model.safetensors of a run directory) for another runtime: "
                + "onnx = a standard ONNX model (opset 13) in QCDQ form, the integer weight codes in the file.")
public final class ExportCommand implements Callable<Integer> {
    /** The formats this command writes. */
    public static final List<String> FORMATS = List.of("onnx");

    @Parameters(index = "0", paramLabel = "MODEL", description = "The saved model (a .safetensors file).")
    Path model;

    @Option(names = "--format", defaultValue = "onnx", paramLabel = "FORMAT",
            description = "Output format: onnx (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--out", paramLabel = "FILE",
            description = "Where to write (default: MODEL with the format's extension, beside it).")
    Path out;

    @Override
    public Integer call() {
        switch (format) {
            case "onnx" -> {
                Path target = target(".onnx");
                print(System.out, OnnxExporter.export(model, target));
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
            int dot = name.lastIndexOf('.');
            t = model.resolveSibling((dot > 0 ? name.substring(0, dot) : name) + extension);
        }
        if (t.toAbsolutePath().normalize().equals(model.toAbsolutePath().normalize())) {
            throw new UserError("--out " + t + " is the model itself; choose another file", 2);
        }
        return t;
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
