package io.basq4j.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes the safetensors format: an 8-byte little-endian header length {@code N},
 * {@code N} bytes of UTF-8 JSON {@code {name: {"dtype", "shape", "data_offsets": [begin, end]},
 * "__metadata__": {string: string}}}, then the raw little-endian data; offsets are relative to
 * the start of the data section. Supported dtypes: {@code F32}, {@code I64}, {@code U8}, {@code I16}.
 */
public final class SafeTensors {

    /** The reserved header key for free-form string metadata. */
    public static final String METADATA_KEY = "__metadata__";

    /** Upper bound on the JSON header size accepted when reading (guards against garbage lengths). */
    static final long MAX_HEADER_BYTES = 100L << 20;

    private static final ObjectMapper JSON = new ObjectMapper(
            JsonFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

    private SafeTensors() {
    }

    /** The contents of a safetensors file: tensors in file order and the string metadata. */
    public static final class File {
        private final Path path;
        private final Map<String, TensorData> tensors;
        private final Map<String, String> metadata;

        File(Path path, Map<String, TensorData> tensors, Map<String, String> metadata) {
            this.path = path;
            this.tensors = Collections.unmodifiableMap(tensors);
            this.metadata = Collections.unmodifiableMap(metadata);
        }

        /** The file this was read from. */
        public Path path() {
            return path;
        }

        /** All tensors, in the order of the file's header (unmodifiable). */
        public Map<String, TensorData> tensors() {
            return tensors;
        }

        /** The {@code __metadata__} entries; empty if the file has none (unmodifiable). */
        public Map<String, String> metadata() {
            return metadata;
        }

        /** Whether a tensor of that name exists. */
        public boolean contains(String name) {
            return tensors.containsKey(name);
        }

        /** The named tensor; throws {@link CheckpointFormatException} naming the file if absent. */
        public TensorData get(String name) {
            TensorData t = tensors.get(name);
            if (t == null) {
                throw new CheckpointFormatException(path, "no tensor named '" + name + "' (file has "
                        + tensors.size() + " tensors)");
            }
            return t;
        }
    }

    /**
     * Reads a whole safetensors file (memory-mapped). Every header entry is checked against the
     * file (offsets inside the data section, sizes matching dtype and shape, no two tensors
     * sharing bytes) before any tensor is allocated, so a crafted file fails fast and the memory
     * taken is at most the size of its data section.
     *
     * @throws IOException if the file cannot be read
     * @throws CheckpointFormatException if the file is not valid safetensors
     */
    public static File read(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            byte[] header = readHeader(path, ch, size);
            long dataStart = 8 + header.length;
            long dataLen = size - dataStart;
            if (dataLen > Integer.MAX_VALUE) {
                throw new IOException(path + ": data section of " + dataLen + " bytes exceeds the 2 GiB supported");
            }
            Map<String, String> metadata = new LinkedHashMap<>();
            List<Entry> entries = parseHeader(path, header, dataLen, metadata);
            MappedByteBuffer data = ch.map(FileChannel.MapMode.READ_ONLY, dataStart, dataLen);
            data.order(ByteOrder.LITTLE_ENDIAN);
            Map<String, TensorData> tensors = new LinkedHashMap<>();
            for (Entry e : entries) {
                tensors.put(e.name, e.load(data));
            }
            return new File(path, tensors, metadata);
        }
    }

    /**
     * Only the {@code __metadata__} of a safetensors file (the header is read and checked; no
     * tensor data is loaded).
     */
    public static Map<String, String> readMetadata(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            byte[] header = readHeader(path, ch, size);
            Map<String, String> metadata = new LinkedHashMap<>();
            parseHeader(path, header, size - 8 - header.length, metadata);
            return Collections.unmodifiableMap(metadata);
        }
    }

    private static byte[] readHeader(Path path, FileChannel ch, long size) throws IOException {
        if (size < 8) {
            throw new CheckpointFormatException(path, "file is " + size
                    + " bytes, too short for the 8-byte safetensors header length");
        }
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lenBuf, 0);
        long headerLen = lenBuf.getLong(0);
        if (headerLen < 2 || headerLen > size - 8 || headerLen > MAX_HEADER_BYTES) {
            throw new CheckpointFormatException(path, "bad header length " + Long.toUnsignedString(headerLen)
                    + " for a file of " + size + " bytes");
        }
        ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
        readFully(ch, headerBuf, 8);
        return headerBuf.array();
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos + buf.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    /** One checked header entry: where a tensor's bytes are and what they hold. */
    private record Entry(String name, TensorData.DType dtype, int[] shape, long begin, long end) {
        TensorData load(ByteBuffer data) {
            ByteBuffer slice = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            slice.position((int) begin).limit((int) end);
            int numel = (int) ((end - begin) / dtype.byteSize());
            if (dtype == TensorData.DType.F32) {
                float[] a = new float[numel];
                slice.slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(a);
                return TensorData.ofFloat(shape, a);
            } else if (dtype == TensorData.DType.U8) {
                byte[] a = new byte[numel];
                slice.slice().get(a);
                return TensorData.ofBytes(shape, a);
            } else if (dtype == TensorData.DType.I16) {
                short[] a = new short[numel];
                slice.slice().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(a);
                return TensorData.ofShorts(shape, a);
            }
            long[] a = new long[numel];
            slice.slice().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(a);
            return TensorData.ofLong(shape, a);
        }
    }

    /** Checks every entry of the header against the data section; fills {@code metadata}. */
    private static List<Entry> parseHeader(Path path, byte[] header, long dataLen, Map<String, String> metadata) {
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (IOException e) {
            throw new CheckpointFormatException(path, "header is not valid JSON: " + oneLine(e), e);
        }
        if (root == null || !root.isObject()) {
            throw new CheckpointFormatException(path, "header is not a JSON object");
        }
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String name = e.getKey();
            if (METADATA_KEY.equals(name)) {
                parseMetadata(path, e.getValue(), metadata);
            } else {
                entries.add(parseTensor(path, name, e.getValue(), dataLen));
            }
        }
        checkDisjoint(path, entries);
        return entries;
    }

    /** Two tensors may not share bytes (an aliased or overlapping file could multiply the memory taken). */
    private static void checkDisjoint(Path path, List<Entry> entries) {
        List<Entry> sorted = new ArrayList<>();
        for (Entry e : entries) {
            if (e.end > e.begin) {
                sorted.add(e);
            }
        }
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < sorted.size(); i++) {
            Entry a = sorted.get(i - 1);
            Entry b = sorted.get(i);
            if (b.begin < a.end) {
                throw new CheckpointFormatException(path, "tensors '" + brief(a.name) + "' [" + a.begin + ", " + a.end
                        + ") and '" + brief(b.name) + "' [" + b.begin + ", " + b.end + ") overlap in the data section "
                        + "(a safetensors file stores each tensor in its own bytes)");
            }
        }
    }

    private static String brief(String name) {
        return name.length() <= 80 ? name : name.substring(0, 77) + "...";
    }

    private static void parseMetadata(Path path, JsonNode node, Map<String, String> out) {
        if (node.isNull()) {
            return;
        }
        if (!node.isObject()) {
            throw new CheckpointFormatException(path, METADATA_KEY + " is not a JSON object");
        }
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw new CheckpointFormatException(path, METADATA_KEY + " entry '" + brief(e.getKey())
                        + "' is not a string");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
    }

    private static Entry parseTensor(Path path, String name, JsonNode node, long dataLen) {
        String where = "tensor '" + brief(name) + "': ";
        if (!node.isObject()) {
            throw new CheckpointFormatException(path, where + "header entry is not a JSON object");
        }
        JsonNode dt = node.get("dtype");
        if (dt == null || !dt.isTextual()) {
            throw new CheckpointFormatException(path, where + "missing or non-string dtype");
        }
        TensorData.DType dtype;
        switch (dt.textValue()) {
            case "F32":
                dtype = TensorData.DType.F32;
                break;
            case "I64":
                dtype = TensorData.DType.I64;
                break;
            case "U8":
                dtype = TensorData.DType.U8;
                break;
            case "I16":
                dtype = TensorData.DType.I16;
                break;
            default:
                throw new CheckpointFormatException(path, where + "unsupported dtype '" + brief(dt.textValue())
                        + "' (supported: F32, I64, U8, I16)");
        }
        JsonNode sh = node.get("shape");
        if (sh == null || !sh.isArray() || sh.size() > 64) {
            throw new CheckpointFormatException(path, where + "missing, non-array or over 64-dimensional shape");
        }
        int[] shape = new int[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToInt() || d.intValue() < 0) {
                throw new CheckpointFormatException(path, where + "bad shape " + brief(sh.toString()));
            }
            shape[i] = d.intValue();
        }
        JsonNode off = node.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
                || !off.get(1).isIntegralNumber() || !off.get(0).canConvertToLong()
                || !off.get(1).canConvertToLong()) {
            throw new CheckpointFormatException(path, where + "data_offsets must be [begin, end], got "
                    + (off == null ? "nothing" : brief(off.toString())));
        }
        long begin = off.get(0).longValue();
        long end = off.get(1).longValue();
        if (begin < 0 || end < begin || end > dataLen) {
            throw new CheckpointFormatException(path, where + "data_offsets [" + begin + ", " + end
                    + "] out of range of the " + dataLen + "-byte data section");
        }
        long numel = TensorData.numel(shape);
        if (numel > Integer.MAX_VALUE || numel * dtype.byteSize() != end - begin) {
            throw new CheckpointFormatException(path, where + "size mismatch: " + dtype + " shape "
                    + brief(sh.toString()) + " needs " + numel * dtype.byteSize() + " bytes but data_offsets span "
                    + (end - begin));
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static String oneLine(Exception e) {
        String m = e instanceof JsonProcessingException
                ? ((JsonProcessingException) e).getOriginalMessage() : e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m.replace('\n', ' ');
    }

    /**
     * Writes tensors (in the map's iteration order) and metadata atomically: to a temporary file
     * in the same directory, then moved over {@code path}. The JSON header is padded with spaces
     * so the data section starts at an 8-byte aligned offset.
     *
     * @param metadata string metadata, may be null or empty (then no {@code __metadata__} is written)
     * @throws IOException if writing fails; no temporary file is left behind
     */
    public static void write(Path path, Map<String, TensorData> tensors, Map<String, String> metadata)
            throws IOException {
        byte[] header = encodeHeader(tensors, metadata);
        AtomicFiles.writeChannel(path, ch -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            len.putLong(0, header.length);
            writeFully(ch, len);
            writeFully(ch, ByteBuffer.wrap(header));
            writeData(ch, tensors);
        });
    }

    /** The JSON header bytes, space-padded so that 8 + length is a multiple of 8. */
    static byte[] encodeHeader(Map<String, TensorData> tensors, Map<String, String> metadata) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.getFactory().createGenerator(out)) {
            g.writeStartObject();
            if (metadata != null && !metadata.isEmpty()) {
                g.writeObjectFieldStart(METADATA_KEY);
                for (Map.Entry<String, String> e : metadata.entrySet()) {
                    if (e.getKey() == null || e.getValue() == null) {
                        throw new IllegalArgumentException("null metadata key or value: " + e);
                    }
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Map.Entry<String, TensorData> e : tensors.entrySet()) {
                String name = e.getKey();
                TensorData t = e.getValue();
                if (name == null || METADATA_KEY.equals(name)) {
                    throw new IllegalArgumentException("invalid tensor name: " + name);
                }
                if (t == null) {
                    throw new IllegalArgumentException("tensor '" + name + "' is null");
                }
                long bytes = (long) t.numel() * t.dtype().byteSize();
                g.writeObjectFieldStart(name);
                g.writeStringField("dtype", t.dtype().name());
                g.writeArrayFieldStart("shape");
                for (int i = 0; i < t.rank(); i++) {
                    g.writeNumber(t.dim(i));
                }
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(offset + bytes);
                g.writeEndArray();
                g.writeEndObject();
                offset += bytes;
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new IllegalStateException("JSON encoding to memory failed", e);
        }
        int pad = (8 - out.size() % 8) % 8;
        for (int i = 0; i < pad; i++) {
            out.write(' ');
        }
        return out.toByteArray();
    }

    private static void writeData(FileChannel ch, Map<String, TensorData> tensors) throws IOException {
        final int chunkElems = 1 << 16;
        ByteBuffer buf = ByteBuffer.allocateDirect(chunkElems * 8).order(ByteOrder.LITTLE_ENDIAN);
        int index = 0;
        for (TensorData t : tensors.values()) {
            if (index++ == tensors.size() / 2) {
                PausePoint.reach("safetensors-write");
            }
            int n = t.numel();
            for (int start = 0; start < n; start += chunkElems) {
                int len = Math.min(chunkElems, n - start);
                buf.clear();
                if (t.dtype() == TensorData.DType.F32) {
                    buf.asFloatBuffer().put(t.f32(), start, len);
                    buf.limit(len * 4);
                } else if (t.dtype() == TensorData.DType.U8) {
                    buf.put(t.u8(), start, len);
                    buf.flip();
                } else if (t.dtype() == TensorData.DType.I16) {
                    buf.asShortBuffer().put(t.i16(), start, len);
                    buf.limit(len * 2);
                } else {
                    buf.asLongBuffer().put(t.i64(), start, len);
                    buf.limit(len * 8);
                }
                writeFully(ch, buf);
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
