package io.basq4j.nn;

import io.basq4j.autograd.F;
import io.basq4j.tensor.Tensor;

/**
 * Full-precision, bias-free 2-D convolution (the stems): parameter {@code weight}
 * [cout, cin/groups, k, k] in group {@link Parameter.Group#CONV_WEIGHT}, PyTorch's default
 * initialization (uniform in +-1/sqrt(fan in)).
 */
public final class Conv2d extends Module implements Layer {
    private final Parameter weight;
    private final int cin;
    private final int cout;
    private final int kernel;
    private final int stride;
    private final int pad;
    private final int groups;

    public Conv2d(Init init, int cin, int cout, int kernel, int stride, int pad, int groups) {
        if (cin % groups != 0 || cout % groups != 0) {
            throw new IllegalArgumentException("conv " + cin + "->" + cout + " with " + groups + " groups");
        }
        this.cin = cin;
        this.cout = cout;
        this.kernel = kernel;
        this.stride = stride;
        this.pad = pad;
        this.groups = groups;
        int fanIn = cin / groups * kernel * kernel;
        weight = parameter("weight", init.fanIn(fanIn, cout, cin / groups, kernel, kernel),
                Parameter.Group.CONV_WEIGHT);
    }

    public Parameter weight() {
        return weight;
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

    public int pad() {
        return pad;
    }

    public int groups() {
        return groups;
    }

    /** Output size of a spatial size {@code h}. */
    public int outSize(int h) {
        return (h + 2 * pad - kernel) / stride + 1;
    }

    @Override
    public Tensor forward(Tensor x) {
        return F.conv2d(x, weight.tensor(), stride, pad, groups);
    }
}
