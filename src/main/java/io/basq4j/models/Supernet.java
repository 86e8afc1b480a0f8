package io.basq4j.models;

import io.basq4j.autograd.F;
import io.basq4j.autograd.GradMode;
import io.basq4j.io.TensorData;
import io.basq4j.nn.Dropout;
import io.basq4j.nn.Init;
import io.basq4j.nn.Linear;
import io.basq4j.nn.Module;
import io.basq4j.nn.ModuleList;
import io.basq4j.nn.Sequential;
import io.basq4j.nn.quant.LsqActQuantizer;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A BASQ weight-sharing supernet: features {@code feature.0} (the full-precision stem) to
 * {@code feature.{n-1}}, global average pooling, then {@code classifier} (0: dropout, 1: a
 * full-precision linear layer). Each searched unit has L branches; a selection (architecture)
 * picks one per unit, {@link #searchedUnits()} entries in [0, L).
 *
 * <p>Quantization: activations are always quantized (clip quantizers in the searched units,
 * LSQ in the 1x1 units); weights of the quantized convolutions only after
 * {@link #setWeightQuantization(boolean)} (phase b of SPEC 5). A new supernet starts with
 * activation-only quantization and LSQ steps of 1: call {@link #initActivationSteps} with a
 * first training batch before training.
 *
 * <p>Memory: run forwards inside a {@link Scope}; the intermediates (and the result) belong to
 * it. {@link #close()} frees the parameters, buffers and gradients.
 */
public abstract class Supernet extends Module {
    private final ModelConfig config;
    private final Init init;
    private ModuleList<SupernetBlock> features;
    private Dropout dropout;
    private Linear fc;
    private int units;
    private int outSize;
    private boolean weightQuant;

    protected Supernet(ModelConfig config) {
        this.config = config;
        this.init = new Init(config.device(), config.seed());
    }

    /** Where the layers take their parameters from (seeded by the configuration). */
    protected final Init init() {
        return init;
    }

    /** Registers the features and the classifier; called once by the subclass constructor. */
    protected final void build(List<SupernetBlock> blocks, int lastChannels) {
        features = register("feature", new ModuleList<>(blocks));
        dropout = new Dropout(config.dropout(), config.seed() * 0x9E3779B97F4A7C15L + 1);
        fc = new Linear(init, lastChannels, config.classes());
        register("classifier", new Sequential(dropout, fc));
        int u = 0;
        for (SupernetBlock b : blocks) {
            u += b.searchedUnits();
        }
        units = u;
        outSize = blocks.get(blocks.size() - 1).info().outSize();
    }

    public final ModelConfig config() {
        return config;
    }

    /** The architecture name (as accepted by {@link Models#create}). */
    public abstract String arch();

    /** Entries of a selection: one per searched unit. */
    public final int searchedUnits() {
        return units;
    }

    /** Branches per searched unit (L). */
    public final int branches() {
        return config.branches();
    }

    /** Spatial size of the last feature map for the configured resolution. */
    public final int outputSize() {
        return outSize;
    }

    public final List<SupernetBlock> features() {
        return features.items();
    }

    /** The classifier's dropout (its probability may be changed, e.g. to 0 for comparisons). */
    public final Dropout dropout() {
        return dropout;
    }

    public final Linear classifier() {
        return fc;
    }

    /** One row per feature, then one for the classifier. */
    public final List<BlockInfo> blocks() {
        List<BlockInfo> rows = new ArrayList<>();
        for (SupernetBlock b : features.items()) {
            rows.add(b.info());
        }
        int c = fc.weight().tensor().dim(1);
        rows.add(new BlockInfo(-1, "classifier", c, config.classes(), 1, 1, c,
                fc.parameterCount(), 0, 1));
        return rows;
    }

    // ------------------------------------------------------------------ forward

    /** Checks that a selection has one entry per searched unit, each in [0, L). */
    public final void checkSelection(int[] selection) {
        if (selection == null || selection.length != units) {
            throw new IllegalArgumentException("selection " + Arrays.toString(selection) + " must have " + units
                    + " entries (one per searched unit)");
        }
        for (int i = 0; i < selection.length; i++) {
            if (selection[i] < 0 || selection[i] >= config.branches()) {
                throw new IllegalArgumentException("selection entry " + i + " = " + selection[i] + " outside [0, "
                        + config.branches() + ")");
            }
        }
    }

    /** Logits [N, classes] for input [N, inChannels, H, W] with the branches of {@code selection}. */
    public final Tensor forward(Tensor x, int[] selection) {
        return forward(x, selection, null);
    }

    /**
     * As {@link #forward(Tensor, int[])}, showing each feature's output to {@code hook} (may be
     * null). In evaluation mode no gradient is recorded (running BN statistics have none).
     */
    public final Tensor forward(Tensor x, int[] selection, FeatureHook hook) {
        checkSelection(selection);
        checkInput(x);
        if (isTraining()) {
            return run(x, selection, hook);
        }
        try (GradMode off = GradMode.off()) {
            return run(x, selection, hook);
        }
    }

    private void checkInput(Tensor x) {
        if (x.rank() != 4 || x.dim(1) != config.inChannels()) {
            throw new IllegalArgumentException("input " + x.shape() + " must be [N, " + config.inChannels()
                    + ", H, W]");
        }
    }

    private Tensor run(Tensor x, int[] selection, FeatureHook hook) {
        Tensor h = x;
        int offset = 0;
        List<SupernetBlock> blocks = features.items();
        for (int i = 0; i < blocks.size(); i++) {
            SupernetBlock b = blocks.get(i);
            h = b.forward(h, selection, offset);
            offset += b.searchedUnits();
            if (hook != null) {
                hook.accept(i, h);
            }
        }
        return dropoutAndLinear(F.globalAvgPool(h));
    }

    private Tensor dropoutAndLinear(Tensor pooled) {
        return fc.forward(dropout.forward(pooled));
    }

    /**
     * Tells {@code g} the network that {@code selection} picks, layer by layer, as
     * {@link #forward(Tensor, int[])} computes it in evaluation mode (running BN statistics, no
     * dropout), starting from the input value {@code input}; returns the logits value.
     */
    public final <T> T describe(GraphWriter<T> g, T input, int[] selection) {
        checkSelection(selection);
        T h = input;
        int offset = 0;
        for (SupernetBlock b : features.items()) {
            h = b.describe(g, h, selection, offset);
            offset += b.searchedUnits();
        }
        return g.linear(g.globalAvgPool(h), fc);
    }

    // ------------------------------------------------------------------ the network a selection picks

    /** A per-branch module list of a searched unit: {@code branch_bn_q_k}, {@code branch_bn_k}, {@code bnk_last}. */
    private static final Pattern BRANCH_LIST =
            Pattern.compile("branch_bn_q_(\\d+)|branch_bn_(\\d+)|bn(\\d+)_last");

    /**
     * The state of the network that {@code selection} picks, as the state of a one-branch supernet
     * of the same configuration ({@link ModelConfig#withBranches(int) withBranches(1)}): every
     * tensor outside the searched units as it is, and of each searched unit only the selected
     * branch's modules, renumbered as branch 0. Loaded into that one-branch supernet, selection
     * all zeros computes exactly what this supernet computes with {@code selection}.
     *
     * <p>Branch modules are recognized by the reference names of SPEC 2 ({@code branch_bn_q_k.j},
     * {@code branch_bn_k.j}, {@code bnk_last.j}); unit k of a block is the block's selection
     * entry {@code k - 1}.
     */
    public final Map<String, TensorData> subnetState(int[] selection) {
        checkSelection(selection);
        Map<String, TensorData> out = new LinkedHashMap<>();
        List<SupernetBlock> blocks = features.items();
        int offset = 0;
        for (int i = 0; i < blocks.size(); i++) {
            SupernetBlock b = blocks.get(i);
            String prefix = "feature." + i + ".";
            for (Map.Entry<String, Module> e : b.children().entrySet()) {
                Matcher m = BRANCH_LIST.matcher(e.getKey());
                if (m.matches() && e.getValue() instanceof ModuleList<?> list) {
                    String k = m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2) : m.group(3);
                    int unit = Integer.parseInt(k) - 1;
                    if (unit < 0 || unit >= b.searchedUnits()) {
                        throw new IllegalStateException("branch list " + prefix + e.getKey() + " names unit " + k
                                + " of a block with " + b.searchedUnits() + " searched units");
                    }
                    Module chosen = list.get(selection[offset + unit]);
                    put(out, prefix + e.getKey() + ".0.", chosen);
                } else {
                    put(out, prefix + e.getKey() + ".", e.getValue());
                }
            }
            // the block's own tensors (none in the built-in blocks, but kept if a block has any)
            for (Map.Entry<String, Tensor> e : b.stateTensors().entrySet()) {
                if (!e.getKey().contains(".")) {
                    out.put(prefix + e.getKey(), Module.toData(e.getValue()));
                }
            }
            offset += b.searchedUnits();
        }
        put(out, "classifier.", child("classifier"));
        return out;
    }

    private static void put(Map<String, TensorData> out, String prefix, Module m) {
        for (Map.Entry<String, TensorData> e : m.stateDict().entrySet()) {
            out.put(prefix + e.getKey(), e.getValue());
        }
    }

    // ------------------------------------------------------------------ quantization switches

    /** The quantized convolutions (every one has an LSQ weight quantizer). */
    public final List<QConv2d> quantizedConvs() {
        return modules(QConv2d.class);
    }

    /** The LSQ activation quantizers. */
    public final List<LsqActQuantizer> activationQuantizers() {
        return modules(LsqActQuantizer.class);
    }

    public final boolean weightQuantization() {
        return weightQuant;
    }

    /**
     * Activation-only quantization (off) or activation + weight quantization (on). Switching it
     * on re-initializes every weight step from the current weights (SPEC 1.3); already on, it
     * changes nothing.
     */
    public final void setWeightQuantization(boolean on) {
        setWeightQuantization(on, on && !weightQuant);
    }

    /**
     * Sets weight quantization, re-initializing the weight steps from the current weights only
     * when {@code reinitialize} (off keeps, e.g., steps loaded from a checkpoint).
     */
    public final void setWeightQuantization(boolean on, boolean reinitialize) {
        for (QConv2d c : quantizedConvs()) {
            c.setWeightQuantization(on, reinitialize);
        }
        weightQuant = on;
    }

    /**
     * Initializes every LSQ activation step from one batch (SPEC 1.2): a forward in training mode
     * without gradient in which each quantizer first sets {@code s[c] = 2 mean|x[:, c]| / sqrt(Qp)}
     * from its input. As in the reference, that forward also updates the running statistics of
     * the BN layers it passes. The previous mode is restored.
     */
    public final void initActivationSteps(Tensor batch, int[] selection) {
        checkSelection(selection);
        checkInput(batch);
        boolean wasTraining = isTraining();
        List<LsqActQuantizer> qs = activationQuantizers();
        for (LsqActQuantizer q : qs) {
            q.requestInit();
        }
        train();
        try (GradMode off = GradMode.off(); Scope s = Scope.open()) {
            run(batch, selection, null);
        } finally {
            train(wasTraining);
        }
        for (LsqActQuantizer q : qs) {
            if (q.initPending()) {
                throw new IllegalStateException("an LSQ activation quantizer was not reached by the init forward");
            }
        }
    }

    /** {@link #initActivationSteps(Tensor, int[])} with branch 0 everywhere. */
    public final void initActivationSteps(Tensor batch) {
        initActivationSteps(batch, new int[units]);
    }
}
