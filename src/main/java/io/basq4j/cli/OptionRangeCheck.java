package io.basq4j.cli;

import io.basq4j.train.SettingRanges;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * Checks every numeric option given on the command line against {@link SettingRanges} right
 * after parsing, before the command runs: {@code --batch 0} ends in one line naming the option,
 * its value and the valid range (exit status 2). A new numeric option gets its range by a line
 * in {@link SettingRanges#TABLE}; nothing here needs to change.
 */
final class OptionRangeCheck {
    private OptionRangeCheck() {
    }

    /** Throws a {@link CommandLine.ParameterException} for the first option outside its range. */
    static void check(ParseResult pr) {
        for (ParseResult p = pr; p != null; p = p.subcommand()) {
            for (OptionSpec o : p.matchedOptions()) {
                java.util.List<String> typed = o.originalStringValues();
                String problem = SettingRanges.checkOption(o.longestName(), o.getValue(),
                        typed.isEmpty() ? null : typed.get(typed.size() - 1));
                if (problem != null) {
                    throw new CommandLine.ParameterException(p.commandSpec().commandLine(), problem);
                }
            }
        }
    }

    /** The execution strategy of the basq4j command line: the range check, then picocli's usual one. */
    static CommandLine.IExecutionStrategy strategy() {
        return parseResult -> {
            check(parseResult);
            return new CommandLine.RunLast().execute(parseResult);
        };
    }
}
