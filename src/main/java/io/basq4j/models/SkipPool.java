package io.basq4j.models;

import io.basq4j.autograd.F;
import io.basq4j.tensor.Tensor;

/**
 * The spatial part of the unit skips: s x s average pooling for stride s > 1 (SPEC 2).
 *
 * <p>A stride-2 convolution with kernel 3 and padding 1 turns a size h into (h + 1) / 2, while
 * the reference's 2 x 2 pooling ({@code AvgPool2d(2, 2)}) floors to h / 2, and the reference
 * then adds the two with broadcasting. Per spatial axis, therefore:
 * <ul>
 * <li>h even: the plain pooling, exactly as the reference;
 * <li>h = 3 (where the reference still runs): as the reference, the pooling floors to size 1
 * (the mean of the first 2 x 2 window) and that value is broadcast over the convolution's
 * output size 2. MobileNet-v2 meets this at resolution 48 (feature 14);
 * <li>any other odd size (h = 1 or h >= 5, where the reference's addition fails): this
 * project's own rule, used when either axis needs it. Each 2 x 2 window starts at the
 * sampled position and the missing row or column counts as zero (a zero-padded, ceil-mode
 * pooling that always divides by 4), computed as a fixed depthwise convolution.
 * </ul>
 * The ResNet units, which have no reference code, follow the same rules.
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

    /** Whether the reference's floor-and-broadcast runs on an axis of size {@code h} at stride 2. */
    private static boolean referenceRuns(int h) {
        return h % 2 == 0 || h == 3;
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
        if (referenceRuns(h) && referenceRuns(w)) {
            return broadcast(F.avgPool(x, 2, 2), (h + 1) / 2, (w + 1) / 2);
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
     * {@link #pool} told to a {@link GraphWriter}, with the same rules: plain s x s average
     * pooling; at stride 2 where the reference runs on both axes (even sizes, 3), the floored 2 x 2
     * pooling broadcast to the convolution's size; elsewhere the 2 x 2 windows with a zero
     * row/column appended and counted in the mean, which is what the depthwise convolution computes.
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
        if (referenceRuns(h) && referenceRuns(w)) {
            return g.broadcast(g.avgPool(x, 2, 2, 0, 0), (h + 1) / 2, (w + 1) / 2);
        }
        return g.avgPool(x, 2, 2, h % 2, w % 2);
    }

    /**
     * Broadcasts p [N, C, hp, wp] to [N, C, ho, wo] where each of hp, wp is either the target size
     * or 1 (then repeated), as a fixed 0/1 matrix applied to each channel's plane (exact in the
     * forward; the backward sums the repeated positions).
     */
    private static Tensor broadcast(Tensor p, int ho, int wo) {
        int n = p.dim(0);
        int c = p.dim(1);
        int hp = p.dim(2);
        int wp = p.dim(3);
        if (hp == ho && wp == wo) {
            return p;
        }
        float[] m = new float[ho * wo * hp * wp];
        for (int i = 0; i < ho; i++) {
            for (int j = 0; j < wo; j++) {
                int src = (hp == 1 ? 0 : i) * wp + (wp == 1 ? 0 : j);
                m[(i * wo + j) * hp * wp + src] = 1f;
            }
        }
        Tensor matrix = Tensor.of(p.device(), m, ho * wo, hp * wp);
        Tensor planes = F.linear(F.reshape(p, n * c, hp * wp), matrix, null);
        return F.reshape(planes, n, c, ho, wo);
    }
}
