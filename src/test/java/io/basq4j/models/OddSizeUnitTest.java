package io.basq4j.models;

import static io.basq4j.kernels.KernelTestSupport.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.quant.ClipQuantizer;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The stride-2 branch unit on a 3 x 3 input (MobileNet-v2's feature 14 at resolution 48), where
 * the reference floors its 2 x 2 skip pooling to 1 x 1 and broadcasts it over the 2 x 2
 * convolution output: every unit value, in training and evaluation mode, layer by layer and
 * fused, against {@link UnitReference64}.
 */
class OddSizeUnitTest {
    private static final int N = 4;
    private static final int H = 3;

    private static double[] gaussian(Random r, int n, double scale, double shift) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale + shift); // values exactly representable in float
        }
        return a;
    }

    private static double[] uniform(Random r, int n, double lo, double hi) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (lo + r.nextDouble() * (hi - lo));
        }
        return a;
    }

    private static float[] f(double[] a) {
        float[] o = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            o[i] = (float) a[i];
        }
        return o;
    }

    private static UnitReference64.Bn randomBn(Random r, int c) {
        return new UnitReference64.Bn(gaussian(r, c, 0.2, 1), gaussian(r, c, 0.3, 0), gaussian(r, c, 0.2, 0),
                uniform(r, c, 0.5, 1.5));
    }

    private static void load(BatchNorm2d bn, UnitReference64.Bn p) {
        Tensor[] t = bn.tensors();
        t[0].copyFrom(f(p.gamma()));
        t[1].copyFrom(f(p.beta()));
        t[2].copyFrom(f(p.mean()));
        t[3].copyFrom(f(p.var()));
    }

    /** One configuration of the unit, built and compared in every mode and path. */
    private static void check(int cin, int cout, int groups, long seed) {
        Random r = new Random(seed);
        int branch = 1;
        double[] x = gaussian(r, N * cin * H * H, 1, 0.2);
        double[] wt = gaussian(r, cout * (cin / groups) * 9, 0.5, 0);
        UnitReference64.Bn a = randomBn(r, cin);
        UnitReference64.Bn b = randomBn(r, cout);
        UnitReference64.Bn c = randomBn(r, cout);
        double upper = uniform(r, 1, 1.5, 3)[0];
        for (boolean training : new boolean[] {false, true}) {
            UnitReference64 ref = new UnitReference64(N);
            double[] expected = ref.unit(x, cin, H, cout, groups, 2, 2, a, upper, wt, b, c, training);
            // no quantizer input within 1e-4 of a rounding boundary, where float noise could flip a level
            assertTrue(ref.margin > 1e-4, "seed " + seed + " puts a value at a rounding boundary: " + ref.margin);
            for (boolean fused : new boolean[] {true, false}) {
                boolean was = F.fusion();
                F.setFusion(fused);
                try (BranchUnitTest.Holder u = new BranchUnitTest.Holder(cin, cout, 2, groups, 2);
                        Scope s = Scope.open(); GradMode g = training ? null : GradMode.off()) {
                    load(u.bq.get(branch).get(0), a);
                    ClipQuantizer q = u.bq.get(branch).get(1);
                    q.upperBound().tensor().copyFrom(new float[] {(float) upper});
                    u.conv.weights().tensor().copyFrom(f(wt));
                    load(u.br.get(branch).get(0), b);
                    load(u.last.get(branch), c);
                    u.train(training);
                    Tensor y = u.unit.forward(Tensor.of(Device.CPU, f(x), N, cin, H, H), branch);
                    assertArrayEquals(new int[] {N, cout, 2, 2}, y.shape().dims());
                    String what = cin + "->" + cout + (training ? " training" : " eval") + (fused ? " fused" : "");
                    assertClose(what, expected, y.toFloatArray(), 2e-5);
                } finally {
                    F.setFusion(was);
                }
            }
        }
    }

    @Test
    void depthwiseUnitAtSize3BroadcastsTheFlooredPooling() {
        check(6, 6, 6, 11);
    }

    @Test
    void fullConvolutionUnitsAtSize3TileAndFoldThenBroadcast() {
        check(4, 8, 1, 12); // tiling skip, as a ResNet unit
        check(8, 4, 1, 13); // folding skip
    }

    @Test
    void theBroadcastSkipSendsEveryOutputsGradientToTheTopLeftWindow() {
        Random r = new Random(3);
        double[] x = gaussian(r, 2 * 3 * 9, 1, 0);
        double[] g = gaussian(r, 2 * 3 * 4, 1, 0);
        try (Scope s = Scope.open(); Tensor xt = Tensor.of(Device.CPU, f(x), 2, 3, 3, 3).setRequiresGrad(true)) {
            Tensor y = SkipPool.pool(xt, 2);
            assertArrayEquals(new int[] {2, 3, 2, 2}, y.shape().dims());
            // loss = sum(g * y)
            Tensor loss = F.linear(F.reshape(y, 1, 24), Tensor.of(Device.CPU, f(g), 1, 24), null);
            Autograd.backward(F.reshape(loss, 1));
            double[] expected = new double[x.length];
            for (int p = 0; p < 6; p++) { // (n, c) planes
                double sum = 0;
                for (int k = 0; k < 4; k++) {
                    sum += g[p * 4 + k];
                }
                for (int i = 0; i < 2; i++) {
                    for (int j = 0; j < 2; j++) {
                        expected[p * 9 + i * 3 + j] = sum / 4;
                    }
                }
            }
            assertClose("d skip / dx", expected, xt.grad().toFloatArray(), 1e-6);
        }
    }

    @Test
    void mobileNetAtResolution48MeetsSize3InFeature14AndRunsBothPaths() {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(48).withClasses(10).withBits(2)
                .withSeed(3);
        int[] arch = new int[17];
        java.util.Arrays.fill(arch, 2);
        float[] x = f(gaussian(new Random(4), 2 * 3 * 48 * 48, 1, 0));
        float[][] logits = new float[2][];
        int[][] shape14 = new int[2][];
        int k = 0;
        for (boolean fused : new boolean[] {true, false}) {
            boolean was = F.fusion();
            F.setFusion(fused);
            try (Supernet m = Models.create("mobilenetv2", cfg); Scope s = Scope.open()) {
                assertEquals(2, m.features().get(14).info().outSize(), "feature 14: 3x3 in, 2x2 out");
                final int slot = k;
                Tensor out = m.forward(Tensor.of(Device.CPU, x, 2, 3, 48, 48), arch, (i, t) -> {
                    if (i == 13) {
                        shape14[slot] = t.shape().dims();
                    }
                });
                logits[k] = out.toFloatArray();
                m.clearGrads();
            } finally {
                F.setFusion(was);
            }
            k++;
        }
        assertEquals(3, shape14[0][2], "feature 14's input is 3x3");
        assertClose("fused vs layer by layer", io.basq4j.kernels.KernelTestSupport.toDouble(logits[1]), logits[0], 1e-5);
    }
}
