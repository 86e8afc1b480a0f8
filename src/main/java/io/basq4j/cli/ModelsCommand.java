package io.basq4j.cli;

import io.basq4j.models.BlockInfo;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.tensor.Device;
import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code basq4j models}: the block table of a supernet configuration. */
@Command(name = "models", mixinStandardHelpOptions = true,
        description = "Show a supernet's blocks (channels, stride, expansion, parameters, searched units) and "
                + "totals for a configuration, before training it.")
public final class ModelsCommand implements Callable<Integer> {
    @Option(names = "--arch", defaultValue = "mobilenetv2",
            description = "Architecture: mobilenetv2, resnet18 or resnet20 (default: ${DEFAULT-VALUE}).")
    String arch;

    @Option(names = "--width", defaultValue = "1.0", description = "Width multiplier (default: ${DEFAULT-VALUE}).")
    double width;

    @Option(names = "--divisor", defaultValue = "8",
            description = "Channel counts are made divisible by this (default: ${DEFAULT-VALUE}).")
    int divisor;

    @Option(names = "--resolution", defaultValue = "224",
            description = "Input height and width (default: ${DEFAULT-VALUE}).")
    int resolution;

    @Option(names = "--in-channels", defaultValue = "3", description = "Input channels (default: ${DEFAULT-VALUE}).")
    int inChannels;

    @Option(names = "--classes", defaultValue = "1000", description = "Classes (default: ${DEFAULT-VALUE}).")
    int classes;

    @Option(names = "--bits", defaultValue = "2", description = "Bits, 2 to 4 (default: ${DEFAULT-VALUE}).")
    int bits;

    @Option(names = "--branches", defaultValue = "7",
            description = "Clip branches L per searched unit (default: ${DEFAULT-VALUE}).")
    int branches;

    @Override
    public Integer call() {
        ModelConfig cfg;
        String name;
        try {
            name = Models.canonical(arch);
            double[] l2 = branches <= ModelConfig.DEFAULT_L2.length ? null : new double[branches];
            cfg = new ModelConfig(width, divisor, resolution, inChannels, classes, bits, branches, l2, 0.2f, 0L,
                    Device.CPU);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage(), 2);
        }
        try (Supernet model = Models.create(name, cfg)) {
            print(System.out, model);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage(), 2);
        }
        return 0;
    }

    /** Prints the table and the totals. */
    static void print(PrintStream out, Supernet model) {
        ModelConfig c = model.config();
        out.printf(Locale.ROOT, "%s supernet: width %s, divisor %d, input %dx%dx%d, %d classes, %d bits, %d branches%n",
                model.arch(), c.widthMultiplier(), c.divisor(), c.inChannels(), c.resolution(), c.resolution(),
                c.classes(), c.bits(), c.branches());
        out.printf(Locale.ROOT, "%-6s %-18s %6s %6s %6s %9s %6s %11s %8s %6s%n", "index", "kind", "in", "out", "stride",
                "expansion", "hidden", "parameters", "searched", "size");
        for (BlockInfo b : model.blocks()) {
            out.printf(Locale.ROOT, "%-6s %-18s %6d %6d %6d %9s %6d %11d %8d %6s%n",
                    b.index() < 0 ? "-" : Integer.toString(b.index()), b.kind(), b.in(), b.out(), b.stride(),
                    b.kind().equals("inverted-residual") ? trim(b.expansion()) : "-", b.hidden(), b.parameters(),
                    b.searchedUnits(), b.index() < 0 ? "-" : b.outSize() + "x" + b.outSize());
        }
        out.printf(Locale.ROOT, "total: %d parameters (%.2f M, all %d branches), %d searched units, output %dx%d%n",
                model.parameterCount(), model.parameterCount() / 1e6, c.branches(), model.searchedUnits(),
                model.outputSize(), model.outputSize());
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
