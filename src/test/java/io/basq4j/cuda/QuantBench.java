package io.basq4j.cuda;

import static org.bytedeco.cuda.global.cudart.cudaEventCreate;
import static org.bytedeco.cuda.global.cudart.cudaEventElapsedTime;
import static org.bytedeco.cuda.global.cudart.cudaEventRecord;
import static org.bytedeco.cuda.global.cudart.cudaEventSynchronize;

import io.basq4j.tensor.Backends;
import io.basq4j.tensor.CudaBackend;
import io.basq4j.tensor.CudaMath;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Shape;
import io.basq4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Bandwidth of the quantizer kernels on a 256x96x56x56 float tensor (the size of a MobileNet
 * activation at 224 px and batch 256), as a share of device-to-device copy bandwidth, and the
 * fused BASQ-block kernels against the unfused kernel sequences they replace: the measurement
 * that decides whether each fusion stays (kept where fused/unfused time is clearly below 1).
 *
 * <p>Each figure is the median of 20 timed runs (CUDA events on the backend's stream) after 3
 * warm-up runs. Bytes are the minimum traffic of the operation (each input read once, each
 * output written once). Prints the table last and writes it to OUT_DIR/quant_bench.txt.
 *
 * <pre>java -cp ... io.basq4j.cuda.QuantBench [OUT_DIR] [N C H W]</pre>
 */
public final class QuantBench {
    private static final int WARMUP = 3, REPS = 20;

    private final CudaBackend gpu;
    private final CUevent_st start = new CUevent_st(), stop = new CUevent_st();
    private final List<String[]> rows = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    private double copyGbs;

    private QuantBench(CudaBackend gpu) {
        this.gpu = gpu;
        check(cudaEventCreate(start), "cudaEventCreate");
        check(cudaEventCreate(stop), "cudaEventCreate");
    }

    private static void check(int err, String what) {
        if (err != 0) {
            throw new IllegalStateException(what + " failed: cudaError " + err);
        }
    }

    /** Median milliseconds of op over REPS runs. */
    private double time(Runnable op) {
        for (int i = 0; i < WARMUP; i++) {
            op.run();
        }
        gpu.synchronize();
        double[] ms = new double[REPS];
        float[] t = new float[1];
        for (int i = 0; i < REPS; i++) {
            check(cudaEventRecord(start, gpu.stream()), "cudaEventRecord");
            op.run();
            check(cudaEventRecord(stop, gpu.stream()), "cudaEventRecord");
            check(cudaEventSynchronize(stop), "cudaEventSynchronize");
            check(cudaEventElapsedTime(t, start, stop), "cudaEventElapsedTime");
            ms[i] = t[0];
        }
        Arrays.sort(ms);
        return (ms[REPS / 2 - 1] + ms[REPS / 2]) / 2;
    }

    private double row(String name, double bytes, Runnable op) {
        double ms = time(op);
        double gbs = bytes / (ms * 1e-3) / 1e9;
        if (copyGbs == 0) {
            copyGbs = gbs;
        }
        rows.add(new String[] {name, String.format(Locale.ROOT, "%.3f", ms), String.format(Locale.ROOT, "%.0f", gbs),
            String.format(Locale.ROOT, "%.0f%%", 100 * gbs / copyGbs)});
        return ms;
    }

    private void fusion(String name, double fusedMs, double unfusedMs) {
        double r = fusedMs / unfusedMs;
        notes.add(String.format(Locale.ROOT, "fusion %-28s fused %.3f ms vs unfused %.3f ms: %.2fx time -> %s", name,
                fusedMs, unfusedMs, r, r < 0.9 ? "keep" : r < 1.0 ? "marginal" : "drop"));
    }

    private static Tensor filled(long seed, float lo, float hi, int... dims) {
        Tensor t = Tensor.empty(Shape.of(dims), DType.F32, Device.CUDA);
        long n = t.numel();
        int chunk = 1 << 20;
        float[] buf = new float[chunk];
        long z = seed;
        try (FloatPointer host = new FloatPointer(n)) {
            for (long off = 0; off < n; off += chunk) {
                int len = (int) Math.min(chunk, n - off);
                for (int i = 0; i < len; i++) {
                    z = z * 6364136223846793005L + 1442695040888963407L;
                    buf[i] = lo + (hi - lo) * ((z >>> 40) / (float) (1 << 24));
                }
                host.position(off).put(buf, 0, len);
            }
            host.position(0);
            gpu().fromHost(host, t, t.bytes());
        }
        return t;
    }

    private static CudaBackend gpu() {
        return (CudaBackend) Backends.cuda();
    }

    private void run(int N, int C, int H, int W) {
        long n = (long) N * C * H * W;
        double f = 4.0 * n; // bytes of one float tensor
        int hw = H * W;
        Tensor x = filled(1, -1f, 5f, N, C, H, W);
        Tensor dy = filled(2, -1f, 1f, N, C, H, W);
        Tensor y = Tensor.empty(Device.CUDA, N, C, H, W);
        Tensor dx = Tensor.empty(Device.CUDA, N, C, H, W);
        Tensor z = Tensor.empty(Device.CUDA, N, C, H, W);
        Tensor bits = Tensor.empty(Shape.of(Math.toIntExact(CudaBackend.clipMaskWords(n))), DType.I32, Device.CUDA);
        Tensor upper = Tensor.scalar(Device.CUDA, 3f), bin = Tensor.scalar(Device.CUDA, 2f / 3f);
        Tensor du = Tensor.empty(Device.CUDA, 1);
        Tensor s = Tensor.full(Device.CUDA, 0.4f, C), ds = Tensor.empty(Device.CUDA, C);
        Tensor gamma = Tensor.full(Device.CUDA, 1.1f, C), beta = Tensor.full(Device.CUDA, 0.2f, C);
        Tensor rm = Tensor.full(Device.CUDA, 2f, C), rv = Tensor.full(Device.CUDA, 3f, C);
        Tensor mean = Tensor.empty(Device.CUDA, C), invstd = Tensor.empty(Device.CUDA, C);
        Tensor dg = Tensor.empty(Device.CUDA, C), db = Tensor.empty(Device.CUDA, C);
        float gs = (float) (1 / Math.sqrt(n * 3.0));

        row("copy (device to device)", 2 * f, () -> gpu.copy(x, y));
        row("clip quant forward", 2 * f, () -> gpu.clipQuant(x, y, upper, bin));
        row("clip quant backward", 3 * f, () -> gpu.clipQuantBackward(x, dy, dx, du, upper));
        row("lsq forward", 2 * f, () -> gpu.lsq(x, s, y, N, C, hw, 0, 3));
        row("lsq backward", 3 * f, () -> gpu.lsqBackward(x, s, dy, dx, ds, N, C, hw, 0, 3, gs));
        double maskF = row("clip forward + bit masks", 2 * f + n / 4.0, () -> gpu.clipQuantWithMask(x, y, bits, upper,
                bin));
        double maskB = row("clip backward from masks", 2 * f + n / 4.0,
                () -> gpu.clipQuantBackwardFromMask(bits, dy, dx, du));

        double bnEval = row("bn eval", 2 * f, () -> gpu.batchNormEval(x, gamma, beta, rm, rv, z, 1e-5f));
        double clipF = time(() -> gpu.clipQuant(z, y, upper, bin));
        double lsqF = time(() -> gpu.lsq(z, s, y, N, C, hw, 0, 3));
        double evClip = row("bn eval + clip (fused)", 2 * f,
                () -> gpu.batchNormEvalClipQuant(x, gamma, beta, rm, rv, y, 1e-5f, upper, bin));
        double evLsq = row("bn eval + lsq (fused)", 2 * f,
                () -> gpu.batchNormEvalLsq(x, gamma, beta, rm, rv, y, 1e-5f, s, 0, 3));

        double bnTrain = row("bn train", 3 * f,
                () -> gpu.batchNormTrain(x, gamma, beta, z, mean, invstd, rm, rv, 1e-5f, 0.1f));
        double trClip = row("bn train + clip (fused)", 3 * f,
                () -> gpu.batchNormTrainClipQuant(x, gamma, beta, y, mean, invstd, rm, rv, 1e-5f, 0.1f, upper, bin));
        double trLsq = row("bn train + lsq (fused)", 3 * f,
                () -> gpu.batchNormTrainLsq(x, gamma, beta, y, mean, invstd, rm, rv, 1e-5f, 0.1f, s, 0, 3));

        double bnBwd = row("bn backward", 5 * f,
                () -> gpu.batchNormBackward(x, dy, gamma, mean, invstd, dx, dg, db));
        double clipB = time(() -> gpu.clipQuantBackward(z, dy, y, du, upper));
        double lsqB = time(() -> gpu.lsqBackward(z, s, dy, y, ds, N, C, hw, 0, 3, gs));
        double bwClip = row("bn + clip backward (fused)", 5 * f,
                () -> gpu.batchNormClipQuantBackward(x, dy, gamma, beta, mean, invstd, upper, dx, dg, db, du));
        double bwLsq = row("bn + lsq backward (fused)", 5 * f,
                () -> gpu.batchNormLsqBackward(x, dy, gamma, beta, mean, invstd, s, dx, dg, db, ds, 0, 3, gs));

        fusion("bn eval + clip", evClip, bnEval + clipF);
        fusion("bn eval + lsq", evLsq, bnEval + lsqF);
        fusion("bn train + clip", trClip, bnTrain + clipF);
        fusion("bn train + lsq", trLsq, bnTrain + lsqF);
        fusion("bn + clip backward", bwClip, clipB + bnBwd);
        fusion("bn + lsq backward", bwLsq, lsqB + bnBwd);
        double clipFwdMs = time(() -> gpu.clipQuant(x, y, upper, bin));
        double clipBwdMs = time(() -> gpu.clipQuantBackward(x, dy, dx, du, upper));
        fusion("clip masks (fwd + bwd)", maskF + maskB, clipFwdMs + clipBwdMs);
        notes.add("clip masks also free x after the forward: " + (long) (f / (1 << 20)) + " MiB of activation kept as "
                + (n / 4 / (1 << 20)) + " MiB of masks");
        for (Tensor t : new Tensor[] {x, dy, y, dx, z, bits, upper, bin, du, s, ds, gamma, beta, rm, rv, mean, invstd,
            dg, db}) {
            t.close();
        }
    }

    private String table(int N, int C, int H, int W) {
        StringBuilder sb = new StringBuilder();
        sb.append("basq4j CUDA kernel bandwidth, ").append(gpu.deviceName()).append(", ").append(Instant.now())
                .append('\n');
        sb.append(gpu.kernelVersion()).append('\n');
        sb.append(String.format(Locale.ROOT, "tensor %dx%dx%dx%d float32 (%.1f MiB), median of %d%n", N, C, H, W,
                4.0 * N * C * H * W / (1 << 20), REPS));
        sb.append(String.format(Locale.ROOT, "%-28s %9s %8s %9s%n", "kernel", "ms", "GB/s", "% copy"));
        for (String[] r : rows) {
            sb.append(String.format(Locale.ROOT, "%-28s %9s %8s %9s%n", r[0], r[1], r[2], r[3]));
        }
        for (String note : notes) {
            sb.append(note).append('\n');
        }
        return sb.toString();
    }

    public static void main(String[] args) throws IOException {
        if (!Backends.cudaAvailable()) {
            System.err.println("QuantBench: CUDA not usable here: " + Backends.cudaProblem());
            System.exit(2);
        }
        Path out = Path.of(args.length > 0 ? args[0] : System.getenv().getOrDefault("OUT", "."));
        int[] d = args.length >= 5
                ? new int[] {Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4])}
                : new int[] {256, 96, 56, 56};
        CudaBackend gpu = gpu();
        CudaMath.setTf32(CudaMath.Tf32.OFF);
        QuantBench b = new QuantBench(gpu);
        b.run(d[0], d[1], d[2], d[3]);
        String table = b.table(d[0], d[1], d[2], d[3]);
        Files.createDirectories(out);
        Path file = out.resolve("quant_bench.txt");
        Path tmp = out.resolve("quant_bench.txt.tmp");
        Files.writeString(tmp, table);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        System.out.print(table);
    }
}
