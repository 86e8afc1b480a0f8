package io.basq4j.kernels;

import static io.basq4j.kernels.KernelTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/**
 * quant.h on random inputs (the golden vectors are in GoldenOpsTest): the clip quantizer
 * (SPEC 1.1), LSQ per channel (1.2, 1.3) and the step initialization's channel |x| mean.
 * Inputs avoid exact rounding ties (a tie may legitimately round either way when the
 * division is done differently); dedicated tests pin round-half-to-even on exact ties.
 */
class QuantKernelsTest {

    /** The clip step of SPEC 1.1, in float as the kernel computes it. */
    static float clipStep(float u, float bin) {
        float a = 1.0f - bin;
        if (a >= 1.0f) return u;
        if (a <= 1.0f / 255.0f) return u / 255.0f;
        float levels = (float) Math.rint(1.0f / a);
        if (Math.abs(levels * a - 1.0f) < 1e-5f) {
            a = 1.0f / levels; // a bin of an integer level count: the reference's u * fl(1/(n-1))
        }
        return u * a;
    }

    /** Random x with c/d at least 1e-3 away from a rounding tie. */
    static float[] clipInputs(Random rnd, int n, float u, float d) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            float v;
            do {
                v = (float) (rnd.nextDouble() * 1.6 * u - 0.3 * u);  // ~20% below 0, ~10% above u
                float c = Math.min(Math.max(v, 0f), u);
                double f = c / (double) d - Math.floor(c / (double) d);
                if (Math.abs(f - 0.5) > 1e-3) break;
            } while (true);
            x[i] = v;
        }
        return x;
    }

    @Test
    void clipQuantizerForwardAndBackward() {
        Random rnd = new Random(71);
        for (int bits : new int[] {2, 3, 4}) {
            for (int n : new int[] {1, 150, 100_003}) {
                int nlv = 1 << bits;
                float u = 3.7f, bin = (float) (1 - 1.0 / (nlv - 1));
                float d = clipStep(u, bin);
                float[] x = clipInputs(rnd, n, u, d);
                if (n > 10) {
                    x[0] = 0f;  // boundaries: no gradient at 0 and at u, and u adds no bound gradient
                    x[1] = u;
                }
                float[] dy = randn(rnd, n);
                double[] y = new double[n], dx = new double[n];
                float[] yf = new float[n];
                double du = 0;
                for (int i = 0; i < n; i++) {
                    double c = Math.min(Math.max(x[i], 0.0), u);
                    y[i] = Math.rint(c / ((double) u / (nlv - 1))) * ((double) u / (nlv - 1));
                    float cf = Math.min(Math.max(x[i], 0f), u);
                    yf[i] = (float) Math.rint(cf / d) * d;
                    dx[i] = x[i] > 0 && x[i] < u ? dy[i] : 0;
                    if (x[i] > u) du += dy[i];
                }
                FloatPointer py = out(n), pdx = out(n), pdu = out(1);
                ok(CpuKernels.basq_clip_quant_fwd(ptr(x), py, n, scalar(u), scalar(bin)), "clip_quant_fwd");
                String at = " bits " + bits + " n=" + n;
                assertExact("clip y (float math)" + at, yf, get(py, n));
                assertClose("clip y (double math)" + at, y, get(py, n), 1e-6);
                ok(CpuKernels.basq_clip_quant_bwd(ptr(x), ptr(dy), pdx, pdu, n, scalar(u)), "clip_quant_bwd");
                assertClose("clip dx" + at, dx, get(pdx, n), 0);
                assertClose("clip du" + at, du, pdu.get(), 1e-5);
                if (n > 10) {
                    assertNonTrivial("clip y", y);
                    assertEquals(true, Math.abs(du) > 0.1, "some x above u");
                }
            }
        }
    }

    @Test
    void clipQuantizerRoundsHalfToEvenAndHandlesEdgeSteps() {
        // u = 4, bin = 0.75: d = 1 exactly, so c/d hits exact ties
        float[] x = {0.5f, 1.5f, 2.5f, 3.5f, -1f, 9f, 2.49f};
        float[] expect = {0f, 2f, 2f, 4f, 0f, 4f, 2f};
        FloatPointer y = out(x.length);
        ok(CpuKernels.basq_clip_quant_fwd(ptr(x), y, x.length, scalar(4f), scalar(0.75f)), "clip ties");
        assertExact("half to even", expect, get(y, x.length));
        // 1 - bin >= 1: d = u, a binary quantizer
        ok(CpuKernels.basq_clip_quant_fwd(ptr(new float[] {0.9f, 1.1f, 3f}), y, 3, scalar(2f), scalar(0f)), "bin 0");
        assertExact("bin 0", new float[] {0f, 2f, 2f}, get(y, 3));
        // 1 - bin <= 1/255: d = u/255
        ok(CpuKernels.basq_clip_quant_fwd(ptr(new float[] {1.01f}), y, 1, scalar(255f), scalar(1f)), "bin 1");
        assertExact("bin 1", new float[] {1f}, get(y, 1));
        // u <= 0: all zeros
        ok(CpuKernels.basq_clip_quant_fwd(ptr(new float[] {1f, -1f}), y, 2, scalar(-1f), scalar(0.5f)), "u<0");
        assertExact("u <= 0", new float[] {0f, 0f}, get(y, 2));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_clip_quant_fwd(y, y, -1, scalar(1f), scalar(0.5f)));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_clip_quant_bwd(y, y, y, out(1), -1, scalar(1f)));
    }

    /** x values whose x/s is at least 1e-3 from a tie, with about 10% beyond each end of [qn, qp]. */
    static float[] lsqInputs(Random rnd, int outer, int C, int inner, float[] s, int qn, int qp) {
        float[] x = new float[outer * C * inner];
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < inner; i++) {
                    float v;
                    do {
                        double span = qp - qn;
                        v = (float) ((qn - 0.1 * span + rnd.nextDouble() * 1.2 * span) * s[c]);
                        double q = v / (double) s[c];
                        if (Math.abs(q - Math.floor(q) - 0.5) > 1e-3) break;
                    } while (true);
                    x[(o * C + c) * inner + i] = v;
                }
        return x;
    }

    @Test
    void lsqActivationsAndWeightsForwardAndBackward() {
        Random rnd = new Random(72);
        // outer, channels, inner, signed
        int[][] shapes = {{3, 4, 25, 0}, {1, 1, 7, 0}, {2, 5, 1, 0}, {32, 16, 196, 0}, {1, 6, 27, 1}, {1, 1, 9, 1},
                {1, 96, 1152, 1}};
        for (int[] sh : shapes) {
            for (int bits : new int[] {2, 3, 4}) {
                int outer = sh[0], C = sh[1], inner = sh[2], n = outer * C * inner;
                boolean signed = sh[3] == 1;
                int qn = signed ? -((1 << (bits - 1)) - 1) : 0, qp = signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
                float[] s = uniform(rnd, C, 0.05, 1.5);
                float[] x = lsqInputs(rnd, outer, C, inner, s, qn, qp);
                float[] dy = randn(rnd, n);
                float g = (float) (1 / Math.sqrt((double) n * qp));
                float[] yf = new float[n];
                double[] dx = new double[n], ds = new double[C];
                for (int o = 0; o < outer; o++)
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < inner; i++) {
                            int k = (o * C + c) * inner + i;
                            float v = Math.min(Math.max(x[k] / s[c], (float) qn), (float) qp);
                            yf[k] = (float) Math.rint(v) * s[c];
                            double q = x[k] / (double) s[c];
                            double r = q < qn ? qn : q > qp ? qp : Math.rint(q) - q;
                            dx[k] = q >= qn && q <= qp ? dy[k] : 0;
                            ds[c] += dy[k] * r;
                        }
                for (int c = 0; c < C; c++) ds[c] *= g;
                FloatPointer px = ptr(x), ps = ptr(s), py = out(n), pdx = out(n), pds = out(C);
                ok(CpuKernels.basq_lsq_fwd(px, ps, py, outer, C, inner, qn, qp), "lsq_fwd");
                String at = String.format(" %dx%dx%d bits %d [%d, %d]", outer, C, inner, bits, qn, qp);
                assertExact("lsq y" + at, yf, get(py, n));
                ok(CpuKernels.basq_lsq_bwd(px, ps, ptr(dy), pdx, pds, outer, C, inner, qn, qp, g), "lsq_bwd");
                assertClose("lsq dx" + at, dx, get(pdx, n), 0);
                // relative to the step gradient's own size (it is scaled down by g)
                assertCloseScaled("lsq ds" + at, ds, get(pds, C), 1e-5);
                assertNonTrivial("lsq ds", ds);
            }
        }
    }

    @Test
    void lsqRoundsHalfToEvenAndKeepsInclusiveBounds() {
        // s = 1: x/s is exact; qn = -1, qp = 3
        float[] x = {0.5f, 1.5f, 2.5f, -0.5f, 3f, -1f, 3.5f, -1.5f};
        float[] dy = {1f, 1f, 1f, 1f, 1f, 1f, 1f, 1f};
        FloatPointer y = out(8), dx = out(8), ds = out(1);
        ok(CpuKernels.basq_lsq_fwd(ptr(x), scalar(1f), y, 1, 1, 8, -1, 3), "lsq ties");
        assertExact("lsq half to even", new float[] {0f, 2f, 2f, -0f, 3f, -1f, 3f, -1f}, get(y, 8));
        ok(CpuKernels.basq_lsq_bwd(ptr(x), scalar(1f), ptr(dy), dx, ds, 1, 1, 8, -1, 3, 1f), "lsq bwd ties");
        // inside (bounds inclusive): dx = dy; outside: 0
        assertExact("lsq dx", new float[] {1f, 1f, 1f, 1f, 1f, 1f, 0f, 0f}, get(dx, 8));
        // r: -0.5 + 0.5 - 0.5 + 0.5 + 0 + 0 + qp(3) + qn(-1) = 2
        assertEquals(2f, ds.get(), 1e-6f);
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_lsq_fwd(y, y, y, 1, 1, 8, 3, -1), "qn > qp");
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_lsq_bwd(y, y, y, y, y, -1, 1, 8, -1, 3, 1f), "outer < 0");
    }

    @Test
    void channelAbsMean() {
        Random rnd = new Random(73);
        int[][] shapes = {{3, 4, 25}, {1, 1, 1}, {1, 6, 27}, {64, 8, 256}};
        for (int[] sh : shapes) {
            int outer = sh[0], C = sh[1], inner = sh[2];
            float[] x = randn(rnd, outer * C * inner, 2.0, 0.5);
            double[] ref = new double[C];
            for (int o = 0; o < outer; o++)
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < inner; i++) ref[c] += Math.abs(x[(o * C + c) * inner + i]);
            for (int c = 0; c < C; c++) ref[c] /= (double) outer * inner;
            FloatPointer o = out(C);
            ok(CpuKernels.basq_channel_abs_mean(ptr(x), o, outer, C, inner), "channel_abs_mean");
            assertClose("abs mean " + outer + "x" + C + "x" + inner, ref, get(o, C), 1e-6);
        }
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_channel_abs_mean(out(1), out(1), 0, 1, 1));
        assertEquals(CpuKernels.EINVAL, CpuKernels.basq_channel_abs_mean(out(1), out(1), 1, 1, -1));
    }
}
