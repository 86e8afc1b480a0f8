package io.basq4j.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.autograd.Autograd;
import io.basq4j.autograd.F;
import io.basq4j.io.TensorData;
import io.basq4j.nn.quant.ClipQuantizer;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.tensor.Scope;
import io.basq4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ModuleTest {
    /** A small composite in the reference style: own parameter, a sequence, a list. */
    static final class Net extends Module {
        final Parameter scale;
        final Sequential body;
        final ModuleList<BatchNorm2d> last;

        Net(Init init) {
            scale = parameter("scale", init.ones(1));
            body = register("body", new Sequential(new BatchNorm2d(init, 3), new ClipQuantizer(init, 2, 1),
                    new QConv2d(init, 3, 4, 1, 1, 0, 1, 2), new ReLU()));
            last = register("last", new ModuleList<>());
            last.add(new BatchNorm2d(init, 4));
            last.add(new BatchNorm2d(init, 4));
        }
    }

    @Test
    void namesFollowTheStateDictOrder() {
        try (Net net = new Net(Init.cpu(1))) {
            List<String> expected = List.of("scale",
                    "body.0.weight", "body.0.bias", "body.0.running_mean", "body.0.running_var",
                    "body.0.num_batches_tracked", "body.1.bin", "body.1.upper_bound", "body.2.weights",
                    "body.2.w_quantize.s",
                    "last.0.weight", "last.0.bias", "last.0.running_mean", "last.0.running_var",
                    "last.0.num_batches_tracked",
                    "last.1.weight", "last.1.bias", "last.1.running_mean", "last.1.running_var",
                    "last.1.num_batches_tracked");
            assertEquals(expected, new ArrayList<>(net.stateTensors().keySet()));
            assertEquals(List.of("scale", "body.0.weight", "body.0.bias", "body.1.bin", "body.1.upper_bound",
                    "body.2.weights", "body.2.w_quantize.s", "last.0.weight", "last.0.bias", "last.1.weight",
                    "last.1.bias"), new ArrayList<>(net.namedParameters().keySet()));
            assertArrayEquals(new int[] {12, 1}, net.stateTensors().get("body.2.weights").shape().dims());
        }
    }

    @Test
    void parameterGroups() {
        try (Net net = new Net(Init.cpu(1))) {
            Map<String, Parameter> p = net.namedParameters();
            assertEquals(Parameter.Group.OTHER, p.get("scale").group());
            assertEquals(Parameter.Group.OTHER, p.get("body.0.weight").group());
            assertEquals(Parameter.Group.BIAS, p.get("body.0.bias").group());
            assertEquals(Parameter.Group.FROZEN, p.get("body.1.bin").group());
            assertFalse(p.get("body.1.bin").tensor().requiresGrad());
            assertEquals(Parameter.Group.CLIP_BOUND, p.get("body.1.upper_bound").group());
            assertEquals(1, p.get("body.1.upper_bound").branch());
            assertEquals(-1, p.get("body.0.weight").branch());
            assertEquals(Parameter.Group.CONV_WEIGHT, p.get("body.2.weights").group());
            assertEquals(Parameter.Group.OTHER, p.get("body.2.w_quantize.s").group());
            // bin is excluded from the learnable count
            assertEquals(1 + 3 + 3 + 1 + 12 + 4 + 4 * 4, net.parameterCount());
        }
    }

    @Test
    void stateRoundTripsAndCountsBatches() {
        try (Net a = new Net(Init.cpu(1)); Net b = new Net(Init.cpu(2))) {
            a.train();
            try (Scope s = Scope.open()) {
                Tensor x = Init.cpu(3).uniform(1.0, 2, 3, 2, 2);
                a.last.get(0).forward(a.body.forward(x));
            }
            Map<String, TensorData> sd = a.stateDict();
            assertArrayEquals(new long[] {1}, sd.get("body.0.num_batches_tracked").i64());
            assertArrayEquals(new long[] {0}, sd.get("last.1.num_batches_tracked").i64());
            assertFalse(java.util.Arrays.equals(sd.get("body.2.weights").f32(),
                    b.stateDict().get("body.2.weights").f32()));
            b.loadStateDict(sd);
            Map<String, TensorData> back = b.stateDict();
            for (String k : sd.keySet()) {
                assertEquals(sd.get(k), back.get(k), k);
            }
            assertEquals(1, ((BatchNorm2d) b.body.get(0)).batchesTracked());
        }
    }

    @Test
    void scalarsLoadFromZeroDimensionalTensors() {
        try (Net net = new Net(Init.cpu(1))) {
            Map<String, TensorData> sd = new LinkedHashMap<>(net.stateDict());
            sd.put("body.1.upper_bound", TensorData.ofFloat(new int[0], new float[] {2.5f}));
            sd.put("last.0.num_batches_tracked", TensorData.ofLong(new int[0], new long[] {7}));
            net.loadStateDict(sd);
            assertEquals(2.5f, net.namedParameters().get("body.1.upper_bound").tensor().item());
            assertEquals(7, net.last.get(0).batchesTracked());
        }
    }

    @Test
    void loadErrorsListEveryProblem() {
        try (Net net = new Net(Init.cpu(1))) {
            Map<String, TensorData> sd = new LinkedHashMap<>(net.stateDict());
            Map<String, TensorData> before = net.stateDict();
            sd.remove("last.1.running_var");
            sd.remove("scale");
            sd.put("extra.weight", TensorData.ofFloat(new int[] {2}, new float[2]));
            sd.put("body.2.weights", TensorData.ofFloat(new int[] {4, 3, 1, 1}, new float[12]));
            sd.put("body.0.num_batches_tracked", TensorData.ofFloat(new int[] {1}, new float[1]));
            sd.put("body.0.bias", TensorData.ofFloat(new int[] {9}, new float[9]));
            StateDictException e = assertThrows(StateDictException.class, () -> net.loadStateDict(sd));
            String m = e.getMessage();
            assertTrue(m.contains("2 missing"), m);
            assertTrue(m.contains("last.1.running_var F32[4]"), m);
            assertTrue(m.contains("scale F32[1]"), m);
            assertTrue(m.contains("1 unexpected: extra.weight F32[2]"), m);
            assertTrue(m.contains("3 mis-shaped"), m);
            assertTrue(m.contains("body.2.weights (model F32[12, 1], state F32[4, 3, 1, 1])"), m);
            assertTrue(m.contains("body.0.num_batches_tracked (model I64[1], state F32[1])"), m);
            assertTrue(m.contains("body.0.bias (model F32[3], state F32[9])"), m);
            assertEquals(List.of("extra.weight F32[2]"), e.unexpected());
            assertEquals(2, e.missing().size());
            assertEquals(3, e.misShaped().size());
            // nothing was copied
            Map<String, TensorData> after = net.stateDict();
            for (String k : before.keySet()) {
                assertEquals(before.get(k), after.get(k), k);
            }
        }
    }

    @Test
    void modesPropagateAndCloseFreesEverything() {
        Net net = new Net(Init.cpu(1));
        net.eval();
        for (Module m : net.modules()) {
            assertFalse(m.isTraining());
        }
        net.train();
        assertTrue(net.body.get(2).isTraining());
        Tensor w = net.namedParameters().get("body.2.weights").tensor();
        try (Scope s = Scope.open()) {
            Tensor loss = F.globalAvgPool(net.body.forward(Init.cpu(4).uniform(1.0, 2, 3, 2, 2)));
            Autograd.backward(F.crossEntropy(loss, Tensor.ofLongs(w.device(), new long[] {0, 1}, 2)));
        }
        assertNotNull(w.grad());
        Tensor g = w.grad();
        List<Tensor> all = new ArrayList<>(net.stateTensors().values());
        net.clearGrads();
        assertNull(w.grad());
        assertTrue(g.isClosed());
        net.close();
        assertTrue(net.isClosed());
        for (Tensor t : all) {
            assertTrue(t.isClosed(), t.toString());
        }
        net.close(); // idempotent
    }

    @Test
    void registrationRejectsBadNames() {
        class Bad extends Module {
            Bad(String n) {
                parameter(n, Init.cpu(0).ones(1));
                parameter("a", Init.cpu(0).ones(1));
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new Bad("x.y"));
        assertThrows(IllegalArgumentException.class, () -> new Bad("a"));
    }

    @Test
    void dropoutIsSeededAndOffInEval() {
        try (Scope s = Scope.open()) {
            Tensor x = Init.cpu(5).full(1f, 4, 50);
            Dropout a = new Dropout(0.5f, 42);
            Dropout b = new Dropout(0.5f, 42);
            float[] ya = a.forward(x).toFloatArray();
            float[] yb = b.forward(x).toFloatArray();
            assertArrayEquals(ya, yb);
            int zeros = 0;
            for (float v : ya) {
                assertTrue(v == 0f || v == 2f, "inverted dropout scales kept values by 1/(1-p)");
                zeros += v == 0f ? 1 : 0;
            }
            assertTrue(zeros > 50 && zeros < 150, "about half dropped: " + zeros);
            // the stream moves on
            assertFalse(java.util.Arrays.equals(ya, a.forward(x).toFloatArray()));
            a.eval();
            assertArrayEquals(x.toFloatArray(), a.forward(x).toFloatArray());
            assertEquals(0.2f, new Dropout(1).probability());
        }
    }
}
