package io.basq4j.models;

import io.basq4j.autograd.F;
import io.basq4j.tensor.Tensor;

/**
 * The spatial part of the unit skips: s x s average pooling for stride s > 1 (SPEC 2).
 *
 * <p>Choice made here (SPEC and the reference cover only even sizes): a stride-2 convolution
 * with kernel 3 and padding 1 turns an odd size h into (h + 1) / 2, while a 2 x 2 pooling would
 * give h / 2 and the sum would not fit. For an odd size the skip therefore averages each 2 x 2
 * window starting at the sampled position with the missing row/column counted as zero (a
 * zero-padded, ceil-mode pooling), computed as a fixed depthwise convolution. Even sizes use the
 * plain pooling, exactly as the reference.
 */
final class SkipPool {
    private SkipPool() {
    }

    /** Output size of the skip for input size {@code h} and {@code stride}. */
    static int outSize(int h, int stride) {
        if (stride == 1) {
            return h;
        }
        if (h % stride == 0) {
            return h / stride;
        }
        if (stride == 2) {
            return (h + 1) / 2;
        }
        throw new IllegalArgumentException("stride " + stride + " skip on a size " + h + " not divisible by it");
    }

    static Tensor pool(Tensor x, int stride) {
        if (stride == 1) {
            return x;
        }
        int h = x.dim(2);
        int w = x.dim(3);
        if (h % stride == 0 && w % stride == 0) {
            return F.avgPool(x, stride, stride);
        }
        if (stride != 2) {
            throw new IllegalArgumentException("stride " + stride + " skip on " + x.shape());
        }
        int c = x.dim(1);
        float[] k = new float[c * 9];
        for (int ch = 0; ch < c; ch++) {
            // taps (1,1) (1,2) (2,1) (2,2) of the 3x3 window centred on the sampled position
            k[ch * 9 + 4] = 0.25f;
            k[ch * 9 + 5] = 0.25f;
            k[ch * 9 + 7] = 0.25f;
            k[ch * 9 + 8] = 0.25f;
        }
        Tensor kernel = Tensor.of(x.device(), k, c, 1, 3, 3);
        return F.conv2d(x, kernel, 2, 1, c);
    }

    /**
     * {@link #pool} told to a {@link GraphWriter}: plain s x s average pooling, or for an odd size
     * at stride 2 the 2 x 2 windows with a zero row/column appended (counted in the mean), which is
     * what the depthwise convolution above computes.
     */
    static <T> T describe(GraphWriter<T> g, T x, int stride) {
        if (stride == 1) {
            return x;
        }
        int[] s = g.shape(x);
        int h = s[1];
        int w = s[2];
        if (h % stride == 0 && w % stride == 0) {
            return g.avgPool(x, stride, stride, 0, 0);
        }
        if (stride != 2) {
            throw new IllegalArgumentException("stride " + stride + " skip on a " + h + "x" + w + " map");
        }
        return g.avgPool(x, 2, 2, h % 2, w % 2);
    }
}
