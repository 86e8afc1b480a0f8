package io.basq4j.deploy.onnx;

import io.basq4j.data.Dataset;
import io.basq4j.deploy.SavedModel;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;

/**
 * basq4j's logits of a saved model against ONNX Runtime's of its export, image by image: top-1
 * agreement, the worst logit difference, and how many images differ by float noise only.
 */
record Agreement(int images, int agreeing, double worst, int worstImage, int withinNoise, int correctBasq,
        int correctOrt, double maxAbsLogit) {
    /**
     * Logits whose largest difference stays under this are float noise: the two runtimes sum
     * convolutions and batch norms in different orders (relative differences of about 1e-6 of the
     * logits); a code that lands on the other side of a rounding boundary moves a logit by far more.
     */
    static final double NOISE = 1e-3;

    static Agreement measure(SavedModel m, OrtRunner ort, Dataset data, int count, int batch) throws Exception {
        int c = data.channels();
        int h = data.height();
        int w = data.width();
        int size = data.exampleSize();
        int classes = m.config().classes();
        int agree = 0;
        int noise = 0;
        int okBasq = 0;
        int okOrt = 0;
        double worst = 0;
        int worstImage = -1;
        double maxAbs = 0;
        for (int start = 0; start < count; start += batch) {
            int n = Math.min(batch, count - start);
            float[] x = new float[n * size];
            long[] labels = new long[n];
            for (int i = 0; i < n; i++) {
                labels[i] = data.load(start + i, x, i * size, null);
            }
            float[] want;
            try (Scope s = Scope.open()) {
                want = m.logits(Tensor.of(Device.CPU, x, n, c, h, w)).toFloatArray();
            }
            float[] got = ort.run(x, n, c, h, w);
            for (int i = 0; i < n; i++) {
                int a = argmax(want, i * classes, classes);
                int b = argmax(got, i * classes, classes);
                double d = 0;
                for (int k = 0; k < classes; k++) {
                    float v = want[i * classes + k];
                    float u = got[i * classes + k];
                    if (!Float.isFinite(v) || !Float.isFinite(u)) {
                        throw new AssertionError("image " + (start + i) + ": non-finite logit (basq4j " + v
                                + ", ONNX Runtime " + u + ")");
                    }
                    d = Math.max(d, Math.abs(v - u));
                    maxAbs = Math.max(maxAbs, Math.abs(v));
                }
                if (d > worst) {
                    worst = d;
                    worstImage = start + i;
                }
                agree += a == b ? 1 : 0;
                noise += d <= NOISE ? 1 : 0;
                okBasq += a == labels[i] ? 1 : 0;
                okOrt += b == labels[i] ? 1 : 0;
            }
        }
        return new Agreement(count, agree, worst, worstImage, noise, okBasq, okOrt, maxAbs);
    }

    private static int argmax(float[] v, int off, int n) {
        return io.basq4j.deploy.ModelEvaluation.argmax(v, off, n);
    }

    @Override
    public String toString() {
        return String.format("top-1 agreement %d/%d (%.2f%%), worst logit difference %.3g (image %d, largest |logit| "
                + "%.3g), %d images within float noise (%.0e); accuracy basq4j %.2f%%, ONNX Runtime %.2f%%",
                agreeing, images, 100.0 * agreeing / images, worst, worstImage, maxAbsLogit, withinNoise, NOISE,
                100.0 * correctBasq / images, 100.0 * correctOrt / images);
    }
}
