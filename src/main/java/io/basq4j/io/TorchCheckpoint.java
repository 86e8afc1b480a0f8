package io.basq4j.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Reads PyTorch checkpoints in the ZIP format written by {@code torch.save} since 1.6: an archive
 * with {@code <prefix>/data.pkl} (a pickle) and each tensor storage as the raw file
 * {@code <prefix>/data/<key>} (little-endian unless {@code <prefix>/byteorder} says {@code big}).
 *
 * <p>The pickle is run by a small pickle VM that knows only what torch writes for dicts of
 * tensors: builtin containers and scalars, {@code collections.OrderedDict},
 * {@code torch._utils._rebuild_tensor_v2} (and {@code _rebuild_tensor}, {@code _rebuild_parameter})
 * and the storage types. Anything else (other classes, other opcodes) is rejected with a
 * {@link CheckpointFormatException} naming the file and the offending global or opcode.
 *
 * <p>Unpickled values map to Java as: dict/OrderedDict to {@code Map<String,Object>}
 * ({@link LinkedHashMap}, insertion order kept; int/float/bool/None keys become their decimal or
 * Python text, e.g. {@code "0"}), list and tuple to {@link List}, int to {@link Long}, float to
 * {@link Double}, str to {@link String}, bool to {@link Boolean}, None to {@code null}, tensors
 * to {@link TensorData}. Tensors are materialized as contiguous copies (storage offsets and any
 * strides are honoured); float32/float16/bfloat16/float64 storages give F32 (float64 is rounded
 * to nearest), int64/int32 storages give I64. A 0-d tensor has shape {@code []}.
 *
 * <p>Hostile files fail fast with bounded memory: the archive's declared entry sizes may not
 * exceed {@value #MAX_EXPANSION} times the file size (a zip bomb), no entry is read past its
 * declared size, storage sizes are checked against their entries before reading, MARK nesting
 * and container nesting are capped at {@value #MAX_DEPTH}, the memo at {@value #MAX_MEMO}
 * entries, a tensor may not hold more elements than its storage, and all tensors together at
 * most {@value #MAX_VIEW_FACTOR} times the elements of their storages.
 */
public final class TorchCheckpoint {

    /** Largest ratio of the archive's declared (uncompressed) content to the file size. */
    static final int MAX_EXPANSION = 16;
    /** Deepest MARK or container nesting accepted (torch writes a handful of levels). */
    static final int MAX_DEPTH = 1000;
    /** Most memo entries accepted. */
    static final int MAX_MEMO = 1 << 20;
    /** Most elements all tensors together may hold, as a multiple of their storages' elements. */
    static final int MAX_VIEW_FACTOR = 4;

    private TorchCheckpoint() {
    }

    /** The unpickled top-level object of a checkpoint. */
    public static final class Contents {
        private final Path path;
        private final Object root;

        Contents(Path path, Object root) {
            this.path = path;
            this.root = root;
        }

        /** The file this was read from. */
        public Path path() {
            return path;
        }

        /** The top-level object as Java values (see the class description). */
        public Object root() {
            return root;
        }

        /** The top-level object as a dict; throws {@link CheckpointFormatException} if it is not one. */
        @SuppressWarnings("unchecked")
        public Map<String, Object> asMap() {
            if (!(root instanceof Map)) {
                throw new CheckpointFormatException(path, "top-level object is " + typeName(root) + ", not a dict");
            }
            return (Map<String, Object>) root;
        }

        /**
         * The state dict: the top-level {@code model_state_dict} (else {@code state_dict}) entry,
         * or the top-level dict itself if it maps names to tensors. Names are kept exactly as stored.
         */
        public Map<String, TensorData> stateDict() {
            Map<String, Object> top = asMap();
            for (String key : new String[] {"model_state_dict", "state_dict"}) {
                if (top.containsKey(key)) {
                    Object v = top.get(key);
                    if (!(v instanceof Map)) {
                        throw new CheckpointFormatException(path, "entry '" + key + "' is " + typeName(v)
                                + ", not a dict of tensors");
                    }
                    return tensorMap(key, (Map<?, ?>) v);
                }
            }
            for (Map.Entry<String, Object> e : top.entrySet()) {
                if (!(e.getValue() instanceof TensorData)) {
                    throw new CheckpointFormatException(path, "no 'model_state_dict' or 'state_dict' entry, and the"
                            + " top-level dict is not a state dict (entry '" + e.getKey() + "' is "
                            + typeName(e.getValue()) + "); top-level keys: " + top.keySet());
                }
            }
            return tensorMap("top-level dict", top);
        }

        private Map<String, TensorData> tensorMap(String what, Map<?, ?> m) {
            Map<String, TensorData> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!(e.getValue() instanceof TensorData)) {
                    throw new CheckpointFormatException(path, what + ": entry '" + e.getKey() + "' is "
                            + typeName(e.getValue()) + ", not a tensor");
                }
                out.put((String) e.getKey(), (TensorData) e.getValue());
            }
            return Collections.unmodifiableMap(out);
        }
    }

    /**
     * Reads and unpickles a checkpoint.
     *
     * @throws IOException if the file cannot be read
     * @throws CheckpointFormatException if it is not a supported torch checkpoint
     */
    public static Contents read(Path path) throws IOException {
        ZipFile zip;
        try {
            zip = new ZipFile(path.toFile());
        } catch (ZipException e) {
            throw new CheckpointFormatException(path, "not a ZIP archive (" + e.getMessage() + "); only the zip"
                    + " checkpoint format of torch.save (PyTorch >= 1.6) is supported", e);
        }
        try (zip) {
            checkDeclaredSizes(path, zip);
            String pkl = findDataPkl(path, zip);
            String prefix = pkl.substring(0, pkl.length() - "data.pkl".length());
            ByteOrder order = byteOrder(path, zip, prefix);
            byte[] pickle = readEntry(path, zip, zip.getEntry(pkl));
            Object root = new Unpickler(path, pickle, zip, prefix, order).run();
            return new Contents(path, root);
        }
    }

    /** Reads a checkpoint and returns its {@linkplain Contents#stateDict() state dict}. */
    public static Map<String, TensorData> readStateDict(Path path) throws IOException {
        return read(path).stateDict();
    }

    /** Refuses archives whose entries declare far more content than the file holds (zip bombs). */
    private static void checkDeclaredSizes(Path path, ZipFile zip) throws IOException {
        long fileSize = java.nio.file.Files.size(path);
        long limit = MAX_EXPANSION * fileSize + (1 << 20);
        long declared = 0;
        for (Enumeration<? extends ZipEntry> en = zip.entries(); en.hasMoreElements(); ) {
            ZipEntry e = en.nextElement();
            long size = e.getSize();
            if (size < 0) {
                throw new CheckpointFormatException(path, "archive entry " + clip(e.getName())
                        + " does not declare its size");
            }
            declared += size;
            if (declared > limit) {
                throw new CheckpointFormatException(path, "archive entries declare over " + declared + " bytes in a file"
                        + " of " + fileSize + " bytes (more than " + MAX_EXPANSION + " times; refused as a zip bomb)");
            }
        }
    }

    private static String findDataPkl(Path path, ZipFile zip) {
        String found = null;
        for (Enumeration<? extends ZipEntry> en = zip.entries(); en.hasMoreElements(); ) {
            String name = en.nextElement().getName();
            boolean topLevel = name.equals("data.pkl")
                    || (name.endsWith("/data.pkl") && name.indexOf('/') == name.length() - "/data.pkl".length());
            if (topLevel) {
                if (found != null) {
                    throw new CheckpointFormatException(path, "archive has two pickles: " + found + " and " + name);
                }
                found = name;
            }
        }
        if (found == null) {
            throw new CheckpointFormatException(path, "ZIP archive has no <prefix>/data.pkl; not a torch checkpoint");
        }
        return found;
    }

    private static ByteOrder byteOrder(Path path, ZipFile zip, String prefix) throws IOException {
        ZipEntry e = zip.getEntry(prefix + "byteorder");
        if (e == null) {
            return ByteOrder.LITTLE_ENDIAN;
        }
        if (e.getSize() > 64) {
            throw new CheckpointFormatException(path, "byteorder entry of " + e.getSize() + " bytes");
        }
        String s = new String(readEntry(path, zip, e), StandardCharsets.US_ASCII).trim();
        switch (s) {
            case "little":
                return ByteOrder.LITTLE_ENDIAN;
            case "big":
                return ByteOrder.BIG_ENDIAN;
            default:
                throw new CheckpointFormatException(path, "unknown byteorder '" + clip(s) + "'");
        }
    }

    /** An entry's bytes: exactly its declared size (checked against the file already), never more. */
    private static byte[] readEntry(Path path, ZipFile zip, ZipEntry e) throws IOException {
        long size = e.getSize();
        if (size > Integer.MAX_VALUE - 16) {
            throw new CheckpointFormatException(path, "archive entry " + clip(e.getName()) + " of " + size
                    + " bytes is too large");
        }
        byte[] b = new byte[(int) size];
        try (InputStream in = zip.getInputStream(e)) {
            int n = in.readNBytes(b, 0, b.length);
            if (n != b.length) {
                throw new CheckpointFormatException(path, "archive entry " + clip(e.getName()) + " holds " + n
                        + " bytes but declares " + size);
            }
            if (in.read() >= 0) {
                throw new CheckpointFormatException(path, "archive entry " + clip(e.getName())
                        + " holds more than the " + size + " bytes it declares");
            }
        } catch (ZipException ex) {
            throw new CheckpointFormatException(path, "archive entry " + clip(e.getName()) + " is corrupt ("
                    + ex.getMessage() + ")", ex);
        }
        return b;
    }

    /** {@code s} cut to at most 60 characters, for error messages. */
    static String clip(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }

    /** A short rendering of a pickle value for error messages: bounded in length and depth, never recursive without end. */
    static String brief(Object o) {
        StringBuilder sb = new StringBuilder();
        brief(o, sb, 0);
        return sb.length() <= 120 ? sb.toString() : sb.substring(0, 117) + "...";
    }

    private static void brief(Object o, StringBuilder sb, int depth) {
        if (sb.length() > 120) {
            return;
        }
        if (o instanceof List<?> l) {
            if (depth >= 3) {
                sb.append("(...)");
                return;
            }
            sb.append('(');
            int i = 0;
            for (Object x : l) {
                if (i++ > 0) {
                    sb.append(", ");
                }
                if (i > 8 || sb.length() > 120) {
                    sb.append("...");
                    break;
                }
                brief(x, sb, depth + 1);
            }
            sb.append(')');
        } else if (o instanceof Map<?, ?> m) {
            sb.append("a dict of ").append(m.size()).append(" entries");
        } else if (o instanceof String str) {
            sb.append('\'').append(str.length() <= 60 ? str : str.substring(0, 57) + "...").append('\'');
        } else if (o == null) {
            sb.append("None");
        } else {
            String t = String.valueOf(o);
            sb.append(t.length() <= 80 ? t : t.substring(0, 77) + "...");
        }
    }

    static String typeName(Object o) {
        if (o == null) {
            return "None";
        } else if (o instanceof Map) {
            return "a dict";
        } else if (o instanceof List) {
            return "a list/tuple";
        } else if (o instanceof TensorData) {
            return "a tensor";
        } else if (o instanceof Long) {
            return "an int";
        } else if (o instanceof Double) {
            return "a float";
        } else if (o instanceof String) {
            return "a str";
        } else if (o instanceof Boolean) {
            return "a bool";
        }
        return "a " + brief(o);
    }

    // ---------------------------------------------------------------- pickle VM internals

    /** A reference to a supported Python global (class or function). */
    private record Global(String module, String name) {
        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    /** Element types of torch storages and what they become. */
    private enum StorageKind {
        FLOAT(4, TensorData.DType.F32),
        DOUBLE(8, TensorData.DType.F32),
        HALF(2, TensorData.DType.F32),
        BFLOAT16(2, TensorData.DType.F32),
        LONG(8, TensorData.DType.I64),
        INT(4, TensorData.DType.I64);

        final int bytes;
        final TensorData.DType target;

        StorageKind(int bytes, TensorData.DType target) {
            this.bytes = bytes;
            this.target = target;
        }
    }

    private static final Map<String, StorageKind> STORAGE_TYPES = Map.of(
            "FloatStorage", StorageKind.FLOAT,
            "DoubleStorage", StorageKind.DOUBLE,
            "HalfStorage", StorageKind.HALF,
            "BFloat16Storage", StorageKind.BFLOAT16,
            "LongStorage", StorageKind.LONG,
            "IntStorage", StorageKind.INT);

    /** A global naming a storage type, e.g. {@code torch.FloatStorage}. */
    private record StorageType(String name, StorageKind kind) {
        @Override
        public String toString() {
            return "torch." + name;
        }
    }

    /** A storage referenced by a persistent id; its bytes are loaded from the archive on first use. */
    private static final class Storage {
        final StorageType type;
        final String key;
        final long numel;
        ByteBuffer bytes;

        Storage(StorageType type, String key, long numel) {
            this.type = type;
            this.key = key;
            this.numel = numel;
        }

        @Override
        public String toString() {
            return type + " storage '" + clip(key) + "'";
        }
    }

    /**
     * The containers the VM builds know how deep they nest (1 for a flat one), so that a pickle
     * nesting deeper than {@link #MAX_DEPTH} fails as soon as it gets there. A tuple is an
     * unmodifiable list.
     */
    private static final class Tuple extends java.util.AbstractList<Object> implements java.util.RandomAccess {
        final Object[] items;
        final int depth;

        Tuple(Object[] items, int depth) {
            this.items = items;
            this.depth = depth;
        }

        @Override
        public Object get(int i) {
            return items[i];
        }

        @Override
        public int size() {
            return items.length;
        }
    }

    /** A pickled list (see {@link Tuple}). */
    private static final class PList extends ArrayList<Object> {
        private static final long serialVersionUID = 1L;
        int depth = 1;
    }

    /** A pickled dict or OrderedDict (see {@link Tuple}). */
    private static final class PDict extends LinkedHashMap<String, Object> {
        private static final long serialVersionUID = 1L;
        int depth = 1;
    }

    private static int depthOf(Object o) {
        return o instanceof Tuple t ? t.depth : o instanceof PList l ? l.depth : o instanceof PDict d ? d.depth : 0;
    }

    private static final String[] OPCODE_NAMES = new String[256];

    static {
        String table = "(MARK .STOP 0POP 1POP_MARK 2DUP FFLOAT IINT JBININT KBININT1 LLONG MBININT2 NNONE"
                + " PPERSID QBINPERSID RREDUCE SSTRING TBINSTRING USHORT_BINSTRING VUNICODE XBINUNICODE"
                + " aAPPEND bBUILD cGLOBAL dDICT }EMPTY_DICT eAPPENDS gGET hBINGET iINST jLONG_BINGET lLIST"
                + " ]EMPTY_LIST oOBJ pPUT qBINPUT rLONG_BINPUT sSETITEM tTUPLE )EMPTY_TUPLE uSETITEMS"
                + " GBINFLOAT BBINBYTES CSHORT_BINBYTES";
        for (String s : table.split(" ")) {
            OPCODE_NAMES[s.charAt(0)] = s.substring(1);
        }
        String[] high = {"PROTO", "NEWOBJ", "EXT1", "EXT2", "EXT4", "TUPLE1", "TUPLE2", "TUPLE3", "NEWTRUE",
            "NEWFALSE", "LONG1", "LONG4", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES8", "EMPTY_SET",
            "ADDITEMS", "FROZENSET", "NEWOBJ_EX", "STACK_GLOBAL", "MEMOIZE", "FRAME", "BYTEARRAY8",
            "NEXT_BUFFER", "READONLY_BUFFER"};
        for (int i = 0; i < high.length; i++) {
            OPCODE_NAMES[0x80 + i] = high[i];
        }
    }

    /** Executes one pickle; single use. */
    private static final class Unpickler {
        private final Path path;
        private final byte[] in;
        private final ZipFile zip;
        private final String prefix;
        private final ByteOrder order;
        private int pos;
        private int opStart;
        private final ArrayList<Object> stack = new ArrayList<>();
        private int[] marks = new int[16];
        private int markCount;
        private final HashMap<Integer, Object> memo = new HashMap<>();
        private final HashMap<String, Storage> storages = new HashMap<>();
        private long storageElements;
        private long materialized;

        Unpickler(Path path, byte[] in, ZipFile zip, String prefix, ByteOrder order) {
            this.path = path;
            this.in = in;
            this.zip = zip;
            this.prefix = prefix;
            this.order = order;
        }

        private CheckpointFormatException error(String what) {
            String w = what.length() <= 400 ? what : what.substring(0, 397) + "...";
            return new CheckpointFormatException(path, "data.pkl byte " + opStart + ": " + w);
        }

        Object run() throws IOException {
            while (true) {
                if (pos >= in.length) {
                    opStart = pos;
                    throw error("pickle ends without STOP");
                }
                opStart = pos;
                int op = in[pos++] & 0xff;
                switch (op) {
                    case 0x80: { // PROTO
                        int proto = u8();
                        if (proto < 2 || proto > 5) {
                            throw error("unsupported pickle protocol " + proto);
                        }
                        break;
                    }
                    case 0x95: // FRAME: framing is only a read-ahead hint
                        need(8);
                        pos += 8;
                        break;
                    case '}':
                        push(new PDict());
                        break;
                    case ']':
                        push(new PList());
                        break;
                    case ')':
                        push(tuple());
                        break;
                    case '(':
                        if (markCount == MAX_DEPTH) {
                            throw error("MARKs nested deeper than " + MAX_DEPTH);
                        }
                        if (markCount == marks.length) {
                            marks = Arrays.copyOf(marks, markCount * 2);
                        }
                        marks[markCount++] = stack.size();
                        break;
                    case 't':
                        push(tuple(popMark()));
                        break;
                    case 0x85: {
                        Object a = pop();
                        push(tuple(a));
                        break;
                    }
                    case 0x86: {
                        Object b = pop();
                        Object a = pop();
                        push(tuple(a, b));
                        break;
                    }
                    case 0x87: {
                        Object c = pop();
                        Object b = pop();
                        Object a = pop();
                        push(tuple(a, b, c));
                        break;
                    }
                    case 'X':
                        push(utf8(u32()));
                        break;
                    case 0x8c:
                        push(utf8(u8()));
                        break;
                    case 0x8d:
                        push(utf8(len64()));
                        break;
                    case 'T': {
                        int n = i32();
                        if (n < 0) {
                            throw error("negative BINSTRING length " + n);
                        }
                        push(latin1(n));
                        break;
                    }
                    case 'U':
                        push(latin1(u8()));
                        break;
                    case 'J':
                        push((long) i32());
                        break;
                    case 'K':
                        push((long) u8());
                        break;
                    case 'M':
                        push((long) u16());
                        break;
                    case 0x8a:
                        push(long1());
                        break;
                    case 'G': {
                        need(8);
                        long bits = 0;
                        for (int i = 0; i < 8; i++) {
                            bits = (bits << 8) | (in[pos++] & 0xff); // big-endian
                        }
                        push(Double.longBitsToDouble(bits));
                        break;
                    }
                    case 'N':
                        push(null);
                        break;
                    case 0x88:
                        push(Boolean.TRUE);
                        break;
                    case 0x89:
                        push(Boolean.FALSE);
                        break;
                    case 'q':
                        memoPut(u8());
                        break;
                    case 'r':
                        memoPut(u32());
                        break;
                    case 0x94:
                        memoPut(memo.size());
                        break;
                    case 'h':
                        push(memoGet(u8()));
                        break;
                    case 'j':
                        push(memoGet(u32()));
                        break;
                    case 'c': {
                        String module = line();
                        String name = line();
                        push(resolveGlobal(module, name));
                        break;
                    }
                    case 0x93: {
                        Object name = pop();
                        Object module = pop();
                        if (!(module instanceof String) || !(name instanceof String)) {
                            throw error("STACK_GLOBAL expects two strings");
                        }
                        push(resolveGlobal((String) module, (String) name));
                        break;
                    }
                    case 'R': {
                        Object args = pop();
                        Object func = pop();
                        push(call(func, args));
                        break;
                    }
                    case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
                        Object args = pop();
                        Object cls = pop();
                        if (!(cls instanceof Global) || !isOrderedDict((Global) cls)) {
                            throw error("NEWOBJ of unsupported class " + brief(cls));
                        }
                        push(new PDict());
                        break;
                    }
                    case 'b': { // BUILD: state of dicts (e.g. a state dict's _metadata) and tensors is dropped
                        Object state = pop();
                        Object obj = top();
                        if (!(obj instanceof Map) && !(obj instanceof TensorData)) {
                            throw error("BUILD on unsupported object " + typeName(obj)
                                    + " (state " + typeName(state) + ")");
                        }
                        break;
                    }
                    case 's': {
                        Object v = pop();
                        Object k = pop();
                        put(dict(top()), key(k), v);
                        break;
                    }
                    case 'u': {
                        int m = popMark();
                        PDict d = dict(stackAt(m - 1));
                        if ((stack.size() - m) % 2 != 0) {
                            throw error("SETITEMS with an odd number of items");
                        }
                        for (int i = m; i < stack.size(); i += 2) {
                            put(d, key(stack.get(i)), stack.get(i + 1));
                        }
                        truncate(m);
                        break;
                    }
                    case 'a': {
                        Object v = pop();
                        add(list(top()), v);
                        break;
                    }
                    case 'e': {
                        int m = popMark();
                        PList l = list(stackAt(m - 1));
                        for (Object v : stack.subList(m, stack.size())) {
                            add(l, v);
                        }
                        truncate(m);
                        break;
                    }
                    case 'Q':
                        push(persistentLoad(pop()));
                        break;
                    case '0':
                        pop();
                        break;
                    case '1':
                        truncate(popMark());
                        break;
                    case '.': {
                        Object result = pop();
                        checkPlainValue(result);
                        return result;
                    }
                    default: {
                        String name = OPCODE_NAMES[op];
                        String printable = op >= 0x20 && op < 0x7f ? " '" + (char) op + "'" : "";
                        throw error("unsupported pickle opcode 0x" + Integer.toHexString(op) + printable
                                + (name != null ? " (" + name + ")" : " (not a pickle opcode)"));
                    }
                }
            }
        }

        /**
         * Rejects VM-internal objects (bare globals, storages) that escaped into the result, and
         * containers nested deeper than {@link #MAX_DEPTH}. Iterative: no nesting can overflow the
         * Java stack here.
         */
        private void checkPlainValue(Object root) {
            IdentityHashMap<Object, Boolean> seen = new IdentityHashMap<>();
            ArrayDeque<Object[]> todo = new ArrayDeque<>();
            todo.push(new Object[] {root, 0});
            while (!todo.isEmpty()) {
                Object[] item = todo.pop();
                Object o = item[0];
                int depth = (Integer) item[1];
                if (o == null || o instanceof String || o instanceof Long || o instanceof Double
                        || o instanceof Boolean || o instanceof TensorData || seen.put(o, Boolean.TRUE) != null) {
                    continue;
                }
                if (depth >= MAX_DEPTH) {
                    throw error("the result nests containers deeper than " + MAX_DEPTH + " levels");
                }
                if (o instanceof Map) {
                    for (Object v : ((Map<?, ?>) o).values()) {
                        todo.push(new Object[] {v, depth + 1});
                    }
                } else if (o instanceof List) {
                    for (Object v : (List<?>) o) {
                        todo.push(new Object[] {v, depth + 1});
                    }
                } else {
                    throw error("result holds unsupported object " + brief(o));
                }
            }
        }

        // ---- operand decoding

        private void need(long n) {
            if (n > in.length - pos) {
                throw error("pickle truncated (needs " + n + " more bytes, " + (in.length - pos) + " left)");
            }
        }

        private int u8() {
            need(1);
            return in[pos++] & 0xff;
        }

        private int u16() {
            need(2);
            int v = (in[pos] & 0xff) | (in[pos + 1] & 0xff) << 8;
            pos += 2;
            return v;
        }

        private int i32() {
            need(4);
            int v = (in[pos] & 0xff) | (in[pos + 1] & 0xff) << 8 | (in[pos + 2] & 0xff) << 16 | in[pos + 3] << 24;
            pos += 4;
            return v;
        }

        /** A 4-byte unsigned length or memo index, which must fit an int. */
        private int u32() {
            int v = i32();
            if (v < 0) {
                throw error("length or index " + Integer.toUnsignedString(v) + " too large");
            }
            return v;
        }

        private int len64() {
            need(8);
            long v = 0;
            for (int i = 7; i >= 0; i--) {
                v = (v << 8) | (in[pos + i] & 0xff);
            }
            pos += 8;
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw error("length " + Long.toUnsignedString(v) + " too large");
            }
            return (int) v;
        }

        private Long long1() {
            int n = u8();
            if (n > 8) {
                throw error("LONG1 integer of " + n + " bytes does not fit 64 bits");
            }
            need(n);
            long v = 0;
            for (int i = n - 1; i >= 0; i--) {
                v = (v << 8) | (in[pos + i] & 0xff);
            }
            if (n > 0 && n < 8 && (in[pos + n - 1] & 0x80) != 0) {
                v |= -1L << (8 * n); // sign-extend two's complement
            }
            pos += n;
            return v;
        }

        private String utf8(int n) {
            need(n);
            String s = new String(in, pos, n, StandardCharsets.UTF_8);
            pos += n;
            return s;
        }

        private String latin1(int n) {
            need(n);
            String s = new String(in, pos, n, StandardCharsets.ISO_8859_1);
            pos += n;
            return s;
        }

        private String line() {
            int start = pos;
            while (pos < in.length && in[pos] != '\n') {
                pos++;
            }
            if (pos >= in.length) {
                throw error("GLOBAL operand without newline");
            }
            String s = new String(in, start, pos - start, StandardCharsets.UTF_8);
            pos++;
            return s;
        }

        // ---- stack, marks, memo

        private void push(Object o) {
            stack.add(o);
        }

        private Object pop() {
            if (stack.size() <= currentMarkFloor()) {
                throw error("pickle stack underflow");
            }
            return stack.remove(stack.size() - 1);
        }

        private Object top() {
            if (stack.size() <= currentMarkFloor()) {
                throw error("pickle stack underflow");
            }
            return stack.get(stack.size() - 1);
        }

        private int currentMarkFloor() {
            return markCount == 0 ? 0 : marks[markCount - 1];
        }

        private Object stackAt(int i) {
            if (i < 0) {
                throw error("pickle stack underflow");
            }
            return stack.get(i);
        }

        private int popMark() {
            if (markCount == 0) {
                throw error("no MARK on the stack");
            }
            return marks[--markCount];
        }

        private void truncate(int size) {
            stack.subList(size, stack.size()).clear();
        }

        private void memoPut(int i) {
            if (memo.size() >= MAX_MEMO && !memo.containsKey(i)) {
                throw error("more than " + MAX_MEMO + " memo entries");
            }
            memo.put(i, top());
        }

        private Object memoGet(int i) {
            Object v = memo.get(i);
            if (v == null && !memo.containsKey(i)) {
                throw error("memo entry " + i + " not defined");
            }
            return v;
        }

        private List<Object> tuple(Object... items) {
            int depth = 1;
            for (Object o : items) {
                depth = Math.max(depth, 1 + depthOf(o));
            }
            return new Tuple(items, checkDepth(depth));
        }

        private int checkDepth(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("containers nested deeper than " + MAX_DEPTH + " levels");
            }
            return depth;
        }

        private void add(PList l, Object v) {
            l.depth = checkDepth(Math.max(l.depth, 1 + depthOf(v)));
            l.add(v);
        }

        private void put(PDict d, String k, Object v) {
            d.depth = checkDepth(Math.max(d.depth, 1 + depthOf(v)));
            d.put(k, v);
        }

        private List<Object> tuple(int mark) {
            List<Object> items = stack.subList(mark, stack.size());
            List<Object> t = tuple(items.toArray());
            items.clear();
            return t;
        }

        private PDict dict(Object o) {
            if (!(o instanceof PDict)) {
                throw error("setting items on " + typeName(o) + ", not a dict");
            }
            return (PDict) o;
        }

        private PList list(Object o) {
            if (!(o instanceof PList)) {
                throw error("appending to " + typeName(o) + ", not a list");
            }
            return (PList) o;
        }

        private String key(Object k) {
            if (k instanceof String) {
                return (String) k;
            } else if (k instanceof Long || k instanceof Double) {
                return k.toString();
            } else if (k instanceof Boolean) {
                return (Boolean) k ? "True" : "False";
            } else if (k == null) {
                return "None";
            }
            throw error("unsupported dict key: " + typeName(k));
        }

        // ---- globals and calls

        private Object resolveGlobal(String module, String name) {
            Global g = new Global(module, name);
            if (isOrderedDict(g)) {
                return g;
            }
            if (module.equals("torch._utils") && (name.equals("_rebuild_tensor_v2")
                    || name.equals("_rebuild_tensor") || name.equals("_rebuild_parameter"))) {
                return g;
            }
            if (module.equals("torch") && name.endsWith("Storage")) {
                StorageKind kind = STORAGE_TYPES.get(name);
                if (kind == null) {
                    throw error("unsupported storage type torch." + clip(name) + " (supported: "
                            + String.join(", ", STORAGE_TYPES.keySet().stream().sorted().toList()) + ")");
                }
                return new StorageType(name, kind);
            }
            throw error("unsupported global " + clip(module) + "." + clip(name));
        }

        private boolean isOrderedDict(Global g) {
            return g.module().equals("collections") && g.name().equals("OrderedDict");
        }

        private Object call(Object func, Object argsObj) throws IOException {
            if (!(func instanceof Global)) {
                throw error("REDUCE on " + brief(func) + ", which cannot be called");
            }
            if (!(argsObj instanceof List)) {
                throw error("REDUCE arguments of " + brief(func) + " are " + typeName(argsObj) + ", not a tuple");
            }
            Global g = (Global) func;
            List<?> args = (List<?>) argsObj;
            if (isOrderedDict(g)) {
                PDict d = new PDict();
                if (args.size() == 1 && args.get(0) instanceof List) {
                    for (Object pair : (List<?>) args.get(0)) {
                        if (!(pair instanceof List) || ((List<?>) pair).size() != 2) {
                            throw error("OrderedDict argument is not a list of pairs");
                        }
                        put(d, key(((List<?>) pair).get(0)), ((List<?>) pair).get(1));
                    }
                } else if (!args.isEmpty()) {
                    throw error("unsupported OrderedDict arguments " + brief(args));
                }
                return d;
            }
            switch (g.name()) {
                case "_rebuild_tensor_v2":
                case "_rebuild_tensor": {
                    int min = g.name().equals("_rebuild_tensor") ? 4 : 6;
                    if (args.size() < min || args.size() > 7) {
                        throw error(g + " called with " + args.size() + " arguments");
                    }
                    return rebuildTensor(args.get(0), args.get(1), args.get(2), args.get(3));
                }
                case "_rebuild_parameter": {
                    if (args.isEmpty() || !(args.get(0) instanceof TensorData)) {
                        throw error(g + " expects a tensor as first argument");
                    }
                    return args.get(0);
                }
                default:
                    throw error("unsupported global " + g);
            }
        }

        /** Resolves {@code ('storage', storage_type, key, location, numel)}. */
        private Storage persistentLoad(Object pid) {
            if (!(pid instanceof List) || ((List<?>) pid).size() != 5 || !"storage".equals(((List<?>) pid).get(0))) {
                throw error("unsupported persistent id " + brief(pid)
                        + " (expected ('storage', type, key, location, numel))");
            }
            List<?> t = (List<?>) pid;
            if (!(t.get(1) instanceof StorageType) || !(t.get(2) instanceof String) || !(t.get(4) instanceof Long)) {
                throw error("malformed storage persistent id " + brief(t));
            }
            StorageType type = (StorageType) t.get(1);
            String key = (String) t.get(2);
            long numel = (Long) t.get(4);
            if (numel < 0 || numel > Integer.MAX_VALUE) {
                throw error("storage '" + clip(key) + "' of " + numel + " elements is out of range");
            }
            Storage s = storages.get(key);
            if (s == null) {
                storageElements += numel;
                s = new Storage(type, key, numel);
                storages.put(key, s);
            } else if (s.type.kind() != type.kind() || s.numel != numel) {
                throw error("storage '" + clip(key) + "' referenced as both " + s.type + "[" + s.numel + "] and "
                        + type + "[" + numel + "]");
            }
            return s;
        }

        private ByteBuffer bytes(Storage s) throws IOException {
            if (s.bytes == null) {
                String entryName = prefix + "data/" + s.key;
                ZipEntry e = zip.getEntry(entryName);
                if (e == null) {
                    throw error("archive entry " + clip(entryName) + " for " + s + " is missing");
                }
                long expected = s.numel * s.type.kind().bytes;
                if (e.getSize() != expected) {
                    throw error(s + " has " + e.getSize() + " bytes, expected " + s.numel + " elements of "
                            + s.type.kind().bytes + " bytes = " + expected);
                }
                byte[] b = readEntry(path, zip, e);
                s.bytes = ByteBuffer.wrap(b).order(order);
            }
            return s.bytes;
        }

        private TensorData rebuildTensor(Object storageObj, Object offsetObj, Object sizeObj, Object strideObj)
                throws IOException {
            if (!(storageObj instanceof Storage)) {
                throw error("tensor storage is " + typeName(storageObj) + ", not a storage");
            }
            if (!(offsetObj instanceof Long)) {
                throw error("tensor storage offset is " + typeName(offsetObj));
            }
            Storage s = (Storage) storageObj;
            long offset = (Long) offsetObj;
            long[] size = longs(sizeObj, "size");
            long[] stride = longs(strideObj, "stride");
            if (size.length != stride.length) {
                throw error("tensor size " + Arrays.toString(size) + " and stride " + Arrays.toString(stride)
                        + " differ in rank");
            }
            int[] shape = new int[size.length];
            long numel = 1;
            for (int i = 0; i < size.length; i++) {
                if (size[i] < 0 || size[i] > Integer.MAX_VALUE || stride[i] < 0) {
                    throw error("bad tensor size " + Arrays.toString(size) + " / stride " + Arrays.toString(stride));
                }
                shape[i] = (int) size[i];
                numel *= size[i];
                if (numel > Integer.MAX_VALUE) {
                    throw error("tensor of size " + Arrays.toString(size) + " is too large");
                }
            }
            if (numel > 0) {
                long last = offset;
                for (int i = 0; i < size.length; i++) {
                    last += (size[i] - 1) * stride[i];
                }
                if (offset < 0 || last >= s.numel) {
                    throw error("tensor (offset " + offset + ", size " + Arrays.toString(size) + ", stride "
                            + Arrays.toString(stride) + ") reaches outside " + s + " of " + s.numel + " elements");
                }
            }
            if (numel > s.numel) {
                throw error("tensor of size " + Arrays.toString(size) + " holds more elements than its " + s + " of "
                        + s.numel);
            }
            materialized += numel;
            if (materialized > MAX_VIEW_FACTOR * storageElements + (1 << 20)) {
                throw error("the tensors hold over " + materialized + " elements, more than " + MAX_VIEW_FACTOR
                        + " times the " + storageElements + " of their storages (views aliasing the same data)");
            }
            int n = (int) numel;
            StorageKind kind = s.type.kind();
            if (n == 0) {
                return kind.target == TensorData.DType.F32
                        ? TensorData.ofFloat(shape, new float[0]) : TensorData.ofLong(shape, new long[0]);
            }
            ByteBuffer b = bytes(s);
            boolean contiguous = isContiguous(size, stride);
            if (kind.target == TensorData.DType.F32) {
                float[] out = new float[n];
                if (contiguous && kind == StorageKind.FLOAT) {
                    b.asFloatBuffer().get((int) offset, out);
                } else {
                    int[] src = stridedIndices(size, stride, offset, n);
                    for (int i = 0; i < n; i++) {
                        out[i] = loadFloat(b, kind, src[i]);
                    }
                }
                return TensorData.ofFloat(shape, out);
            } else {
                long[] out = new long[n];
                if (contiguous && kind == StorageKind.LONG) {
                    b.asLongBuffer().get((int) offset, out);
                } else {
                    int[] src = stridedIndices(size, stride, offset, n);
                    for (int i = 0; i < n; i++) {
                        out[i] = loadLong(b, kind, src[i]);
                    }
                }
                return TensorData.ofLong(shape, out);
            }
        }

        private long[] longs(Object o, String what) {
            if (!(o instanceof List)) {
                throw error("tensor " + what + " is " + typeName(o) + ", not a tuple");
            }
            List<?> l = (List<?>) o;
            long[] r = new long[l.size()];
            for (int i = 0; i < r.length; i++) {
                if (!(l.get(i) instanceof Long)) {
                    throw error("tensor " + what + " " + brief(l) + " is not a tuple of ints");
                }
                r[i] = (Long) l.get(i);
            }
            return r;
        }
    }

    /** Row-major strides are contiguous; dims of size 1 may carry any stride. */
    private static boolean isContiguous(long[] size, long[] stride) {
        long expected = 1;
        for (int i = size.length - 1; i >= 0; i--) {
            if (size[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= size[i];
        }
        return true;
    }

    /** Storage element index of each element of the strided view, in row-major order. */
    private static int[] stridedIndices(long[] size, long[] stride, long offset, int n) {
        int rank = size.length;
        long[] idx = new long[rank];
        int[] src = new int[n];
        long at = offset;
        for (int i = 0; i < n; i++) {
            src[i] = (int) at;
            for (int d = rank - 1; d >= 0; d--) {
                if (++idx[d] < size[d]) {
                    at += stride[d];
                    break;
                }
                at -= stride[d] * (size[d] - 1);
                idx[d] = 0;
            }
        }
        return src;
    }

    private static float loadFloat(ByteBuffer b, StorageKind kind, int i) {
        switch (kind) {
            case FLOAT:
                return b.getFloat(i * 4);
            case DOUBLE:
                return (float) b.getDouble(i * 8);
            case HALF:
                return halfToFloat(b.getShort(i * 2));
            case BFLOAT16:
                return Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16);
            default:
                throw new IllegalStateException(kind.toString());
        }
    }

    private static long loadLong(ByteBuffer b, StorageKind kind, int i) {
        switch (kind) {
            case LONG:
                return b.getLong(i * 8);
            case INT:
                return b.getInt(i * 4);
            default:
                throw new IllegalStateException(kind.toString());
        }
    }

    /** IEEE binary16 to binary32 (exact). */
    static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            float v = mant * 0x1p-24f; // zero or subnormal
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
