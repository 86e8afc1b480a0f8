package io.basq4j.deploy.infer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.data.FashionMnist;
import io.basq4j.deploy.ModelEvaluation;
import io.basq4j.deploy.SavedModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The engine against the evaluation path on the whole Fashion-MNIST test set, for a saved model
 * given on the command line (a measurement, not part of the suite):
 *
 * <pre>
 * mvn -B -ntp -q test -Dtest=FashionAgreementTest -Dbasq4j.infer.model=runs/fashion/models/model.safetensors
 * </pre>
 *
 * Prints the disagreements, the worst logit difference and both accuracies, for the model's
 * network (float32 parameters: what {@code evaluate}, {@code predict} and
 * {@code export --format basq-packed} use) and, for information, for its compact form (16-bit
 * parameters, {@code export --int16-params}); holds the first to the acceptance bounds: top-1
 * agreement of at least 99.9% and accuracies within 0.05 points. {@code -Dbasq4j.infer.data=DIR}
 * names another IDX directory.
 *
 * <p>{@link #answersAsTheParametersLosePrecision} shows how many top-1 answers change when every
 * per-channel parameter (the folded batch norms and LSQ steps, not the head) is rounded to fewer
 * significant bits: what a smaller encoding of those parameters would cost.
 */
@EnabledIfSystemProperty(named = "basq4j.infer.model", matches = ".+")
class FashionAgreementTest {
    private static final int BATCH = 500;

    private static FashionMnist testSet() {
        String data = System.getProperty("basq4j.infer.data");
        return FashionMnist.test(data == null ? FashionMnist.DEFAULT_DIR : Path.of(data));
    }

    private static Path modelFile() {
        return Path.of(System.getProperty("basq4j.infer.model"));
    }

    @Test
    void engineAgreesWithTheEvaluationPathOnTheTestSet() {
        Path file = modelFile();
        FashionMnist test = testSet();
        try (SavedModel m = SavedModel.load(file)) {
            PackedNetwork exact = PackedNetwork.of(m);
            EngineAgreement.Report r = EngineAgreement.measure(m, exact, test, BATCH);
            System.out.println("engine (float32 parameters) vs evaluation path, " + file + ": " + r);
            System.out.println("engine (int16 parameters) vs evaluation path, " + file + ": "
                    + EngineAgreement.measure(m, exact.compact(), test, BATCH));
            assertTrue(r.agreement() >= 99.9, r.toString());
            assertTrue(Math.abs(r.engineAccuracy() - r.evalAccuracy()) <= 0.05, r.toString());
        }
    }

    @Test
    void answersAsTheParametersLosePrecision() {
        FashionMnist test = testSet();
        int n = test.size();
        int per = test.exampleSize();
        float[] x = new float[n * per];
        long[] labels = new long[n];
        for (int i = 0; i < n; i++) {
            labels[i] = test.load(i, x, i * per, null);
        }
        try (SavedModel m = SavedModel.load(modelFile())) {
            PackedNetwork exact = PackedNetwork.of(m);
            int[] want = top1(exact, x, n, per);
            for (PackedNetwork.Unit u : exact.units()) {
                checkRounding(u.name(), u.pro());
                checkRounding(u.name(), u.epi());
            }
            System.out.printf(Locale.ROOT, "%s: float32 parameters: accuracy %.2f%%%n", modelFile(),
                    accuracy(want, labels));
            for (int bits : new int[] {20, 19, 18, 17, 16, 15, 14, 12, 10}) {
                int[] got = top1(withSignificantBits(exact, bits), x, n, per);
                int c = changed(want, got);
                System.out.printf(Locale.ROOT, "  per-channel parameters at %2d significant bits: %4d of %d top-1 "
                        + "answers change (agreement %.2f%%), accuracy %.2f%%%n", bits, c, n, 100.0 * (n - c) / n,
                        accuracy(got, labels));
            }
        }
    }

    /** {@code net} with every value of its units' pro and epi vectors rounded to {@code bits} significant bits. */
    static PackedNetwork withSignificantBits(PackedNetwork net, int bits) {
        List<PackedNetwork.Block> blocks = new ArrayList<>();
        for (PackedNetwork.Block b : net.blocks()) {
            List<PackedNetwork.Unit> units = new ArrayList<>();
            for (PackedNetwork.Unit u : b.units()) {
                units.add(new PackedNetwork.Unit(u.name(), u.kind(), u.cin(), u.cout(), u.stride(),
                        rounded(u.pro(), bits), u.top(), u.codes(), rounded(u.epi(), bits)));
            }
            blocks.add(new PackedNetwork.Block(b.name(), units, b.residual()));
        }
        return new PackedNetwork(net.arch(), net.bits(), net.inChannels(), net.resolution(), net.stem(), blocks,
                net.head(), PackedNetwork.Params.FLOAT32, net.metadata());
    }

    /** Each value rounded (to nearest) to {@code bits} significant bits, the leading one included. */
    static float[] rounded(float[] v, int bits) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            float f = v[i];
            if (f == 0f || !Float.isFinite(f)) {
                r[i] = f;
                continue;
            }
            double unit = Math.scalb(1.0, Math.getExponent(f) - (bits - 1));
            r[i] = (float) (Math.rint(f / unit) * unit);
        }
        return r;
    }

    /**
     * The rounding the sweep relies on, checked on the network's own values: at 24 bits (float32's
     * own) nothing moves; at fewer, each value keeps at most that many significant bits and lies
     * within half a unit of its last place, and some value does move.
     */
    private static void checkRounding(String unit, float[] v) {
        float[] full = rounded(v, 24);
        for (int i = 0; i < v.length; i++) {
            assertEquals(Float.floatToIntBits(v[i]), Float.floatToIntBits(full[i]), unit + " at 24 bits");
        }
        for (int bits = 10; bits < 24; bits++) {
            float[] r = rounded(v, bits);
            boolean moved = false;
            for (int i = 0; i < v.length; i++) {
                if (v[i] == 0f || Math.getExponent(r[i]) < Float.MIN_EXPONENT) {
                    continue;
                }
                int dropped = Float.floatToIntBits(r[i]) & ((1 << (24 - bits)) - 1);
                assertEquals(0, dropped, unit + ": " + r[i] + " has more than " + bits + " significant bits");
                double halfUlp = Math.scalb(1.0, Math.getExponent(v[i]) - bits);
                assertTrue(Math.abs((double) r[i] - v[i]) <= halfUlp, unit + ": " + v[i] + " -> " + r[i]);
                moved |= r[i] != v[i];
            }
            assertTrue(moved || v.length < 8, unit + ": nothing rounded at " + bits + " bits");
        }
    }

    private static int[] top1(PackedNetwork net, float[] x, int n, int per) {
        int classes = net.classes();
        int[] top = new int[n];
        float[] in = new float[BATCH * per];
        float[] out = new float[BATCH * classes];
        try (InferenceEngine e = InferenceEngine.compile(net, BATCH)) {
            for (int s = 0; s < n; s += BATCH) {
                int k = Math.min(BATCH, n - s);
                System.arraycopy(x, s * per, in, 0, k * per);
                e.logits(in, k, out);
                for (int i = 0; i < k; i++) {
                    top[s + i] = ModelEvaluation.argmax(out, i * classes, classes);
                }
            }
        }
        return top;
    }

    private static int changed(int[] a, int[] b) {
        int c = 0;
        for (int i = 0; i < a.length; i++) {
            c += a[i] != b[i] ? 1 : 0;
        }
        return c;
    }

    private static double accuracy(int[] top, long[] labels) {
        int ok = 0;
        for (int i = 0; i < top.length; i++) {
            ok += top[i] == labels[i] ? 1 : 0;
        }
        return 100.0 * ok / top.length;
    }
}
