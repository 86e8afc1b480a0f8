package io.basq4j.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.Test;

/** The README's embedding example: kernels on plain direct buffers, no Tensor, no autograd. */
class EmbeddingExampleTest {
    static FloatBuffer direct(int n) {
        return ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    @Test
    void clipQuantizerOnDirectBuffers() {
        int n = 1000;
        FloatBuffer x = direct(n);
        FloatBuffer y = direct(n);
        FloatBuffer dy = direct(n);
        FloatBuffer dx = direct(n);
        Random r = new Random(4);
        for (int i = 0; i < n; i++) {
            x.put(i, (float) (r.nextGaussian() * 4));
            dy.put(i, (float) r.nextGaussian());
        }
        // --- as in README.md
        try (FloatPointer upper = new FloatPointer(6f); FloatPointer bin = new FloatPointer(1f - 1f / 3f);
                FloatPointer dUpper = new FloatPointer(1)) {
            Kernels.check(CpuKernels.basq_clip_quant_fwd(new FloatPointer(x), new FloatPointer(y), n, upper, bin),
                    "clip_quant_fwd");
            Kernels.check(CpuKernels.basq_clip_quant_bwd(new FloatPointer(x), new FloatPointer(dy),
                    new FloatPointer(dx), dUpper, n, upper), "clip_quant_bwd");
            // --- end of example
            float d = 6f * (1f - (1f - 1f / 3f));
            double du = 0;
            for (int i = 0; i < n; i++) {
                float xi = x.get(i);
                float c = Math.min(Math.max(xi, 0f), 6f);
                assertEquals((float) Math.rint(c / d) * d, y.get(i), 1e-6f, "y[" + i + "]");
                assertEquals(xi > 0 && xi < 6 ? dy.get(i) : 0f, dx.get(i), "dx[" + i + "]");
                du += xi > 6 ? dy.get(i) : 0;
            }
            assertEquals(du, dUpper.get(), 1e-5 * Math.max(1, Math.abs(du)));
        }
    }

    @Test
    void adamStepOnDirectBuffers() {
        int n = 1000;
        FloatBuffer w = direct(n);
        FloatBuffer dw = direct(n);
        FloatBuffer m = direct(n); // Adam's state starts at zero (a fresh direct buffer is zeroed)
        FloatBuffer v = direct(n);
        Random r = new Random(5);
        float[] w0 = new float[n];
        for (int i = 0; i < n; i++) {
            w0[i] = (float) (r.nextGaussian() * 0.01);
            w.put(i, w0[i]);
            dw.put(i, (float) r.nextGaussian());
        }
        // --- as in README.md
        int t = 1; // the step number, from 1
        double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 5e-6;
        Kernels.check(CpuKernels.basq_adam_step(new FloatPointer(w), new FloatPointer(dw), new FloatPointer(m),
                new FloatPointer(v), n, lr / (1 - Math.pow(beta1, t)), beta1, beta2, eps, weightDecay,
                Math.sqrt(1 - Math.pow(beta2, t))), "adam_step");
        // --- end of example
        // torch.optim.Adam's first step in float64: m = 0.1 g', v = 0.001 g'^2 with g' = g + wd * w
        double worst = 0;
        double scale = 0;
        for (int i = 0; i < n; i++) {
            double g = dw.get(i) + weightDecay * w0[i];
            double mi = (1 - beta1) * g;
            double vi = (1 - beta2) * g * g;
            double step = lr / (1 - beta1) * mi / (Math.sqrt(vi) / Math.sqrt(1 - beta2) + eps);
            assertEquals(mi, m.get(i), 1e-6 * Math.abs(mi), "m[" + i + "]");
            assertEquals(vi, v.get(i), 1e-6 * vi, "v[" + i + "]");
            worst = Math.max(worst, Math.abs((w0[i] - w.get(i)) - step));
            scale = Math.max(scale, Math.abs(step));
        }
        assertEquals(true, scale > 9e-4, "the first step moves every weight by about lr");
        assertEquals(true, worst <= 2e-6 * scale, "update error " + worst + " of " + scale);
    }

    @Test
    void badSizesReturnAnErrorCode() {
        try (FloatPointer p = new FloatPointer(1f)) {
            assertEquals(CpuKernels.EINVAL, CpuKernels.basq_clip_quant_fwd(p, p, -1, p, p));
        }
    }
}
