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
 * Each fused kernel of fused.h against the sequence of plain kernels it replaces, on one
 * activation [N, C, H, W] (time per call; compare the pairs {@code xxxFused} / {@code xxxPlain}).
 * Minimum bytes per call (n = N*C*H*W), fused vs plain:
 * <ul>
 * <li>evalBnLsq, evalBnClip: 8n vs 16n (BN eval, quantizer);
 * <li>evalTail (identity skip): 12n vs 36n (BN, ReLU, add, BN);
 * <li>trainBnLsq (forward + backward): 32n vs 52n;
 * <li>trainTail (forward + backward, identity skip): 60n vs 104n (BN, ReLU, add, BN and their
 * backwards with the autograd's copy of the add's gradient).
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class FusedKernelBench {
    @Param({"64x96x16x16"})
    public String shape;

    private FloatPointer x, z, skip, y, s, t1, t2, t3, dy, dx, dz, ds, d1, d2;
    private FloatPointer g1, b1, rm1, rv1, g2, b2, rm2, rv2, m1, i1, m2, i2, dg1, db1, dg2, db2, step, dstep, upper,
            bin, du;
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
        z = random(numel, 2, 1.5, 0.1);
        skip = random(numel, 3, 1.0, 0.0);
        dy = random(numel, 4, 1.0, 0.0);
        y = new FloatPointer(numel);
        s = new FloatPointer(numel);
        t1 = new FloatPointer(numel);
        t2 = new FloatPointer(numel);
        t3 = new FloatPointer(numel);
        dx = new FloatPointer(numel);
        dz = new FloatPointer(numel);
        ds = new FloatPointer(numel);
        d1 = new FloatPointer(numel);
        d2 = new FloatPointer(numel);
        g1 = uniform(c, 5, 0.5, 1.5);
        b1 = random(c, 6, 0.2, 0.0);
        rm1 = random(c, 7, 0.2, 0.0);
        rv1 = uniform(c, 8, 0.5, 2.0);
        g2 = uniform(c, 9, 0.5, 1.5);
        b2 = random(c, 10, 0.2, 0.0);
        rm2 = random(c, 11, 0.2, 0.0);
        rv2 = uniform(c, 12, 0.5, 2.0);
        m1 = new FloatPointer(c);
        i1 = new FloatPointer(c);
        m2 = new FloatPointer(c);
        i2 = new FloatPointer(c);
        dg1 = new FloatPointer(c);
        db1 = new FloatPointer(c);
        dg2 = new FloatPointer(c);
        db2 = new FloatPointer(c);
        step = uniform(c, 13, 0.3, 0.7);
        dstep = new FloatPointer(c);
        upper = full(1, 3.0f);
        bin = full(1, 1f - 1f / 3f);
        du = new FloatPointer(1);
        check(evalBnLsqFused() | evalBnLsqPlain() | evalBnClipFused() | evalBnClipPlain() | evalTailFused()
                | evalTailPlain() | trainBnLsqFused() | trainBnLsqPlain() | trainTailFused() | trainTailPlain(),
                "fused benchmark kernels");
    }

    @TearDown
    public void tearDown() {
        close(x, z, skip, y, s, t1, t2, t3, dy, dx, dz, ds, d1, d2, g1, b1, rm1, rv1, g2, b2, rm2, rv2, m1, i1, m2,
                i2, dg1, db1, dg2, db2, step, dstep, upper, bin, du);
    }

    // ---------------------------------------------------------------- evaluation

    @Benchmark
    public int evalBnLsqFused() {
        return CpuKernels.basq_bn_eval_lsq_fwd(x, g1, b1, rm1, rv1, y, n, c, hw, 1e-5f, step, 0, 3);
    }

    @Benchmark
    public int evalBnLsqPlain() {
        return CpuKernels.basq_bn_eval_fwd(x, g1, b1, rm1, rv1, t1, n, c, hw, 1e-5f)
                | CpuKernels.basq_lsq_fwd(t1, step, y, n, c, hw, 0, 3);
    }

    @Benchmark
    public int evalBnClipFused() {
        return CpuKernels.basq_bn_eval_clip_quant_fwd(x, g1, b1, rm1, rv1, y, n, c, hw, 1e-5f, upper, bin);
    }

    @Benchmark
    public int evalBnClipPlain() {
        return CpuKernels.basq_bn_eval_fwd(x, g1, b1, rm1, rv1, t1, n, c, hw, 1e-5f)
                | CpuKernels.basq_clip_quant_fwd(t1, y, numel, upper, bin);
    }

    @Benchmark
    public int evalTailFused() {
        return CpuKernels.basq_unit_tail_eval_fwd(z, g1, b1, rm1, rv1, skip, c, g2, b2, rm2, rv2, null, y, n, c, hw,
                1e-5f);
    }

    @Benchmark
    public int evalTailPlain() {
        return CpuKernels.basq_bn_eval_fwd(z, g1, b1, rm1, rv1, t1, n, c, hw, 1e-5f)
                | CpuKernels.basq_relu_fwd(t1, t2, numel)
                | CpuKernels.basq_add(t2, skip, t3, numel)
                | CpuKernels.basq_bn_eval_fwd(t3, g2, b2, rm2, rv2, y, n, c, hw, 1e-5f);
    }

    // ---------------------------------------------------------------- training (forward + backward)

    @Benchmark
    public int trainBnLsqFused() {
        return CpuKernels.basq_bn_train_lsq_fwd(x, g1, b1, y, m1, i1, rm1, rv1, n, c, hw, 1e-5f, 0.1f, step, 0, 3)
                | CpuKernels.basq_bn_lsq_bwd(x, dy, g1, b1, m1, i1, step, dx, dg1, db1, dstep, n, c, hw, 0, 3, 1e-3f);
    }

    @Benchmark
    public int trainBnLsqPlain() {
        return CpuKernels.basq_bn_train_fwd(x, g1, b1, t1, m1, i1, rm1, rv1, n, c, hw, 1e-5f, 0.1f)
                | CpuKernels.basq_lsq_fwd(t1, step, y, n, c, hw, 0, 3)
                | CpuKernels.basq_lsq_bwd(t1, step, dy, d1, dstep, n, c, hw, 0, 3, 1e-3f)
                | CpuKernels.basq_bn_bwd(x, d1, g1, m1, i1, dx, dg1, db1, n, c, hw);
    }

    @Benchmark
    public int trainTailFused() {
        return CpuKernels.basq_unit_tail_train_fwd(z, g1, b1, m1, i1, rm1, rv1, skip, c, g2, b2, m2, i2, rm2, rv2, s,
                y, n, c, hw, 1e-5f, 0.1f)
                | CpuKernels.basq_unit_tail_bwd(z, s, dy, g1, b1, m1, i1, g2, m2, i2, ds, dz, dg1, db1, dg2, db2, n, c,
                        hw);
    }

    @Benchmark
    public int trainTailPlain() {
        return CpuKernels.basq_bn_train_fwd(z, g1, b1, t1, m1, i1, rm1, rv1, n, c, hw, 1e-5f, 0.1f)
                | CpuKernels.basq_relu_fwd(t1, t2, numel)
                | CpuKernels.basq_add(t2, skip, s, numel)
                | CpuKernels.basq_bn_train_fwd(s, g2, b2, y, m2, i2, rm2, rv2, n, c, hw, 1e-5f, 0.1f)
                | CpuKernels.basq_bn_bwd(s, dy, g2, m2, i2, ds, dg2, db2, n, c, hw)
                | CpuKernels.basq_copy(ds, d2, numel)
                | CpuKernels.basq_relu_bwd(t2, ds, d1, numel)
                | CpuKernels.basq_bn_bwd(z, d1, g1, m1, i1, dz, dg1, db1, n, c, hw);
    }
}
