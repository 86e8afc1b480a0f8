package io.basq4j.cuda;

import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;

import io.basq4j.tensor.Backend;
import io.basq4j.tensor.Backends;
import io.basq4j.tensor.ConvGeom;
import io.basq4j.tensor.CudaBackend;
import io.basq4j.tensor.CudaMath;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.TreeSet;

/**
 * The first thing bench/gpu/run-on-device.sh runs on a GPU machine: is the CUDA backend usable,
 * which device, driver, runtime and cuDNN, and do cuDNN and cuBLAS load from the machine's
 * libraries and compute a small convolution and matrix product as the CPU does. Prints one line
 * per fact, the library files loaded last. Exit status: 0 usable, 3 no usable CUDA (the line
 * says why), 4 CUDA usable but cuDNN or cuBLAS failed.
 *
 * <pre>java -cp ... io.basq4j.cuda.CudaProbe</pre>
 */
public final class CudaProbe {
    private CudaProbe() {
    }

    public static void main(String[] args) {
        System.out.println("java:     " + System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
        if (!Backends.cudaAvailable()) {
            System.out.println("cuda:     not usable (" + Backends.cudaProblem() + ")");
            System.exit(3);
        }
        CudaBackend gpu = (CudaBackend) Backends.cuda();
        int[] rt = {0};
        int[] drv = {0};
        cudaRuntimeGetVersion(rt);
        cudaDriverGetVersion(drv);
        System.out.println("cuda:     usable, " + gpu.deviceName() + "; runtime " + version(rt[0]) + ", driver API "
                + version(drv[0]));
        System.out.println("kernels:  " + gpu.kernelVersion());
        System.out.println("math:     " + CudaMath.describe());
        int rc = 0;
        try {
            System.out.println("cudnn:    " + org.bytedeco.cuda.global.cudnn.cudnnGetVersion() + ", convolution "
                    + convolution(gpu));
        } catch (Throwable t) {
            System.out.println("cudnn:    FAILED: " + t);
            rc = 4;
        }
        try {
            System.out.println("cublas:   linear " + linear(gpu));
        } catch (Throwable t) {
            System.out.println("cublas:   FAILED: " + t);
            rc = 4;
        }
        System.out.println("loaded:");
        for (String lib : loaded()) {
            System.out.println("  " + lib);
        }
        System.exit(rc);
    }

    private static String version(int v) {
        return v / 1000 + "." + (v % 1000) / 10;
    }

    /** A 3x3 convolution forward on both devices: the largest difference relative to max|y|. */
    private static String convolution(CudaBackend gpu) {
        Backend cpu = Backends.cpu();
        ConvGeom g = new ConvGeom(2, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1);
        Random r = new Random(1);
        float[] x = CudaTestSupport.randn(r, 2 * 8 * 12 * 12);
        float[] w = CudaTestSupport.randn(r, 16 * 8 * 9, 0.2, 0);
        try (Scope s = Scope.open(); CudaMath.Scope p = CudaMath.parity()) {
            Tensor yc = Tensor.empty(Device.CPU, 2, 16, 12, 12);
            Tensor yg = Tensor.empty(Device.CUDA, 2, 16, 12, 12);
            cpu.conv2d(Tensor.of(Device.CPU, x, 2, 8, 12, 12), Tensor.of(Device.CPU, w, 16, 8, 3, 3), yc, g);
            gpu.conv2d(Tensor.of(Device.CUDA, x, 2, 8, 12, 12), Tensor.of(Device.CUDA, w, 16, 8, 3, 3), yg, g);
            return "ok, max|diff|/max|y| " + relDiff(yc.toFloatArray(), yg.toFloatArray());
        }
    }

    private static String linear(CudaBackend gpu) {
        Backend cpu = Backends.cpu();
        Random r = new Random(2);
        float[] x = CudaTestSupport.randn(r, 4 * 33);
        float[] w = CudaTestSupport.randn(r, 10 * 33);
        try (Scope s = Scope.open()) {
            Tensor yc = Tensor.empty(Device.CPU, 4, 10);
            Tensor yg = Tensor.empty(Device.CUDA, 4, 10);
            cpu.linear(Tensor.of(Device.CPU, x, 4, 33), Tensor.of(Device.CPU, w, 10, 33), null, yc);
            gpu.linear(Tensor.of(Device.CUDA, x, 4, 33), Tensor.of(Device.CUDA, w, 10, 33), null, yg);
            return "ok, max|diff|/max|y| " + relDiff(yc.toFloatArray(), yg.toFloatArray());
        }
    }

    private static String relDiff(float[] e, float[] a) {
        double m = 0;
        double d = 0;
        for (int i = 0; i < e.length; i++) {
            m = Math.max(m, Math.abs(e[i]));
            d = Math.max(d, Math.abs((double) e[i] - a[i]));
        }
        return String.format(java.util.Locale.ROOT, "%.2e", d / Math.max(m, 1e-30));
    }

    /** CUDA library files mapped into this process (from /proc/self/maps). */
    private static TreeSet<String> loaded() {
        TreeSet<String> out = new TreeSet<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int slash = line.indexOf('/');
                if (slash < 0) {
                    continue;
                }
                String path = line.substring(slash);
                String file = path.substring(path.lastIndexOf('/') + 1);
                if (file.matches("lib(cuda|cudart|cublas|cublasLt|cudnn.*|nvrtc.*|jnicu.*|basq4j_cuda)\\.so.*")) {
                    out.add(path);
                }
            }
        } catch (IOException e) {
            out.add("(cannot read /proc/self/maps: " + e.getMessage() + ")");
        }
        return out;
    }
}
