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
 * Batch norm (norm.h) on an activation [N, C, H, W]. Bytes per call (n = N*C*H*W): training
 * forward 12n (x read for the statistics and again for the output, y written), backward 20n (x
 * and dy read for the sums and again for dx, dx written), evaluation 8n. The {@code bytes} row
 * is the achieved bandwidth (bytes/s).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class BatchNormKernelBench {
    @Param({"64x96x16x16", "64x960x2x2"})
    public String shape;

    private FloatPointer x, y, dy, dx, gamma, beta, rm, rv, mean, invstd, dg, db;
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
        gamma = uniform(c, 3, 0.5, 1.5);
        beta = random(c, 4, 0.2, 0.0);
        rm = random(c, 5, 0.2, 0.0);
        rv = uniform(c, 6, 0.5, 2.0);
        mean = new FloatPointer(c);
        invstd = new FloatPointer(c);
        dg = new FloatPointer(c);
        db = new FloatPointer(c);
        check(trainForward(new Traffic()), "bn_train_fwd");
        check(backward(new Traffic()), "bn_bwd");
        check(evalForward(new Traffic()), "bn_eval_fwd");
    }

    @TearDown
    public void tearDown() {
        close(x, y, dy, dx, gamma, beta, rm, rv, mean, invstd, dg, db);
    }

    @Benchmark
    public int trainForward(Traffic t) {
        t.bytes += 12 * numel;
        return CpuKernels.basq_bn_train_fwd(x, gamma, beta, y, mean, invstd, rm, rv, n, c, hw, 1e-5f, 0.1f);
    }

    @Benchmark
    public int backward(Traffic t) {
        t.bytes += 20 * numel;
        return CpuKernels.basq_bn_bwd(x, dy, gamma, mean, invstd, dx, dg, db, n, c, hw);
    }

    @Benchmark
    public int evalForward(Traffic t) {
        t.bytes += 8 * numel;
        return CpuKernels.basq_bn_eval_fwd(x, gamma, beta, rm, rv, y, n, c, hw, 1e-5f);
    }
}
