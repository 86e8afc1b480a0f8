package io.basq4j.deploy.infer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.deploy.SavedModel;
import io.basq4j.io.SafeTensors;
import io.basq4j.io.TensorData;
import io.basq4j.models.ModelConfig;
import io.basq4j.models.Models;
import io.basq4j.models.Supernet;
import io.basq4j.nn.quant.QConv2d;
import io.basq4j.tensor.Scope;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The packed network and its file: codes, bit packing, round trips, sizes, refusals. */
class PackedNetworkTest {
    @TempDir
    Path dir;

    static void assertSameNetwork(PackedNetwork a, PackedNetwork b) {
        assertEquals(a.arch(), b.arch());
        assertEquals(a.bits(), b.bits());
        assertEquals(a.inChannels(), b.inChannels());
        assertEquals(a.resolution(), b.resolution());
        assertEquals(a.params(), b.params());
        assertEquals(a.stem().toString().replaceAll("@[0-9a-f]+", ""), b.stem().toString().replaceAll("@[0-9a-f]+", ""));
        assertArrayEquals(a.stem().weight(), b.stem().weight());
        assertArrayEquals(a.stem().bn(), b.stem().bn());
        assertEquals(a.blocks().size(), b.blocks().size());
        for (int i = 0; i < a.blocks().size(); i++) {
            PackedNetwork.Block x = a.blocks().get(i);
            PackedNetwork.Block y = b.blocks().get(i);
            assertEquals(x.name(), y.name());
            assertEquals(x.residual(), y.residual());
            assertEquals(x.units().size(), y.units().size());
            for (int j = 0; j < x.units().size(); j++) {
                PackedNetwork.Unit u = x.units().get(j);
                PackedNetwork.Unit v = y.units().get(j);
                assertEquals(u.name(), v.name());
                assertEquals(u.kind(), v.kind());
                assertEquals(List.of(u.cin(), u.cout(), u.stride()), List.of(v.cin(), v.cout(), v.stride()));
                assertArrayEquals(u.codes(), v.codes(), u.name() + " codes");
                assertArrayEquals(u.pro(), v.pro(), u.name() + " pro");
                assertArrayEquals(u.epi(), v.epi(), u.name() + " epi");
                assertEquals(Float.floatToIntBits(u.top()), Float.floatToIntBits(v.top()), u.name() + " top");
            }
        }
        assertArrayEquals(a.head().weight(), b.head().weight());
        assertArrayEquals(a.head().bias(), b.head().bias());
    }

    @ParameterizedTest
    @CsvSource({"mobilenetv2, 2", "mobilenetv2, 3", "resnet20, 4"})
    void codesTimesStepsAreTheEvaluationPathsWeights(String arch, int bits) {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(16).withInChannels(3)
                .withClasses(10).withBits(bits);
        try (Supernet net = Models.create(arch, cfg)) {
            net.setWeightQuantization(true);
            // weights spread over the whole code range and beyond (clamped)
            Random r = new Random(bits);
            for (QConv2d c : net.quantizedConvs()) {
                float[] w = c.weights().tensor().toFloatArray();
                for (int i = 0; i < w.length; i++) {
                    // mostly small, a fifth spread wide: every code occurs, and some weights clamp
                    w[i] = (float) (r.nextInt(5) == 0 ? (r.nextDouble() - 0.5) * 0.5 : r.nextGaussian() * 0.02);
                }
                c.weights().tensor().copyFrom(w);
            }
            net.setWeightQuantization(true, true);
            PackedNetwork p = PackedNetwork.of(net, new int[net.searchedUnits()], Map.of());
            List<PackedNetwork.Unit> units = p.units();
            List<QConv2d> convs = net.quantizedConvs();
            assertEquals(convs.size(), units.size());
            int qw = (1 << (bits - 1)) - 1;
            int[] seen = new int[2 * qw + 1];
            for (int i = 0; i < units.size(); i++) {
                byte[] q = units.get(i).codes();
                float[] s = convs.get(i).quantizer().step().tensor().toFloatArray();
                float[] wq;
                try (Scope sc = Scope.open()) {
                    wq = convs.get(i).effectiveWeight().toFloatArray();
                }
                assertEquals(wq.length, q.length);
                int per = q.length / s.length;
                for (int k = 0; k < q.length; k++) {
                    // equal as floats (the evaluation path's zero may be -0 where the code's product is +0)
                    float mine = q[k] * s[k / per];
                    assertTrue(wq[k] == mine, units.get(i).name() + " weight " + k + ": " + wq[k] + " vs " + mine);
                    seen[q[k] + qw]++;
                }
            }
            for (int v = 0; v < seen.length; v++) {
                assertTrue(seen[v] > 0, "code " + (v - qw) + " occurs");
            }
        }
    }

    @Test
    void bitPackingRoundTripsAtEveryWidth() {
        Random r = new Random(1);
        for (int bits = 2; bits <= 4; bits++) {
            int qw = (1 << (bits - 1)) - 1;
            for (int n : new int[] {1, 3, 7, 8, 9, 1001}) {
                byte[] q = new byte[n];
                for (int i = 0; i < n; i++) {
                    q[i] = (byte) (r.nextInt(2 * qw + 1) - qw);
                }
                q[0] = (byte) -qw;
                q[n - 1] = (byte) qw;
                byte[] packed = PackedFormat.pack(q, bits);
                assertEquals((n * bits + 7) / 8, packed.length);
                assertArrayEquals(q, PackedFormat.unpack(packed, n, bits, "t"));
            }
        }
        // 2 bits, codes -1, 0, 1, 1 -> fields 0, 1, 2, 2 -> 0b10_10_01_00
        assertArrayEquals(new byte[] {(byte) 0xA4}, PackedFormat.pack(new byte[] {-1, 0, 1, 1}, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PackedFormat.unpack(new byte[] {(byte) 0x03}, 1, 2, "feature.1.conv1"));
        assertTrue(e.getMessage().contains("feature.1.conv1.codes"), e.getMessage());
    }

    /** The default 2-bit Fashion network: MobileNet-v2 width 0.5, 1 x 32 x 32, 10 classes. */
    @Test
    void packedFileOfTheDefaultNetworkAndItsSize() throws IOException {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.5).withResolution(32).withInChannels(1).withClasses(10)
                .withBits(2);
        Path model = dir.resolve("model.safetensors");
        Path packed = dir.resolve("model.basq");
        Path exact = dir.resolve("model-f32.basq");
        try (Supernet net = Models.create("mobilenetv2", cfg)) {
            net.setWeightQuantization(true);
            SavedModel.write(model, net, new int[net.searchedUnits()], Map.of());
        }
        try (SavedModel m = SavedModel.load(model)) {
            PackedFormat.write(packed, PackedNetwork.of(m).compact());
            PackedFormat.write(exact, PackedNetwork.of(m));
        }
        long floatBytes = Files.size(model);
        long packedBytes = Files.size(packed);
        long exactBytes = Files.size(exact);
        System.out.printf("default 2-bit network: float32 %d bytes, packed %d bytes (%.4f), packed with int16 "
                + "parameters %d bytes (%.4f)%n", floatBytes, exactBytes, (double) exactBytes / floatBytes, packedBytes,
                (double) packedBytes / floatBytes);
        PackedNetwork p = PackedFormat.read(packed);
        assertEquals(PackedNetwork.Params.INT16, p.params());
        long weights = p.units().stream().mapToLong(PackedNetwork.Unit::weightCount).sum();
        long codeBytes = SafeTensors.read(packed).get("codes").numel();
        assertEquals((weights * 2 + 7) / 8, codeBytes, p.units().size(), "2 bits per weight (units start on a byte)");
        assertTrue(packedBytes <= 0.1 * floatBytes, packedBytes + " vs " + floatBytes);
        // the float32 parameters: 57,384 of them, 4 bytes each, besides 2-bit codes and the head
        assertTrue(exactBytes < 0.14 * floatBytes, exactBytes + " vs " + floatBytes);
    }

    @Test
    void wrongFilesAreRefusedWithTheirName() throws IOException {
        ModelConfig cfg = ModelConfig.defaults().withWidth(0.25).withResolution(16).withInChannels(1).withClasses(10);
        Path model = dir.resolve("model.safetensors");
        try (Supernet net = Models.create("mobilenetv2", cfg)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> PackedNetwork.of(net, new int[net.searchedUnits()], Map.of()));
            assertTrue(e.getMessage().contains("quantized weights"), e.getMessage());
            net.setWeightQuantization(true);
            SavedModel.write(model, net, new int[net.searchedUnits()], Map.of());
            PackedFormat.write(dir.resolve("p.basq"), PackedNetwork.of(net, new int[net.searchedUnits()], Map.of()));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PackedFormat.read(model));
        assertTrue(e.getMessage().contains(model.toString()) && e.getMessage().contains("export"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PackedFormat.read(dir.resolve("none.basq")));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
        // a packed file whose layer table does not fit its tensors
        SafeTensors.File f = SafeTensors.read(dir.resolve("p.basq"));
        Map<String, TensorData> tensors = new LinkedHashMap<>(f.tensors());
        tensors.put("epi", TensorData.ofFloat(new int[] {3}, new float[3]));
        Path broken = dir.resolve("broken.basq");
        SafeTensors.write(broken, tensors, f.metadata());
        e = assertThrows(IllegalArgumentException.class, () -> PackedFormat.read(broken));
        assertTrue(e.getMessage().contains(broken.toString()) && e.getMessage().contains("ends before the layer table"),
                e.getMessage());
    }
}
