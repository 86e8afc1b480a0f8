package io.basq4j.cli;

import io.basq4j.kernels.CpuKernels;
import io.basq4j.tensor.Backends;
import java.lang.management.ManagementFactory;
import org.bytedeco.javacpp.Loader;
import picocli.CommandLine.Command;

/** Prints what the native side loaded and runs with. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show the native libraries loaded, BLAS and OpenMP threads, and whether CUDA is usable.")
public final class InfoCommand implements Runnable {
    @Override
    public void run() {
        CpuKernels.load();
        System.out.println(new Main.Version().getVersion()[0]);
        System.out.println("java:            " + System.getProperty("java.vm.name") + " "
                + System.getProperty("java.version"));
        System.out.println("platform:        " + Loader.getPlatform() + ", "
                + Runtime.getRuntime().availableProcessors() + " cores");
        System.out.println("kernels:         " + CpuKernels.basq_version().getString());
        System.out.println("native libraries:");
        for (String lib : new String[] {"basq4j_cpu", "jniCpuKernels", "openblas", "gomp"}) {
            String path = loadedPath(lib);
            System.out.println("  " + lib + ": " + (path == null ? "(not loaded)" : path));
        }
        System.out.println("blas:            " + CpuKernels.basq_blas_config().getString());
        System.out.println("blas threads:    " + CpuKernels.basq_blas_num_threads());
        System.out.println("openmp threads:  " + CpuKernels.basq_num_threads());
        boolean cuda = Backends.cudaAvailable();
        System.out.println("cuda:            " + (cuda ? "usable" : "not usable (" + Backends.cudaProblem() + ")"));
        System.out.println("max heap:        " + ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getMax()
                / (1 << 20) + " MiB");
    }

    /** The file a library was loaded from, read off /proc/self/maps (null when not loaded). */
    static String loadedPath(String lib) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/maps"))) {
                int slash = line.indexOf('/');
                if (slash < 0) {
                    continue;
                }
                String path = line.substring(slash);
                String file = path.substring(path.lastIndexOf('/') + 1);
                // JavaCPP may load a library under a variant name (libopenblas_nolapack.so.0).
                if (file.startsWith("lib" + lib) && file.contains(".so")) {
                    return path;
                }
            }
        } catch (java.io.IOException e) {
            return null;
        }
        return null;
    }
}
