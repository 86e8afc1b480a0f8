package io.basq4j.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.basq4j.data.DataException;
import io.basq4j.data.Idx;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crafted files (generated here, none stored in the repository) end in one clear line, with the
 * memory taken bounded by a small multiple of the file size: overlapping and aliased tensors,
 * zip bombs and archives that lie about their sizes, pickles nested deep or with huge memos,
 * views that multiply one storage, IDX headers that declare more than the file holds.
 */
class HostileFilesTest {
    @TempDir
    Path dir;

    /** Bytes this thread allocates while {@code body} runs, asserted to fail with {@code type}. */
    private static <T extends Throwable> long allocationOfFailure(Class<T> type, Executable body, String... parts) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = mx.getCurrentThreadAllocatedBytes();
        T e = assertThrows(type, body);
        long allocated = mx.getCurrentThreadAllocatedBytes() - before;
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.length() <= 500, () -> m.length() + " characters: " + m.substring(0, 300));
        for (String p : parts) {
            assertTrue(m.contains(p), "'" + p + "' in: " + m);
        }
        return allocated;
    }

    private static void assertBounded(long allocated, long fileSize, int factor) {
        assertTrue(allocated <= (long) factor * fileSize + (8L << 20), allocated + " bytes allocated for a file of "
                + fileSize + " bytes");
    }

    // ---------------------------------------------------------------- safetensors

    /** A safetensors file whose 200 entries all span the same 4 MB of data. */
    @Test
    void safetensorsWithOverlappingEntriesFailsBeforeAllocating() throws IOException {
        int n = 1 << 20;
        ObjectNode h = JsonNodeFactory.instance.objectNode();
        for (int i = 0; i < 200; i++) {
            ObjectNode t = h.putObject("t" + i);
            t.put("dtype", "F32");
            t.putArray("shape").add(n);
            t.putArray("data_offsets").add(i % 2 == 0 ? 0 : 4).add(i % 2 == 0 ? 4L * n : 4L * n + 4);
        }
        Path f = safetensors(h, 4L * n + 4);
        long a = allocationOfFailure(CheckpointFormatException.class, () -> SafeTensors.read(f),
                "tensors 't0' [0, 4194304) and 't2' [0, 4194304) overlap in the data section");
        assertBounded(a, Files.size(f), 1);
    }

    @Test
    void safetensorsWithAliasedEntriesIsRefused() throws IOException {
        ObjectNode h = JsonNodeFactory.instance.objectNode();
        for (String name : new String[] {"a", "b"}) {
            ObjectNode t = h.putObject(name);
            t.put("dtype", "F32");
            t.putArray("shape").add(4);
            t.putArray("data_offsets").add(0).add(16);
        }
        Path f = safetensors(h, 16);
        allocationOfFailure(CheckpointFormatException.class, () -> SafeTensors.read(f), "'a' [0, 16) and 'b' [0, 16) "
                + "overlap");
        // zero-length tensors take no bytes and may sit anywhere
        ObjectNode ok = JsonNodeFactory.instance.objectNode();
        for (String name : new String[] {"a", "e"}) {
            ObjectNode t = ok.putObject(name);
            t.put("dtype", "F32");
            t.putArray("shape").add(name.equals("a") ? 4 : 0);
            t.putArray("data_offsets").add(name.equals("a") ? 0 : 8).add(name.equals("a") ? 16 : 8);
        }
        assertEquals(2, SafeTensors.read(safetensors(ok, 16)).tensors().size());
    }

    @Test
    void safetensorsDeclaringMoreThanTheFileHoldsFailsSmall() throws IOException {
        ObjectNode h = JsonNodeFactory.instance.objectNode();
        ObjectNode t = h.putObject("big");
        t.put("dtype", "F32");
        t.putArray("shape").add(1 << 28);
        t.putArray("data_offsets").add(0).add(1L << 30);
        Path f = safetensors(h, 64);
        long a = allocationOfFailure(CheckpointFormatException.class, () -> SafeTensors.read(f),
                "out of range of the 64-byte data section");
        assertBounded(a, Files.size(f), 1);
    }

    private Path safetensors(ObjectNode header, long dataBytes) throws IOException {
        byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
        Path f = dir.resolve("t" + System.nanoTime() + ".safetensors");
        try (OutputStream out = Files.newOutputStream(f)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, h.length).array());
            out.write(h);
            out.write(new byte[(int) dataBytes]);
        }
        return f;
    }

    // ---------------------------------------------------------------- torch .pth

    private static byte[] repeat(byte[] head, int op, int count, byte[] tail) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(head);
        for (int i = 0; i < count; i++) {
            b.write(op);
        }
        b.writeBytes(tail);
        return b.toByteArray();
    }

    /** A torch-style archive, entries stored uncompressed (as torch.save writes them) unless {@code deflate}. */
    private Path pth(String name, Map<String, byte[]> entries, boolean deflate) throws IOException {
        Path f = dir.resolve(name);
        try (OutputStream os = Files.newOutputStream(f); ZipOutputStream zip = new ZipOutputStream(os)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                ZipEntry z = new ZipEntry("archive/" + e.getKey());
                if (!deflate) {
                    CRC32 crc = new CRC32();
                    crc.update(e.getValue());
                    z.setMethod(ZipEntry.STORED);
                    z.setSize(e.getValue().length);
                    z.setCompressedSize(e.getValue().length);
                    z.setCrc(crc.getValue());
                }
                zip.putNextEntry(z);
                zip.write(e.getValue());
                zip.closeEntry();
            }
        }
        return f;
    }

    private static final byte[] PROTO = {(byte) 0x80, 2};
    private static final byte[] STOP = {'.'};

    /** data.pkl deflated from 64 MB to some kilobytes: refused from the declared sizes, before inflating. */
    @Test
    void zipBombIsRefusedFromItsDeclaredSizes() throws IOException {
        Path f = pth("bomb.pth", Map.of("data.pkl", repeat(PROTO, 'N', 64 << 20, STOP)), true);
        assertTrue(Files.size(f) < 1 << 20, Files.size(f) + " bytes");
        long a = allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(f),
                "refused as a zip bomb");
        assertBounded(a, Files.size(f), 4);
    }

    /** An archive whose central directory understates an entry: never read past the declared size. */
    @Test
    void anEntryLargerThanItDeclaresIsRefused() throws IOException {
        Path f = pth("liar.pth", Map.of("data.pkl", repeat(PROTO, 'N', 8 << 20, STOP)), true);
        byte[] zip = Files.readAllBytes(f);
        ByteBuffer b = ByteBuffer.wrap(zip).order(ByteOrder.LITTLE_ENDIAN);
        int patched = 0;
        for (int i = 0; i + 46 < zip.length; i++) {
            if (b.getInt(i) == 0x02014b50) { // central directory header: uncompressed size at +24
                b.putInt(i + 24, 100);
                patched++;
            }
        }
        assertEquals(1, patched);
        Files.write(f, zip);
        long a = allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(f), "data.pkl");
        assertBounded(a, Files.size(f), 4);
    }

    /** 1.2 MB of MARK opcodes. */
    @Test
    void markOpcodesNestedBeyondTheCapFailSmall() throws IOException {
        Path f = pth("marks.pth", Map.of("data.pkl", repeat(PROTO, '(', 1_200_000, STOP)), false);
        long a = allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(f),
                "MARKs nested deeper than 1000");
        assertBounded(a, Files.size(f), 4);
    }

    /** 10,000 and 200,000 nested containers, built without MARKs: no StackOverflowError, one line. */
    @Test
    void deepNestingWithoutMarksFailsInOneLine() throws IOException {
        // a list appended into the list below it, 10,000 times
        byte[] lists = repeat(repeat(PROTO, ']', 10_000, new byte[0]), 'a', 9_999, STOP);
        Path f = pth("lists.pth", Map.of("data.pkl", lists), false);
        allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(f),
                "deeper than 1000 levels");
        // a 1-tuple of a 1-tuple of ..., 200,000 deep (TUPLE1)
        byte[] tuples = repeat(new byte[] {(byte) 0x80, 2, 'N'}, 0x85, 200_000, STOP);
        Path g = pth("tuples.pth", Map.of("data.pkl", tuples), false);
        long a = allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(g),
                "deeper than 1000 levels");
        assertBounded(a, Files.size(g), 64);
        // a list that grows a level after being put into its parent (through the memo), 1,100 times
        ByteBuffer m = ByteBuffer.allocate(9 + 1100 * 13).order(ByteOrder.LITTLE_ENDIAN);
        m.put((byte) 0x80).put((byte) 2).put((byte) ']').put((byte) 'r').putInt(0);
        for (int i = 0; i < 1100; i++) {
            m.put((byte) 'j').putInt(i).put((byte) ']').put((byte) 'r').putInt(i + 1).put((byte) 'a').put((byte) '0');
        }
        m.put((byte) '.');
        Path h = pth("memo-nest.pth", Map.of("data.pkl", java.util.Arrays.copyOf(m.array(), m.position())), false);
        allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(h),
                "the result nests containers deeper than 1000 levels");
    }

    @Test
    void aHugeMemoIsRefused() throws IOException {
        int n = (1 << 20) + 1;
        ByteBuffer p = ByteBuffer.allocate(3 + 5 * n + 1).order(ByteOrder.LITTLE_ENDIAN);
        p.put((byte) 0x80).put((byte) 2).put((byte) 'N');
        for (int i = 0; i < n; i++) {
            p.put((byte) 'r').putInt(i);
        }
        p.put((byte) '.');
        Path f = pth("memo.pth", Map.of("data.pkl", p.array()), false);
        long a = allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(f),
                "more than 1048576 memo entries");
        assertBounded(a, Files.size(f), 64);
    }

    /** 200 tensors viewing the same 4 MB storage would take 800 MB as copies. */
    @Test
    void viewsMultiplyingOneStorageAreRefused() throws IOException {
        int n = 1 << 20;
        PickleWriter w = new PickleWriter().proto().op('}').mark();
        for (int i = 0; i < 200; i++) {
            w.str("t" + i).tensor("FloatStorage", "0", n, 0, new long[] {n}, new long[] {1});
        }
        w.op('u').stop();
        Path f = pth("views.pth", Map.of("data.pkl", w.bytes(), "data/0", new byte[4 * n]), false);
        long a = allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(f),
                "more than 4 times the 1048576 of their storages");
        assertBounded(a, Files.size(f), 8);
        // a stride-0 view larger than its storage (an expand) is refused before allocating
        PickleWriter e = new PickleWriter().proto().op('}').mark();
        e.str("x").tensor("FloatStorage", "0", 1, 0, new long[] {1 << 28}, new long[] {0});
        e.op('u').stop();
        Path g = pth("expand.pth", Map.of("data.pkl", e.bytes(), "data/0", new byte[4]), false);
        long b = allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(g),
                "holds more elements than its torch.FloatStorage storage '0' of 1");
        assertBounded(b, Files.size(g), 1);
    }

    @Test
    void aStorageEntryOfTheWrongSizeIsRefusedBeforeReadingIt() throws IOException {
        PickleWriter w = new PickleWriter().proto().op('}').mark();
        w.str("x").tensor("FloatStorage", "0", 4, 0, new long[] {4}, new long[] {1});
        w.op('u').stop();
        Path f = pth("short.pth", Map.of("data.pkl", w.bytes(), "data/0", new byte[8 << 20]), false);
        long a = allocationOfFailure(CheckpointFormatException.class, () -> TorchCheckpoint.read(f),
                "has 8388608 bytes, expected 4 elements of 4 bytes = 16");
        assertBounded(a, Files.size(f), 0);
    }

    // ---------------------------------------------------------------- IDX

    @Test
    void idxHeaderDeclaringMoreThanTheFileHoldsFailsSmall() throws IOException {
        Path f = dir.resolve("train-images-idx3-ubyte");
        ByteBuffer b = ByteBuffer.allocate(16 + 100);
        b.putInt(Idx.IMAGES_MAGIC).putInt(2_000_000).putInt(28).putInt(28);
        Files.write(f, b.array());
        long a = allocationOfFailure(DataException.class, () -> Idx.readImages(f),
                "truncated, expected 1568000000 data bytes but found 100");
        assertTrue(a < 4L << 20, a + " bytes allocated");
    }
}
