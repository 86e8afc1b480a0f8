package io.basq4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The basq4j command line. Errors a user can cause end in one line on stderr (exit status 2
 * for usage errors, 1 for failures) without a stack trace; {@code BASQ4J_DEBUG=1} or
 * {@code --debug} shows it.
 */
@Command(name = "basq4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "BASQ sub-4-bit quantization (ECCV 2022) on the JVM.",
        subcommands = {InfoCommand.class, ModelsCommand.class, ParityCommand.class,
            PipelineCommands.Pipeline.class, PipelineCommands.TrainSupernet.class, PipelineCommands.Search.class,
            PipelineCommands.Finetune.class, PipelineCommands.TrainFp.class, PipelineCommands.RandomArchs.class,
            ImportSupernetCommand.class,
            ModelCommands.Evaluate.class, ModelCommands.Predict.class,
            BenchCommand.class,
            ExportCommand.class,
            CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit status (for tests and embedding). */
    public static int run(String... args) {
        CommandLine cl = commandLine();
        return cl.execute(args);
    }

    static boolean debug() {
        return "1".equals(System.getenv("BASQ4J_DEBUG")) || Boolean.getBoolean("basq4j.debug");
    }

    /** The configured picocli command line (subcommands, error handling). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionStrategy(OptionRangeCheck.strategy());
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (debug()) {
                ex.printStackTrace();
            }
            commandLine.getErr().println("error: " + UserError.message(ex));
            return ex instanceof UserError ue ? ue.exitCode() : 1;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println("error: " + ex.getMessage());
            c.getErr().println("Try '" + c.getCommandSpec().qualifiedName() + " --help' for the valid options.");
            return 2;
        });
        return cl;
    }

    /** Version from the jar manifest (or the development version). */
    public static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"basq4j " + (v == null ? "0.1.0-SNAPSHOT (classes)" : v)};
        }
    }
}
