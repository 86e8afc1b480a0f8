package io.basq4j.kernels;

import java.util.Locale;
import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;

/**
 * Timing harness for the conv kernels (not a test): ms per call of fwd, bwd_data and
 * bwd_filter at batch 64 on the shapes of MobileNet-v2 (width 1.0, 32x32 input) and of a
 * CIFAR ResNet, plus the linear layer. Each figure is the best of 5 windows of at least 60 ms.
 *
 * <pre>
 * mvn -q process-classes test-compile
 * java -cp target/classes:target/test-classes:$(cat target/cp.txt) io.basq4j.kernels.ConvTiming [filter] [batch]
 * </pre>
 */
public final class ConvTiming {
    private ConvTiming() {
    }

    /** name, Cin, H, W, Cout, K, stride, pad, groups. */
    private record Shape(String name, int Cin, int H, int W, int Cout, int K, int s, int p, int G) {
    }

    private static final Shape[] SHAPES = {
            new Shape("stem 3->32 32x32 s2", 3, 32, 32, 32, 3, 2, 1, 1),
            new Shape("pw 32->16 16x16", 32, 16, 16, 16, 1, 1, 0, 1),
            new Shape("pw 16->96 16x16", 16, 16, 16, 96, 1, 1, 0, 1),
            new Shape("pw 96->24 8x8", 96, 8, 8, 24, 1, 1, 0, 1),
            new Shape("pw 24->144 8x8", 24, 8, 8, 144, 1, 1, 0, 1),
            new Shape("pw 144->32 4x4", 144, 4, 4, 32, 1, 1, 0, 1),
            new Shape("pw 32->192 4x4", 32, 4, 4, 192, 1, 1, 0, 1),
            new Shape("pw 384->64 2x2", 384, 2, 2, 64, 1, 1, 0, 1),
            new Shape("pw 64->384 2x2", 64, 2, 2, 384, 1, 1, 0, 1),
            new Shape("pw 576->160 1x1", 576, 1, 1, 160, 1, 1, 0, 1),
            new Shape("pw 320->1280 1x1", 320, 1, 1, 1280, 1, 1, 0, 1),
            new Shape("dw 32 16x16 s1", 32, 16, 16, 32, 3, 1, 1, 32),
            new Shape("dw 96 16x16 s2", 96, 16, 16, 96, 3, 2, 1, 96),
            new Shape("dw 144 8x8 s1", 144, 8, 8, 144, 3, 1, 1, 144),
            new Shape("dw 144 8x8 s2", 144, 8, 8, 144, 3, 2, 1, 144),
            new Shape("dw 192 4x4 s1", 192, 4, 4, 192, 3, 1, 1, 192),
            new Shape("dw 384 2x2 s1", 384, 2, 2, 384, 3, 1, 1, 384),
            new Shape("dw 576 2x2 s2", 576, 2, 2, 576, 3, 2, 1, 576),
            new Shape("dw 960 1x1 s1", 960, 1, 1, 960, 3, 1, 1, 960),
            new Shape("res 64->64 32x32", 64, 32, 32, 64, 3, 1, 1, 1),
            new Shape("res 64->128 32x32 s2", 64, 32, 32, 128, 3, 2, 1, 1),
            new Shape("res 128->128 16x16", 128, 16, 16, 128, 3, 1, 1, 1),
            new Shape("res 256->256 8x8", 256, 8, 8, 256, 3, 1, 1, 1),
            new Shape("res 512->512 4x4", 512, 4, 4, 512, 3, 1, 1, 1),
            new Shape("grp 64->64 16x16 g4", 64, 16, 16, 64, 3, 1, 1, 4),
    };

    @FunctionalInterface
    private interface Call {
        int run();
    }

    private static double bestMs(Call c) {
        check(c.run());
        check(c.run());
        double best = Double.MAX_VALUE;
        for (int k = 0; k < 5; k++) {
            long t0 = System.nanoTime();
            int reps = 0;
            do {
                check(c.run());
                reps++;
            } while (System.nanoTime() - t0 < 60_000_000L || reps < 2);
            best = Math.min(best, (System.nanoTime() - t0) / 1e6 / reps);
        }
        return best;
    }

    private static void check(int code) {
        if (code != CpuKernels.OK) throw new IllegalStateException("kernel returned " + code);
    }

    private static FloatPointer random(Random rnd, long n) {
        FloatPointer p = new FloatPointer(Math.max(1, n));
        for (long i = 0; i < n; i++) p.put(i, (float) rnd.nextGaussian());
        return p;
    }

    public static void main(String[] args) {
        String filter = args.length > 0 ? args[0] : "";
        int N = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        CpuKernels.load();
        System.out.printf(Locale.ROOT, "batch %d, OpenMP threads %d, BLAS threads %d, %s%n", N,
                CpuKernels.basq_num_threads(), CpuKernels.basq_blas_num_threads(),
                CpuKernels.basq_blas_config().getString());
        System.out.printf(Locale.ROOT, "%-22s %9s %9s %9s  %s%n", "shape", "fwd ms", "bwd_data", "bwd_filt",
                "GFLOP/s fwd/bd/bf, workspace floats");
        Random rnd = new Random(1);
        for (Shape s : SHAPES) {
            if (!s.name.contains(filter)) continue;
            int Ho = (s.H + 2 * s.p - s.K) / s.s + 1, Wo = (s.W + 2 * s.p - s.K) / s.s + 1;
            long nx = (long) N * s.Cin * s.H * s.W, ny = (long) N * s.Cout * Ho * Wo,
                    nw = (long) s.Cout * (s.Cin / s.G) * s.K * s.K;
            long wsn = CpuKernels.basq_conv2d_workspace_floats(N, s.Cin, s.H, s.W, s.Cout, s.K, s.K, s.s, s.s, s.p,
                    s.p, s.G);
            try (FloatPointer x = random(rnd, nx); FloatPointer w = random(rnd, nw); FloatPointer dy = random(rnd, ny);
                    FloatPointer y = new FloatPointer(ny); FloatPointer dx = new FloatPointer(nx);
                    FloatPointer dw = new FloatPointer(nw); FloatPointer ws = new FloatPointer(Math.max(1, wsn))) {
                double f = bestMs(() -> CpuKernels.basq_conv2d_fwd(x, w, y, ws, N, s.Cin, s.H, s.W, s.Cout, s.K, s.K,
                        s.s, s.s, s.p, s.p, s.G));
                double bd = bestMs(() -> CpuKernels.basq_conv2d_bwd_data(dy, w, dx, ws, N, s.Cin, s.H, s.W, s.Cout,
                        s.K, s.K, s.s, s.s, s.p, s.p, s.G));
                double bf = bestMs(() -> CpuKernels.basq_conv2d_bwd_filter(x, dy, dw, ws, N, s.Cin, s.H, s.W,
                        s.Cout, s.K, s.K, s.s, s.s, s.p, s.p, s.G));
                double gflop = 2.0 * ny * (s.Cin / s.G) * s.K * s.K / 1e9;
                System.out.printf(Locale.ROOT, "%-22s %9.3f %9.3f %9.3f  %.0f/%.0f/%.0f, %d%n", s.name, f, bd, bf,
                        gflop / f * 1e3, gflop / bd * 1e3, gflop / bf * 1e3, wsn);
            }
        }
        if ("linear".contains(filter) || filter.isEmpty()) {
            int IN = 1280, OUT = 100;
            try (FloatPointer x = random(rnd, (long) N * IN); FloatPointer w = random(rnd, (long) OUT * IN);
                    FloatPointer b = random(rnd, OUT); FloatPointer dy = random(rnd, (long) N * OUT);
                    FloatPointer y = new FloatPointer((long) N * OUT);
                    FloatPointer dx = new FloatPointer((long) N * IN);
                    FloatPointer dw = new FloatPointer((long) OUT * IN); FloatPointer db = new FloatPointer(OUT)) {
                double f = bestMs(() -> CpuKernels.basq_linear_fwd(x, w, b, y, N, IN, OUT));
                double bw = bestMs(() -> CpuKernels.basq_linear_bwd(x, w, dy, dx, dw, db, N, IN, OUT));
                System.out.printf(Locale.ROOT, "%-22s %9.3f %9.3f (bwd: dx, dw, db)%n", "linear 1280->100", f, bw);
            }
        }
    }
}
