package io.basq4j.cli;

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
                + "act.feature.*): evaluation logits, then training-mode logits, loss, gradients and BN running "
                + "statistics after one forward (dropout off, weight quantization on with the loaded steps).",
            "Exit status 0 when every tensor is within the tolerance, 1 otherwise."})
public final class ParityCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "Golden model file (.safetensors).")
    Path file;

    @Option(names = "--pth", paramLabel = "CHECKPOINT",
            description = "Take the state from this reference checkpoint (.pth) instead of the file's state.*.")
    Path pth;

    @Option(names = "--tolerance", paramLabel = "REL", defaultValue = "1e-4",
            description = "Largest accepted relative error max|a-b|/max|b| per tensor (default: ${DEFAULT-VALUE}).")
    double tolerance;

    @Option(names = "--verbose", description = "Also compare each feature's training-mode output (act.feature.i) "
            + "and list every failing tensor.")
    boolean verbose;

    @Option(names = "--strict-grads", description = "Hold every gradient to the tolerance, also those that "
            + "float-noise ReLU ties make irreproducible (by default reported but not held).")
    boolean strictGrads;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "cpu, cuda or auto (default: ${DEFAULT-VALUE}).")
    String device;

    @Override
    public Integer call() {
        if (!(tolerance >= 0)) {
            throw new UserError("--tolerance must be a non-negative number, got " + tolerance, 2);
        }
        Device dev;
        try {
            dev = Device.parse(device);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage(), 2);
        }
        Parity.Report r = Parity.run(new Parity.Options(file, pth, tolerance, verbose, dev, strictGrads));
        System.out.println(r.format(verbose));
        return r.ok() ? 0 : 1;
    }
}
