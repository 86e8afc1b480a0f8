package io.basq4j.cli;

import io.basq4j.parity.Parity;
import io.basq4j.parity.Report;
import io.basq4j.tensor.Device;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code basq4j parity FILE.safetensors}: the supernet against a golden model file. */
@Command(name = "parity", mixinStandardHelpOptions = true,
        description = {"Check the supernet against a golden model file (safetensors with __metadata__ and "
                + "state.*, input, target, selection, logits_eval, logits_train, loss, grad.*, state_after.*, "
                + "act.feature.* and their float64 twins f64.*): evaluation logits, then training-mode logits, loss, "
                + "every gradient, BN running statistics and feature outputs after one forward (dropout off, weight "
                + "quantization on with the loaded steps).",
            "Each tensor passes when basq4j is as close to the float64 twin as the float32 reference is: "
                + "err(basq4j) <= max(3 x err(reference), 1e-4), err as in golden/README.md. A gradient upstream "
                + "of float-noise ReLU ties that misses it is accepted while within the reference's own worst error "
                + "there and no more often than the reference misses against basq4j (--per-tensor: never). Files "
                + "without f64.* (or --against-float32) are judged by the relative error against the float32 "
                + "reference.",
            "Exit status 0 when every tensor passes, 1 otherwise."})
public final class ParityCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "Golden model file (.safetensors).")
    Path file;

    @Option(names = "--pth", paramLabel = "CHECKPOINT",
            description = "Take the state from this reference checkpoint (.pth) instead of the file's state.*.")
    Path pth;

    @Option(names = "--dump", paramLabel = "OUT.safetensors",
            description = "Also write basq4j's own results under the golden names (logits_eval, logits_train, loss, "
                    + "grad.*, state_after.*, act.feature.*) to this file.")
    Path dump;

    @Option(names = "--against-float32", description = "Judge by the relative error against the float32 reference "
            + "(max|a-b|/max|b| <= --tolerance), as for files without f64.*, instead of against the float64 twins.")
    boolean againstFloat32;

    @Option(names = "--per-tensor", description = "Float64 rule: every tensor within its own bound; gradients "
            + "upstream of float-noise ReLU ties that miss it are not accepted even when the reference misses it as "
            + "often.")
    boolean perTensor;

    @Option(names = "--tolerance", paramLabel = "ERR", defaultValue = "1e-4",
            description = "The error any tensor may have (float64 rule), or the largest relative error against "
                    + "the float32 reference (float32 rule) (default: ${DEFAULT-VALUE}).")
    double tolerance;

    @Option(names = "--factor", paramLabel = "K", defaultValue = "3",
            description = "Float64 rule: how many times the reference's own error basq4j may have "
                    + "(default: ${DEFAULT-VALUE}).")
    double factor;

    @Option(names = "--verbose", description = "Also list each feature's output error and the tensors closest to "
            + "their limit, and every failing tensor.")
    boolean verbose;

    @Option(names = "--strict-grads", description = "Float32 rule: hold every gradient to the tolerance, also those "
            + "that float-noise ReLU ties make irreproducible (by default reported but not held).")
    boolean strictGrads;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "cpu, cuda or auto (default: ${DEFAULT-VALUE}).")
    String device;

    @Override
    public Integer call() {
        if (!(tolerance >= 0) || Double.isInfinite(tolerance)) {
            throw new UserError("--tolerance must be a non-negative number, got " + tolerance, 2);
        }
        if (!(factor >= 0) || Double.isInfinite(factor)) {
            throw new UserError("--factor must be a non-negative number, got " + factor, 2);
        }
        Device dev;
        try {
            dev = Device.parse(device);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage(), 2);
        }
        Report r = Parity.run(new Parity.Options(file, pth, tolerance, factor, verbose, dev, strictGrads,
                againstFloat32, perTensor, dump));
        System.out.println(r.format(verbose));
        return r.ok() ? 0 : 1;
    }
}
