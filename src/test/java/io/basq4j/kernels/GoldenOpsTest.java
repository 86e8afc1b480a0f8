package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.testutil.Golden;

import java.io.IOException;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CPU kernels against the op-level golden vectors of the reference implementation
 * (golden/ops.safetensors, PyTorch 1.13, float32).
 *
 * <p>The clip quantizer's output must agree bit for bit: for a bin at its initial value
 * 1 - 1/(n-1) the reference's step is u * float32(1/(n-1)), which quant_math.h reproduces.
 */
class GoldenOpsTest {
    private static SafeTensors.File ops;

    @BeforeAll
    static void read() throws IOException {
        ops = SafeTensors.read(Golden.file("ops.safetensors"));
    }

    private static float[] f(String name) {
        TensorData t = ops.get(name);
        assertEquals(TensorData.DType.F32, t.dtype(), name);
        return t.f32();
    }

    private static int[] shape(String name) {
        return ops.get(name).shape();
    }

    @Test
    void clipQuantizer() {
        for (int nlv : new int[] {4, 8, 16}) {
            String p = "clip_quant.nlv" + nlv + ".";
            float[] x = f(p + "x"), dy = f(p + "grad_y");
            float u = f(p + "upper_bound")[0];
            int n = x.length;
            float bin = (float) (1 - 1.0 / (nlv - 1));
            FloatPointer y = out(n), dx = out(n), du = out(1);
            ok(CpuKernels.basq_clip_quant_fwd(ptr(x), y, n, scalar(u), scalar(bin)), "clip_quant_fwd");
            float[] yr = f(p + "y"), yg = get(y, n);
            assertExact(p + "y", yr, yg);
            double d = u / (double) (nlv - 1);
            long[] levelsRef = new long[n], levels = new long[n];
            for (int i = 0; i < n; i++) {
                levelsRef[i] = Math.round(yr[i] / d);
                levels[i] = Math.round(yg[i] / d);
            }
            assertArrayEquals(levelsRef, levels, p + "quantization levels");
            long distinct = java.util.Arrays.stream(levelsRef).distinct().count();
            assertEquals(true, distinct >= Math.min(nlv, 4) && java.util.Arrays.stream(levelsRef).max().getAsLong()
                    == nlv - 1, p + "levels 0.." + (nlv - 1) + " are exercised (" + distinct + " distinct)");
            ok(CpuKernels.basq_clip_quant_bwd(ptr(x), ptr(dy), dx, du, n, scalar(u)), "clip_quant_bwd");
            assertExact(p + "grad_x", f(p + "grad_x"), get(dx, n));
            assertClose(p + "grad_upper_bound", f(p + "grad_upper_bound")[0], du.get(), 1e-6);
        }
    }

    @Test
    void lsqActivations() {
        for (int bits : new int[] {2, 3, 4}) {
            String p = "lsq_act.bits" + bits + ".";
            int[] sh = shape(p + "x");
            int N = sh[0], C = sh[1], HW = sh[2] * sh[3], n = N * C * HW;
            int qn = 0, qp = (1 << bits) - 1;
            float g = (float) (1 / Math.sqrt((double) n * qp));
            checkLsq(p, "x", "grad_x", N, C, HW, qn, qp, g);
        }
    }

    @Test
    void lsqWeights() {
        for (int bits : new int[] {2, 3, 4}) {
            String p = "lsq_weight.bits" + bits + ".";
            int[] sh = shape(p + "w");
            int O = sh[0], K = sh[1] * sh[2] * sh[3], n = O * K;
            int qp = (1 << (bits - 1)) - 1, qn = -qp;
            float g = (float) (1 / Math.sqrt((double) n * qp));
            checkLsq(p, "w", "grad_w", 1, O, K, qn, qp, g);
        }
    }

    private static void checkLsq(String p, String xName, String gxName, int outer, int C, int inner, int qn, int qp,
            float g) {
        float[] x = f(p + xName), s = f(p + "step"), dy = f(p + "grad_y");
        int n = x.length;
        FloatPointer px = ptr(x), ps = ptr(s), y = out(n), dx = out(n), ds = out(C);
        ok(CpuKernels.basq_lsq_fwd(px, ps, y, outer, C, inner, qn, qp), "lsq_fwd");
        assertClose(p + "y", f(p + "y"), get(y, n), 1e-6);
        assertNonTrivial(p + "y", f(p + "y"));
        ok(CpuKernels.basq_lsq_bwd(px, ps, ptr(dy), dx, ds, outer, C, inner, qn, qp, g), "lsq_bwd");
        // the reference's straight-through gradient passes through x/s*s: equal to dy up to an ulp
        assertClose(p + gxName, f(p + gxName), get(dx, n), 1e-6);
        assertCloseScaled(p + "grad_step", f(p + "grad_step"), get(ds, C), 1e-5);
    }

    @Test
    void flexibleSkip() {
        for (String name : new String[] {"4to12", "6to6", "12to4", "10to4", "7to3"}) {
            String p = "flex_skip." + name + ".";
            int[] xs = shape(p + "x"), ys = shape(p + "y");
            int N = xs[0], Cin = xs[1], Cout = ys[1], HW = xs[2] * xs[3];
            float[] x = f(p + "x"), dy = f(p + "grad_y");
            FloatPointer y = out(N * Cout * HW), dx = out(N * Cin * HW);
            ok(CpuKernels.basq_flex_skip_fwd(ptr(x), y, N, Cin, Cout, HW), "flex_skip_fwd");
            assertClose(p + "y", f(p + "y"), get(y, N * Cout * HW), 1e-6);
            ok(CpuKernels.basq_flex_skip_bwd(ptr(dy), dx, N, Cin, Cout, HW), "flex_skip_bwd");
            assertClose(p + "grad_x", f(p + "grad_x"), get(dx, N * Cin * HW), 1e-6);
        }
    }

    @Test
    void batchNormTraining() {
        String p = "batchnorm_train.";
        int[] sh = shape(p + "x");
        int N = sh[0], C = sh[1], HW = sh[2] * sh[3], n = N * C * HW;
        float[] x = f(p + "x"), w = f(p + "weight"), b = f(p + "bias");
        FloatPointer px = ptr(x), pw = ptr(w), y = out(n), sm = out(C), si = out(C);
        FloatPointer rm = zeros(C), rv = ptr(new float[] {1f, 1f, 1f});
        ok(CpuKernels.basq_bn_train_fwd(px, pw, ptr(b), y, sm, si, rm, rv, N, C, HW, 1e-5f, 0.1f), "bn_train_fwd");
        assertClose(p + "y", f(p + "y"), get(y, n), 1e-5);
        assertClose(p + "running_mean", f(p + "running_mean"), get(rm, C), 1e-6);
        assertClose(p + "running_var", f(p + "running_var"), get(rv, C), 1e-6);
        FloatPointer dx = out(n), dw = out(C), db = out(C);
        ok(CpuKernels.basq_bn_bwd(px, ptr(f(p + "grad_y")), pw, sm, si, dx, dw, db, N, C, HW), "bn_bwd");
        assertClose(p + "grad_x", f(p + "grad_x"), get(dx, n), 1e-5);
        assertClose(p + "grad_weight", f(p + "grad_weight"), get(dw, C), 1e-5);
        assertClose(p + "grad_bias", f(p + "grad_bias"), get(db, C), 1e-5);
    }

    @Test
    void distillationLoss() {
        String p = "kd_loss.";
        int[] sh = shape(p + "student");
        int N = sh[0], K = sh[1];
        FloatPointer loss = out(1), ps = out(N * K), pt = out(N * K), ds = out(N * K);
        ok(CpuKernels.basq_kd_loss_fwd(ptr(f(p + "student")), ptr(f(p + "teacher")), loss, ps, pt, N, K),
                "kd_loss_fwd");
        assertClose(p + "loss", f(p + "loss")[0], loss.get(), 1e-6);
        ok(CpuKernels.basq_kd_loss_bwd(ps, pt, scalar(1f), ds, N, K), "kd_loss_bwd");
        assertCloseScaled(p + "grad_student", f(p + "grad_student"), get(ds, N * K), 1e-5);
    }
}
