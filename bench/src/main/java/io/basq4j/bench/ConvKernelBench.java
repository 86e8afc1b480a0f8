package io.basq4j.bench;

import static io.basq4j.bench.BenchSupport.*;

import io.basq4j.kernels.CpuKernels;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
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
 * The three convolution kinds of the supernets (conv.h), forward and both backwards, at batch
 * 64 and 16x16: {@code pw} a 1x1 projection 96 -> 24 (MobileNet-v2), {@code dw} a depthwise 3x3
 * on 96 channels (MobileNet-v2's searched unit), {@code full} a 3x3 32 -> 32 (ResNet-20). The
 * {@code flops} row counts 2 * multiply-adds per call (FLOP/s; each of the three passes has the
 * same count).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class ConvKernelBench {
    /** Floating-point operations per call, reported per second. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Flops {
        public long flops;

        @Setup(Level.Iteration)
        public void reset() {
            flops = 0;
        }
    }

    @Param({"pw", "dw", "full"})
    public String kind;

    private FloatPointer x, w, y, dy, dx, dw, ws;
    private int n, cin, h, wd, cout, k, stride, pad, groups;
    private long flopsPerCall;

    @Setup
    public void setUp() {
        threads();
        n = 64;
        h = 16;
        wd = 16;
        stride = 1;
        switch (kind) {
            case "pw" -> {
                cin = 96;
                cout = 24;
                k = 1;
                pad = 0;
                groups = 1;
            }
            case "dw" -> {
                cin = 96;
                cout = 96;
                k = 3;
                pad = 1;
                groups = 96;
            }
            case "full" -> {
                cin = 32;
                cout = 32;
                k = 3;
                pad = 1;
                groups = 1;
            }
            default -> throw new IllegalArgumentException("kind " + kind);
        }
        int ho = (h + 2 * pad - k) / stride + 1, wo = (wd + 2 * pad - k) / stride + 1;
        long xs = (long) n * cin * h * wd, ys = (long) n * cout * ho * wo, wsz = (long) cout * (cin / groups) * k * k;
        flopsPerCall = 2L * n * cout * ho * wo * (cin / groups) * k * k;
        x = random(xs, 1, 1.0, 0.0);
        dx = new FloatPointer(xs);
        y = new FloatPointer(ys);
        dy = random(ys, 2, 1.0, 0.0);
        w = random(wsz, 3, 0.1, 0.0);
        dw = new FloatPointer(wsz);
        long wsf = CpuKernels.basq_conv2d_workspace_floats(n, cin, h, wd, cout, k, k, stride, stride, pad, pad, groups);
        ws = wsf > 0 ? new FloatPointer(wsf) : null;
        Flops f = new Flops();
        check(forward(f), "conv2d_fwd");
        check(backwardData(f), "conv2d_bwd_data");
        check(backwardFilter(f), "conv2d_bwd_filter");
    }

    @TearDown
    public void tearDown() {
        close(x, w, y, dy, dx, dw, ws);
    }

    @Benchmark
    public int forward(Flops f) {
        f.flops += flopsPerCall;
        return CpuKernels.basq_conv2d_fwd(x, w, y, ws, n, cin, h, wd, cout, k, k, stride, stride, pad, pad, groups);
    }

    @Benchmark
    public int backwardData(Flops f) {
        f.flops += flopsPerCall;
        return CpuKernels.basq_conv2d_bwd_data(dy, w, dx, ws, n, cin, h, wd, cout, k, k, stride, stride, pad, pad,
                groups);
    }

    @Benchmark
    public int backwardFilter(Flops f) {
        f.flops += flopsPerCall;
        return CpuKernels.basq_conv2d_bwd_filter(x, dy, dw, ws, n, cin, h, wd, cout, k, k, stride, stride, pad, pad,
                groups);
    }
}
