package io.basq4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.testutil.Golden;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TorchCheckpointTest {

    @TempDir
    Path dir;

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return b.array();
    }

    private static byte[] longs(long... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(v);
        return b.array();
    }

    private static long[] l(long... v) {
        return v;
    }

    /**
     * The golden .pth holds {iter, model_state_dict, best_top1_acc}; its state dict must equal the
     * {@code state.*} tensors of the matching safetensors bit for bit. Shape rule found in the files:
     * 0-d tensors (BatchNorm num_batches_tracked) are shape [] in the .pth but [1] in the
     * safetensors; every other tensor has identical shapes. Names match after removing "state.".
     */
    @ParameterizedTest
    @ValueSource(strings = {"mbv2_w0.5_a2w2_r32", "mbv2_w0.5_a4w4_r32"})
    void goldenPthMatchesSafetensorsState(String stem) throws IOException {
        Path pth = Golden.file(stem + ".pth");
        TorchCheckpoint.Contents c = TorchCheckpoint.read(pth);

        Map<String, Object> top = c.asMap();
        assertEquals(List.of("iter", "model_state_dict", "best_top1_acc"), new ArrayList<>(top.keySet()));
        assertInstanceOf(Long.class, top.get("iter"));
        assertInstanceOf(Double.class, top.get("best_top1_acc"));

        Map<String, TensorData> sd = c.stateDict();
        SafeTensors.File st = SafeTensors.read(Golden.file(stem + ".safetensors"));
        List<String> stateNames = new ArrayList<>();
        for (String k : st.tensors().keySet()) {
            if (k.startsWith("state.")) {
                stateNames.add(k.substring("state.".length()));
            }
        }
        assertEquals(stateNames, new ArrayList<>(sd.keySet()));
        int zeroDim = 0;
        for (Map.Entry<String, TensorData> e : sd.entrySet()) {
            TensorData a = e.getValue();
            TensorData b = st.get("state." + e.getKey());
            assertEquals(b.dtype(), a.dtype(), e.getKey());
            if (a.rank() == 0) {
                zeroDim++;
                assertArrayEquals(new int[] {1}, b.shape(), e.getKey());
            } else {
                assertArrayEquals(b.shape(), a.shape(), e.getKey());
            }
            if (a.dtype() == TensorData.DType.F32) {
                float[] x = a.f32();
                float[] y = b.f32();
                assertEquals(y.length, x.length, e.getKey());
                for (int i = 0; i < x.length; i++) {
                    if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) {
                        throw new AssertionError(e.getKey() + "[" + i + "]: " + x[i] + " != " + y[i]);
                    }
                }
            } else {
                assertArrayEquals(b.i64(), a.i64(), e.getKey());
            }
        }
        assertTrue(zeroDim > 0, "expected 0-d num_batches_tracked tensors");
        assertEquals(sd, TorchCheckpoint.readStateDict(pth));
    }

    @Test
    void stridesOffsetsAndSharedStorage() throws IOException {
        // storage 0..11; t = 2x3 view at offset 0; tt = its transpose (3x2, strides (1,3));
        // s = every other element from offset 2 (size 3, stride 2); e = 4-d non-contiguous slice
        float[] data = new float[12];
        for (int i = 0; i < 12; i++) {
            data[i] = i;
        }
        PickleWriter w = new PickleWriter().proto().op('}').mark();
        w.str("t").tensor("FloatStorage", "0", 12, 0, l(2, 3), l(3, 1));
        w.str("tt").tensor("FloatStorage", "0", 12, 0, l(3, 2), l(1, 3));
        w.str("s").tensor("FloatStorage", "0", 12, 2, l(3), l(2));
        w.str("e").tensor("FloatStorage", "0", 12, 1, l(1, 2, 1, 2), l(12, 6, 7, 2));
        w.str("z").tensor("FloatStorage", "0", 12, 5, l(0, 3), l(3, 1));
        w.str("n").tensor("LongStorage", "1", 1, 0, l(), l());
        w.op('u').stop();
        Path p = PickleWriter.writeCheckpoint(dir.resolve("strided.pth"), w.bytes(),
                Map.of("0", floats(data), "1", longs(123)));
        Map<String, TensorData> sd = TorchCheckpoint.readStateDict(p);
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, sd.get("t").f32());
        assertArrayEquals(new int[] {3, 2}, sd.get("tt").shape());
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, sd.get("tt").f32());
        assertArrayEquals(new float[] {2, 4, 6}, sd.get("s").f32());
        assertArrayEquals(new float[] {1, 3, 7, 9}, sd.get("e").f32());
        assertEquals(0, sd.get("z").numel());
        assertArrayEquals(new int[0], sd.get("n").shape());
        assertArrayEquals(new long[] {123}, sd.get("n").i64());
    }

    @Test
    void convertibleStorageTypes() throws IOException {
        ByteBuffer half = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        half.putShort((short) 0x3c00).putShort((short) 0xc000).putShort((short) 0x0001).putShort((short) 0x7c00);
        ByteBuffer bf16 = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        bf16.putShort((short) 0x3f80).putShort((short) 0xc0a0);
        ByteBuffer dbl = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        dbl.putDouble(0.5).putDouble(-3.25);
        ByteBuffer ints = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        ints.putInt(-7).putInt(1 << 30);
        PickleWriter w = new PickleWriter().proto().op('}').mark();
        w.str("h").tensor("HalfStorage", "h", 4, 0, l(4), l(1));
        w.str("b").tensor("BFloat16Storage", "b", 2, 0, l(2), l(1));
        w.str("d").tensor("DoubleStorage", "d", 2, 0, l(2), l(1));
        w.str("i").tensor("IntStorage", "i", 2, 1, l(1), l(1));
        w.op('u').stop();
        Path p = PickleWriter.writeCheckpoint(dir.resolve("types.pth"), w.bytes(),
                Map.of("h", half.array(), "b", bf16.array(), "d", dbl.array(), "i", ints.array()));
        Map<String, TensorData> sd = TorchCheckpoint.readStateDict(p);
        assertArrayEquals(new float[] {1f, -2f, 0x1p-24f, Float.POSITIVE_INFINITY}, sd.get("h").f32());
        assertArrayEquals(new float[] {1f, -5f}, sd.get("b").f32());
        assertArrayEquals(new float[] {0.5f, -3.25f}, sd.get("d").f32());
        assertArrayEquals(new long[] {1 << 30}, sd.get("i").i64());
    }

    @Test
    void orderedDictWithBuildAndNestedValues() throws IOException {
        // {'state_dict': OrderedDict(w=tensor) with BUILD {'_metadata': ...},
        //  'epoch': -1, 'big': 2**40, 'lr': [0.1, None, True], 'name': 'x', 'pair': (1, 'a')}
        PickleWriter w = new PickleWriter().proto().op('}', 'q', 0).mark();
        w.str("state_dict").global("collections", "OrderedDict").op(')', 'R', 'q', 1);
        w.mark().str("w").tensor("FloatStorage", "0", 2, 0, l(2), l(1)).op('u');
        w.op('}').str("_metadata").op('}', 's', 'b'); // BUILD with a state dict, as torch writes
        w.str("epoch").integer(-1);
        w.str("big").integer(1L << 40);
        w.str("lr").op(']').mark().op('G', 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a).op('N', 0x88).op('e');
        w.str("name").op('U', 1, 'x');
        w.str("pair").integer(1).op(0x8c, 1, 'a', 0x86);
        w.str("again").op('h', 1);
        w.op('u').stop();
        Path p = PickleWriter.writeCheckpoint(dir.resolve("od.pth"), w.bytes(), Map.of("0", floats(1, 2)));
        TorchCheckpoint.Contents c = TorchCheckpoint.read(p);
        Map<String, Object> top = c.asMap();
        assertEquals(-1L, top.get("epoch"));
        assertEquals(1L << 40, top.get("big"));
        List<?> lr = (List<?>) top.get("lr");
        assertEquals(0.1, lr.get(0));
        assertNull(lr.get(1));
        assertEquals(Boolean.TRUE, lr.get(2));
        assertEquals("x", top.get("name"));
        assertEquals(List.of(1L, "a"), top.get("pair"));
        assertSame(top.get("state_dict"), top.get("again"));
        Map<String, TensorData> sd = c.stateDict();
        assertEquals(List.of("w"), new ArrayList<>(sd.keySet()));
        assertArrayEquals(new float[] {1, 2}, sd.get("w").f32());
    }

    private void assertBad(Path p, String expected) {
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> TorchCheckpoint.read(p));
        assertTrue(e.getMessage().contains(p.getFileName().toString()), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void errorsNameFileAndCause() throws IOException {
        Path notZip = dir.resolve("legacy.pth");
        Files.write(notZip, new byte[] {(byte) 0x80, 2, '.', 0, 0, 0});
        assertBad(notZip, "not a ZIP archive");

        byte[] unknownGlobal = new PickleWriter().proto().global("argparse", "Namespace").stop().bytes();
        assertBad(PickleWriter.writeCheckpoint(dir.resolve("g.pth"), unknownGlobal, Map.of()),
                "unsupported global argparse.Namespace");

        byte[] byteStorage = new PickleWriter().proto().op('}').str("t")
                .tensor("ByteStorage", "0", 1, 0, l(1), l(1)).op('s').stop().bytes();
        assertBad(PickleWriter.writeCheckpoint(dir.resolve("bs.pth"), byteStorage, Map.of("0", new byte[1])),
                "unsupported storage type torch.ByteStorage");

        byte[] badOp = new PickleWriter().proto().op('B', 0, 0, 0, 0).stop().bytes();
        assertBad(PickleWriter.writeCheckpoint(dir.resolve("op.pth"), badOp, Map.of()), "0x42 'B' (BINBYTES)");

        byte[] truncated = new PickleWriter().proto().op('}').str("abc").bytes();
        assertBad(PickleWriter.writeCheckpoint(dir.resolve("trunc.pth"), truncated, Map.of()), "without STOP");

        byte[] missing = new PickleWriter().proto().op('}').str("t")
                .tensor("FloatStorage", "7", 2, 0, l(2), l(1)).op('s').stop().bytes();
        assertBad(PickleWriter.writeCheckpoint(dir.resolve("miss.pth"), missing, Map.of()), "data/7");
        assertBad(PickleWriter.writeCheckpoint(dir.resolve("short.pth"), missing, Map.of("7", floats(1))),
                "has 4 bytes");

        byte[] outside = new PickleWriter().proto().op('}').str("t")
                .tensor("FloatStorage", "0", 2, 1, l(2), l(1)).op('s').stop().bytes();
        assertBad(PickleWriter.writeCheckpoint(dir.resolve("out.pth"), outside, Map.of("0", floats(1, 2))),
                "outside");

        Path noPkl = dir.resolve("nopkl.pth");
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(noPkl))) {
            zip.putNextEntry(new ZipEntry("archive/version"));
            zip.closeEntry();
        }
        assertBad(noPkl, "no <prefix>/data.pkl");
    }

    @Test
    void stateDictSelection() throws IOException {
        byte[] plain = new PickleWriter().proto().op('}').mark()
                .str("a").tensor("FloatStorage", "0", 1, 0, l(), l())
                .str("b").tensor("LongStorage", "1", 1, 0, l(1), l(1)).op('u').stop().bytes();
        Map<String, TensorData> sd = TorchCheckpoint.readStateDict(PickleWriter.writeCheckpoint(
                dir.resolve("plain.pth"), plain, Map.of("0", floats(3), "1", longs(4))));
        assertEquals(List.of("a", "b"), new ArrayList<>(sd.keySet()));

        byte[] mixed = new PickleWriter().proto().op('}').mark()
                .str("a").tensor("FloatStorage", "0", 1, 0, l(), l())
                .str("epoch").integer(3).op('u').stop().bytes();
        Path p = PickleWriter.writeCheckpoint(dir.resolve("mixed.pth"), mixed, Map.of("0", floats(3)));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> TorchCheckpoint.readStateDict(p));
        assertTrue(e.getMessage().contains("mixed.pth") && e.getMessage().contains("'epoch'"), e.getMessage());

        byte[] list = new PickleWriter().proto().op(']').stop().bytes();
        Path pl = PickleWriter.writeCheckpoint(dir.resolve("list.pth"), list, Map.of());
        e = assertThrows(CheckpointFormatException.class, () -> TorchCheckpoint.readStateDict(pl));
        assertTrue(e.getMessage().contains("not a dict"), e.getMessage());
        assertEquals(List.of(), TorchCheckpoint.read(pl).root());
    }
}
