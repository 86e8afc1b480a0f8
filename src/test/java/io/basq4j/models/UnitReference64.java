package io.basq4j.models;

import io.basq4j.nn.BatchNorm2d;
import io.basq4j.testutil.Ref64;

/**
 * A branch unit of SPEC 2 in float64 loops ({@link Ref64}), for tests:
 * {@code y = BN_c(ReLU(BN_b(conv3x3_s(Q_clip(BN_a(x))))) + skip(x))} on [N, C, H, W] arrays,
 * with the clip quantizer's initial bin (step u / (levels - 1)). The skip is F(cin -> cout)
 * followed, for stride 2, by the reference's pooling: a 2 x 2 average pooling that floors,
 * broadcast over the convolution's output where that size is 1 (h = 3); even sizes pool
 * plainly. Other odd sizes are not modelled here.
 */
final class UnitReference64 {
    /** Batch-norm parameters of one layer: gamma, beta, running mean, running variance. */
    record Bn(double[] gamma, double[] beta, double[] mean, double[] var) {
    }

    /** The smallest distance of a clip quantizer's c/d to a rounding boundary (k + 1/2) seen so far. */
    double margin = Double.POSITIVE_INFINITY;

    final int n;

    UnitReference64(int n) {
        this.n = n;
    }

    double[] batchNorm(double[] x, int c, int hw, Bn p, boolean training) {
        return Ref64.batchNorm(x, n, c, hw, p.gamma(), p.beta(), p.mean(), p.var(), training, BatchNorm2d.EPS);
    }

    /** SPEC 1.1 with the initial bin (step u / (levels - 1)); records the rounding margin. */
    double[] clipQuant(double[] x, double u, int bits) {
        double d = u / ((1 << bits) - 1);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double c = Math.min(Math.max(x[i], 0), u);
            double r = c / d;
            if (c > 0 && c < u) {
                margin = Math.min(margin, Ref64.roundingMargin(r));
            }
            y[i] = Math.rint(r) * d;
        }
        return y;
    }

    /** The whole unit on a square input of size h; {@code wt} [cout, cin/groups, 3, 3]. */
    double[] unit(double[] x, int cin, int h, int cout, int groups, int stride, int bits, Bn a, double upper,
            double[] wt, Bn bnB, Bn c, boolean training) {
        double[] t = batchNorm(x, cin, h * h, a, training);
        t = clipQuant(t, upper, bits);
        t = Ref64.conv2d(t, n, cin, h, h, wt, cout, 3, stride, 1, groups);
        int ho = (h + 2 - 3) / stride + 1;
        t = batchNorm(t, cout, ho * ho, bnB, training);
        double[] skip = Ref64.flexSkip(x, n, cin, cout, h * h);
        if (stride == 2) {
            skip = Ref64.referenceSkipPool(skip, n, cout, h, h);
        }
        return batchNorm(Ref64.add(Ref64.relu(t), skip), cout, ho * ho, c, training);
    }
}
