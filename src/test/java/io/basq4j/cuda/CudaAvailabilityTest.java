package io.basq4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.F;
import io.basq4j.tensor.Backends;
import io.basq4j.tensor.CudaBackend;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.List;
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
    void aUsableGpuComputesAndAnUnusableOneSaysWhy() {
        if (Backends.cudaAvailable()) {
            // a GPU: one element-wise kernel on it gives the CPU's exact result
            int n = 1000;
            float[] a = new float[n];
            float[] b = new float[n];
            java.util.Random r = new java.util.Random(3);
            for (int i = 0; i < n; i++) {
                a[i] = (float) r.nextGaussian();
                b[i] = (float) r.nextGaussian();
            }
            try (Scope s = Scope.open()) {
                float[] gpu = F.relu(F.add(Tensor.of(Device.CUDA, a, n), Tensor.of(Device.CUDA, b, n))).toFloatArray();
                float[] cpu = F.relu(F.add(Tensor.of(Device.CPU, a, n), Tensor.of(Device.CPU, b, n))).toFloatArray();
                assertArrayEquals(cpu, gpu);
            }
            return;
        }
        String why = Backends.cudaProblem();
        // A machine without the kernel driver's device nodes (CI, the developers' machines, whether or
        // not a libcuda is installed): the reason names the cause, not a raw loader message.
        boolean deviceNodes = new java.io.File("/dev/nvidiactl").exists();
        List<String> causes = deviceNodes
                ? List.of("no NVIDIA driver", "no CUDA kernels", "no CUDA backend", "no CUDA device",
                        "driver is older", "cudaGetDeviceCount failed", "did not load: ")
                : List.of("no NVIDIA driver", "no CUDA kernels", "no CUDA backend", "no CUDA device",
                        "driver is older", "cudaGetDeviceCount failed");
        assertTrue(causes.stream().anyMatch(why::contains), why);
    }
}
