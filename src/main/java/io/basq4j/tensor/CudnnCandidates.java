package io.basq4j.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.ToIntFunction;

/**
 * The choice of a cuDNN convolution algorithm, without cuDNN: which entries of cuDNN's ranked
 * list (cudnnGetConvolution*Algorithm_v7) a convolution may try, in which order, and the walk
 * down that list that moves on when an algorithm turns out not to run (NOT_SUPPORTED, a
 * workspace it cannot get) and stops at any other failure. {@link CudaDnn} runs it against
 * cuDNN; the tests run it against made-up lists.
 */
public final class CudnnCandidates {
    /** Directions (CudaDnn's). */
    public static final int FWD = 0, BWD_DATA = 1, BWD_FILTER = 2;

    // cudnn.h's values (cuDNN 9), kept here so that this class loads without the CUDA presets.
    static final int STATUS_SUCCESS = 0;
    static final int STATUS_NOT_SUPPORTED = 3000; // 3000-3999: NOT_SUPPORTED and its sub-codes
    static final int STATUS_ALLOC_FAILED = 4003; // = INTERNAL_ERROR_HOST_ALLOCATION_FAILED
    static final int STATUS_DEVICE_ALLOCATION_FAILED = 4004;
    static final int MATH_DEFAULT = 0, MATH_TENSOR_OP = 1, MATH_TENSOR_OP_ALLOW_CONVERSION = 2, MATH_FMA = 3;

    private static final String[][] NAMES = {
        {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING", "WINOGRAD",
            "WINOGRAD_NONFUSED"},
        {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"},
        {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"}};
    private static final String[] DIR_NAMES = {"forward", "backward data", "backward filter"};

    // The implicit-GEMM family of each direction: sums of products without a transform
    // (forward: IMPLICIT_GEMM, IMPLICIT_PRECOMP_GEMM; backward data: ALGO_0, ALGO_1; backward
    // filter: ALGO_0, ALGO_1, ALGO_3). Their float32 error is that of a direct sum.
    private static final boolean[][] DIRECT_SUM = {
        {true, true, false, false, false, false, false, false},
        {true, true, false, false, false, false},
        {true, true, false, true, false, false, false}};

    // cuDNN's documented determinism of each algorithm (for entries the ranking did not list):
    // backward ALGO_0 (and filter ALGO_3) sum with atomics.
    private static final boolean[][] DETERMINISTIC = {
        {true, true, true, true, true, true, true, true},
        {false, true, true, true, true, true},
        {false, true, true, false, true, true, true}};

    private CudnnCandidates() {
    }

    /** One entry of cuDNN's ranked list: the algorithm, its status, determinism, math type and workspace. */
    public record Candidate(int algo, int status, boolean deterministic, int math, long memory) {
    }

    /** A workspace the algorithm would need but cannot have: move on to the next candidate. */
    public static final class WorkspaceUnavailable extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public WorkspaceUnavailable(String message) {
            super(message, null, false, false);
        }
    }

    /** "forward", "backward data", "backward filter". */
    public static String direction(int dir) {
        return DIR_NAMES[dir];
    }

    /** cuDNN's name of an algorithm without its prefix, e.g. "IMPLICIT_PRECOMP_GEMM" or "ALGO_1". */
    public static String name(int dir, int algo) {
        String[] n = NAMES[dir];
        return algo >= 0 && algo < n.length ? n[algo] : "algorithm " + algo;
    }

    /** FMA, TENSOR_OP, ... of a cudnnMathType_t. */
    public static String mathName(int math) {
        return switch (math) {
            case MATH_DEFAULT -> "DEFAULT_MATH";
            case MATH_TENSOR_OP -> "TENSOR_OP_MATH";
            case MATH_TENSOR_OP_ALLOW_CONVERSION -> "TENSOR_OP_MATH_ALLOW_CONVERSION";
            case MATH_FMA -> "FMA_MATH";
            default -> "math " + math;
        };
    }

    /** Whether the algorithm's float32 error is that of a direct sum (the implicit-GEMM family). */
    public static boolean directSum(int dir, int algo) {
        return algo >= 0 && algo < DIRECT_SUM[dir].length && DIRECT_SUM[dir][algo];
    }

    /**
     * The candidates to try, in cuDNN's order: those it reports as supported, whose math is
     * allowed (any with TF32; without, FMA_MATH or DEFAULT_MATH, which then run with FMA_MATH set),
     * deterministic when asked, within the workspace limit, and of the implicit-GEMM family when
     * {@code directSumOnly}. In that mode the family's members that the ranking left out are
     * appended (they run everywhere; a workspace query decides). Each entry left out gets a line in
     * {@code skipped} (may be null).
     */
    public static List<Candidate> usable(int dir, List<Candidate> ranked, boolean tf32, boolean deterministic,
            boolean directSumOnly, long workspaceLimit, List<String> skipped) {
        List<Candidate> out = new ArrayList<>();
        int count = NAMES[dir].length;
        boolean[] listed = new boolean[count];
        boolean[] taken = new boolean[count];
        for (Candidate c : ranked) {
            boolean known = c.algo() >= 0 && c.algo() < count;
            if (known) {
                listed[c.algo()] = true;
            }
            String why = null;
            if (known && taken[c.algo()]) {
                continue; // listed again with another math type: the first usable entry counts
            } else if (c.status() != STATUS_SUCCESS) {
                why = "not supported here (status " + c.status() + ")";
            } else if (directSumOnly && !directSum(dir, c.algo())) {
                why = "not a direct sum (direct-sum mode)";
            } else if (deterministic && !c.deterministic()) {
                why = "not deterministic";
            } else if (!tf32 && c.math() != MATH_FMA && c.math() != MATH_DEFAULT) {
                why = mathName(c.math()) + " without TF32";
            } else if (c.memory() > workspaceLimit) {
                why = "needs " + mib(c.memory()) + " of workspace (limit " + mib(workspaceLimit) + ")";
            }
            if (why == null) {
                out.add(c);
                if (known) {
                    taken[c.algo()] = true;
                }
            } else if (skipped != null) {
                skipped.add(name(dir, c.algo()) + ": " + why);
            }
        }
        if (directSumOnly) {
            for (int a = 0; a < count; a++) {
                if (!listed[a] && directSum(dir, a) && (!deterministic || DETERMINISTIC[dir][a])) {
                    out.add(new Candidate(a, STATUS_SUCCESS, DETERMINISTIC[dir][a], tf32 ? MATH_DEFAULT : MATH_FMA,
                            0));
                }
            }
        }
        return out;
    }

    /** Whether a cuDNN status from an algorithm's workspace query or run means "try the next one". */
    public static boolean fallsBack(int status) {
        return (status >= STATUS_NOT_SUPPORTED && status < STATUS_NOT_SUPPORTED + 1000)
                || status == STATUS_ALLOC_FAILED || status == STATUS_DEVICE_ALLOCATION_FAILED;
    }

    /** The chosen candidate, its place in the list, and the attempts that failed before it. */
    public record Choice(Candidate candidate, int index, List<String> failed) {
    }

    /**
     * Tries the candidates in order until one runs: {@code attempt} runs a candidate and returns
     * its cuDNN status, or throws {@link WorkspaceUnavailable} or OutOfMemoryError when its
     * workspace cannot be had. Moves on after those and after {@link #fallsBack} statuses; any
     * other failure ends the walk with an IllegalStateException naming the algorithm. {@code what}
     * names the operation in messages; {@code status} describes a status code.
     */
    public static Choice walk(int dir, List<Candidate> candidates, ToIntFunction<Candidate> attempt, String what,
            IntFunction<String> status, List<String> skipped) {
        List<String> failed = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
            Candidate c = candidates.get(i);
            String algo = name(dir, c.algo());
            int st;
            try {
                st = attempt.applyAsInt(c);
            } catch (WorkspaceUnavailable | OutOfMemoryError e) {
                failed.add(algo + ": workspace: " + e.getMessage());
                continue;
            }
            if (st == STATUS_SUCCESS) {
                return new Choice(c, i, failed);
            }
            if (!fallsBack(st)) {
                throw new IllegalStateException(what + " with algorithm " + algo + " (" + mathName(c.math())
                        + ") failed: " + status.apply(st) + hint(st));
            }
            failed.add(algo + ": " + status.apply(st));
        }
        List<String> all = new ArrayList<>(failed);
        if (skipped != null) {
            all.addAll(skipped);
        }
        throw new IllegalStateException(what + ": no cuDNN algorithm runs"
                + (all.isEmpty() ? " (cuDNN offered none)" : " (" + String.join("; ", all) + ")"));
    }

    /** A hint for failures that an earlier kernel's asynchronous fault can cause. */
    static String hint(int status) {
        return status >= 5000 && status < 6000 ? " (this is also how an asynchronous fault of an earlier kernel "
                + "surfaces: rerun with CUDA_LAUNCH_BLOCKING=1 to name the kernel that faulted)" : "";
    }

    static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
