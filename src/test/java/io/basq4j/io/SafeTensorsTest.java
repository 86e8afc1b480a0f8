package io.basq4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.basq4j.testutil.Golden;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {

    @TempDir
    Path dir;

    private static Map<String, TensorData> randomTensors(Random rnd) {
        Map<String, TensorData> m = new LinkedHashMap<>();
        int[][] shapes = {{2, 3, 5, 5}, {7}, {}, {0}, {3, 0, 2}, {1, 1, 1}, {33}};
        for (int i = 0; i < shapes.length; i++) {
            int n = (int) TensorData.numel(shapes[i]);
            float[] f = new float[n];
            for (int j = 0; j < n; j++) {
                f[j] = (float) rnd.nextGaussian();
            }
            long[] l = new long[n];
            for (int j = 0; j < n; j++) {
                l[j] = rnd.nextLong();
            }
            // names in non-sorted order, to check that file order is kept
            m.put("z" + (shapes.length - i) + ".f32", TensorData.ofFloat(shapes[i], f));
            m.put("a" + i + ".i64", TensorData.ofLong(shapes[i], l));
        }
        m.put("special", TensorData.ofFloat(new int[] {5}, new float[] {Float.NaN, Float.POSITIVE_INFINITY,
            -0.0f, Float.MIN_VALUE, Float.MAX_VALUE}));
        return m;
    }

    @Test
    void roundTrip() throws IOException {
        Map<String, TensorData> tensors = randomTensors(new Random(42));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("bits", "2");
        meta.put("note", "ünïcode \"quoted\"\n");
        Path p = dir.resolve("rt.safetensors");
        SafeTensors.write(p, tensors, meta);

        SafeTensors.File f = SafeTensors.read(p);
        assertEquals(new ArrayList<>(tensors.keySet()), new ArrayList<>(f.tensors().keySet()));
        assertEquals(tensors, f.tensors());
        assertEquals(meta, f.metadata());
        assertArrayEquals(new int[0], f.get("a2.i64").shape());
        assertArrayEquals(new int[] {2, 3, 5, 5}, f.get("z7.f32").shape());

        // header length makes the data section 8-aligned
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(0, (8 + b.getLong(0)) % 8);
    }

    @Test
    void noMetadataAndNoTensors() throws IOException {
        Path p = dir.resolve("empty.safetensors");
        SafeTensors.write(p, Map.of(), null);
        SafeTensors.File f = SafeTensors.read(p);
        assertTrue(f.tensors().isEmpty());
        assertTrue(f.metadata().isEmpty());
    }

    @Test
    void atomicWriteLeavesNoTempFileAndReplaces() throws IOException {
        Path p = dir.resolve("ckpt.safetensors");
        SafeTensors.write(p, Map.of("a", TensorData.ofFloat(new int[] {2}, new float[] {1, 2})), Map.of());
        SafeTensors.write(p, Map.of("b", TensorData.ofLong(new int[] {1}, new long[] {3})), Map.of("k", "v"));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(p), s.toList());
        }
        SafeTensors.File f = SafeTensors.read(p);
        assertEquals(List.of("b"), new ArrayList<>(f.tensors().keySet()));

        // a rejected write (reserved name) creates nothing
        Map<String, TensorData> bad = Map.of("__metadata__", TensorData.ofFloat(new int[0], new float[1]));
        assertThrows(IllegalArgumentException.class, () -> SafeTensors.write(dir.resolve("x"), bad, null));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(p), s.toList());
        }
    }

    @Test
    void missingTensorNamesFileAndTensor() throws IOException {
        Path p = dir.resolve("one.safetensors");
        SafeTensors.write(p, Map.of("a", TensorData.ofFloat(new int[] {1}, new float[1])), null);
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> SafeTensors.read(p).get("nope"));
        assertTrue(e.getMessage().contains("one.safetensors") && e.getMessage().contains("nope"), e.getMessage());
    }

    /** Writes a file made of a header length, a header text and data bytes. */
    private Path raw(String name, long headerLen, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(h);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private Path raw(String name, String header, int dataBytes) throws IOException {
        return raw(name, header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    private void assertCorrupt(Path p, String expected) {
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> SafeTensors.read(p));
        assertTrue(e.getMessage().contains(p.getFileName().toString()), e.getMessage());
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertEquals(p, e.file());
    }

    @Test
    void corruptFiles() throws IOException {
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertCorrupt(tiny, "too short");
        assertCorrupt(raw("hugelen.safetensors", 1L << 40, "{}", 0), "bad header length");
        assertCorrupt(raw("neglen.safetensors", -5, "{}", 0), "bad header length");
        assertCorrupt(raw("json.safetensors", "{\"a\": [", 0), "not valid JSON");
        assertCorrupt(raw("array.safetensors", "[1, 2]", 0), "not a JSON object");
        assertCorrupt(raw("dup.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                        + "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4), "not valid JSON");
        assertCorrupt(raw("range.safetensors",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4), "out of range");
        assertCorrupt(raw("dtype.safetensors",
                "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4), "unsupported dtype 'BF16'");
        assertCorrupt(raw("size.safetensors",
                "{\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "size mismatch");
        assertCorrupt(raw("shape.safetensors",
                "{\"a\":{\"dtype\":\"I64\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8), "bad shape");
        assertCorrupt(raw("offsets.safetensors",
                "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,0]}}", 8), "out of range");
        assertCorrupt(raw("meta.safetensors", "{\"__metadata__\":{\"k\":1}}", 0), "not a string");
    }

    @Test
    void goldenOps() throws IOException {
        SafeTensors.File f = SafeTensors.read(Golden.file("ops.safetensors"));
        assertArrayEquals(new int[] {2, 3, 5, 5}, f.get("clip_quant.nlv4.x").shape());
        assertEquals(TensorData.DType.F32, f.get("clip_quant.nlv4.x").dtype());
        assertArrayEquals(new int[] {1}, f.get("kd_loss.loss").shape());
        assertEquals(List.of("clip_quant.nlv4.x", "clip_quant.nlv4.upper_bound"),
                new ArrayList<>(f.tensors().keySet()).subList(0, 2));
        assertTrue(f.metadata().containsKey("torch"));
    }

    @Test
    void goldenModelRoundTripsBitExactly() throws IOException {
        Path src = Golden.file("mbv2_w0.5_a2w2_r32.safetensors");
        SafeTensors.File f = SafeTensors.read(src);
        assertEquals("2", f.metadata().get("bits"));
        assertEquals(TensorData.DType.I64, f.get("target").dtype());
        assertArrayEquals(new int[] {17}, f.get("selection").shape());

        Path copy = dir.resolve("copy.safetensors");
        SafeTensors.write(copy, f.tensors(), f.metadata());
        SafeTensors.File g = SafeTensors.read(copy);
        assertEquals(f.tensors(), g.tensors());
        assertEquals(f.metadata(), g.metadata());
    }

    @Test
    void bytesAndShortsRoundTripWithTheirLayout() throws IOException {
        byte[] b = {0, 1, (byte) 0xA4, (byte) 0xFF, 7};
        short[] h = {0x3C00, (short) 0xC000, 1, Short.MIN_VALUE};
        Map<String, TensorData> m = new LinkedHashMap<>();
        m.put("codes", TensorData.ofBytes(new int[] {5}, b));
        m.put("half", TensorData.ofShorts(new int[] {2, 2}, h));
        Path p = dir.resolve("u8i16.safetensors");
        SafeTensors.write(p, m, Map.of());
        SafeTensors.File f = SafeTensors.read(p);
        assertEquals(m, f.tensors());
        assertArrayEquals(b, f.get("codes").u8());
        assertArrayEquals(h, f.get("half").i16());
        // raw layout: bytes as they are, shorts little-endian
        byte[] raw = Files.readAllBytes(p);
        long headerLen = ByteBuffer.wrap(raw, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        int data = (int) (8 + headerLen);
        String header = new String(raw, 8, (int) headerLen, StandardCharsets.UTF_8);
        assertTrue(header.contains("\"dtype\":\"U8\"") && header.contains("\"dtype\":\"I16\""), header);
        assertEquals((byte) 0xA4, raw[data + 2]);
        assertEquals(0x00, raw[data + 5]);
        assertEquals(0x3C, raw[data + 6]);
    }
}
