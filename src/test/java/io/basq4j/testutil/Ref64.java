package io.basq4j.testutil;

import java.util.function.ToDoubleFunction;

/**
 * Float64 reference computations written from SPEC alone, for tests: plain loops over NCHW arrays
 * (shapes passed alongside), and central finite differences of float64 functions. Nothing here
 * calls the code under test.
 */
public final class Ref64 {
    private Ref64() {
    }

    public static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    /** Training mode: batch statistics with the biased variance; evaluation: the running ones. */
    public static double[] batchNorm(double[] x, int n, int c, int hw, double[] gamma, double[] beta,
            double[] runningMean, double[] runningVar, boolean training, double eps) {
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
                mean = runningMean[ch];
                var = runningVar[ch];
            }
            double inv = 1 / Math.sqrt(var + eps);
            for (int b = 0; b < n; b++) {
                for (int i = 0; i < hw; i++) {
                    int k = (b * c + ch) * hw + i;
                    y[k] = (x[k] - mean) * inv * gamma[ch] + beta[ch];
                }
            }
        }
        return y;
    }

    /** The clip quantizer's step for upper bound u and bin b (SPEC 1.1). */
    public static double clipStep(double u, double bin) {
        double w = 1 - bin;
        if (w >= 1) {
            return u;
        }
        if (w <= 1.0 / 255) {
            return u / 255;
        }
        return u * w;
    }

    /** Distance of r to the nearest rounding boundary k + 1/2. */
    public static double roundingMargin(double r) {
        return Math.abs(r - Math.floor(r) - 0.5);
    }

    /** 2-D convolution without bias, weights [cout, cin/groups, k, k]. */
    public static double[] conv2d(double[] x, int n, int cin, int h, int w, double[] wt, int cout, int k, int stride,
            int pad, int groups) {
        int ho = (h + 2 * pad - k) / stride + 1;
        int wo = (w + 2 * pad - k) / stride + 1;
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
                            for (int ki = 0; ki < k; ki++) {
                                for (int kj = 0; kj < k; kj++) {
                                    int hi = i * stride - pad + ki;
                                    int wj = j * stride - pad + kj;
                                    if (hi >= 0 && hi < h && wj >= 0 && wj < w) {
                                        s += x[((b * cin + c) * h + hi) * w + wj] * wt[((o * cpg + ci) * k + ki) * k + kj];
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

    /** F(cin -> cout) of SPEC 2: tiling (cin < cout), folding (cin > cout), identity. */
    public static double[] flexSkip(double[] x, int n, int cin, int cout, int hw) {
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

    /** k x k average pooling with stride s, no padding, floor. */
    public static double[] avgPool(double[] x, int n, int c, int h, int w, int k, int s) {
        int ho = (h - k) / s + 1;
        int wo = (w - k) / s + 1;
        double[] y = new double[n * c * ho * wo];
        for (int p = 0; p < n * c; p++) {
            for (int i = 0; i < ho; i++) {
                for (int j = 0; j < wo; j++) {
                    double sum = 0;
                    for (int di = 0; di < k; di++) {
                        for (int dj = 0; dj < k; dj++) {
                            sum += x[(p * h + i * s + di) * w + j * s + dj];
                        }
                    }
                    y[(p * ho + i) * wo + j] = sum / (k * k);
                }
            }
        }
        return y;
    }

    /**
     * The reference's stride-2 unit skip pooling (SPEC 2) on an axis size that is even or 3: the
     * 2 x 2 pooling floors, and an axis of size 1 is broadcast to the convolution's (h + 1) / 2.
     */
    public static double[] referenceSkipPool(double[] x, int n, int c, int h, int w) {
        int hp = h / 2;
        int wp = w / 2;
        int ho = (h + 1) / 2;
        int wo = (w + 1) / 2;
        double[] p = avgPool(x, n, c, h, w, 2, 2);
        double[] y = new double[n * c * ho * wo];
        for (int q = 0; q < n * c; q++) {
            for (int i = 0; i < ho; i++) {
                for (int j = 0; j < wo; j++) {
                    y[(q * ho + i) * wo + j] = p[(q * hp + (hp == 1 ? 0 : i)) * wp + (wp == 1 ? 0 : j)];
                }
            }
        }
        return y;
    }

    /** k x k max pooling, stride s, padding p (padding never wins). */
    public static double[] maxPool(double[] x, int n, int c, int h, int w, int k, int s, int pad) {
        int ho = (h + 2 * pad - k) / s + 1;
        int wo = (w + 2 * pad - k) / s + 1;
        double[] y = new double[n * c * ho * wo];
        for (int q = 0; q < n * c; q++) {
            for (int i = 0; i < ho; i++) {
                for (int j = 0; j < wo; j++) {
                    double m = Double.NEGATIVE_INFINITY;
                    for (int di = 0; di < k; di++) {
                        for (int dj = 0; dj < k; dj++) {
                            int hi = i * s - pad + di;
                            int wj = j * s - pad + dj;
                            if (hi >= 0 && hi < h && wj >= 0 && wj < w) {
                                m = Math.max(m, x[(q * h + hi) * w + wj]);
                            }
                        }
                    }
                    y[(q * ho + i) * wo + j] = m;
                }
            }
        }
        return y;
    }

    /** Mean over each [H, W] plane: [N, C, HW] to [N, C]. */
    public static double[] globalAvgPool(double[] x, int nc, int hw) {
        double[] y = new double[nc];
        for (int p = 0; p < nc; p++) {
            double s = 0;
            for (int i = 0; i < hw; i++) {
                s += x[p * hw + i];
            }
            y[p] = s / hw;
        }
        return y;
    }

    /** y = x w^T + b for x [N, IN], w [OUT, IN], b [OUT] or null. */
    public static double[] linear(double[] x, int n, int in, double[] w, int out, double[] b) {
        double[] y = new double[n * out];
        for (int r = 0; r < n; r++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = s;
            }
        }
        return y;
    }

    public static double[] relu(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = Math.max(x[i], 0);
        }
        return y;
    }

    public static double[] add(double[] a, double[] b) {
        double[] y = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            y[i] = a[i] + b[i];
        }
        return y;
    }

    /** log_softmax of each row of [N, K]. */
    public static double[] logSoftmax(double[] z, int n, int k) {
        double[] y = new double[z.length];
        for (int r = 0; r < n; r++) {
            double m = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < k; i++) {
                m = Math.max(m, z[r * k + i]);
            }
            double s = 0;
            for (int i = 0; i < k; i++) {
                s += Math.exp(z[r * k + i] - m);
            }
            double lse = m + Math.log(s);
            for (int i = 0; i < k; i++) {
                y[r * k + i] = z[r * k + i] - lse;
            }
        }
        return y;
    }

    /** Mean cross-entropy of logits [N, K] against targets. */
    public static double crossEntropy(double[] z, int n, int k, long[] target) {
        double[] ls = logSoftmax(z, n, k);
        double s = 0;
        for (int r = 0; r < n; r++) {
            s -= ls[r * k + (int) target[r]];
        }
        return s / n;
    }

    /** SPEC 5's distillation loss: mean over rows of -sum softmax(teacher) * log_softmax(student). */
    public static double kdLoss(double[] student, double[] teacher, int n, int k) {
        double[] ls = logSoftmax(student, n, k);
        double[] lt = logSoftmax(teacher, n, k);
        double s = 0;
        for (int i = 0; i < n * k; i++) {
            s -= Math.exp(lt[i]) * ls[i];
        }
        return s / n;
    }

    /** sum(r * y): the loss whose gradient with respect to y is r. */
    public static double dot(double[] r, double[] y) {
        double s = 0;
        for (int i = 0; i < y.length; i++) {
            s += r[i] * y[i];
        }
        return s;
    }

    /**
     * The gradient of {@code loss} with respect to {@code inputs[which]} by central differences
     * with step {@code h} times max(1, |value|): error O(h^2) for smooth functions.
     */
    public static double[] gradient(ToDoubleFunction<double[][]> loss, double[][] inputs, int which, double h) {
        double[] x = inputs[which];
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double orig = x[i];
            double step = h * Math.max(1, Math.abs(orig));
            x[i] = orig + step;
            double up = loss.applyAsDouble(inputs);
            x[i] = orig - step;
            double down = loss.applyAsDouble(inputs);
            x[i] = orig;
            g[i] = (up - down) / (2 * step);
        }
        return g;
    }
}
