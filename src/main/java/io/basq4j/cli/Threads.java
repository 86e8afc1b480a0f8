package io.basq4j.cli;

import io.basq4j.kernels.CpuKernels;
import java.io.PrintStream;

/** Applies a --threads value to the kernels and BLAS, warning above the core count. */
final class Threads {
    private Threads() {
    }

    /** Sets {@code n} kernel and BLAS threads (null or 0: leave the default, all cores). */
    static void apply(Integer n, PrintStream err) {
        if (n == null || n == 0) {
            return;
        }
        int cores = Runtime.getRuntime().availableProcessors();
        if (n > cores) {
            err.println("warning: --threads " + n + " is more than the " + cores + " cores here; past the core count "
                    + "the kernels only slow down");
        }
        CpuKernels.basq_set_num_threads(n);
        CpuKernels.basq_blas_set_num_threads(n);
    }
}
