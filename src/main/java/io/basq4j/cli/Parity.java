package io.basq4j.cli;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.io.CheckpointFormatException;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.io.TorchCheckpoint;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.nn.Parameter;
import io.basq4j.nn.ReLU;
import io.basq4j.tensor.CudaMath;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Checks the supernet against a file in the golden model format (see
 * {@code golden/README.md}): the configuration from {@code __metadata__}, the state
 * {@code state.*} (or a reference {@code .pth} checkpoint), {@code input}, {@code target},
 * {@code selection}, and the expected {@code logits_eval}, {@code logits_train}, {@code loss},
 * {@code grad.*}, {@code state_after.*} and {@code act.feature.*}.
 *
 * <p>Runs (a) evaluation mode, then (b) training mode with dropout disabled and weight
 * quantization on with the loaded steps kept, one forward, cross-entropy against the target,
 * one backward. The error of a tensor is {@code max|a - b| / max|b|} (the absolute
 * {@code max|a - b|} where the reference is all zeros), with two noise-dominated kinds measured
 * against a natural scale instead (see {@link #scale}): batch-norm bias gradients against the
 * layer's weight gradient, running means against the running standard deviation.
 *
 * <p>Ties. The supernet quantizes weights and activations to a few levels, so the batch mean of a
 * channel often equals one of its values exactly in real arithmetic; the batch norm then puts that
 * value at 0 up to float rounding, and whether the ReLU after it lets the gradient pass depends on
 * the last bits of the convolution's and the normalization's arithmetic (the reference's
 * oneDNN/ATen kernels, ours here). One such decision changes the gradient of a whole channel by
 * O(1) and propagates to every earlier layer, while the forward values differ by ~1e-8. This
 * class therefore finds those ties in its own training forward (ReLU inputs with
 * {@code |x| <= TIE_RELATIVE * max|x|} of their channel, in channels that are not constant) and
 * holds to the tolerance only the gradients of the features after the last one that has a tie
 * (and of the classifier); the earlier ones are reported as "tie-affected" without being held,
 * unless {@link Options#strictGrads()}. Everything else (outputs, loss, running statistics,
 * features, absent/zero gradients, names and shapes) is always held.
 */
public final class Parity {
    /** What to check. {@code pth} may be null (state from the file); {@code device} CPU by default. */
    public record Options(Path file, Path pth, double tolerance, boolean verbose, Device device,
            boolean strictGrads) {
        public Options(Path file) {
            this(file, null, DEFAULT_TOLERANCE, false, Device.CPU, false);
        }

        public Options withPth(Path p) {
            return new Options(file, p, tolerance, verbose, device, strictGrads);
        }

        public Options withTolerance(double t) {
            return new Options(file, pth, t, verbose, device, strictGrads);
        }

        public Options withVerbose(boolean v) {
            return new Options(file, pth, tolerance, v, device, strictGrads);
        }

        public Options withStrictGrads(boolean v) {
            return new Options(file, pth, tolerance, verbose, device, v);
        }
    }

    /** Group of the gradients that float-noise ties make irreproducible (reported, not held). */
    public static final String TIE_GROUP = "grad, tie-affected";

    /** A ReLU input counts as a tie when |x| <= TIE_RELATIVE * (max |x| of its channel), channel not constant. */
    public static final double TIE_RELATIVE = 1e-5;

    public static final double DEFAULT_TOLERANCE = 1e-4;

    /** One compared tensor. */
    public record Check(String group, String name, double error, String problem) {
        /** Whether it is within the tolerance (and had no structural problem); tie-affected ones always are. */
        public boolean ok(double tolerance) {
            return problem == null && (error <= tolerance || TIE_GROUP.equals(group));
        }
    }

    /** The result of a run. */
    public static final class Report {
        private final String header;
        private final double tolerance;
        private final List<Check> checks = new ArrayList<>();
        private final List<String> notes = new ArrayList<>();
        private int tieFeature = -1;

        Report(String header, double tolerance) {
            this.header = header;
            this.tolerance = tolerance;
        }

        void add(Check c) {
            checks.add(c);
        }

        void note(String n) {
            notes.add(n);
        }

        /** The deepest feature whose ReLU inputs had float-noise ties (-1: none). */
        public int tieFeature() {
            return tieFeature;
        }

        public String header() {
            return header;
        }

        public double tolerance() {
            return tolerance;
        }

        public List<Check> checks() {
            return List.copyOf(checks);
        }

        /** The worst error of each group, in the order groups were first checked. */
        public Map<String, Double> worstByGroup() {
            Map<String, Double> w = new LinkedHashMap<>();
            for (Check c : checks) {
                w.merge(c.group(), c.error(), Math::max);
            }
            return w;
        }

        /** The worst error over the tensors held to the tolerance. */
        public double worst() {
            double w = 0;
            for (Check c : checks) {
                if (!TIE_GROUP.equals(c.group())) {
                    w = Math.max(w, c.error());
                }
            }
            return w;
        }

        public List<Check> failures() {
            List<Check> f = new ArrayList<>();
            for (Check c : checks) {
                if (!c.ok(tolerance)) {
                    f.add(c);
                }
            }
            return f;
        }

        public boolean ok() {
            return failures().isEmpty();
        }

        /** The human-readable report (per-feature lines when verbose). */
        public String format(boolean verbose) {
            StringBuilder sb = new StringBuilder(header).append('\n');
            Map<String, Integer> counts = new LinkedHashMap<>();
            for (Check c : checks) {
                counts.merge(c.group(), 1, Integer::sum);
            }
            for (Map.Entry<String, Double> e : worstByGroup().entrySet()) {
                sb.append(String.format(Locale.ROOT, "  %-19s worst relative error %.3e  (%d tensor%s)%s%n",
                        e.getKey(), e.getValue(), counts.get(e.getKey()), counts.get(e.getKey()) == 1 ? "" : "s",
                        TIE_GROUP.equals(e.getKey()) ? ", not held to the tolerance" : ""));
            }
            for (String n : notes) {
                sb.append("  note: ").append(n).append('\n');
            }
            if (verbose) {
                for (String group : List.of("act", TIE_GROUP)) {
                    for (Check c : checks) {
                        if (c.group().equals(group) && (group.equals("act") || c.error() > tolerance)) {
                            sb.append(String.format(Locale.ROOT, "    %-14s %.3e%s%n", c.name(), c.error(),
                                    group.equals(TIE_GROUP) ? " (tie-affected, not held)" : ""));
                        }
                    }
                }
            }
            List<Check> fails = failures();
            int shown = 0;
            for (Check c : fails) {
                if (!verbose && shown == 20) {
                    sb.append("  ... and ").append(fails.size() - 20)
                            .append(" more failing tensors (--verbose lists all)\n");
                    break;
                }
                sb.append("  FAIL ").append(c.name()).append(": ")
                        .append(c.problem() != null ? c.problem()
                                : String.format(Locale.ROOT, "relative error %.3e", c.error()))
                        .append('\n');
                shown++;
            }
            sb.append(String.format(Locale.ROOT, "overall worst relative error %.3e (held tensors), tolerance %.1e: %s",
                    worst(), tolerance, ok() ? "OK"
                            : "FAILED (" + fails.size() + " tensor" + (fails.size() == 1 ? "" : "s") + ")"));
            return sb.toString();
        }
    }

    private Parity() {
    }

    /**
     * Runs the comparison. A missing or unreadable file, or one not in the format, gives a
     * {@link UserError} naming the file.
     */
    public static Report run(Options o) {
        SafeTensors.File file = readGolden(o.file());
        Map<String, String> meta = file.metadata();
        TensorData input = require(file, "input");
        ModelConfig cfg = config(o.file(), meta, file, input).withDevice(o.device());
        String arch = meta.get("model");
        if (arch == null) {
            throw new UserError(o.file() + ": metadata has no 'model' entry");
        }
        try {
            arch = Models.canonical(arch);
        } catch (IllegalArgumentException e) {
            throw new UserError(o.file() + ": " + e.getMessage());
        }
        Map<String, TensorData> state = o.pth() != null ? readPth(o.pth()) : prefixed(file, "state.");
        String source = o.pth() != null ? o.pth().toString() : "state.* of the file";
        int[] selection = toInts(require(file, "selection"));
        String header = String.format(Locale.ROOT,
                "parity %s: %s, width %s, divisor %d, resolution %d, %d input channels, %d classes, %d bits, "
                        + "%d branches; state from %s; selection %s",
                o.file().getFileName(), arch, fmt(cfg.widthMultiplier()), cfg.divisor(), cfg.resolution(),
                cfg.inChannels(), cfg.classes(), cfg.bits(), cfg.branches(), source, Arrays.toString(selection));
        Report report = new Report(header, o.tolerance());
        // on CUDA: float32 throughout (no TF32) and direct-sum convolution algorithms only
        try (Supernet model = Models.create(arch, cfg); CudaMath.Scope math = CudaMath.parity()) {
            try {
                model.loadStateDict(state);
            } catch (IllegalArgumentException e) {
                throw new UserError((o.pth() != null ? o.pth() : o.file()) + ": " + e.getMessage());
            }
            model.checkSelection(selection);
            // Both runs with activation and weight quantization, keeping the loaded weight steps.
            model.setWeightQuantization(true, false);
            Device dev = cfg.device();

            // (a) evaluation mode
            model.eval();
            try (Scope s = Scope.open()) {
                Tensor x = tensor(dev, input);
                Tensor logits = model.forward(x, selection);
                compare(report, "logits_eval", "logits_eval", logits, file);
            }

            // (b) training mode, dropout disabled, one forward and backward
            model.train();
            model.dropout().setProbability(0f);
            Map<Integer, float[]> acts = new TreeMap<>();
            Map<Integer, int[]> actShapes = new TreeMap<>();
            long[] ties = new long[model.features().size()];
            List<ReLU> probed = new ArrayList<>();
            for (int i = 0; i < ties.length; i++) {
                final int feature = i;
                for (ReLU relu : model.features().get(i).modules(ReLU.class)) {
                    relu.setInputProbe(t -> ties[feature] += countTies(t));
                    probed.add(relu);
                }
            }
            try (Scope s = Scope.open()) {
                Tensor x = tensor(dev, input);
                Tensor target = tensor(dev, require(file, "target"));
                Tensor logits = model.forward(x, selection, o.verbose() ? (i, t) -> {
                    acts.put(i, t.toFloatArray());
                    actShapes.put(i, t.shape().dims());
                } : null);
                compare(report, "logits_train", "logits_train", logits, file);
                Tensor loss = F.crossEntropy(logits, target);
                compare(report, "loss", "loss", loss, file);
                Autograd.backward(loss);
            } finally {
                for (ReLU relu : probed) {
                    relu.setInputProbe(null);
                }
            }
            int tieFeature = -1;
            for (int i = 0; i < ties.length; i++) {
                if (ties[i] > 0) {
                    tieFeature = i;
                }
            }
            report.tieFeature = o.strictGrads() ? -1 : tieFeature;
            if (tieFeature >= 0) {
                report.note(String.format(Locale.ROOT,
                        "feature %d has %d ReLU input%s at float-noise level (|x| <= %.0e"
                        + " of its channel's largest, channel not constant): whether such an input passes the ReLU "
                        + "depends on the last bits of the arithmetic, so the gradients of features 0-%d can differ "
                        + "from the reference's in whole channels; %s", tieFeature, ties[tieFeature],
                        ties[tieFeature] == 1 ? "" : "s", TIE_RELATIVE, tieFeature,
                        o.strictGrads() ? "--strict-grads holds them to the tolerance anyway"
                                : "they are reported but not held to the tolerance (--strict-grads holds them)"));
            }
            checkGrads(report, model, file);
            checkStateAfter(report, model, file);
            if (o.verbose()) {
                for (Map.Entry<Integer, float[]> e : acts.entrySet()) {
                    String name = "act.feature." + e.getKey();
                    if (file.contains(name)) {
                        report.add(compare("act", name, e.getValue(), actShapes.get(e.getKey()), file.get(name), file));
                    }
                }
            }
            model.clearGrads();
        }
        return report;
    }

    // ------------------------------------------------------------------ reading

    private static SafeTensors.File readGolden(Path path) {
        if (!Files.exists(path)) {
            throw new UserError(path + ": no such file");
        }
        try {
            return SafeTensors.read(path);
        } catch (NoSuchFileException e) {
            throw new UserError(path + ": no such file");
        } catch (CheckpointFormatException e) {
            throw new UserError(e.getMessage());
        } catch (IOException | RuntimeException e) {
            throw new UserError(path + ": cannot read (" + UserError.message(e) + ")");
        }
    }

    private static Map<String, TensorData> readPth(Path path) {
        if (!Files.exists(path)) {
            throw new UserError(path + ": no such file");
        }
        Map<String, TensorData> sd;
        try {
            sd = TorchCheckpoint.readStateDict(path);
        } catch (CheckpointFormatException e) {
            throw new UserError(e.getMessage());
        } catch (IOException | RuntimeException e) {
            throw new UserError(path + ": cannot read (" + UserError.message(e) + ")");
        }
        // A checkpoint of a DataParallel-wrapped model prefixes every name with "module.".
        if (!sd.isEmpty() && sd.keySet().stream().allMatch(k -> k.startsWith("module."))) {
            Map<String, TensorData> out = new LinkedHashMap<>();
            sd.forEach((k, v) -> out.put(k.substring("module.".length()), v));
            return out;
        }
        return sd;
    }

    private static TensorData require(SafeTensors.File file, String name) {
        if (!file.contains(name)) {
            throw new UserError(file.path() + ": no tensor '" + name + "' (not a golden model file?)");
        }
        return file.get(name);
    }

    private static Map<String, TensorData> prefixed(SafeTensors.File file, String prefix) {
        Map<String, TensorData> out = new LinkedHashMap<>();
        for (Map.Entry<String, TensorData> e : file.tensors().entrySet()) {
            if (e.getKey().startsWith(prefix)) {
                out.put(e.getKey().substring(prefix.length()), e.getValue());
            }
        }
        if (out.isEmpty()) {
            throw new UserError(file.path() + ": no '" + prefix + "*' tensors");
        }
        return out;
    }

    /** The model configuration from the metadata, with what is missing taken from the tensors. */
    static ModelConfig config(Path path, Map<String, String> meta, SafeTensors.File file, TensorData input) {
        try {
            if (input.rank() != 4) {
                throw new UserError(path + ": input has shape " + input.shapeString() + ", expected [N, C, H, W]");
            }
            double width = Double.parseDouble(meta.getOrDefault("width_multiplier", "1.0"));
            int divisor = Integer.parseInt(meta.getOrDefault("width_divisor", "8"));
            int resolution = meta.containsKey("resolution") ? Integer.parseInt(meta.get("resolution")) : input.dim(2);
            int inChannels = meta.containsKey("in_channels") ? Integer.parseInt(meta.get("in_channels"))
                    : input.dim(1);
            int classes;
            if (meta.containsKey("classes")) {
                classes = Integer.parseInt(meta.get("classes"));
            } else if (file.contains("logits_eval")) {
                classes = file.get("logits_eval").dim(1);
            } else {
                throw new UserError(path + ": metadata has no 'classes' entry");
            }
            if (!meta.containsKey("bits")) {
                throw new UserError(path + ": metadata has no 'bits' entry");
            }
            int bits = Integer.parseInt(meta.get("bits").trim());
            int branches = Integer.parseInt(meta.getOrDefault("clip_branches", "7").trim());
            double[] l2 = null;
            if (meta.containsKey("l2_bounds")) {
                String[] parts = meta.get("l2_bounds").split(",");
                l2 = new double[parts.length];
                for (int i = 0; i < parts.length; i++) {
                    l2[i] = Double.parseDouble(parts[i].trim());
                }
            }
            return new ModelConfig(width, divisor, resolution, inChannels, classes, bits, branches, l2, 0f, 0L,
                    Device.CPU);
        } catch (NumberFormatException e) {
            throw new UserError(path + ": bad metadata value (" + e.getMessage() + ")");
        } catch (IllegalArgumentException e) {
            throw new UserError(path + ": " + e.getMessage());
        }
    }

    private static int[] toInts(TensorData t) {
        int[] out = new int[t.numel()];
        if (t.dtype() == TensorData.DType.I64) {
            long[] a = t.i64();
            for (int i = 0; i < out.length; i++) {
                out[i] = Math.toIntExact(a[i]);
            }
        } else {
            float[] a = t.f32();
            for (int i = 0; i < out.length; i++) {
                out[i] = Math.round(a[i]);
            }
        }
        return out;
    }

    private static Tensor tensor(Device dev, TensorData d) {
        int[] dims = d.shape();
        if (d.dtype() == TensorData.DType.I64) {
            return Tensor.ofLongs(dev, d.i64(), dims);
        }
        return Tensor.of(dev, d.f32(), dims);
    }

    // ------------------------------------------------------------------ comparing

    private static void compare(Report r, String group, String name, Tensor ours, SafeTensors.File file) {
        if (!file.contains(name)) {
            r.add(new Check(group, name, Double.POSITIVE_INFINITY, "missing from the file"));
            return;
        }
        r.add(compare(group, name, ours.toFloatArray(), ours.shape().dims(), file.get(name), file));
    }

    /** {@code max|a - b| / scale}, or {@code max|a - b|} when the scale is 0; infinite on NaN. */
    static double relativeError(float[] a, float[] b, double scale) {
        double diff = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs((double) a[i] - b[i]);
            if (Double.isNaN(d)) {
                return Double.POSITIVE_INFINITY;
            }
            diff = Math.max(diff, d);
        }
        return scale > 0 ? diff / scale : diff;
    }

    private static Check compare(String group, String name, float[] ours, int[] shape, TensorData ref,
            SafeTensors.File file) {
        if (ref.dtype() != TensorData.DType.F32) {
            return new Check(group, name, Double.POSITIVE_INFINITY, "reference is " + ref.dtype() + ", not F32");
        }
        if (ours.length != ref.numel()) {
            return new Check(group, name, Double.POSITIVE_INFINITY, "shape " + Arrays.toString(shape)
                    + " vs reference " + ref.shapeString());
        }
        return new Check(group, name, relativeError(ours, ref.f32(), scale(name, ref, file)), null);
    }

    private static boolean allZero(float[] a) {
        for (float v : a) {
            if (v != 0f) {
                return false;
            }
        }
        return true;
    }

    /** ReLU inputs within float noise of 0 in channels that are not constant (see {@link #TIE_RELATIVE}). */
    static long countTies(Tensor x) {
        if (x.rank() < 2) {
            return 0;
        }
        float[] a = x.toFloatArray();
        int n = x.dim(0);
        int c = x.dim(1);
        int inner = Math.toIntExact(x.shape().numelFrom(2));
        long count = 0;
        for (int ch = 0; ch < c; ch++) {
            float min = Float.POSITIVE_INFINITY;
            float max = Float.NEGATIVE_INFINITY;
            float amax = 0;
            for (int b = 0; b < n; b++) {
                int off = (b * c + ch) * inner;
                for (int i = 0; i < inner; i++) {
                    float v = a[off + i];
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                    amax = Math.max(amax, Math.abs(v));
                }
            }
            if (!(max > min)) {
                continue;
            }
            double limit = TIE_RELATIVE * amax;
            for (int b = 0; b < n; b++) {
                int off = (b * c + ch) * inner;
                for (int i = 0; i < inner; i++) {
                    if (Math.abs(a[off + i]) <= limit) {
                        count++;
                    }
                }
            }
        }
        return count;
    }

    /** The feature index of a parameter name ("feature.{i}."), or MAX_VALUE (e.g. the classifier). */
    private static int featureOf(String name) {
        if (name.startsWith("feature.")) {
            int dot = name.indexOf('.', 8);
            if (dot > 8) {
                try {
                    return Integer.parseInt(name.substring(8, dot));
                } catch (NumberFormatException e) {
                    return Integer.MAX_VALUE;
                }
            }
        }
        return Integer.MAX_VALUE;
    }

    /**
     * The scale a tensor's error is measured against: max|ref|, except for two kinds of tensors
     * whose reference value is float noise around zero. (1) The bias gradient of a layer that has
     * a weight gradient of the same shape (a batch norm): d/dbias = sum dy is exactly 0 in theory
     * when the output only feeds training-mode batch norms, so it is measured against the layer's
     * gradient scale, max(max|dbias|, max|dweight|). (2) A running mean after the update: the batch
     * mean of a batch-norm output is its bias (about 0), so it is measured against the standard
     * deviation, max(max|mean|, max sqrt(running_var)).
     */
    private static double scale(String name, TensorData ref, SafeTensors.File file) {
        double s = maxAbs(ref.f32());
        if (name.startsWith("grad.") && name.endsWith(".bias")) {
            String w = name.substring(0, name.length() - 4) + "weight";
            if (file.contains(w) && Arrays.equals(file.get(w).shape(), ref.shape())) {
                s = Math.max(s, maxAbs(file.get(w).f32()));
            }
        } else if (name.startsWith("state_after.") && name.endsWith(".running_mean")) {
            String v = name.substring(0, name.length() - "running_mean".length()) + "running_var";
            if (file.contains(v)) {
                for (float x : file.get(v).f32()) {
                    s = Math.max(s, Math.sqrt(Math.max(0f, x)));
                }
            }
        }
        return s;
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    private static void checkGrads(Report r, Supernet model, SafeTensors.File file) {
        Map<String, Parameter> params = model.namedParameters();
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            String name = "grad." + e.getKey();
            Tensor g = e.getValue().grad();
            float[] ours = g == null ? null : g.toFloatArray();
            if (file.contains(name)) {
                TensorData ref = file.get(name);
                if (ours == null) {
                    ours = new float[ref.numel()];
                }
                String group = featureOf(e.getKey()) <= r.tieFeature ? TIE_GROUP : "grad";
                r.add(compare(group, name, ours, e.getValue().tensor().shape().dims(), ref, file));
            } else if (ours != null && !allZero(ours)) {
                r.add(new Check("grad", name, Double.POSITIVE_INFINITY,
                        "nonzero gradient where the reference has none"));
            }
        }
        for (String name : file.tensors().keySet()) {
            if (name.startsWith("grad.") && !params.containsKey(name.substring(5))) {
                r.add(new Check("grad", name, Double.POSITIVE_INFINITY, "gradient of a parameter the model lacks"));
            }
        }
    }

    private static void checkStateAfter(Report r, Supernet model, SafeTensors.File file) {
        Map<String, Tensor> state = model.stateTensors();
        for (String name : file.tensors().keySet()) {
            if (!name.startsWith("state_after.")) {
                continue;
            }
            Tensor t = state.get(name.substring("state_after.".length()));
            if (t == null) {
                r.add(new Check("state_after", name, Double.POSITIVE_INFINITY, "the model has no such state"));
            } else if (t.dtype() != io.basq4j.tensor.DType.F32) {
                TensorData ref = file.get(name);
                boolean same = ref.dtype() == TensorData.DType.I64 && Arrays.equals(ref.i64(), t.toLongArray());
                r.add(new Check("state_after", name, same ? 0 : Double.POSITIVE_INFINITY,
                        same ? null : "integer state differs"));
            } else {
                r.add(compare("state_after", name, t.toFloatArray(), t.shape().dims(), file.get(name), file));
            }
        }
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.format(Locale.ROOT, "%.1f", v) : Double.toString(v);
    }
}
