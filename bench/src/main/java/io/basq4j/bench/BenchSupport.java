package io.basq4j.bench;

import io.basq4j.kernels.CpuKernels;
import io.basq4j.kernels.Kernels;
import java.util.Random;
import org.bytedeco.javacpp.FloatPointer;

/** Off-heap buffers for the kernel benchmarks and the thread setting shared by all of them. */
final class BenchSupport {
    private BenchSupport() {
    }

    /**
     * Kernel and BLAS threads: the system property {@code basq4j.threads} when set (pass it with
     * {@code -jvmArgs -Dbasq4j.threads=N}), else the library's default (all cores).
     */
    static void threads() {
        CpuKernels.load();
        String t = System.getProperty("basq4j.threads");
        if (t != null && !t.isEmpty()) {
            int n = Integer.parseInt(t);
            CpuKernels.basq_set_num_threads(n);
            CpuKernels.basq_blas_set_num_threads(n);
        }
    }

    /** n floats drawn from N(shift, scale^2). */
    static FloatPointer random(long n, long seed, double scale, double shift) {
        FloatPointer p = new FloatPointer(n);
        Random r = new Random(seed);
        float[] chunk = new float[(int) Math.min(n, 1 << 16)];
        for (long off = 0; off < n; off += chunk.length) {
            int len = (int) Math.min(chunk.length, n - off);
            for (int i = 0; i < len; i++) {
                chunk[i] = (float) (r.nextGaussian() * scale + shift);
            }
            p.position(off).put(chunk, 0, len);
        }
        return p.position(0);
    }

    /** n floats uniform in [lo, hi). */
    static FloatPointer uniform(long n, long seed, double lo, double hi) {
        FloatPointer p = new FloatPointer(n);
        Random r = new Random(seed);
        for (long i = 0; i < n; i++) {
            p.put(i, (float) (lo + (hi - lo) * r.nextDouble()));
        }
        return p;
    }

    static FloatPointer full(long n, float v) {
        FloatPointer p = new FloatPointer(n);
        for (long i = 0; i < n; i++) {
            p.put(i, v);
        }
        return p;
    }

    /** "64x96x16x16" to {64, 96, 16, 16}. */
    static int[] dims(String shape) {
        String[] parts = shape.split("x");
        int[] d = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            d[i] = Integer.parseInt(parts[i].trim());
        }
        return d;
    }

    static void check(int code, String what) {
        Kernels.check(code, what);
    }

    static void close(AutoCloseable... cs) {
        for (AutoCloseable c : cs) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }
}
