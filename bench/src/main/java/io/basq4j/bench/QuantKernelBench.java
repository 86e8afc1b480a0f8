package io.basq4j.bench;

import static io.basq4j.bench.BenchSupport.*;

import io.basq4j.kernels.CpuKernels;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The quantizer kernels (quant.h) on an activation [N, C, H, W]: 2-bit clip quantizer and
 * per-channel LSQ, forward and backward. Bytes per call (n = N*C*H*W): forward 8n (read x,
 * write y), backward 12n (read x and dy, write dx). The {@code bytes} row is the achieved
 * bandwidth (bytes/s).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class QuantKernelBench {
    /** N x C x H x W: the largest MobileNet-v2 (w1.0, 32x32, batch 64) activation, and a late one (HW = 4). */
    @Param({"64x96x16x16", "64x960x2x2"})
    public String shape;

    private FloatPointer x, y, dy, dx, upper, bin, s, ds, du;
    private int n, c;
    private long hw, numel;

    @Setup
    public void setUp() {
        threads();
        int[] d = dims(shape);
        n = d[0];
        c = d[1];
        hw = (long) d[2] * d[3];
        numel = n * c * hw;
        x = random(numel, 1, 1.5, 0.8);
        dy = random(numel, 2, 1.0, 0.0);
        y = new FloatPointer(numel);
        dx = new FloatPointer(numel);
        upper = full(1, 3.0f);
        bin = full(1, 1f - 1f / 3f);
        s = uniform(c, 3, 0.3, 0.7);
        ds = new FloatPointer(c);
        du = new FloatPointer(1);
        check(clipFwd(new Traffic()), "clip_quant_fwd");
        check(clipBwd(new Traffic()), "clip_quant_bwd");
        check(lsqFwd(new Traffic()), "lsq_fwd");
        check(lsqBwd(new Traffic()), "lsq_bwd");
    }

    @TearDown
    public void tearDown() {
        close(x, y, dy, dx, upper, bin, s, ds, du);
    }

    @Benchmark
    public int clipFwd(Traffic t) {
        t.bytes += 8 * numel;
        return CpuKernels.basq_clip_quant_fwd(x, y, numel, upper, bin);
    }

    @Benchmark
    public int clipBwd(Traffic t) {
        t.bytes += 12 * numel;
        return CpuKernels.basq_clip_quant_bwd(x, dy, dx, du, numel, upper);
    }

    @Benchmark
    public int lsqFwd(Traffic t) {
        t.bytes += 8 * numel;
        return CpuKernels.basq_lsq_fwd(x, s, y, n, c, hw, 0, 3);
    }

    @Benchmark
    public int lsqBwd(Traffic t) {
        t.bytes += 12 * numel;
        return CpuKernels.basq_lsq_bwd(x, s, dy, dx, ds, n, c, hw, 0, 3, 1e-3f);
    }
}
