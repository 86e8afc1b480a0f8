package io.basq4j.cli;

import io.basq4j.deploy.SavedModel;
import io.basq4j.deploy.infer.PackedFormat;
import io.basq4j.deploy.infer.PackedNetwork;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Writes a saved model in a deployment format. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Writes a saved model (models/model.safetensors of a run) in a deployment format. "
                + "basq-packed: the inference engine's file, weights as bit-packed integer codes, batch norms "
                + "folded into per-channel affines (io.basq4j.deploy.infer.PackedFormat).")
public final class ExportCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "a saved model (.safetensors)")
    Path model;

    @Option(names = "--format", defaultValue = "basq-packed", description = "basq-packed (default)")
    String format;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE",
            description = "output file (default: MODEL with .packed.safetensors in place of .safetensors)")
    Path output;

    @Option(names = "--int16-params",
            description = "store the per-channel parameters and the classifier in 16 bits (integers times a "
                    + "power-of-two scale per vector): about 0.7x the size, but the rounding moves some activations "
                    + "to another quantizer level, which changes about 1% of a 2-bit network's top-1 predictions; "
                    + "the default float32 keeps the engine's answers")
    boolean int16;

    @Override
    public Integer call() {
        if (!format.equals("basq-packed")) {
            throw new UserError("unknown format '" + format + "' (valid: basq-packed)", 2);
        }
        Path out = output != null ? output : defaultOutput(model);
        try (SavedModel m = SavedModel.load(model)) {
            PackedNetwork p = PackedNetwork.of(m);
            PackedFormat.write(out, int16 ? p.compact() : p);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        System.out.printf(Locale.ROOT, "%s: %d bytes (%s: %d bytes, %.3f)%n", out, size(out), model, size(model),
                (double) size(out) / size(model));
        return 0;
    }

    private static Path defaultOutput(Path model) {
        String name = model.getFileName().toString();
        String base = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return model.resolveSibling(base + ".packed.safetensors");
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            return -1;
        }
    }
}
