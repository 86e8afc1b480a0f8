package io.basq4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA kernels without a GPU: bench/gpu/emu/run.sh compiles src/main/cuda as C++ against
 * a host emulation of the CUDA subset they use (one host thread per CUDA thread, real
 * barriers and warp shuffles) and checks every kernel against its CPU twin. This pins down
 * indexing, partitions, reductions and barrier placement on every machine; what only a GPU
 * shows (speed, the device math library, launch limits of real hardware) is CudaOpsTest's.
 * Needs g++ and the source tree (skipped otherwise, e.g. when run from the jars on a GPU box).
 */
@Tag("slow")
class CudaEmulationTest {

    @Test
    void everyKernelMatchesTheCpuUnderEmulation() throws Exception {
        Path root = Path.of(System.getProperty("user.dir"));
        Path script = root.resolve("bench/gpu/emu/run.sh");
        assumeTrue(Files.exists(script), "no source tree here (" + script + " missing)");
        assumeTrue(onPath("g++"), "g++ not on the PATH");
        Path log = root.resolve("target/cuda-emu/emu-check.log");
        Files.createDirectories(log.getParent());
        Process p = new ProcessBuilder("bash", script.toString(), root.resolve("target/cuda-emu").toString())
                .directory(root.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        boolean done = p.waitFor(15, TimeUnit.MINUTES);
        if (!done) {
            p.destroyForcibly();
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertTrue(done, "emulation check did not finish in 15 minutes; log " + log);
        String tail = out.length() > 4000 ? out.substring(out.length() - 4000) : out;
        assertEquals(0, p.exitValue(), () -> "emulation check failed (log " + log + "):\n" + tail);
        assertTrue(out.contains(" passed, 0 failed"), () -> "no passing summary:\n" + tail);
        String summary = out.lines().filter(l -> l.startsWith("emu-check:")).findFirst().orElse("?");
        System.out.println("CUDA kernels under emulation agree with the CPU (" + summary.replace("emu-check: ", "")
                + ")");
    }

    private static boolean onPath(String exe) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (new File(dir, exe).canExecute()) {
                return true;
            }
        }
        return false;
    }
}
