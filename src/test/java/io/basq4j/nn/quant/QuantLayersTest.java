package io.basq4j.nn.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.nn.Init;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

class QuantLayersTest {
    private static float[] data(Tensor t) {
        return t.toFloatArray();
    }

    @Test
    void clipQuantizerInitialValues() {
        for (int bits = 2; bits <= 4; bits++) {
            try (ClipQuantizer q = new ClipQuantizer(Init.cpu(0), bits, 3)) {
                int n = 1 << bits;
                assertEquals(1f - 1f / (n - 1), q.bin().tensor().item());
                assertEquals(6f, q.upperBound().tensor().item());
                assertEquals(3, q.upperBound().branch());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new ClipQuantizer(Init.cpu(0), 5, 0));
    }

    @Test
    void clipQuantizerGivesNoGradientToBin() {
        try (ClipQuantizer q = new ClipQuantizer(Init.cpu(0), 2, 0); Scope s = Scope.open()) {
            Tensor x = Tensor.of(Init.cpu(0).device(), new float[] {-1f, 0.9f, 2.1f, 7f}, 1, 4, 1, 1)
                    .setRequiresGrad(true);
            Tensor y = q.forward(x);
            // d = 6/3 = 2: round(c/2)*2
            assertArrayEquals(new float[] {0f, 0f, 2f, 6f}, data(y));
            Autograd.backward(F.crossEntropy(F.reshape(y, 1, 4), Tensor.ofLongs(x.device(), new long[] {1}, 1)));
            assertNull(q.bin().grad());
            assertTrue(q.upperBound().grad() != null);
        }
    }

    @Test
    void lsqActivationInitFromBatch() {
        Init init = Init.cpu(7);
        try (LsqActQuantizer q = new LsqActQuantizer(init, 3, 3); Scope s = Scope.open()) {
            Tensor x = init.uniform(2.0, 4, 3, 5, 5);
            float[] xv = data(x);
            q.requestInit();
            assertTrue(q.initPending());
            Tensor y = q.forward(x);
            assertFalse(q.initPending());
            assertTrue(q.initialized());
            float[] steps = data(q.step().tensor());
            for (int c = 0; c < 3; c++) {
                double sum = 0;
                for (int n = 0; n < 4; n++) {
                    for (int i = 0; i < 25; i++) {
                        sum += Math.abs(xv[(n * 3 + c) * 25 + i]);
                    }
                }
                double expected = 2 * (sum / 100) / Math.sqrt(7);
                assertEquals(expected, steps[c], 1e-6 * expected);
            }
            // the same forward already used the new steps
            float[] yv = data(y);
            for (int i = 0; i < yv.length; i++) {
                int c = (i / 25) % 3;
                double v = Math.min(Math.max(xv[i] / steps[c], 0), 7);
                assertEquals(Math.rint(v) * steps[c], yv[i], 1e-5);
            }
            // a second forward does not re-initialize
            q.step().tensor().fill(0.5f);
            q.forward(x);
            assertEquals(0.5f, data(q.step().tensor())[0]);
        }
    }

    @Test
    void qconvLayoutInitAndWeightQuantization() {
        Init init = Init.cpu(11);
        try (QConv2d conv = new QConv2d(init, 4, 6, 3, 2, 1, 2, 2); Scope s = Scope.open()) {
            Tensor w = conv.weights().tensor();
            assertArrayEquals(new int[] {6 * 2 * 3 * 3, 1}, w.shape().dims());
            float[] wv = data(w);
            double maxAbs = 0;
            for (float v : wv) {
                maxAbs = Math.max(maxAbs, Math.abs(v));
            }
            assertTrue(maxAbs <= 0.01 && maxAbs > 0.008, "uniform in [-0.01, 0.01]: " + maxAbs);
            assertArrayEquals(new int[] {6}, conv.quantizer().step().tensor().shape().dims());

            // off: the weights are used as they are
            assertFalse(conv.quantizesWeights());
            assertArrayEquals(wv, data(conv.effectiveWeight()));

            // on with re-initialization: s[o] = 2 mean|w[o]| / sqrt(Qp), Qp = 1 for 2 bits
            conv.setWeightQuantization(true, true);
            float[] st = data(conv.quantizer().step().tensor());
            float[] q = data(conv.effectiveWeight());
            int per = 18;
            for (int o = 0; o < 6; o++) {
                double sum = 0;
                for (int i = 0; i < per; i++) {
                    sum += Math.abs(wv[o * per + i]);
                }
                assertEquals(2 * sum / per, st[o], 1e-6);
                for (int i = 0; i < per; i++) {
                    double v = Math.min(Math.max(wv[o * per + i] / st[o], -1), 1);
                    assertEquals(Math.rint(v) * st[o], q[o * per + i], 1e-7);
                }
            }
            // on without re-initialization keeps the steps
            conv.quantizer().step().tensor().fill(0.25f);
            conv.setWeightQuantization(true, false);
            assertEquals(0.25f, data(conv.quantizer().step().tensor())[5]);

            // forward and backward reach the flat weights and the steps
            Tensor x = init.uniform(1.0, 2, 4, 5, 5);
            Tensor y = conv.forward(x);
            assertArrayEquals(new int[] {2, 6, 3, 3}, y.shape().dims());
            Autograd.backward(F.crossEntropy(F.globalAvgPool(y), Tensor.ofLongs(x.device(), new long[] {0, 5}, 2)));
            assertArrayEquals(new int[] {108, 1}, conv.weights().grad().shape().dims());
            assertArrayEquals(new int[] {6}, conv.quantizer().step().grad().shape().dims());
        }
    }
}
