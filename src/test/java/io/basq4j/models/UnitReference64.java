package io.basq4j.models;

import io.basq4j.nn.BatchNorm2d;

/**
 * A branch unit of SPEC 2 (and its pieces) in float64 loops, written from the SPEC alone, for
 * tests: {@code y = BN_c(ReLU(BN_b(conv3x3_s(Q_clip(BN_a(x))))) + skip(x))} on [N, C, H, W]
 * arrays. The skip is F(cin -> cout) followed, for stride 2, by the reference's pooling: a 2 x 2
 * average pooling that floors, broadcast over the convolution's output where that size is 1
 * (h = 3); even sizes pool plainly. Other odd sizes are not modelled here.
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

    /** Training mode: batch statistics (biased variance); evaluation: running statistics. */
    double[] batchNorm(double[] x, int c, int hw, Bn p, boolean training) {
        double[] y = new double[x.length];
        for (int ch = 0; ch < c; ch++) {
            double mean;
            double var;
            if (training) {
                double s = 0;
                for (int b = 0; b < n; b++) {
                    for (int i = 0; i < hw; i++) {
                        s += x[(b * c + ch) * hw + i];
                    }
                }
                mean = s / (n * hw);
                double q = 0;
                for (int b = 0; b < n; b++) {
                    for (int i = 0; i < hw; i++) {
                        double d = x[(b * c + ch) * hw + i] - mean;
                        q += d * d;
                    }
                }
                var = q / (n * hw);
            } else {
                mean = p.mean()[ch];
                var = p.var()[ch];
            }
            double inv = 1 / Math.sqrt(var + BatchNorm2d.EPS);
            for (int b = 0; b < n; b++) {
                for (int i = 0; i < hw; i++) {
                    int k = (b * c + ch) * hw + i;
                    y[k] = (x[k] - mean) * inv * p.gamma()[ch] + p.beta()[ch];
                }
            }
        }
        return y;
    }

    /** SPEC 1.1 with the initial bin (step u / (levels - 1)). */
    double[] clipQuant(double[] x, double u, int bits) {
        double d = u / ((1 << bits) - 1);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double c = Math.min(Math.max(x[i], 0), u);
            double r = c / d;
            margin = Math.min(margin, Math.abs(r - Math.floor(r) - 0.5));
            y[i] = Math.rint(r) * d;
        }
        return y;
    }

    /** 3 x 3 convolution, padding 1, weights [cout, cin/groups, 3, 3]. */
    double[] conv3x3(double[] x, int cin, int h, int w, double[] wt, int cout, int groups, int stride) {
        int ho = (h + 2 - 3) / stride + 1;
        int wo = (w + 2 - 3) / stride + 1;
        int cpg = cin / groups;
        int opg = cout / groups;
        double[] y = new double[n * cout * ho * wo];
        for (int b = 0; b < n; b++) {
            for (int o = 0; o < cout; o++) {
                int g = o / opg;
                for (int i = 0; i < ho; i++) {
                    for (int j = 0; j < wo; j++) {
                        double s = 0;
                        for (int ci = 0; ci < cpg; ci++) {
                            int c = g * cpg + ci;
                            for (int ki = 0; ki < 3; ki++) {
                                for (int kj = 0; kj < 3; kj++) {
                                    int hi = i * stride - 1 + ki;
                                    int wj = j * stride - 1 + kj;
                                    if (hi >= 0 && hi < h && wj >= 0 && wj < w) {
                                        s += x[((b * cin + c) * h + hi) * w + wj]
                                                * wt[((o * cpg + ci) * 3 + ki) * 3 + kj];
                                    }
                                }
                            }
                        }
                        y[((b * cout + o) * ho + i) * wo + j] = s;
                    }
                }
            }
        }
        return y;
    }

    /** F(cin -> cout): tiling (cin < cout), folding (cin > cout), identity. */
    double[] flexSkip(double[] x, int cin, int cout, int hw) {
        double[] y = new double[n * cout * hw];
        for (int b = 0; b < n; b++) {
            for (int k = 0; k < cout; k++) {
                for (int c = 0; c < cin; c++) {
                    boolean take = cin <= cout ? c == k % cin : c % cout == k;
                    if (take) {
                        for (int i = 0; i < hw; i++) {
                            y[(b * cout + k) * hw + i] += x[(b * cin + c) * hw + i];
                        }
                    }
                }
            }
        }
        return y;
    }

    /**
     * The reference's stride-2 skip pooling on [n, c, h, w] (each of h, w even or 3): floor 2 x 2
     * pooling, broadcast to the convolution's output size (h + 1) / 2.
     */
    double[] referencePool(double[] x, int c, int h, int w) {
        int hp = h / 2;
        int wp = w / 2;
        int ho = (h + 1) / 2;
        int wo = (w + 1) / 2;
        double[] y = new double[n * c * ho * wo];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                for (int i = 0; i < ho; i++) {
                    for (int j = 0; j < wo; j++) {
                        int pi = hp == 1 ? 0 : i; // broadcast a size-1 axis
                        int pj = wp == 1 ? 0 : j;
                        double s = 0;
                        for (int di = 0; di < 2; di++) {
                            for (int dj = 0; dj < 2; dj++) {
                                s += x[((b * c + ch) * h + 2 * pi + di) * w + 2 * pj + dj];
                            }
                        }
                        y[((b * c + ch) * ho + i) * wo + j] = s / 4;
                    }
                }
            }
        }
        return y;
    }

    /** The whole unit; {@code wt} [cout, cin/groups, 3, 3]. */
    double[] unit(double[] x, int cin, int h, int cout, int groups, int stride, int bits, Bn a, double upper,
            double[] wt, Bn bnB, Bn c, boolean training) {
        double[] t = batchNorm(x, cin, h * h, a, training);
        t = clipQuant(t, upper, bits);
        t = conv3x3(t, cin, h, h, wt, cout, groups, stride);
        int ho = (h + 2 - 3) / stride + 1;
        t = batchNorm(t, cout, ho * ho, bnB, training);
        double[] skip = flexSkip(x, cin, cout, h * h);
        if (stride == 2) {
            skip = referencePool(skip, cout, h, h);
        }
        for (int i = 0; i < t.length; i++) {
            t[i] = Math.max(t[i], 0) + skip[i];
        }
        return batchNorm(t, cout, ho * ho, c, training);
    }
}
