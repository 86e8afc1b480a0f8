package io.basq4j.models;

import io.basq4j.nn.BatchNorm2d;
import io.basq4j.nn.Conv2d;
import io.basq4j.nn.Linear;
import io.basq4j.nn.quant.ClipQuantizer;
import io.basq4j.nn.quant.LsqActQuantizer;
import io.basq4j.nn.quant.QConv2d;

/**
 * Receives a network as a sequence of layer applications, in evaluation mode: what
 * {@link Supernet#describe} tells an exporter (see {@code io.basq4j.deploy.onnx}). Values are of
 * the writer's own type {@code T} (for example the names of graph values); every call returns the
 * value it produces. Values are batched [N, C, H, W] tensors until {@link #globalAvgPool}, then
 * [N, C]; the batch size is free.
 *
 * <p>The calls mean exactly what the layers compute in evaluation mode (SPEC 1, 2): batch norm
 * with the running statistics, the quantizers as their kernels define them, no dropout.
 */
public interface GraphWriter<T> {
    /** Channels, height and width of a value (without the batch); [C] after {@link #globalAvgPool}. */
    int[] shape(T x);

    /** Full-precision convolution without bias (the stems). */
    T conv(T x, Conv2d conv);

    /** Convolution without bias whose weights pass the LSQ weight quantizer when {@link QConv2d#quantizesWeights()}. */
    T quantizedConv(T x, QConv2d conv);

    /** Batch norm with the running statistics, eps {@link BatchNorm2d#EPS}. */
    T batchNorm(T x, BatchNorm2d bn);

    T relu(T x);

    /** The clip quantizer of SPEC 1.1 (one bound and bin, per tensor). */
    T clipQuant(T x, ClipQuantizer q);

    /** The unsigned per-channel LSQ activation quantizer of SPEC 1.2. */
    T lsqActivation(T x, LsqActQuantizer q);

    /** The flexible channel mapping F(C -> cout) of SPEC 2 (identity, tiling or folding), at stride 1. */
    T flexSkip(T x, int cout);

    /**
     * Average pooling, {@code kernel} x {@code kernel} windows every {@code stride}, with
     * {@code padBottom} zero rows and {@code padRight} zero columns appended, the zeros counted in
     * every window's mean (the divisor is always kernel^2).
     */
    T avgPool(T x, int kernel, int stride, int padBottom, int padRight);

    /**
     * Repeats an axis of size 1 to size {@code h} (height) or {@code w} (width); an axis that
     * already has that size stays as it is.
     */
    T broadcast(T x, int h, int w);

    /** Max pooling with {@code pad} on every side (padding never wins). */
    T maxPool(T x, int kernel, int stride, int pad);

    T add(T a, T b);

    /** Mean over height and width: [N, C, H, W] to [N, C]. */
    T globalAvgPool(T x);

    /** The fully connected classifier (weights and bias). */
    T linear(T x, Linear fc);
}
