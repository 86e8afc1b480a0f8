package io.basq4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.data.Batch;
import io.basq4j.data.DataLoader;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.nn.Parameter;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The optimizer groups of SPEC 5 (each branch's clip bound with its own l2 decay, convolution
 * weights with theirs, the rest without) and of SPEC 7 (only biases and clip bounds learn),
 * from the parameter names alone, and what they do: the per-branch decay of a step, and the
 * finetuning freeze.
 */
class TrainingGroupsTest {
    private static final double[] L2 = ModelConfig.DEFAULT_L2;
    private static final double CONV_DECAY = 5e-6;
    private static final Pattern BOUND = Pattern.compile(".*\\.branch_bn_q_\\d\\.(\\d+)\\.1\\.upper_bound");

    private static Supernet model(String arch) {
        return Models.create(arch, ModelConfig.defaults().withWidth(0.25).withResolution(32).withInChannels(1)
                .withClasses(10).withBits(2).withSeed(4));
    }

    /** The group SPEC 5 puts a parameter in, from its reference name; null: not optimized. */
    private static String spec5Group(String name) {
        Matcher m = BOUND.matcher(name);
        if (m.matches()) {
            return "upper_bound." + m.group(1);
        }
        if (name.endsWith(".bin")) {
            return null;
        }
        if (name.endsWith(".weights") || name.equals("feature.0.conv1.weight")) {
            return "conv_weight";
        }
        return "other";
    }

    private static double decayOf(String group) {
        return group.startsWith("upper_bound.") ? L2[Integer.parseInt(group.substring(12))]
                : group.equals("conv_weight") ? CONV_DECAY : 0;
    }

    /** name -> group name of the groups, checking tensors, decays and that no name appears twice. */
    private static Map<String, String> membership(Supernet m, List<ParamGroup> groups) {
        Map<String, String> out = new TreeMap<>();
        Map<String, Parameter> params = m.namedParameters();
        for (ParamGroup g : groups) {
            assertEquals(g.names().size(), g.params().size());
            for (int i = 0; i < g.names().size(); i++) {
                String n = g.names().get(i);
                assertSame(params.get(n).tensor(), g.params().get(i), n);
                assertEquals(null, out.put(n, g.name()), n + " in two groups");
            }
        }
        return out;
    }

    @Test
    void supernetGroupsFollowSpec5() {
        for (String arch : List.of("mobilenetv2", "resnet20")) {
            try (Supernet m = model(arch)) {
                List<ParamGroup> groups = Training.supernetGroups(m, L2, CONV_DECAY);
                Map<String, String> expected = new TreeMap<>();
                for (String n : m.namedParameters().keySet()) {
                    if (spec5Group(n) != null) {
                        expected.put(n, spec5Group(n));
                    }
                }
                assertEquals(expected, membership(m, groups), arch);
                for (ParamGroup g : groups) {
                    assertEquals(decayOf(g.name()), g.weightDecay(), arch + " " + g.name());
                }
                assertEquals(7 + 2, groups.size(), arch + ": a group per branch, conv weights, the rest");
            }
        }
    }

    @Test
    void finetuneGroupsHoldOnlyBiasesAndClipBounds() {
        try (Supernet m = model("mobilenetv2")) {
            Map<String, String> expected = new TreeMap<>();
            for (String n : m.namedParameters().keySet()) {
                if (BOUND.matcher(n).matches()) {
                    expected.put(n, spec5Group(n));
                } else if (n.contains("bias")) {
                    expected.put(n, "other");
                }
            }
            List<ParamGroup> groups = Training.finetuneGroups(m, L2);
            assertEquals(expected, membership(m, groups));
            for (ParamGroup g : groups) {
                assertEquals(decayOf(g.name()), g.weightDecay(), g.name());
            }
        }
    }

    @Test
    void eachBranchBoundDecaysWithItsOwnL2() {
        try (Supernet m = model("mobilenetv2");
                Sgd sgd = new Sgd(Training.supernetGroups(m, L2, CONV_DECAY), 0, false)) {
            Map<String, float[]> before = new HashMap<>();
            m.namedParameters().forEach((n, p) -> {
                before.put(n, p.tensor().toFloatArray());
                if (spec5Group(n) != null) {
                    p.tensor().setGrad(Tensor.zeros(p.tensor().device(), p.tensor().shape().dims()).detach());
                }
            });
            float lr = 0.5f;
            sgd.step(lr);
            // with zero gradients and no momentum, a step is p -= lr * wd * p (in float, as the kernel)
            int bounds = 0;
            for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
                String n = e.getKey();
                String g = spec5Group(n);
                float wd = g == null ? 0f : (float) decayOf(g);
                float[] b = before.get(n);
                float[] a = e.getValue().tensor().toFloatArray();
                for (int i = 0; i < a.length; i++) {
                    assertEquals(b[i] - lr * (wd * b[i]), a[i], 1e-7 * Math.abs(b[i]), n + "[" + i + "]");
                }
                if (g != null && g.startsWith("upper_bound.")) {
                    bounds++;
                    assertTrue(a[0] < b[0], n + " decays");
                }
            }
            assertEquals(17 * 7, bounds);
        }
    }

    @Test
    void finetuningLearnsOnlyBiasesAndTheSelectedBounds() {
        RunConfig c = RunConfig.preset("smoke");
        c.finetuneEpochs = 1;
        c.finetuneBatches = 3;
        c.finetuneLr = 0.05; // large, so that every parameter it may move visibly moves
        int[] arch = {0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2};
        try (Supernet m = Models.create(c.arch, c.modelConfig());
                DataLoader train = DataLoader.builder(DataSources.train(c)).batchSize(c.batch).shuffle(true)
                        .dropLast(true).seed(c.seed).workers(1).build();
                RunLog log = RunLog.console(new PrintStream(OutputStream.nullOutputStream()))) {
            Batch first = new Training.BatchStream(train, 0).next();
            try (Scope s = Scope.open()) {
                m.initActivationSteps(Training.images(first, Device.CPU), arch);
            }
            m.setWeightQuantization(true);
            Map<String, float[]> before = new HashMap<>();
            m.stateTensors().forEach((n, t) -> before.put(n, t.dtype() == io.basq4j.tensor.DType.F32
                    ? t.toFloatArray() : new float[0]));
            Finetuning.FoldResult r = Finetuning.run(c, 0, arch, m, train, (mm, a) -> 50.0, 40.0, log);
            assertEquals(List.of(50.0), r.perEpoch());
            int biases = 0;
            int selectedBounds = 0;
            int statistics = 0;
            Map<String, Parameter> params = m.namedParameters();
            for (Map.Entry<String, Tensor> e : m.stateTensors().entrySet()) {
                String n = e.getKey();
                if (e.getValue().dtype() != io.basq4j.tensor.DType.F32) {
                    continue;
                }
                boolean changed = !java.util.Arrays.equals(before.get(n), e.getValue().toFloatArray());
                Matcher b = BOUND.matcher(n);
                if (!params.containsKey(n)) {
                    statistics += changed ? 1 : 0; // running statistics: the training forwards move them
                } else if (b.matches()) {
                    int feature = Integer.parseInt(n.split("\\.")[1]);
                    boolean selected = arch[feature - 1] == Integer.parseInt(b.group(1));
                    assertEquals(selected, changed, n + ": only the selected branches' bounds learn");
                    selectedBounds += changed ? 1 : 0;
                } else if (n.contains("bias")) {
                    biases += changed ? 1 : 0;
                } else {
                    assertFalse(changed, n + " is frozen");
                }
            }
            assertEquals(17, selectedBounds);
            assertTrue(biases > 50, "biases on the selected path learn: " + biases);
            assertTrue(statistics > 50, "running statistics move: " + statistics);
            assertArrayEquals(arch, r.arch());
        }
    }
}
