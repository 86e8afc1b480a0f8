package io.basq4j.data;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * The IDX file format of MNIST and Fashion-MNIST (unsigned bytes only): a big-endian magic number
 * {@code 0x0000 08 D} (type 0x08 = unsigned byte, D = number of dimensions), D big-endian 32-bit
 * sizes, then the data. A file whose name ends in {@code .gz} is gzip-compressed.
 */
public final class Idx {
    /** Magic number of an image file: unsigned bytes, 3 dimensions (count, rows, cols). */
    public static final int IMAGES_MAGIC = 0x00000803;
    /** Magic number of a label file: unsigned bytes, 1 dimension (count). */
    public static final int LABELS_MAGIC = 0x00000801;

    private Idx() {}

    /** The contents of an image file: {@code count} images of {@code rows x cols} bytes, row-major. */
    public record Images(int count, int rows, int cols, byte[] pixels) {
        public int imageSize() {
            return rows * cols;
        }
    }

    /** Reads an IDX image file (magic 0x803); a corrupt or truncated file gives a {@link DataException} naming it. */
    public static Images readImages(Path file) {
        try (DataInputStream in = open(file)) {
            int magic = readHeaderInt(in, file);
            if (magic != IMAGES_MAGIC) {
                throw badMagic(file, magic, IMAGES_MAGIC, "image");
            }
            int count = readHeaderInt(in, file);
            int rows = readHeaderInt(in, file);
            int cols = readHeaderInt(in, file);
            if (count < 0 || rows <= 0 || cols <= 0 || (long) count * rows * cols > Integer.MAX_VALUE - 64) {
                throw new DataException("corrupt IDX image file " + file + ": invalid sizes " + count + "x" + rows
                        + "x" + cols);
            }
            byte[] pixels = readBody(in, file, count * rows * cols);
            return new Images(count, rows, cols, pixels);
        } catch (IOException e) {
            throw ioError(file, e);
        }
    }

    /** Reads an IDX label file (magic 0x801); a corrupt or truncated file gives a {@link DataException} naming it. */
    public static byte[] readLabels(Path file) {
        try (DataInputStream in = open(file)) {
            int magic = readHeaderInt(in, file);
            if (magic != LABELS_MAGIC) {
                throw badMagic(file, magic, LABELS_MAGIC, "label");
            }
            int count = readHeaderInt(in, file);
            if (count < 0 || count > Integer.MAX_VALUE - 64) {
                throw new DataException("corrupt IDX label file " + file + ": invalid count " + count);
            }
            return readBody(in, file, count);
        } catch (IOException e) {
            throw ioError(file, e);
        }
    }

    /**
     * Writes an IDX image file (gzip-compressed when the name ends in {@code .gz}), atomically: a
     * temporary file in the same directory, then a move.
     */
    public static void writeImages(Path file, byte[] pixels, int count, int rows, int cols) {
        if ((long) count * rows * cols != pixels.length) {
            throw new IllegalArgumentException("pixels has " + pixels.length + " bytes, expected " + count + "*"
                    + rows + "*" + cols);
        }
        write(file, new int[] {IMAGES_MAGIC, count, rows, cols}, pixels);
    }

    /** Writes an IDX label file (gzip-compressed when the name ends in {@code .gz}), atomically. */
    public static void writeLabels(Path file, byte[] labels) {
        write(file, new int[] {LABELS_MAGIC, labels.length}, labels);
    }

    private static void write(Path file, int[] header, byte[] body) {
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, "." + file.getFileName(), ".tmp");
            try (OutputStream raw = Files.newOutputStream(tmp);
                    OutputStream buffered = new BufferedOutputStream(
                            isGzip(file) ? new GZIPOutputStream(raw, 1 << 16) : raw, 1 << 16);
                    DataOutputStream out = new DataOutputStream(buffered)) {
                for (int v : header) {
                    out.writeInt(v);
                }
                out.write(body);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            tmp = null;
        } catch (IOException e) {
            throw new DataException("cannot write " + file + ": " + e, e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    private static boolean isGzip(Path file) {
        return file.getFileName().toString().endsWith(".gz");
    }

    private static DataInputStream open(Path file) throws IOException {
        InputStream raw;
        try {
            raw = Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new DataException("file not found: " + file);
        }
        try {
            InputStream in = isGzip(file) ? new GZIPInputStream(raw, 1 << 16) : raw;
            return new DataInputStream(new BufferedInputStream(in, 1 << 16));
        } catch (IOException e) {
            raw.close();
            throw new DataException("corrupt IDX file " + file + ": not a gzip file (" + e.getMessage() + ")", e);
        }
    }

    private static int readHeaderInt(DataInputStream in, Path file) throws IOException {
        try {
            return in.readInt();
        } catch (EOFException e) {
            throw new DataException("corrupt IDX file " + file + ": truncated header", e);
        }
    }

    /**
     * The {@code length} data bytes that follow the header. The buffer grows with what the file
     * actually holds (at most doubling), so a header that declares more than the file has
     * fails at the end of the file without allocating what it declares.
     */
    private static byte[] readBody(DataInputStream in, Path file, int length) throws IOException {
        byte[] data = new byte[Math.min(length, 1 << 20)];
        int read = 0;
        while (read < length) {
            if (read == data.length) {
                data = java.util.Arrays.copyOf(data, (int) Math.min(length, 2L * data.length));
            }
            int r = in.read(data, read, data.length - read);
            if (r < 0) {
                throw new DataException("corrupt IDX file " + file + ": truncated, expected " + length
                        + " data bytes but found " + read);
            }
            read += r;
        }
        if (in.read() >= 0) {
            throw new DataException("corrupt IDX file " + file + ": data continues past the " + length
                    + " bytes its header declares");
        }
        return data;
    }

    private static DataException badMagic(Path file, int magic, int expected, String kind) {
        return new DataException(String.format(
                "corrupt IDX %s file %s: magic number 0x%08X, expected 0x%08X", kind, file, magic, expected));
    }

    private static DataException ioError(Path file, IOException e) {
        return new DataException("cannot read IDX file " + file + " (corrupt or truncated): " + e.getMessage(), e);
    }
}
