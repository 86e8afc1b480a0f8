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
    void badSizesReturnAnErrorCode() {
        try (FloatPointer p = new FloatPointer(1f)) {
            assertEquals(CpuKernels.EINVAL, CpuKernels.basq_clip_quant_fwd(p, p, -1, p, p));
        }
    }
}
