package io.basq4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.tensor.Backends;
import io.basq4j.tensor.CudaBackend;
import io.basq4j.tensor.Device;
import org.junit.jupiter.api.Test;

/**
 * Runs everywhere. Without a usable GPU (CI, the developers' machines): the CUDA backend is
 * reported absent with a one-line reason, nothing crashes, and "auto" picks the CPU. With one:
 * the backend is there and says which device it runs on.
 */
class CudaAvailabilityTest {

    @Test
    void probingCudaNeverThrowsAndExplainsItself() {
        boolean ok = Backends.cudaAvailable();
        assertEquals(ok, Backends.cudaAvailable(), "the answer is stable");
        if (ok) {
            assertNull(Backends.cudaProblem());
            CudaBackend b = (CudaBackend) Backends.cuda();
            assertTrue(b.available());
            assertNotNull(b.deviceName());
            assertTrue(b.kernelVersion().startsWith("basq4j-cuda"), b.kernelVersion());
            assertEquals(Device.CUDA, Device.parse("auto"));
            return;
        }
        String why = Backends.cudaProblem();
        assertNotNull(why, "an absent backend says why");
        assertFalse(why.isBlank(), "an absent backend says why");
        assertFalse(why.contains("\n") || why.contains("\r"), () -> "one line, got: " + why);
        assertTrue(why.length() < 300, () -> "a short line, got: " + why);
        System.out.println("CUDA not usable here: " + why);
        assertEquals(Device.CPU, Device.parse("auto"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Backends.get(Device.CUDA));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    @Test
    void withoutADriverTheReasonNamesIt() {
        // This machine kind (CI, developers) has no NVIDIA driver: the reason must say so
        // rather than show a raw linker message. Where a driver exists the check does not apply.
        boolean driver = new java.io.File("/dev/nvidiactl").exists() || libcudaInLdCache();
        if (Backends.cudaAvailable() || driver) {
            return;
        }
        String why = Backends.cudaProblem();
        assertTrue(why.contains("no NVIDIA driver") || why.contains("no CUDA kernels"), why);
    }

    private static boolean libcudaInLdCache() {
        try {
            Process p = new ProcessBuilder("/sbin/ldconfig", "-p").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor();
            return out.contains("libcuda.so.1");
        } catch (Exception e) {
            return false;
        }
    }
}
