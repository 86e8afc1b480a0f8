package io.basq4j.nn.quant;

import io.basq4j.autograd.F;
import io.basq4j.nn.Init;
import io.basq4j.nn.Layer;
import io.basq4j.nn.Module;
import io.basq4j.nn.Parameter;
import io.basq4j.tensor.Tensor;

/**
 * Bias-free convolution whose weights pass the LSQ weight quantizer when weight quantization is
 * on (SPEC 1.3, 2). Reference layout: the weights are stored flat as {@code weights}
 * [cout * cin/groups * k * k, 1] (group CONV_WEIGHT, drawn uniformly in [-0.01, 0.01]) and the
 * quantizer as {@code w_quantize.s} [cout]. The forward views the flat weights as
 * [cout, cin/groups, k, k] (no copy) and quantizes them once per call.
 */
public final class QConv2d extends Module implements Layer {
    public static final double INIT_BOUND = 0.01;

    private final Parameter weights;
    private final LsqWeightQuantizer quantizer;
    private final int cin;
    private final int cout;
    private final int kernel;
    private final int stride;
    private final int pad;
    private final int groups;
    private boolean quantizeWeights;

    public QConv2d(Init init, int cin, int cout, int kernel, int stride, int pad, int groups, int bits) {
        if (cin % groups != 0 || cout % groups != 0) {
            throw new IllegalArgumentException("conv " + cin + "->" + cout + " with " + groups + " groups");
        }
        this.cin = cin;
        this.cout = cout;
        this.kernel = kernel;
        this.stride = stride;
        this.pad = pad;
        this.groups = groups;
        weights = parameter("weights", init.uniform(INIT_BOUND, cout * (cin / groups) * kernel * kernel, 1),
                Parameter.Group.CONV_WEIGHT);
        quantizer = register("w_quantize", new LsqWeightQuantizer(init, cout, bits));
    }

    public Parameter weights() {
        return weights;
    }

    public LsqWeightQuantizer quantizer() {
        return quantizer;
    }

    public int inChannels() {
        return cin;
    }

    public int outChannels() {
        return cout;
    }

    public int kernel() {
        return kernel;
    }

    public int stride() {
        return stride;
    }

    public int groups() {
        return groups;
    }

    public int pad() {
        return pad;
    }

    /** Output size of a spatial size {@code h}. */
    public int outSize(int h) {
        return (h + 2 * pad - kernel) / stride + 1;
    }

    public boolean quantizesWeights() {
        return quantizeWeights;
    }

    /**
     * Switches weight quantization; switching it on with {@code reinitialize} sets the steps from
     * the current weights (SPEC 1.3), without it the current (e.g. loaded) steps are kept.
     */
    public void setWeightQuantization(boolean on, boolean reinitialize) {
        if (on && reinitialize) {
            try (io.basq4j.tensor.Scope s = io.basq4j.tensor.Scope.open()) {
                quantizer.initFrom(weights.tensor().view(cout, (cin / groups) * kernel * kernel));
            }
        }
        quantizeWeights = on;
    }

    /** The weights as used by the convolution: [cout, cin/groups, k, k], quantized when switched on. */
    public Tensor effectiveWeight() {
        Tensor w = F.reshape(weights.tensor(), cout, cin / groups, kernel, kernel);
        return quantizeWeights ? quantizer.quantize(w) : w;
    }

    @Override
    public Tensor forward(Tensor x) {
        return F.conv2d(x, effectiveWeight(), stride, pad, groups);
    }
}
