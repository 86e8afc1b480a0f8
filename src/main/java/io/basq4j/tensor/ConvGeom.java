package io.basq4j.tensor;

/** The geometry of a 2-D convolution (NCHW input, [Cout, Cin/groups, KH, KW] weights, dilation 1). */
public record ConvGeom(int n, int cin, int h, int w, int cout, int kh, int kw, int sh, int sw, int ph, int pw,
        int groups) {

    public ConvGeom {
        if (n <= 0 || cin <= 0 || h <= 0 || w <= 0 || cout <= 0 || kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0
                || ph < 0 || pw < 0 || groups <= 0 || cin % groups != 0 || cout % groups != 0) {
            throw new IllegalArgumentException("invalid convolution geometry " + this);
        }
        if ((h + 2 * ph - kh) < 0 || (w + 2 * pw - kw) < 0) {
            throw new IllegalArgumentException("kernel larger than padded input: " + this);
        }
    }

    public int ho() {
        return (h + 2 * ph - kh) / sh + 1;
    }

    public int wo() {
        return (w + 2 * pw - kw) / sw + 1;
    }

    /** Geometry for input {@code x} [N,C,H,W] and weight shape [Cout, Cin/g, KH, KW]. */
    public static ConvGeom of(Shape x, Shape w, int stride, int pad, int groups) {
        if (x.rank() != 4 || w.rank() != 4) {
            throw new IllegalArgumentException("conv2d needs 4-D input and weight, got " + x + " and " + w);
        }
        if (w.dim(1) * groups != x.dim(1)) {
            throw new IllegalArgumentException("conv2d weight " + w + " with groups " + groups
                    + " does not match input channels of " + x);
        }
        return new ConvGeom(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), stride, stride,
                pad, pad, groups);
    }
}
