package io.basq4j.cli;

import io.basq4j.train.RunConfig;
import io.basq4j.train.SupernetImport;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code basq4j import-supernet FILE --run DIR}: a run directory from a supernet trained elsewhere. */
@Command(name = "import-supernet", mixinStandardHelpOptions = true,
        description = {"Make a run directory of a supernet trained elsewhere (the BASQ release's "
                + "model_actwbin_best_466000it.pth, any reference .pth {iter, model_state_dict, best_top1_acc} with or "
                + "without 'module.', or a safetensors state), so that 'search' and 'finetune --run DIR' run on it.",
            "Architecture, width, input channels, classes, branches and bits are read from the file; a model option "
                + "given that contradicts it is refused. Writes <run>/supernet.safetensors and <run>/config.json "
                + "(the preset and options given, with the model the file holds)."})
public final class ImportSupernetCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "the supernet (.pth or .safetensors)")
    Path file;

    @Mixin
    RunOptions opts;

    @Option(names = "--activations-only", description = "the file is a phase-a checkpoint (weights not quantized; "
            + "the reference names those model_actbin_*); by default weights are quantized, as after step 1")
    boolean activationsOnly;

    @Option(names = "--force", description = "replace a supernet already in the run directory")
    boolean force;

    @Override
    public Integer call() throws Exception {
        return PipelineCommands.guarded(() -> {
            RunConfig base = opts.config();
            SupernetImport.Given given = new SupernetImport.Given(opts.arch, opts.width, opts.divisor,
                    opts.resolution, opts.inChannels, opts.classes, opts.bits, opts.branches, opts.l2,
                    activationsOnly ? Boolean.FALSE : null);
            SupernetImport.Result r = SupernetImport.run(file, base, given, opts.runDir(base), force);
            r.report().forEach(System.out::println);
            return 0;
        });
    }
}
