package io.basq4j.parity;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.io.CheckpointFormatException;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.StateFiles;
import io.basq4j.io.TensorData;
import io.basq4j.io.TorchCheckpoint;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.nn.Parameter;
import io.basq4j.nn.ReLU;
import io.basq4j.tensor.DType;
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

/**
 * Checks the supernet against a file in the golden model format ({@code golden/README.md}): the
 * configuration from {@code __metadata__} (model, width, divisor, resolution, classes, bits,
 * branches), the state {@code state.*} (or a reference {@code .pth} checkpoint), {@code input},
 * {@code target}, {@code selection}, the float32 reference's {@code logits_eval},
 * {@code logits_train}, {@code loss}, {@code grad.*}, {@code state_after.*},
 * {@code act.feature.*}, and their float64 twins {@code f64.*}.
 *
 * <p>Runs (a) evaluation mode, then (b) training mode with dropout disabled and weight
 * quantization on with the loaded steps kept: one forward, cross-entropy against the target, one
 * backward. Every tensor of every group is then judged by one of two rules:
 * <ul>
 * <li>{@link Rule#FLOAT64} (the default when the file has {@code f64.*}): golden/README.md's.
 * With E the float64 value, {@code err(X) = max|X - E| / max(max|E|, floor)}, the floor being
 * 1e-4 times the largest |E| over all gradients for a gradient and 0 otherwise; a tensor passes
 * when {@code err(basq4j) <= max(factor * err(reference), tolerance)} (3 and 1e-4): basq4j is as
 * close to the exact answer as the float32 reference is. Every gradient is held. A tensor the
 * file has no twin for counts as exactly zero when its float32 value is all zeros (unselected
 * branches), and fails otherwise. One allowance, for the gradients upstream of float-noise ReLU
 * ties (below; {@link Report#tieVerdict()}): whether such an input passes the ReLU is decided by
 * rounding below float32 resolution, in the reference, here and in the float64 run alike, so
 * which of those gradients land near the float64 values is chance. One of them that misses its
 * own bound is accepted when it is within the reference's own worst error over those gradients,
 * as long as no more of them miss than the reference misses when judged the other way round
 * (against basq4j's errors). {@link Options#perTensor()} accepts none.
 * <li>{@link Rule#FLOAT32} (an option; the fallback for files without {@code f64.*}): the
 * relative error against the float32 reference, {@code max|a - b| / max|b|}, within the
 * tolerance, with two noise-dominated kinds measured against a natural scale (see
 * {@link #float32Scale}); gradients of features up to the last one with float-noise ReLU ties
 * are reported but not held, unless {@link Options#strictGrads()}.
 * </ul>
 *
 * <p>Ties. The supernet quantizes weights and activations to
 * a few levels, so the batch mean of a channel often equals one of its values exactly in real
 * arithmetic; the batch norm then puts that value at 0 up to float rounding, and whether the ReLU
 * after it lets the gradient pass depends on the last bits of the arithmetic, in the reference as
 * here. One such decision changes the gradient of a whole channel by O(1) and propagates to every
 * earlier layer. A separate training forward (no gradient, layers one by one, state reloaded
 * after it) counts ReLU inputs with {@code |x| <= TIE_RELATIVE * max|x|} of their channel, in
 * channels that are not constant, and the report names the deepest feature that has them.
 *
 * <p>{@link Options#dump()} writes basq4j's own results under the golden names.
 */
public final class Parity {
    /** How tensors are judged. */
    public enum Rule {
        /** As close to {@code f64.*} as the float32 reference is (golden/README.md). */
        FLOAT64,
        /** Relative error against the float32 reference within the tolerance; tie-affected gradients exempt. */
        FLOAT32
    }

    /**
     * What to check. {@code pth} may be null (state from the file); {@code dump} may be null (no
     * dump); {@code tolerance} is the 1e-4 of either rule, {@code factor} the 3 of the float64 rule.
     */
    public record Options(Path file, Path pth, double tolerance, double factor, boolean verbose, Device device,
            boolean strictGrads, boolean againstFloat32, boolean perTensor, Path dump) {
        public Options(Path file) {
            this(file, null, DEFAULT_TOLERANCE, DEFAULT_FACTOR, false, Device.CPU, false, false, false, null);
        }

        public Options withPth(Path p) {
            return new Options(file, p, tolerance, factor,
                    verbose, device, strictGrads, againstFloat32, perTensor, dump);
        }

        public Options withVerbose(boolean v) {
            return new Options(file, pth, tolerance, factor, v, device, strictGrads, againstFloat32, perTensor, dump);
        }

        public Options withStrictGrads(boolean v) {
            return new Options(file, pth, tolerance, factor, verbose, device, v, againstFloat32, perTensor, dump);
        }

        public Options withAgainstFloat32(boolean v) {
            return new Options(file, pth, tolerance, factor, verbose, device, strictGrads, v, perTensor, dump);
        }

        public Options withPerTensor(boolean v) {
            return new Options(file, pth, tolerance, factor, verbose, device, strictGrads, againstFloat32, v, dump);
        }

        public Options withDump(Path p) {
            return new Options(file, pth, tolerance, factor,
                    verbose, device, strictGrads, againstFloat32, perTensor, p);
        }
    }

    /** Group of the gradients that the float32 rule reports without holding them (float-noise ties). */
    public static final String TIE_GROUP = "grad, tie-affected";

    /** A ReLU input counts as a tie when |x| <= TIE_RELATIVE * (max |x| of its channel), channel not constant. */
    public static final double TIE_RELATIVE = 1e-5;

    public static final double DEFAULT_TOLERANCE = 1e-4;

    public static final double DEFAULT_FACTOR = 3;

    /** The gradient floor of the float64 rule, relative to the largest |f64.grad.*|. */
    public static final double GRADIENT_FLOOR = 1e-4;

    private static final String F64 = "f64.";

    private Parity() {
    }

    /** The comparison state of one run: the file, the rule and its constants, the report. */
    private record Judge(SafeTensors.File file, Rule rule, Options o, double gradFloor, Report report) {
        void compare(String group, String name, float[] ours, int[] shape, boolean held, boolean tieAffected) {
            report.add(rule == Rule.FLOAT64 ? float64(group, name, ours, shape, tieAffected)
                    : float32(group, name, ours, shape, held, tieAffected));
        }

        private TensorData reference(String group, String name, int numel, int[] shape, Check[] problem) {
            if (!file.contains(name)) {
                problem[0] = Check.problem(group, name, "missing from the file");
                return null;
            }
            TensorData ref = file.get(name);
            if (ref.dtype() != TensorData.DType.F32) {
                problem[0] = Check.problem(group, name, "reference is " + ref.dtype() + ", not F32");
                return null;
            }
            if (numel != ref.numel()) {
                problem[0] = Check.problem(group, name, "shape " + Arrays.toString(shape) + " vs reference "
                        + ref.shapeString());
                return null;
            }
            return ref;
        }

        Check float32(String group, String name, float[] ours, int[] shape, boolean held, boolean tieAffected) {
            Check[] problem = new Check[1];
            TensorData ref = reference(group, name, ours.length, shape, problem);
            if (ref == null) {
                return problem[0];
            }
            double err = maxDiff(ours, ref.f32()) / positive(float32Scale(name, ref, file));
            return new Check(group, name, err, Double.NaN, o.tolerance(), held, null, tieAffected);
        }

        Check float64(String group, String name, float[] ours, int[] shape, boolean tieAffected) {
            Check[] problem = new Check[1];
            TensorData ref = reference(group, name, ours.length, shape, problem);
            if (ref == null) {
                return problem[0];
            }
            float[] r = ref.f32();
            float[] e;
            if (file.contains(F64 + name)) {
                TensorData t = file.get(F64 + name);
                if (t.dtype() != TensorData.DType.F32 || t.numel() != r.length) {
                    return Check.problem(group, name, F64 + name + " is " + t.dtype() + t.shapeString()
                            + ", the reference " + ref.dtype() + ref.shapeString());
                }
                e = t.f32();
            } else if (maxAbs(r) == 0) {
                e = new float[r.length]; // the exact answer of an unselected branch's gradient
            } else {
                return Check.problem(group, name, "no " + F64 + name + " in the file to judge it by");
            }
            double denom = Math.max(maxAbs(e), group.equals("grad") ? gradFloor : 0);
            double errA = maxDiff(ours, e) / positive(denom);
            double errR = maxDiff(r, e) / positive(denom);
            return new Check(group, name, errA, errR, Math.max(o.factor() * errR, o.tolerance()), true, null,
                    tieAffected);
        }
    }

    /**
     * Runs the comparison. A missing or unreadable file, or one not in the format, gives a
     * {@link GoldenFileException} naming the file.
     */
    public static Report run(Options o) {
        if (o.dump() != null) {
            checkWritable(o.dump());
        }
        SafeTensors.File file = readGolden(o.file());
        Map<String, String> meta = file.metadata();
        TensorData input = require(file, "input");
        ModelConfig cfg = config(o.file(), meta, file, input).withDevice(o.device());
        String arch = meta.get("model");
        if (arch == null) {
            throw new GoldenFileException(o.file() + ": metadata has no 'model' entry");
        }
        try {
            arch = Models.canonical(arch);
        } catch (IllegalArgumentException e) {
            throw new GoldenFileException(o.file() + ": " + e.getMessage());
        }
        Map<String, TensorData> state = o.pth() != null ? readPth(o.pth()) : prefixed(file, "state.");
        String source = o.pth() != null ? o.pth().toString() : "state.* of the file";
        int[] selection = toInts(require(file, "selection"));
        String header = String.format(Locale.ROOT,
                "parity %s: %s, width %s, divisor %d, resolution %d, %d input channels, %d classes, %d bits, "
                        + "%d branches; state from %s; selection %s",
                o.file().getFileName(), arch, fmt(cfg.widthMultiplier()), cfg.divisor(), cfg.resolution(),
                cfg.inChannels(), cfg.classes(), cfg.bits(), cfg.branches(), source, Arrays.toString(selection));

        boolean hasF64 = file.tensors().keySet().stream().anyMatch(k -> k.startsWith(F64));
        Rule rule = hasF64 && !o.againstFloat32() ? Rule.FLOAT64 : Rule.FLOAT32;
        double gradFloor = GRADIENT_FLOOR * largestF64Gradient(file);
        Report report = new Report(header, rule, ruleLine(rule, o, hasF64, gradFloor), o.factor(), o.tolerance(),
                o.perTensor());
        Judge judge = new Judge(file, rule, o, gradFloor, report);
        Map<String, TensorData> dump = new LinkedHashMap<>();
        Device dev = cfg.device();
        // on CUDA: float32 throughout (no TF32) and direct-sum convolution algorithms only
        try (Supernet model = Models.create(arch, cfg); CudaMath.Scope math = CudaMath.parity()) {
            load(model, state, o);
            model.checkSelection(selection);
            // Both runs with activation and weight quantization, keeping the loaded weight steps.
            model.setWeightQuantization(true, false);
            model.dropout().setProbability(0f);

            long[] ties = countTies(model, dev, input, selection);
            load(model, state, o); // the tie count's forward moved the running statistics
            report.tieFeature = -1;
            for (int i = 0; i < ties.length; i++) {
                if (ties[i] > 0) {
                    report.tieFeature = i;
                }
            }
            report.tieCount = report.tieFeature >= 0 ? ties[report.tieFeature] : 0;
            int exemptUpTo = rule == Rule.FLOAT32 && !o.strictGrads() ? report.tieFeature : -1;
            if (report.tieFeature >= 0) {
                report.note(tieNote(report, rule, o));
            }

            // (a) evaluation mode
            model.eval();
            try (Scope s = Scope.open()) {
                Tensor logits = model.forward(tensor(dev, input), selection);
                judge(judge, dump, "logits_eval", "logits_eval", logits);
            }

            // (b) training mode, dropout disabled, one forward and backward
            model.train();
            Map<String, TensorData> acts = new LinkedHashMap<>();
            try (Scope s = Scope.open()) {
                Tensor target = tensor(dev, require(file, "target"));
                Tensor logits = model.forward(tensor(dev, input), selection,
                        (i, t) -> acts.put("act.feature." + i, TensorData.ofFloat(t.shape().dims(), t.toFloatArray())));
                judge(judge, dump, "logits_train", "logits_train", logits);
                Tensor loss = F.crossEntropy(logits, target);
                judge(judge, dump, "loss", "loss", loss);
                Autograd.backward(loss);
            }
            checkGrads(judge, model, report.tieFeature, exemptUpTo, dump);
            checkStateAfter(judge, model, dump);
            for (Map.Entry<String, TensorData> e : acts.entrySet()) {
                dump.put(e.getKey(), e.getValue());
                if (file.contains(e.getKey())) {
                    judge.compare("act", e.getKey(), e.getValue().f32(), e.getValue().shape(), true, false);
                }
            }
            model.clearGrads();
        }
        if (o.dump() != null) {
            writeDump(o, meta, dump, report);
        }
        return report;
    }

    private static void load(Supernet model, Map<String, TensorData> state, Options o) {
        try {
            model.loadStateDict(state);
        } catch (IllegalArgumentException e) {
            throw new GoldenFileException((o.pth() != null ? o.pth() : o.file()) + ": " + e.getMessage());
        }
    }

    private static void judge(Judge j, Map<String, TensorData> dump, String group, String name, Tensor ours) {
        float[] a = ours.toFloatArray();
        int[] shape = ours.shape().dims();
        if (j.file().contains(name) && j.file().get(name).numel() == a.length) {
            shape = j.file().get(name).shape(); // e.g. the loss as the reference shapes it
        }
        dump.put(name, TensorData.ofFloat(shape, a));
        j.compare(group, name, a, ours.shape().dims(), true, false);
    }

    private static String ruleLine(Rule rule, Options o, boolean hasF64, double gradFloor) {
        if (rule == Rule.FLOAT64) {
            return String.format(Locale.ROOT,
                    "as close to the float64 twins (f64.*) as the float32 reference: err(X) = max|X - f64| / "
                            + "max(max|f64|, floor), floor %.3e for gradients (%.0e x their largest |f64|), 0 "
                            + "otherwise; a tensor passes when err(basq4j) <= max(%s x err(reference), %.0e)%s",
                    gradFloor, GRADIENT_FLOOR, number(o.factor()), o.tolerance(), o.perTensor() ? " (--per-tensor)"
                            : "; a gradient upstream of float-noise ReLU ties that misses it is accepted while it is "
                                    + "within the reference's own worst error over those gradients and no more of them "
                                    + "miss than the reference misses when judged against basq4j");
        }
        return String.format(Locale.ROOT,
                "relative error max|basq4j - reference| / max|reference| against the float32 reference, "
                        + "tolerance %.1e (%s); %s",
                o.tolerance(), hasF64 ? "--against-float32"
                        : "the file has no f64.* tensors, so the float64 rule cannot be applied",
                o.strictGrads() ? "every gradient held (--strict-grads)"
                        : "gradients upstream of float-noise ReLU ties reported, not held (--strict-grads holds them)");
    }

    private static String tieNote(Report r, Rule rule, Options o) {
        String consequence;
        if (rule == Rule.FLOAT64) {
            consequence = "their gradients are held like every other tensor, and one that misses its own bound is "
                    + "accepted only as the per-tensor line says";
        } else if (o.strictGrads()) {
            consequence = "--strict-grads holds them to the tolerance anyway";
        } else {
            consequence = "they are reported but not held to the tolerance (--strict-grads holds them)";
        }
        return String.format(Locale.ROOT,
                "feature %d has %d ReLU input%s at float-noise level (|x| <= %.0e of its channel's largest, "
                        + "channel not constant): whether such an input passes the ReLU depends on the last bits of "
                        + "the arithmetic, so the gradients of features 0-%d can differ from the exact ones in whole "
                        + "channels in any float32 implementation; %s",
                r.tieFeature, r.tieCount, r.tieCount == 1 ? "" : "s", TIE_RELATIVE, r.tieFeature, consequence);
    }

    /** Training forward without gradient, layers one by one, counting float-noise ReLU inputs per feature. */
    private static long[] countTies(Supernet model, Device dev, TensorData input, int[] selection) {
        long[] ties = new long[model.features().size()];
        List<ReLU> probed = new ArrayList<>();
        for (int i = 0; i < ties.length; i++) {
            final int feature = i;
            for (ReLU relu : model.features().get(i).modules(ReLU.class)) {
                relu.setInputProbe(t -> ties[feature] += countTies(t));
                probed.add(relu);
            }
        }
        model.train();
        try (Scope s = Scope.open(); GradMode off = GradMode.off()) {
            model.forward(tensor(dev, input), selection);
        } finally {
            for (ReLU relu : probed) {
                relu.setInputProbe(null);
            }
        }
        return ties;
    }

    // ------------------------------------------------------------------ reading

    private static SafeTensors.File readGolden(Path path) {
        if (!Files.exists(path)) {
            throw new GoldenFileException(path + ": no such file");
        }
        try {
            return SafeTensors.read(path);
        } catch (NoSuchFileException e) {
            throw new GoldenFileException(path + ": no such file");
        } catch (CheckpointFormatException e) {
            throw new GoldenFileException(e.getMessage());
        } catch (IOException | RuntimeException e) {
            throw new GoldenFileException(path + ": cannot read (" + message(e) + ")");
        }
    }

    private static Map<String, TensorData> readPth(Path path) {
        if (!Files.exists(path)) {
            throw new GoldenFileException(path + ": no such file");
        }
        Map<String, TensorData> sd;
        try {
            sd = TorchCheckpoint.readStateDict(path);
        } catch (CheckpointFormatException e) {
            throw new GoldenFileException(e.getMessage());
        } catch (IOException | RuntimeException e) {
            throw new GoldenFileException(path + ": cannot read (" + message(e) + ")");
        }
        // A checkpoint of a DataParallel-wrapped model prefixes every name with "module.".
        return StateFiles.stripDataParallel(sd);
    }

    private static String message(Throwable t) {
        return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
    }

    private static TensorData require(SafeTensors.File file, String name) {
        if (!file.contains(name)) {
            throw new GoldenFileException(file.path() + ": no tensor '" + name + "' (not a golden model file?)");
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
            throw new GoldenFileException(file.path() + ": no '" + prefix + "*' tensors");
        }
        return out;
    }

    /** The model configuration from the metadata, with what is missing taken from the tensors. */
    static ModelConfig config(Path path, Map<String, String> meta, SafeTensors.File file, TensorData input) {
        try {
            if (input.rank() != 4) {
                throw new GoldenFileException(path + ": input has shape " + input.shapeString()
                        + ", expected [N, C, H, W]");
            }
            double width = Double.parseDouble(meta.getOrDefault("width_multiplier", "1.0"));
            int divisor = Integer.parseInt(meta.getOrDefault("width_divisor", "8"));
            int resolution = meta.containsKey("resolution") ? Integer.parseInt(meta.get("resolution").trim())
                    : input.dim(2);
            if (resolution != input.dim(2) || resolution != input.dim(3)) {
                throw new GoldenFileException(path + ": metadata gives resolution " + resolution + " but the input is "
                        + input.shapeString());
            }
            int inChannels = meta.containsKey("in_channels") ? Integer.parseInt(meta.get("in_channels"))
                    : input.dim(1);
            int classes;
            if (meta.containsKey("classes")) {
                classes = Integer.parseInt(meta.get("classes"));
            } else if (file.contains("logits_eval")) {
                classes = file.get("logits_eval").dim(1);
            } else {
                throw new GoldenFileException(path + ": metadata has no 'classes' entry");
            }
            if (!meta.containsKey("bits")) {
                throw new GoldenFileException(path + ": metadata has no 'bits' entry");
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
            throw new GoldenFileException(path + ": bad metadata value (" + e.getMessage() + ")");
        } catch (IllegalArgumentException e) {
            throw new GoldenFileException(path + ": " + e.getMessage());
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

    private static double largestF64Gradient(SafeTensors.File file) {
        double m = 0;
        for (Map.Entry<String, TensorData> e : file.tensors().entrySet()) {
            if (e.getKey().startsWith(F64 + "grad.") && e.getValue().dtype() == TensorData.DType.F32) {
                m = Math.max(m, maxAbs(e.getValue().f32()));
            }
        }
        return m;
    }

    // ------------------------------------------------------------------ comparing

    /** {@code max|a - b|}; infinite when either has a NaN. */
    static double maxDiff(float[] a, float[] b) {
        double diff = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs((double) a[i] - b[i]);
            if (Double.isNaN(d)) {
                return Double.POSITIVE_INFINITY;
            }
            diff = Math.max(diff, d);
        }
        return diff;
    }

    /** A divisor: the scale, or 1 (an absolute error) where the scale is 0. */
    private static double positive(double scale) {
        return scale > 0 ? scale : 1;
    }

    private static boolean allZero(float[] a) {
        return maxAbs(a) == 0;
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
     * The float32 rule's scale of a tensor: max|ref|, except for two kinds of tensors whose
     * reference value is float noise around zero. (1) The bias gradient of a layer that has a
     * weight gradient of the same shape (a batch norm): d/dbias = sum dy is exactly 0 in theory
     * when the output only feeds training-mode batch norms, so it is measured against the layer's
     * gradient scale, max(max|dbias|, max|dweight|). (2) A running mean after the update: the batch
     * mean of a batch-norm output is its bias (about 0), so it is measured against the standard
     * deviation, max(max|mean|, max sqrt(running_var)).
     */
    private static double float32Scale(String name, TensorData ref, SafeTensors.File file) {
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

    private static void checkGrads(Judge j, Supernet model, int tieFeature, int exemptUpTo,
            Map<String, TensorData> dump) {
        SafeTensors.File file = j.file();
        Map<String, Parameter> params = model.namedParameters();
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            String name = "grad." + e.getKey();
            Tensor g = e.getValue().grad();
            float[] ours = g == null ? null : g.toFloatArray();
            int[] shape = e.getValue().tensor().shape().dims();
            if (ours != null) {
                dump.put(name, TensorData.ofFloat(shape, ours));
            }
            if (file.contains(name)) {
                if (ours == null) {
                    ours = new float[file.get(name).numel()];
                }
                int feature = featureOf(e.getKey());
                boolean exempt = feature <= exemptUpTo;
                j.compare(exempt ? TIE_GROUP : "grad", name, ours, shape, !exempt, feature <= tieFeature);
            } else if (ours != null && !allZero(ours)) {
                j.report().add(Check.problem("grad", name, "nonzero gradient where the reference has none"));
            }
        }
        for (String name : file.tensors().keySet()) {
            if (name.startsWith("grad.") && !params.containsKey(name.substring(5))) {
                j.report().add(Check.problem("grad", name, "gradient of a parameter the model lacks"));
            }
        }
    }

    private static void checkStateAfter(Judge j, Supernet model, Map<String, TensorData> dump) {
        SafeTensors.File file = j.file();
        Map<String, Tensor> state = model.stateTensors();
        for (Map.Entry<String, Tensor> e : state.entrySet()) {
            Tensor t = e.getValue();
            int[] shape = t.shape().dims();
            dump.put("state_after." + e.getKey(), t.dtype() == DType.F32 ? TensorData.ofFloat(shape, t.toFloatArray())
                    : TensorData.ofLong(shape, t.toLongArray()));
        }
        for (String name : file.tensors().keySet()) {
            if (!name.startsWith("state_after.")) {
                continue;
            }
            Tensor t = state.get(name.substring("state_after.".length()));
            if (t == null) {
                j.report().add(Check.problem("state_after", name, "the model has no such state"));
            } else if (t.dtype() != DType.F32) {
                TensorData ref = file.get(name);
                boolean same = ref.dtype() == TensorData.DType.I64 && Arrays.equals(ref.i64(), t.toLongArray());
                j.report().add(same ? new Check("state_after", name, 0, 0, 0, true, null, false)
                        : Check.problem("state_after", name, "integer state differs"));
            } else {
                j.compare("state_after", name, t.toFloatArray(), t.shape().dims(), true, false);
            }
        }
    }

    // ------------------------------------------------------------------ dump

    private static void checkWritable(Path out) {
        Path dir = out.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new GoldenFileException(out + ": cannot write the dump (no such directory " + dir + ")");
        }
        if (Files.isDirectory(out)) {
            throw new GoldenFileException(out + ": cannot write the dump (a directory)");
        }
    }

    private static void writeDump(Options o, Map<String, String> goldenMeta, Map<String, TensorData> dump,
            Report report) {
        Map<String, String> meta = new LinkedHashMap<>();
        for (String k : List.of("model", "width_multiplier", "width_divisor", "resolution", "in_channels", "classes",
                "bits", "clip_branches", "l2_bounds")) {
            if (goldenMeta.containsKey(k)) {
                meta.put(k, goldenMeta.get(k));
            }
        }
        meta.put("producer", "basq4j parity");
        meta.put("golden", o.file().getFileName().toString());
        meta.put("state", o.pth() != null ? o.pth().getFileName().toString() : "state.* of the golden file");
        meta.put("fused", Boolean.toString(F.fusion()));
        try {
            SafeTensors.write(o.dump(), dump, meta);
        } catch (IOException | RuntimeException e) {
            throw new GoldenFileException(o.dump() + ": cannot write the dump (" + message(e) + ")");
        }
        report.note(String.format(Locale.ROOT, "wrote basq4j's results (%d tensors, golden names) to %s",
                dump.size(), o.dump()));
    }

    private static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.format(Locale.ROOT, "%.1f", v) : Double.toString(v);
    }
}
