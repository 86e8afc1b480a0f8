package io.basq4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.basq4j.autograd.GradMode;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.Init;
import io.basq4j.nn.Module;
import io.basq4j.nn.ModuleList;
import io.basq4j.nn.Sequential;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** The searched 3x3 unit and its flexible skip, observed through a unit whose convolution is zero. */
class BranchUnitTest {
    /** Owns the modules of one branch unit, as a block does. */
    static final class Holder extends Module {
        final BranchUnit unit;
        final ModuleList<Sequential> bq;
        final QConv2d conv;
        final ModuleList<Sequential> br;
        final ModuleList<BatchNorm2d> last;

        Holder(int cin, int cout, int stride, int groups, int branches) {
            Init init = Init.cpu(1);
            bq = register("branch_bn_q_1", BranchUnit.bnQuant(init, cin, 2, branches));
            conv = register("conv1", new QConv2d(init, cin, cout, 3, stride, 1, groups, 2));
            br = register("branch_bn_1", BranchUnit.bnRelu(init, cout, branches));
            last = register("bn1_last", BranchUnit.last(init, cout, branches));
            unit = new BranchUnit(bq, conv, br, last);
        }
    }

    private static float[] random(int n, long seed) {
        java.util.Random r = new java.util.Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /**
     * F(cin -> cout) then s x s pooling, in plain Java: for h = w = 3 at stride 2 the reference's
     * floor pooling broadcast to 2 x 2 (SPEC 2), for other odd sizes zero-padded windows.
     */
    static float[] expectedSkip(float[] x, int n, int cin, int h, int w, int cout, int s) {
        boolean broadcast = s == 2 && h == 3 && w == 3;
        int ho = s == 1 ? h : (h + s - 1) / s;
        int wo = s == 1 ? w : (w + s - 1) / s;
        float[] ch = new float[n * cout * h * w];
        for (int b = 0; b < n; b++) {
            for (int k = 0; k < cout; k++) {
                for (int c = 0; c < cin; c++) {
                    boolean take = cin <= cout ? c == k % cin : c % cout == k;
                    if (take) {
                        for (int i = 0; i < h * w; i++) {
                            ch[(b * cout + k) * h * w + i] += x[(b * cin + c) * h * w + i];
                        }
                    }
                }
            }
        }
        float[] y = new float[n * cout * ho * wo];
        for (int b = 0; b < n; b++) {
            for (int k = 0; k < cout; k++) {
                for (int i = 0; i < ho; i++) {
                    for (int j = 0; j < wo; j++) {
                        double sum = 0;
                        for (int di = 0; di < s; di++) {
                            for (int dj = 0; dj < s; dj++) {
                                int hi = (broadcast ? 0 : i * s) + di;
                                int wj = (broadcast ? 0 : j * s) + dj;
                                if (hi < h && wj < w) {
                                    sum += ch[((b * cout + k) * h + hi) * w + wj];
                                }
                            }
                        }
                        y[((b * cout + k) * ho + i) * wo + j] = (float) (sum / (s * s));
                    }
                }
            }
        }
        return y;
    }

    /**
     * With zero weights the convolution path is 0 and BN_b(0) = ReLU(0) = 0 in evaluation mode
     * (running mean 0, variance 1, bias 0), so the unit returns BN_c(skip(x)) = skip(x)/sqrt(1+eps) + beta_c[j].
     */
    private static void checkSkip(int cin, int cout, int stride, int h) {
        int groups = cin == cout ? cin : 1;
        try (Holder u = new Holder(cin, cout, stride, groups, 3); Scope s = Scope.open();
                GradMode off = GradMode.off()) { // evaluation-mode batch norm has no backward
            u.conv.weights().tensor().fill(0f);
            u.last.get(1).bias().tensor().fill(0.5f);
            u.eval();
            float[] xv = random(2 * cin * h * h, cin * 100 + cout);
            Tensor x = Tensor.of(Init.cpu(0).device(), xv, 2, cin, h, h);
            float[] exp = expectedSkip(xv, 2, cin, h, h, cout, stride);
            float k = (float) (1 / Math.sqrt(1 + BatchNorm2d.EPS));
            for (int branch : new int[] {0, 1}) {
                Tensor y = u.unit.forward(x, branch);
                int ho = stride == 1 ? h : (h + 1) / 2;
                assertArrayEquals(new int[] {2, cout, ho, ho}, y.shape().dims());
                float[] yv = y.toFloatArray();
                float shift = branch == 1 ? 0.5f : 0f; // only branch 1's BN_c was changed
                for (int i = 0; i < yv.length; i++) {
                    assertEquals(exp[i] * k + shift, yv[i], 1e-5, cin + "->" + cout + " s" + stride + " @" + i);
                }
            }
        }
    }

    @Test
    void identitySkip() {
        checkSkip(6, 6, 1, 4);
    }

    @Test
    void tilingSkip() {
        checkSkip(4, 12, 1, 3);
    }

    @Test
    void foldingSkipWithPartialGroup() {
        checkSkip(12, 4, 1, 3);
        checkSkip(10, 4, 1, 3);
        checkSkip(7, 3, 1, 2);
    }

    @Test
    void stridedSkipPoolsEvenAndOddSizes() {
        checkSkip(5, 5, 2, 4);
        checkSkip(4, 8, 2, 6);
        checkSkip(8, 4, 2, 4);
        checkSkip(3, 3, 2, 5); // odd: windows at 0, 2, 4, the last one half outside (zero)
        checkSkip(3, 3, 2, 7);
        checkSkip(4, 4, 2, 3); // h = 3: the reference's top-left mean on every output position
        checkSkip(4, 8, 2, 3);
        checkSkip(8, 4, 2, 3);
        checkSkip(2, 6, 2, 1);
    }

    @Test
    void skipSizesAndUnsupportedStrides() {
        assertEquals(4, SkipPool.outSize(7, 2));
        assertEquals(3, SkipPool.outSize(6, 2));
        assertEquals(2, SkipPool.outSize(6, 3));
        assertThrows(IllegalArgumentException.class, () -> SkipPool.outSize(7, 3));
    }
}
