package io.basq4j.train;

import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The valid range of every numeric setting: one table, read in three places. The command line
 * checks each numeric option against it right after parsing (so {@code --batch 0} ends in one
 * line naming the option, its value and the range, before anything runs); {@link RunConfig#validate}
 * checks every {@link RunConfig} field it names; and {@link RunConfigFile} checks the values of a
 * run directory's {@code config.json} the same way.
 *
 * <p><b>Adding an option or a setting</b>: add one line to {@link #TABLE} with the option name
 * (as typed, e.g. {@code "--teacher-lr"}), the {@link RunConfig} field it sets (or null for an
 * option of one command only), and its range: {@link #ints} for whole numbers, {@link #reals}
 * for real numbers (NaN and infinities are always outside). Options of several commands that
 * share a name share the entry. {@code SettingRangesTest} fails while a numeric option of any
 * command, or a numeric field of {@link RunConfig}, has no entry here.
 */
public final class SettingRanges {
    private SettingRanges() {
    }

    /**
     * A valid range: whole numbers in [min, max], or real numbers between min and max (each end
     * open or closed). {@code note} explains a special value, e.g. "0: all".
     */
    public record Range(String option, String field, double min, boolean minOpen, double max, boolean maxOpen,
            boolean integral, String note) {

        public boolean contains(double v) {
            if (Double.isNaN(v) || Double.isInfinite(v) || (integral && v != Math.rint(v))) {
                return false;
            }
            return (minOpen ? v > min : v >= min) && (maxOpen ? v < max : v <= max);
        }

        /** e.g. "a whole number from 1 to 65536", "a number in [0, 1)", "a finite number > 0". */
        public String describe() {
            String s;
            if (integral) {
                boolean noMax = max >= Integer.MAX_VALUE;
                boolean noMin = min <= Integer.MIN_VALUE;
                s = noMin && noMax ? "any whole number"
                        : noMax ? "a whole number of at least " + num(min)
                        : "a whole number from " + num(min) + " to " + num(max);
            } else if (Double.isInfinite(max)) {
                s = "a finite number " + (minOpen ? "> " : ">= ") + num(min);
            } else {
                s = "a number in " + (minOpen ? "(" : "[") + num(min) + ", " + num(max) + (maxOpen ? ")" : "]");
            }
            return note == null ? s : s + " (" + note + ")";
        }

        private static String num(double v) {
            return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v)
                    : String.format(Locale.ROOT, "%s", v);
        }
    }

    /** Whole numbers from {@code min} to {@code max} (Integer.MAX_VALUE or more: no upper bound). */
    static Range ints(String option, String field, long min, long max, String note) {
        return new Range(option, field, min, false, max, false, true, note);
    }

    /** Real numbers between {@code min} and {@code max}; an infinite max means none. */
    static Range reals(String option, String field, double min, boolean minOpen, double max, boolean maxOpen,
            String note) {
        return new Range(option, field, min, minOpen, max, maxOpen, false, note);
    }

    private static final double INF = Double.POSITIVE_INFINITY;
    private static final long NO_MAX = Long.MAX_VALUE;

    /** The most kernel threads accepted: this many times the cores. */
    public static final int THREADS_PER_CORE = 4;

    /** The most kernel threads accepted on this machine. */
    public static int maxThreads() {
        return THREADS_PER_CORE * Runtime.getRuntime().availableProcessors();
    }

    /** Every numeric option and setting, by option name (the table this class is about). */
    public static final List<Range> TABLE = List.of(
            // data
            ints("--train-limit", "trainLimit", 0, NO_MAX, "0: all"),
            ints("--test-limit", "valLimit", 0, NO_MAX, "0: all"),
            ints("--val-split", "valSplit", 0, NO_MAX, "training examples held out for validation; at least 1 with --protocol holdout"),
            ints("--batch", "batch", 1, 65536, null),
            ints("--eval-batch", "evalBatch", 1, 65536, null),
            ints("--workers", "workers", 0, 1024, "0: decode on the calling thread"),
            // model
            reals("--width", "width", 0, true, 16, false, null),
            ints("--divisor", "divisor", 1, 1024, null),
            ints("--resolution", "resolution", 1, 8192, null),
            ints("--in-channels", "inChannels", 1, 1024, null),
            ints("--classes", "classes", 1, 1_000_000, null),
            ints("--bits", "bits", 2, 4, null),
            ints("--branches", "branches", 1, 64, null),
            reals("--l2", "l2", 0, false, INF, false, "each value"),
            reals("--dropout", "dropout", 0, false, 1, true, null),
            // step 1
            ints("--iters", "itersPerPhase", 1, 1_000_000_000, null),
            reals("--lr", "lr", 0, true, INF, false, null),
            reals(null, "convWeightDecay", 0, false, INF, false, null),
            reals(null, "gradClip", 0, true, INF, false, null),
            ints("--teacher-epochs", "teacherEpochs", 1, 100_000, null),
            reals(null, "teacherLr", 0, true, INF, false, null),
            ints("--checkpoint-every", "checkpointEvery", 0, 1_000_000_000, "0: only at the end of each phase"),
            ints("--log-every", "logEvery", 1, 1_000_000_000, null),
            ints("--max-iterations", null, 1, NO_MAX, null),
            // step 2
            ints("--folds", "folds", 1, 10_000, null),
            ints("--population", "population", 1, 1_000_000, null),
            ints("--parents", "parents", 1, 1_000_000, null),
            ints("--mutations", "mutations", 0, 1_000_000, null),
            ints("--crossovers", "crossovers", 0, 1_000_000, null),
            reals("--mutation-prob", "mutationProb", 0, false, 1, false, null),
            ints("--generations", "generations", 0, 100_000, null),
            // step 3
            ints("--finetune-epochs", "finetuneEpochs", 1, 100_000, null),
            ints("--finetune-batches", "finetuneBatches", 0, NO_MAX, "0: a full pass"),
            reals("--finetune-lr", "finetuneLr", 0, true, INF, false, null),
            reals(null, "finetuneMomentum", 0, false, 1, true, null),
            // run
            ints("--seed", "seed", Long.MIN_VALUE, NO_MAX, null),
            ints("--threads", "threads", 0, maxThreads(), "0: all cores; at most " + THREADS_PER_CORE
                    + " per core"),
            // options of single commands
            ints("--epochs", null, 1, 100_000, null),
            ints("--limit", null, 0, NO_MAX, "0: all"),
            ints("--top", null, 1, 1_000_000, null),
            ints("--count", null, 1, 100_000, null),
            ints("--steps", null, 1, 1_000_000, null),
            ints("--warmup", null, 0, 1_000_000, null),
            reals("--tolerance", null, 0, false, INF, false, null),
            reals("--factor", null, 0, false, INF, false, null));

    private static final Map<String, Range> BY_OPTION = new LinkedHashMap<>();
    private static final Map<String, Range> BY_FIELD = new LinkedHashMap<>();

    static {
        for (Range r : TABLE) {
            if (r.option() != null && BY_OPTION.put(r.option(), r) != null) {
                throw new ExceptionInInitializerError("two ranges for " + r.option());
            }
            if (r.field() != null && BY_FIELD.put(r.field(), r) != null) {
                throw new ExceptionInInitializerError("two ranges for field " + r.field());
            }
        }
    }

    /** The range of an option (e.g. "--batch"), or null when the table has none. */
    public static Range forOption(String option) {
        return BY_OPTION.get(option);
    }

    /** The range of a {@link RunConfig} field, or null when the table has none. */
    public static Range forField(String field) {
        return BY_FIELD.get(field);
    }

    /**
     * The problem with {@code value} (a number or an array of numbers) for {@code r}, as
     * "{@code <value> is outside the valid range: <range>}", or null when it is valid.
     */
    public static String problem(Range r, Object value) {
        if (value == null) {
            return null;
        }
        if (value.getClass().isArray()) {
            for (int i = 0; i < Array.getLength(value); i++) {
                String p = problem(r, Array.get(value, i));
                if (p != null) {
                    return p;
                }
            }
            return null;
        }
        if (!(value instanceof Number n)) {
            return null;
        }
        boolean ok = value instanceof Long l ? longInRange(r, l) : r.contains(n.doubleValue());
        return ok ? null : value + " is outside the valid range: " + r.describe();
    }

    private static boolean longInRange(Range r, long v) {
        // exact for longs beyond 2^53, where doubles would round
        return (r.min() <= Long.MIN_VALUE || v >= (long) r.min()) && (r.max() >= Long.MAX_VALUE || v <= (long) r.max());
    }

    /** The one-line error for option {@code option} given {@code value}, or null when valid or unknown. */
    public static String checkOption(String option, Object value) {
        return checkOption(option, value, null);
    }

    /** As {@link #checkOption(String, Object)}, showing {@code typed} (the text given) for a single value. */
    public static String checkOption(String option, Object value, String typed) {
        Range r = forOption(option);
        String p = r == null ? null : problem(r, value);
        if (p == null) {
            return null;
        }
        if (typed != null && !value.getClass().isArray()) {
            p = typed + p.substring(String.valueOf(value).length());
        }
        return option + " " + p;
    }

    /**
     * Checks every field of {@code c} that the table names.
     *
     * @param source where the values come from (e.g. "runs/x/config.json"), or null
     * @throws IllegalArgumentException with one line naming the setting, its value and the range
     */
    public static void check(RunConfig c, String source) {
        for (Range r : TABLE) {
            if (r.field() == null) {
                continue;
            }
            Object v;
            try {
                Field f = RunConfig.class.getField(r.field());
                v = f.get(c);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("SettingRanges names RunConfig." + r.field() + ", which does not exist");
            }
            String p = problem(r, v);
            if (p != null) {
                String name = source == null ? (r.option() != null ? r.option() : r.field())
                        : r.field() + (r.option() != null ? " (" + r.option() + ")" : "");
                throw new IllegalArgumentException((source == null ? "" : source + ": ") + name + " " + p);
            }
        }
    }
}
