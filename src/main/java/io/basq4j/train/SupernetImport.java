package io.basq4j.train;

import io.basq4j.io.CheckpointFormatException;
import io.basq4j.io.JsonFiles;
import io.basq4j.io.StateFiles;
import io.basq4j.io.TensorData;
import io.basq4j.models.Models;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Supernet;
import io.basq4j.models.SupernetShapes;
import io.basq4j.models.TorchvisionResNet;
import io.basq4j.nn.StateDictException;
import io.basq4j.tensor.Device;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Makes a run directory of a supernet trained elsewhere (above all the BASQ release's
 * {@code train-supernet/model_actwbin_best_466000it.pth}, saved as {@code {iter,
 * model_state_dict, best_top1_acc}}), so that step 2 ({@code search}) and step 3
 * ({@code finetune}) run on it unchanged: it writes {@code supernet.safetensors} in the format
 * step 1 ends with and {@code config.json} with the run's settings.
 *
 * <p>Input: a {@code .pth} checkpoint (that dict, or a bare state dict; with or without the
 * {@code module.} prefix of {@code nn.DataParallel}) or a safetensors state (plain, a basq4j
 * checkpoint, or a golden model file's {@code state.*}); see {@link StateFiles}.
 *
 * <p>What the file decides. From the names: the architecture (the one whose parameter names are
 * exactly the file's). From the shapes: input channels ({@code feature.0.conv1.weight}), classes
 * ({@code classifier.1.weight}), branches (the {@code branch_bn_q_1.<j>} indices) and the channel
 * counts, hence a width multiplier and divisor that give them ({@link SupernetShapes}; any such
 * pair builds the same network, the given or preset pair is preferred). From the values: the
 * bits, which every clip quantizer records in its never-trained {@code bin}
 * ({@code 1 - 1/(2^bits - 1)}, SPEC 1.1). Where the file records them: the resolution and l2 list
 * (a golden file's or basq4j checkpoint's metadata) and whether weights are quantized (a basq4j
 * checkpoint). The reference's {@code .pth} does not record the last; its file names do
 * ({@code model_actwbin_*}: phase b, weights quantized; {@code model_actbin_*}: phase a), and
 * otherwise weights are quantized, as at the end of step 1. An option given explicitly that
 * contradicts the file is refused, all mismatches in one line; options the file does not decide
 * (data, resolution, the steps' settings) are taken from the options and preset.
 *
 * <p>Nothing is written unless everything fits: the run directory is created only then.
 */
public final class SupernetImport {
    private static final Pattern BRANCH = Pattern.compile("^feature\\.\\d+\\.branch_bn_q_\\d+\\.(\\d+)\\.");

    private SupernetImport() {
    }

    /**
     * The model settings given explicitly (null: not given); {@code weightQuant} false for a
     * checkpoint of phase a (activations quantized only).
     */
    public record Given(String arch, Double width, Integer divisor, Integer resolution, Integer inChannels,
            Integer classes, Integer bits, Integer branches, double[] l2, Boolean weightQuant) {
        /** Nothing given: the file and the base configuration decide. */
        public static Given nothing() {
            return new Given(null, null, null, null, null, null, null, null, null, null);
        }
    }

    /** What was written, and how each setting was decided (lines for a person). */
    public record Result(Path supernet, Path config, RunConfig run, boolean weightQuant, List<String> report) {
    }

    /**
     * Imports {@code file} into {@code runDir}.
     *
     * @param base the configuration the run starts from (preset and options); its model fields are
     *     replaced by what the file decides
     * @param force replace a supernet already in the run directory
     * @throws IllegalArgumentException with one line when the file is missing, unreadable, not a
     *     BASQ supernet, or contradicts {@code given}; nothing is then written
     */
    public static Result run(Path file, RunConfig base, Given given, Path runDir, boolean force) {
        Path target = runDir.resolve(SupernetTraining.FINAL);
        refuseExisting(runDir, target, force); // early, before the file is read; again under the lock
        StateFiles.Loaded src = read(file);
        Map<String, TensorData> st = src.state();
        if (TorchvisionResNet.looksLike(st)) {
            throw new IllegalArgumentException(file + " is a torchvision ResNet state dict, not a BASQ supernet (a "
                    + "distillation teacher: pass it as --teacher " + Teachers.TORCHVISION + file + ")");
        }
        if (!Teachers.isSupernet(st)) {
            throw new IllegalArgumentException(file + " is not a BASQ supernet state: it has no feature.0.conv1.weight"
                    + " and classifier.1.weight (" + st.size() + " tensors: " + firstNames(st) + ")");
        }
        Map<String, String> rec = recorded(src);
        List<String> mismatch = new ArrayList<>();
        List<String> report = new ArrayList<>();
        report.add(String.format(Locale.ROOT, "read %s (%s%s): %d tensors", file, src.format(),
                src.metadata().containsKey("iter") ? ", iter " + src.metadata().get("iter") : "", st.size()));

        int inChannels = dim(st, "feature.0.conv1.weight", 4, 1);
        int classes = dim(st, "classifier.1.weight", 2, 0);
        int branches = branches(st);
        Integer bits = bitsFromBins(file, st);
        String arch = arch(file, st, inChannels, classes, branches);
        differs(mismatch, "architecture", arch, given.arch() == null ? null : Models.canonical(given.arch()), "--arch");
        differs(mismatch, "input channels", inChannels, given.inChannels(), "--in-channels");
        differs(mismatch, "classes", classes, given.classes(), "--classes");
        differs(mismatch, "branches", branches, given.branches(), "--branches");
        String bitsFrom = "the clip quantizers' bin";
        if (bits == null) {
            bitsFrom = rec.containsKey("bits") ? "the file's metadata" : given.bits() != null ? "--bits" : "the preset";
            bits = rec.containsKey("bits") ? Integer.valueOf(rec.get("bits")) : given.bits() != null ? given.bits()
                    : base.bits;
        }
        differs(mismatch, "bits", bits, given.bits(), "--bits");

        List<SupernetShapes.Scaled> counts = SupernetShapes.scaledChannels(arch, st);
        double prefWidth = given.width() != null ? given.width()
                : rec.containsKey("width") ? Double.parseDouble(rec.get("width")) : base.width;
        int prefDivisor = given.divisor() != null ? given.divisor()
                : rec.containsKey("divisor") ? Integer.parseInt(rec.get("divisor")) : base.divisor;
        List<Double> widths = given.width() != null ? List.of(given.width())
                : SupernetShapes.candidateWidths(counts, prefWidth);
        List<Integer> divisors = given.divisor() != null ? List.of(given.divisor())
                : new ArrayList<>(new java.util.LinkedHashSet<>(List.of(prefDivisor, 8, 1)));
        double[] wd = SupernetShapes.infer(counts, widths, divisors);
        if (wd == null && (given.width() != null || given.divisor() != null)) {
            mismatch.add("channels " + SupernetShapes.describe(counts) + " in the file, "
                    + SupernetShapes.describe(counts, prefWidth, prefDivisor) + " from --width " + fmt(prefWidth)
                    + " --divisor " + prefDivisor);
        } else if (wd == null) {
            throw new IllegalArgumentException(file + ": the channel counts " + SupernetShapes.describe(counts)
                    + " fit no width multiplier of " + arch);
        }

        boolean weightQuant = weightQuant(file, rec, given, mismatch);
        if (given.l2() != null && given.l2().length != branches) {
            mismatch.add(branches + " branches in the file, " + given.l2().length + " --l2 values");
        }
        if (!mismatch.isEmpty()) {
            throw new IllegalArgumentException(file + " does not fit the options: " + String.join("; ", mismatch));
        }

        RunConfig c = JsonFiles.MAPPER.convertValue(base, RunConfig.class);
        c.arch = arch;
        c.width = wd[0];
        c.divisor = (int) wd[1];
        c.inChannels = inChannels;
        c.classes = classes;
        c.branches = branches;
        c.bits = bits;
        c.resolution = given.resolution() != null ? given.resolution()
                : rec.containsKey("resolution") ? Integer.parseInt(rec.get("resolution")) : base.resolution;
        c.l2 = l2(given, rec, base, branches);
        c.validate();
        report.add(String.format(Locale.ROOT, "%s (from the names), width %s divisor %d (channels %s), %d input "
                + "channels, %d classes, %d branches (from the shapes), %d bits (from %s)", arch, fmt(c.width),
                c.divisor, SupernetShapes.describe(counts), inChannels, classes, branches, bits, bitsFrom));
        report.add(String.format(Locale.ROOT, "weights quantized: %s; resolution %d, l2 %s, data %s (from %s)",
                weightQuant ? "yes (as at the end of step 1)" : "no (a phase-a checkpoint)", c.resolution,
                Arrays.toString(c.l2), c.dataset, rec.isEmpty() ? "the options and preset"
                        : "the file's metadata where recorded, else the options and preset"));

        try (Supernet model = Models.create(c.arch, c.modelConfig().withDevice(Device.CPU))) {
            try {
                model.loadStateDict(st);
            } catch (StateDictException e) {
                throw new IllegalArgumentException(file + " does not fit " + c.arch + " w" + fmt(c.width) + ": "
                        + e.brief(), e);
            }
            Map<String, String> meta = SupernetTraining.meta(c, "supernet-final", 2, 0);
            meta.put("weight_quant", Boolean.toString(weightQuant));
            meta.put("imported_from", file.toAbsolutePath().toString());
            src.metadata().forEach((k, v) -> {
                if (src.format().equals("pth")) {
                    meta.put("source_" + k, v);
                }
            });
            write(runDir, target, model, meta, c, force);
        }
        report.add("wrote " + target + " and " + runDir.resolve("config.json"));
        return new Result(target, runDir.resolve("config.json"), c, weightQuant, report);
    }

    private static StateFiles.Loaded read(Path file) {
        try {
            return StateFiles.read(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("supernet file " + file + " does not exist");
        } catch (CheckpointFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes the imported supernet and config.json under the run directory's lock (another command
     * working in it is refused); with {@code force}, the outputs of an earlier run there are removed
     * first ({@link RunState#clear}), so that no search or result of another supernet outlives it.
     */
    private static void write(Path runDir, Path target, Supernet model, Map<String, String> meta, RunConfig c,
            boolean force) {
        boolean created = !Files.exists(runDir);
        RunDirectory lock = RunDirectory.lock(runDir, "basq4j import-supernet --run " + runDir);
        try (lock) { // released before a failed import's new directory is removed
            refuseExisting(runDir, target, force);
            if (force) {
                RunState.clear(runDir);
            }
            Checkpoint.save(target, model, null, meta);
            JsonFiles.writeAtomically(runDir.resolve("config.json"), c);
        } catch (RuntimeException e) {
            if (created) {
                deleteTree(runDir);
            }
            if (e instanceof IllegalArgumentException) {
                throw e;
            }
            throw new UncheckedIOException("cannot write the run directory " + runDir + ": " + e.getMessage(),
                    new IOException(e));
        }
    }

    /** A supernet already in the run directory is replaced only with --force. */
    private static void refuseExisting(Path runDir, Path target, boolean force) {
        if (Files.exists(target) && !force) {
            throw new IllegalArgumentException(runDir + " already holds " + SupernetTraining.FINAL
                    + "; import into another --run directory, or pass --force to replace it");
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // best effort: the original error is the one to report
        }
    }

    /** What the file's metadata records: width, divisor, resolution, l2, bits, weight_quant (normalized keys). */
    private static Map<String, String> recorded(StateFiles.Loaded src) {
        Map<String, String> m = src.metadata();
        Map<String, String> out = new LinkedHashMap<>();
        if (m.containsKey("config")) { // a basq4j checkpoint: the configuration that trained it
            try {
                RunConfig rc = JsonFiles.MAPPER.readValue(m.get("config"), RunConfig.class);
                out.put("width", Double.toString(rc.width));
                out.put("divisor", Integer.toString(rc.divisor));
                out.put("resolution", Integer.toString(rc.resolution));
                out.put("l2", join(rc.l2));
            } catch (IOException e) {
                // an unreadable configuration records nothing
            }
        }
        copy(m, "width_multiplier", out, "width");
        copy(m, "width_divisor", out, "divisor");
        copy(m, "resolution", out, "resolution");
        copy(m, "l2_bounds", out, "l2");
        copy(m, "bits", out, "bits");
        copy(m, "weight_quant", out, "weight_quant");
        return out;
    }

    private static void copy(Map<String, String> from, String key, Map<String, String> to, String as) {
        String v = from.get(key);
        if (v != null && !v.isBlank()) {
            to.put(as, v.trim());
        }
    }

    private static String join(double[] a) {
        return String.join(",", Arrays.stream(a).mapToObj(Double::toString).toList());
    }

    private static double[] l2(Given given, Map<String, String> rec, RunConfig base, int branches) {
        if (given.l2() != null) {
            return given.l2().clone();
        }
        if (rec.containsKey("l2")) {
            double[] r = Arrays.stream(rec.get("l2").split(",")).mapToDouble(v -> Double.parseDouble(v.trim()))
                    .toArray();
            if (r.length == branches) {
                return r;
            }
        }
        if (base.l2.length == branches) {
            return base.l2.clone();
        }
        if (branches > ModelConfig.DEFAULT_L2.length) {
            throw new IllegalArgumentException("the file has " + branches + " branches: give their " + branches
                    + " l2 values with --l2");
        }
        return Arrays.copyOf(ModelConfig.DEFAULT_L2, branches);
    }

    private static boolean weightQuant(Path file, Map<String, String> rec, Given given, List<String> mismatch) {
        if (rec.containsKey("weight_quant")) {
            boolean r = Boolean.parseBoolean(rec.get("weight_quant"));
            if (given.weightQuant() != null && given.weightQuant() != r) {
                mismatch.add("weights " + (r ? "" : "not ") + "quantized in the file, "
                        + (given.weightQuant() ? "quantized" : "--activations-only") + " given");
            }
            return r;
        }
        if (given.weightQuant() != null) {
            return given.weightQuant();
        }
        // The reference names its checkpoints model_actbin_* (phase a) and model_actwbin_* (phase b).
        return !file.getFileName().toString().startsWith("model_actbin_");
    }

    private static void differs(List<String> mismatch, String what, Object inFile, Object given, String option) {
        if (given != null && !given.equals(inFile)) {
            mismatch.add(what + " " + inFile + " in the file, " + option + " " + given);
        }
    }

    private static int dim(Map<String, TensorData> st, String name, int rank, int d) {
        TensorData t = st.get(name);
        if (t.rank() != rank) {
            throw new IllegalArgumentException(name + " has shape " + t.shapeString() + ", expected rank " + rank);
        }
        return t.dim(d);
    }

    /** L: one more than the largest branch index in the names. */
    private static int branches(Map<String, TensorData> st) {
        int max = -1;
        for (String k : st.keySet()) {
            Matcher m = BRANCH.matcher(k);
            if (m.find()) {
                max = Math.max(max, Integer.parseInt(m.group(1)));
            }
        }
        if (max < 0) {
            throw new IllegalArgumentException("no clip branches (feature.<i>.branch_bn_q_<k>.<j>.*) in the state");
        }
        return max + 1;
    }

    /**
     * The bits every clip quantizer's {@code bin} records ({@code 1 - 1/(2^bits - 1)}); null when the
     * state has no bin.
     */
    private static Integer bitsFromBins(Path file, Map<String, TensorData> st) {
        Set<Integer> seen = new TreeSet<>();
        for (Map.Entry<String, TensorData> e : st.entrySet()) {
            if (!e.getKey().endsWith(".bin") || e.getValue().dtype() != TensorData.DType.F32
                    || e.getValue().numel() != 1) {
                continue;
            }
            double b = e.getValue().f32()[0];
            int levels = (int) Math.round(1 / (1 - b)) + 1;
            int bits = Integer.numberOfTrailingZeros(levels);
            if (levels < 2 || Integer.bitCount(levels) != 1 || Math.abs(b - (1 - 1.0 / (levels - 1))) > 1e-6) {
                throw new IllegalArgumentException(file + ": " + e.getKey() + " = " + b + " is no clip quantizer's "
                        + "bin (1 - 1/(2^bits - 1))");
            }
            seen.add(bits);
        }
        if (seen.size() > 1) {
            throw new IllegalArgumentException(file + ": the clip quantizers' bins record different bits " + seen
                    + "; basq4j quantizes every layer with the same bits");
        }
        return seen.isEmpty() ? null : seen.iterator().next();
    }

    /** The architecture whose names are exactly the state's. */
    private static String arch(Path file, Map<String, TensorData> st, int inChannels, int classes, int branches) {
        String best = null;
        int bestDiff = Integer.MAX_VALUE;
        String bestAccount = "";
        for (String a : Models.ARCHS) {
            Set<String> names;
            ModelConfig probe = new ModelConfig(0.25, 8, 32, inChannels, classes, 2, branches, new double[branches],
                    0f, 0L, Device.CPU);
            try (Supernet m = Models.create(a, probe)) {
                names = new HashSet<>(m.stateTensors().keySet());
            }
            List<String> missing = names.stream().filter(n -> !st.containsKey(n)).sorted().toList();
            List<String> extra = st.keySet().stream().filter(n -> !names.contains(n)).toList();
            if (missing.isEmpty() && extra.isEmpty()) {
                return a;
            }
            if (missing.size() + extra.size() < bestDiff) {
                bestDiff = missing.size() + extra.size();
                best = a;
                bestAccount = new StateDictException("", missing, extra, List.of()).brief();
            }
        }
        throw new IllegalArgumentException(file + ": the names fit no supernet architecture (closest " + best + ": "
                + bestAccount + ")");
    }

    private static String firstNames(Map<String, TensorData> st) {
        List<String> names = st.keySet().stream().limit(3).toList();
        return String.join(", ", names) + (st.size() > 3 ? ", ..." : "");
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.format(Locale.ROOT, "%.1f", v) : Double.toString(v);
    }
}
