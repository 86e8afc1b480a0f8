package io.basq4j.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Test helper: emits pickle opcodes by hand and packs torch-style zip checkpoints. */
final class PickleWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    PickleWriter op(int... bytes) {
        for (int b : bytes) {
            out.write(b);
        }
        return this;
    }

    PickleWriter proto() {
        return op(0x80, 2);
    }

    PickleWriter mark() {
        return op('(');
    }

    PickleWriter tuple() {
        return op('t');
    }

    PickleWriter str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X');
        le(b.length, 4);
        out.writeBytes(b);
        return this;
    }

    PickleWriter integer(long v) {
        if (v >= 0 && v < 256) {
            return op('K', (int) v);
        }
        if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            op('J');
            return le(v, 4);
        }
        op(0x8a, 8);
        return le(v, 8);
    }

    PickleWriter global(String module, String name) {
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.UTF_8));
        return this;
    }

    PickleWriter ints(long... v) {
        mark();
        for (long x : v) {
            integer(x);
        }
        return tuple();
    }

    /** A {@code _rebuild_tensor_v2} call for a storage of the given torch type. */
    PickleWriter tensor(String storageType, String key, long storageNumel, long offset, long[] size, long[] stride) {
        global("torch._utils", "_rebuild_tensor_v2");
        mark();
        mark().str("storage").global("torch", storageType).str(key).str("cpu").integer(storageNumel).tuple();
        op('Q');
        integer(offset);
        ints(size);
        ints(stride);
        op(0x89);
        global("collections", "OrderedDict").op(')', 'R');
        tuple();
        return op('R');
    }

    PickleWriter stop() {
        return op('.');
    }

    byte[] bytes() {
        return out.toByteArray();
    }

    private PickleWriter le(long v, int n) {
        for (int i = 0; i < n; i++) {
            out.write((int) (v >>> (8 * i)) & 0xff);
        }
        return this;
    }

    /** Writes a zip with {@code <prefix>/data.pkl}, {@code <prefix>/version} and the storages. */
    static Path writeCheckpoint(Path file, byte[] pickle, Map<String, byte[]> storages) throws IOException {
        String prefix = "archive/";
        try (OutputStream os = Files.newOutputStream(file); ZipOutputStream zip = new ZipOutputStream(os)) {
            put(zip, prefix + "data.pkl", pickle);
            for (Map.Entry<String, byte[]> e : storages.entrySet()) {
                put(zip, prefix + "data/" + e.getKey(), e.getValue());
            }
            put(zip, prefix + "version", "3\n".getBytes(StandardCharsets.US_ASCII));
        }
        return file;
    }

    private static void put(ZipOutputStream zip, String name, byte[] data) throws IOException {
        zip.putNextEntry(new ZipEntry(name));
        zip.write(data);
        zip.closeEntry();
    }
}
