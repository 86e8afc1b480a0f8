package io.basq4j.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.io.TorchCheckpoint;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import io.basq4j.testutil.Golden;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * torchvision's ResNet against torchvision itself (the golden Bottleneck file) and, for the
 * layouts without a golden file (BasicBlock, grouped Bottleneck), against a float64 forward
 * written out in this test.
 */
class TorchvisionResNetTest {

    /** max|a - b| / max|b|. */
    static double relErr(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        double diff = 0;
        double scale = 0;
        for (int i = 0; i < a.length; i++) {
            assertTrue(Float.isFinite(a[i]), "finite output");
            diff = Math.max(diff, Math.abs((double) a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return diff / scale;
    }

    @Test
    void goldenBottleneckLogitsAndStagesWithin1e5() throws Exception {
        Map<String, TensorData> state = TorchCheckpoint.readStateDict(Golden.file("torchvision_resnet_bottleneck.pth"));
        SafeTensors.File g = SafeTensors.read(Golden.file("torchvision_resnet_bottleneck.safetensors"));
        TorchvisionResNet.Layout l = TorchvisionResNet.layout(state);
        assertTrue(l.bottleneck());
        assertArrayEquals(new int[] {1, 1, 1, 1}, l.blockCounts());
        assertEquals(16, l.stages().get(0).get(0).width());
        assertEquals(10, l.classes());
        assertEquals(3, l.inChannels());
        try (TorchvisionResNet m = TorchvisionResNet.fromStateDict(state, Device.CPU); Scope s = Scope.open()) {
            TensorData in = g.get("input");
            float[][] stages = new float[5][];
            Tensor logits = m.forward(Tensor.of(Device.CPU, in.f32(), in.shape()),
                    (i, t) -> stages[i] = t.toFloatArray());
            double worst = relErr(logits.toFloatArray(), g.get("logits_eval").f32());
            System.out.printf("torchvision bottleneck: logits_eval relative error %.3e%n", worst);
            assertTrue(worst <= 1e-5, "logits_eval relative error " + worst);
            for (int i = 1; i <= 4; i++) {
                TensorData want = g.get("features.layer" + i);
                double e = relErr(stages[i], want.f32());
                System.out.printf("torchvision bottleneck: layer%d relative error %.3e%n", i, e);
                assertTrue(e <= 1e-5, "layer" + i + " relative error " + e);
            }
            // A frozen teacher: train() leaves it in evaluation mode.
            m.train();
            assertFalse(m.isTraining());
        }
    }

    @Test
    void standardDepthsAreNamed() {
        assertEquals("ResNet-18", TorchvisionResNet.layout(standard(false, new int[] {2, 2, 2, 2}, 1000)).name());
        assertEquals("ResNet-34", TorchvisionResNet.layout(standard(false, new int[] {3, 4, 6, 3}, 1000)).name());
        TorchvisionResNet.Layout r50 = TorchvisionResNet.layout(standard(true, new int[] {3, 4, 6, 3}, 1000));
        assertEquals("ResNet-50", r50.name());
        assertEquals(2048, r50.features());
        assertEquals(1000, r50.classes());
        assertEquals(2, r50.stages().get(1).get(0).stride());
        assertEquals(1, r50.stages().get(1).get(1).stride());
    }

    @Test
    void basicBlockAndGroupedBottleneckMatchAFloat64Forward() {
        for (boolean bottleneck : new boolean[] {false, true}) {
            Map<String, TensorData> state = randomState(bottleneck, bottleneck ? 2 : 1, 7);
            TorchvisionResNet.Layout l = TorchvisionResNet.layout(state);
            assertEquals(bottleneck ? 2 : 1, l.stages().get(0).get(0).groups());
            int n = 2;
            int h = 29; // odd sizes: the stem, max-pool and strided convolutions floor
            float[] x = new SplittableRandom(11).doubles(n * 3 * h * h, -2, 2).collect(() -> new FloatList(),
                    FloatList::add, FloatList::addAll).toArray();
            double[] want = Reference.forward(state, l, x, n, h);
            try (TorchvisionResNet m = TorchvisionResNet.fromStateDict(state, Device.CPU); Scope s = Scope.open()) {
                float[] got = m.forward(Tensor.of(Device.CPU, x, n, 3, h, h)).toFloatArray();
                float[] w = new float[want.length];
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) want[i];
                }
                double e = relErr(got, w);
                assertTrue(e <= 1e-5, (bottleneck ? "grouped bottleneck" : "basic block") + " error " + e);
            }
        }
    }

    @Test
    void foreignStatesAreRefusedBriefly() {
        Map<String, TensorData> state = randomState(true, 1, 5);
        state.remove("layer2.0.downsample.0.weight");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TorchvisionResNet.layout(state));
        assertTrue(e.getMessage().contains("no downsample"), e.getMessage());
        Map<String, TensorData> other = new LinkedHashMap<>();
        for (int i = 0; i < 500; i++) {
            other.put("feature." + i + ".conv1.weights", TensorData.ofFloat(new int[] {1}, new float[1]));
        }
        e = assertThrows(IllegalArgumentException.class, () -> TorchvisionResNet.layout(other));
        assertTrue(e.getMessage().startsWith("not a torchvision ResNet state dict"), e.getMessage());
        assertTrue(e.getMessage().length() < 300, e.getMessage());
        Map<String, TensorData> extra = randomState(false, 1, 5);
        extra.put("layer1.0.se.weight", TensorData.ofFloat(new int[] {1}, new float[1]));
        e = assertThrows(IllegalArgumentException.class, () -> TorchvisionResNet.fromStateDict(extra, Device.CPU));
        assertTrue(e.getMessage().contains("1 unexpected (layer1.0.se.weight"), e.getMessage());
    }

    // ------------------------------------------------------------------ synthetic states

    /** torchvision's names and shapes for a standard depth (zeros: only the layout is read). */
    static Map<String, TensorData> standard(boolean bottleneck, int[] blocks, int classes) {
        return build(bottleneck, blocks, 64, 64, 1, classes, null);
    }

    /** A small two-stage network with random weights and non-trivial BN statistics. */
    static Map<String, TensorData> randomState(boolean bottleneck, int groups, int classes) {
        return build(bottleneck, new int[] {1, 2}, 8, bottleneck ? 4 : 6, groups, classes, new SplittableRandom(3));
    }

    private static Map<String, TensorData> build(boolean bottleneck, int[] blocks, int stem, int base, int groups,
            int classes, SplittableRandom r) {
        Map<String, TensorData> m = new LinkedHashMap<>();
        conv(m, "conv1.weight", stem, 3, 7, r);
        bn(m, "bn1", stem, r);
        int cin = stem;
        int expansion = bottleneck ? 4 : 1;
        for (int s = 0; s < blocks.length; s++) {
            int planes = base << s;
            int width = bottleneck ? planes * groups : planes;
            int out = planes * expansion;
            for (int i = 0; i < blocks[s]; i++) {
                String p = "layer" + (s + 1) + "." + i + ".";
                int stride = s > 0 && i == 0 ? 2 : 1;
                if (bottleneck) {
                    conv(m, p + "conv1.weight", width, cin, 1, r);
                    bn(m, p + "bn1", width, r);
                    conv(m, p + "conv2.weight", width, width / groups, 3, r);
                    bn(m, p + "bn2", width, r);
                    conv(m, p + "conv3.weight", out, width, 1, r);
                    bn(m, p + "bn3", out, r);
                } else {
                    conv(m, p + "conv1.weight", out, cin, 3, r);
                    bn(m, p + "bn1", out, r);
                    conv(m, p + "conv2.weight", out, out, 3, r);
                    bn(m, p + "bn2", out, r);
                }
                if (stride != 1 || cin != out) {
                    conv(m, p + "downsample.0.weight", out, cin, 1, r);
                    bn(m, p + "downsample.1", out, r);
                }
                cin = out;
            }
        }
        m.put("fc.weight", floats(new int[] {classes, cin}, r, -0.3, 0.3));
        m.put("fc.bias", floats(new int[] {classes}, r, -0.3, 0.3));
        return m;
    }

    private static void conv(Map<String, TensorData> m, String name, int cout, int cin, int k, SplittableRandom r) {
        double b = r == null ? 0 : 1.5 / Math.sqrt(cin * k * k);
        m.put(name, floats(new int[] {cout, cin, k, k}, r, -b, b));
    }

    private static void bn(Map<String, TensorData> m, String p, int c, SplittableRandom r) {
        m.put(p + ".weight", floats(new int[] {c}, r, 0.5, 1.5));
        m.put(p + ".bias", floats(new int[] {c}, r, -0.5, 0.5));
        m.put(p + ".running_mean", floats(new int[] {c}, r, -0.5, 0.5));
        m.put(p + ".running_var", floats(new int[] {c}, r, 0.5, 2));
        m.put(p + ".num_batches_tracked", TensorData.ofLong(new int[] {}, new long[] {100}));
    }

    private static TensorData floats(int[] shape, SplittableRandom r, double lo, double hi) {
        float[] a = new float[(int) TensorData.numel(shape)];
        if (r != null) {
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) (lo + (hi - lo) * r.nextDouble());
            }
        }
        return TensorData.ofFloat(shape, a);
    }

    /** A growable float array for the stream above. */
    static final class FloatList {
        private float[] a = new float[16];
        private int n;

        void add(double v) {
            if (n == a.length) {
                a = java.util.Arrays.copyOf(a, n * 2);
            }
            a[n++] = (float) v;
        }

        void addAll(FloatList o) {
            for (int i = 0; i < o.n; i++) {
                add(o.a[i]);
            }
        }

        float[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }

    /** torchvision's ResNet forward in float64, loop by loop. */
    static final class Reference {
        /** A feature map [c][h][w] per example. */
        record Map3(double[] v, int c, int h, int w) {
            double at(int ci, int y, int x) {
                return v[(ci * h + y) * w + x];
            }
        }

        static double[] forward(Map<String, TensorData> st, TorchvisionResNet.Layout l, float[] x, int n, int size) {
            int k = l.classes();
            double[] out = new double[n * k];
            int per = 3 * size * size;
            for (int e = 0; e < n; e++) {
                double[] img = new double[per];
                for (int i = 0; i < per; i++) {
                    img[i] = x[e * per + i];
                }
                Map3 h = new Map3(img, 3, size, size);
                h = relu(bn(st, "bn1", conv(st, "conv1.weight", h, 2, 3, 1)));
                h = maxPool(h);
                for (int s = 0; s < l.stages().size(); s++) {
                    for (int i = 0; i < l.stages().get(s).size(); i++) {
                        TorchvisionResNet.BlockShape b = l.stages().get(s).get(i);
                        String p = "layer" + (s + 1) + "." + i + ".";
                        Map3 y;
                        if (l.bottleneck()) {
                            y = relu(bn(st, p + "bn1", conv(st, p + "conv1.weight", h, 1, 0, 1)));
                            y = relu(bn(st, p + "bn2", conv(st, p + "conv2.weight", y, b.stride(), 1, b.groups())));
                            y = bn(st, p + "bn3", conv(st, p + "conv3.weight", y, 1, 0, 1));
                        } else {
                            y = relu(bn(st, p + "bn1", conv(st, p + "conv1.weight", h, b.stride(), 1, 1)));
                            y = bn(st, p + "bn2", conv(st, p + "conv2.weight", y, 1, 1, 1));
                        }
                        Map3 id = b.downsample()
                                ? bn(st, p + "downsample.1", conv(st, p + "downsample.0.weight", h, b.stride(), 0, 1))
                                : h;
                        double[] sum = new double[y.v().length];
                        for (int j = 0; j < sum.length; j++) {
                            sum[j] = Math.max(0, y.v()[j] + id.v()[j]);
                        }
                        h = new Map3(sum, y.c(), y.h(), y.w());
                    }
                }
                float[] fw = st.get("fc.weight").f32();
                float[] fb = st.get("fc.bias").f32();
                int hw = h.h() * h.w();
                for (int o = 0; o < k; o++) {
                    double acc = fb[o];
                    for (int c = 0; c < h.c(); c++) {
                        double mean = 0;
                        for (int j = 0; j < hw; j++) {
                            mean += h.v()[c * hw + j];
                        }
                        acc += fw[o * h.c() + c] * (mean / hw);
                    }
                    out[e * k + o] = acc;
                }
            }
            return out;
        }

        static Map3 conv(Map<String, TensorData> st, String name, Map3 x, int stride, int pad, int groups) {
            TensorData wt = st.get(name);
            float[] w = wt.f32();
            int co = wt.dim(0);
            int cig = wt.dim(1);
            int kk = wt.dim(2);
            int ho = (x.h() + 2 * pad - kk) / stride + 1;
            int wo = (x.w() + 2 * pad - kk) / stride + 1;
            int cog = co / groups;
            double[] y = new double[co * ho * wo];
            for (int o = 0; o < co; o++) {
                int g = o / cog;
                for (int oy = 0; oy < ho; oy++) {
                    for (int ox = 0; ox < wo; ox++) {
                        double acc = 0;
                        for (int ci = 0; ci < cig; ci++) {
                            for (int ky = 0; ky < kk; ky++) {
                                for (int kx = 0; kx < kk; kx++) {
                                    int iy = oy * stride - pad + ky;
                                    int ix = ox * stride - pad + kx;
                                    if (iy >= 0 && iy < x.h() && ix >= 0 && ix < x.w()) {
                                        acc += w[((o * cig + ci) * kk + ky) * kk + kx] * x.at(g * cig + ci, iy, ix);
                                    }
                                }
                            }
                        }
                        y[(o * ho + oy) * wo + ox] = acc;
                    }
                }
            }
            return new Map3(y, co, ho, wo);
        }

        static Map3 bn(Map<String, TensorData> st, String p, Map3 x) {
            float[] g = st.get(p + ".weight").f32();
            float[] b = st.get(p + ".bias").f32();
            float[] m = st.get(p + ".running_mean").f32();
            float[] v = st.get(p + ".running_var").f32();
            int hw = x.h() * x.w();
            double[] y = new double[x.v().length];
            for (int c = 0; c < x.c(); c++) {
                double inv = 1 / Math.sqrt(v[c] + 1e-5);
                for (int j = 0; j < hw; j++) {
                    y[c * hw + j] = (x.v()[c * hw + j] - m[c]) * inv * g[c] + b[c];
                }
            }
            return new Map3(y, x.c(), x.h(), x.w());
        }

        static Map3 relu(Map3 x) {
            double[] y = x.v().clone();
            for (int i = 0; i < y.length; i++) {
                y[i] = Math.max(0, y[i]);
            }
            return new Map3(y, x.c(), x.h(), x.w());
        }

        static Map3 maxPool(Map3 x) {
            int ho = (x.h() + 2 - 3) / 2 + 1;
            int wo = (x.w() + 2 - 3) / 2 + 1;
            double[] y = new double[x.c() * ho * wo];
            for (int c = 0; c < x.c(); c++) {
                for (int oy = 0; oy < ho; oy++) {
                    for (int ox = 0; ox < wo; ox++) {
                        double m = Double.NEGATIVE_INFINITY;
                        for (int ky = 0; ky < 3; ky++) {
                            for (int kx = 0; kx < 3; kx++) {
                                int iy = oy * 2 - 1 + ky;
                                int ix = ox * 2 - 1 + kx;
                                if (iy >= 0 && iy < x.h() && ix >= 0 && ix < x.w()) {
                                    m = Math.max(m, x.at(c, iy, ix));
                                }
                            }
                        }
                        y[(c * ho + oy) * wo + ox] = m;
                    }
                }
            }
            return new Map3(y, x.c(), ho, wo);
        }
    }
}
