package io.basq4j.deploy.infer;

import io.basq4j.deploy.SavedModel;
import io.basq4j.kernels.CpuKernels;
import io.basq4j.kernels.Kernels;
import io.basq4j.models.Supernet;
import io.basq4j.nn.quant.QuantBits;
import io.basq4j.tensor.DType;
import io.basq4j.tensor.Device;
import io.basq4j.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Runs a deployed network ({@link PackedNetwork}) on the CPU: one native call per unit (the fused
 * kernels of {@code infer.h}: folded batch norm, quantizer, convolution on the integer weight
 * codes, ReLU, skip, add), channels-last activations in buffers allocated once, no autograd
 * tape, no supernet branches. The kernels use the OpenMP thread count
 * ({@link CpuKernels#basq_set_num_threads}, the CLI's {@code --threads}).
 *
 * <p>Compile once for a largest batch; {@link #logits(float[], int, float[])} then runs any
 * number of images (in chunks of that batch) without allocating. Its answers agree with the
 * training library's evaluation path ({@link Supernet#forward} in evaluation mode) to float
 * rounding (see {@link PackedNetwork} on what is exact). One engine runs one call at a time
 * (the methods are synchronized); {@link #close()} frees its native memory.
 */
public final class InferenceEngine implements AutoCloseable {
    private final PackedNetwork net;
    private final int maxBatch;
    private final int inSize;
    private final List<Pointer> owned = new ArrayList<>();
    private final FloatPointer input;
    private final FloatPointer logitsBuf;
    private final FloatPointer headWs;
    private final StemOp stem;
    private final List<Op> ops = new ArrayList<>();
    private final HeadOp head;
    private Pointer ws;
    private long wsBytes;
    private int wsThreads;
    private boolean closed;

    /** A unit or pooling step between the stem and the head. */
    private interface Op {
        void run(int n, Pointer ws, long wsBytes);

        long workspace(int threads);

        /** Index into {@link #KINDS}. */
        int kind();
    }

    /** The kinds of step, as {@link #profile()} reports them. */
    public static final List<String> KINDS = List.of("stem", "pointwise", "depthwise", "conv3x3", "maxpool", "head");

    private final long[] profileNanos = new long[KINDS.size()];
    private final long[] profileCalls = new long[KINDS.size()];
    private boolean profiling;

    // ------------------------------------------------------------------ compiling

    /** Compiles the network {@code selection} picks out of {@code net} for batches up to {@code maxBatch}. */
    public static InferenceEngine compile(Supernet net, int[] selection, int maxBatch) {
        return compile(PackedNetwork.of(net, selection, Map.of()), maxBatch);
    }

    /** Compiles a saved model's network. */
    public static InferenceEngine compile(SavedModel model, int maxBatch) {
        return compile(PackedNetwork.of(model), maxBatch);
    }

    /** Loads a packed file ({@link PackedFormat}) and compiles it. */
    public static InferenceEngine load(Path packedFile, int maxBatch) {
        return compile(PackedFormat.read(packedFile), maxBatch);
    }

    public static InferenceEngine compile(PackedNetwork net, int maxBatch) {
        if (maxBatch < 1) {
            throw new IllegalArgumentException("largest batch " + maxBatch + " must be at least 1");
        }
        CpuKernels.load();
        return new InferenceEngine(net, maxBatch);
    }

    private InferenceEngine(PackedNetwork net, int maxBatch) {
        this.net = net;
        this.maxBatch = maxBatch;
        this.inSize = net.resolution();
        try {
            PackedNetwork.Stem s = net.stem();
            input = floats((long) maxBatch * net.inChannels() * inSize * inSize);
            int h = (inSize + 2 * s.pad() - s.kernel()) / s.stride() + 1;
            if (h < 1) {
                throw new IllegalArgumentException("input size " + inSize + " too small for the stem");
            }
            long largest = (long) h * h * s.cout();
            int size = h;
            if (s.maxPool()) {
                size = (size + 2 - 3) / 2 + 1;
            }
            for (PackedNetwork.Block b : net.blocks()) {
                for (PackedNetwork.Unit u : b.units()) {
                    size = (size - 1) / u.stride() + 1;
                    largest = Math.max(largest, (long) size * size * u.cout());
                }
            }
            long bufFloats = largest * maxBatch;
            FloatPointer[] act = {floats(bufFloats), floats(bufFloats), floats(bufFloats)};
            int cur = 0; // buffer holding the current activation
            stem = new StemOp(s, h, act[cur]);
            size = h;
            if (s.maxPool()) {
                int next = 1;
                int hp = size;
                FloatPointer px = act[cur];
                FloatPointer py = act[next];
                ops.add(new Step(4, "basq_infer_maxpool", (n, w, wb) -> CpuKernels.basq_infer_maxpool(px, n, hp, hp,
                        s.cout(), 3, 2, 1, py), t -> 0));
                cur = next;
                size = (size + 2 - 3) / 2 + 1;
            }
            int qa = QuantBits.activationQp(net.bits());
            for (PackedNetwork.Block b : net.blocks()) {
                int blockIn = cur;
                int x = cur;
                List<PackedNetwork.Unit> units = b.units();
                for (int i = 0; i < units.size(); i++) {
                    PackedNetwork.Unit u = units.get(i);
                    boolean last = i == units.size() - 1;
                    FloatPointer res = last && b.residual() ? act[blockIn] : null;
                    int y = free(x, blockIn);
                    ops.add(unitOp(u, size, qa, act[x], res, act[y]));
                    size = (size - 1) / u.stride() + 1;
                    x = y;
                }
                cur = x;
            }
            head = new HeadOp(net.head(), size * size, act[cur]);
            logitsBuf = floats((long) maxBatch * net.classes());
            headWs = floats((long) maxBatch * net.head().channels());
            ensureWorkspace();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** A buffer that is neither {@code a} nor {@code b}. */
    private static int free(int a, int b) {
        for (int i = 0; i < 3; i++) {
            if (i != a && i != b) {
                return i;
            }
        }
        throw new IllegalStateException();
    }

    private FloatPointer floats(long n) {
        FloatPointer p = new FloatPointer(Math.max(1, n));
        owned.add(p);
        return p;
    }

    private FloatPointer floats(float[] v) {
        FloatPointer p = floats(v.length);
        p.put(v);
        return p;
    }

    private BytePointer bytes(long n) {
        BytePointer p = new BytePointer(Math.max(1, n));
        owned.add(p);
        return p;
    }

    private Op unitOp(PackedNetwork.Unit u, int h, int qa, FloatPointer x, FloatPointer res, FloatPointer y) {
        FloatPointer pro = floats(u.pro());
        FloatPointer epi = floats(u.epi());
        BytePointer codes = bytes(u.codes().length);
        codes.put(u.codes());
        int cin = u.cin();
        int cout = u.cout();
        int stride = u.stride();
        int bits = net.bits();
        float top = u.top();
        return switch (u.kind()) {
            case POINTWISE -> {
                BytePointer packed = bytes(CpuKernels.basq_infer_packed_bytes_pw(cin, cout));
                Kernels.check(CpuKernels.basq_infer_pack_pw(codes, cin, cout, packed), "basq_infer_pack_pw");
                yield new Step(1, "basq_infer_pw_unit", (n, w, wb) -> CpuKernels.basq_infer_pw_unit(x, n * h * h, cin,
                        cout, pro, qa, packed, epi, res, y, w, wb),
                        t -> CpuKernels.basq_infer_pw_workspace(maxBatch * h * h, cin, cout, t));
            }
            case DEPTHWISE -> {
                BytePointer packed = bytes(CpuKernels.basq_infer_packed_bytes_dw(cin));
                Kernels.check(CpuKernels.basq_infer_pack_dw(codes, cin, packed), "basq_infer_pack_dw");
                yield new Step(2, "basq_infer_dw_unit", (n, w, wb) -> CpuKernels.basq_infer_dw_unit(x, n, h, h, cin,
                        stride, pro, top, bits, packed, epi, res, y, w, wb),
                        t -> CpuKernels.basq_infer_dw_workspace(maxBatch, h, h, cin, stride, t));
            }
            case CONV3X3 -> {
                BytePointer packed = bytes(CpuKernels.basq_infer_packed_bytes_conv(cin, cout));
                Kernels.check(CpuKernels.basq_infer_pack_conv(codes, cin, cout, packed), "basq_infer_pack_conv");
                yield new Step(3, "basq_infer_conv_unit", (n, w, wb) -> CpuKernels.basq_infer_conv_unit(x, n, h, h,
                        cin, cout, stride, pro, top, packed, epi, res, y, w, wb),
                        t -> CpuKernels.basq_infer_conv_workspace(maxBatch, h, h, cin, cout, stride, t));
            }
        };
    }

    /** One kernel call: its kind, its name (for errors), the call for n images, its workspace per thread count. */
    private static final class Step implements Op {
        interface Call {
            int run(int n, Pointer ws, long wsBytes);
        }

        private final int kind;
        private final String name;
        private final Call call;
        private final java.util.function.IntToLongFunction workspace;

        Step(int kind, String name, Call call, java.util.function.IntToLongFunction workspace) {
            this.kind = kind;
            this.name = name;
            this.call = call;
            this.workspace = workspace;
        }

        @Override
        public void run(int n, Pointer ws, long wsBytes) {
            Kernels.check(call.run(n, ws, wsBytes), name);
        }

        @Override
        public long workspace(int threads) {
            return workspace.applyAsLong(threads);
        }

        @Override
        public int kind() {
            return kind;
        }
    }

    private final class StemOp {
        final PackedNetwork.Stem s;
        final int out;
        final BytePointer packed;
        final FloatPointer bn;
        final FloatPointer y;

        StemOp(PackedNetwork.Stem s, int out, FloatPointer y) {
            this.s = s;
            this.out = out;
            this.y = y;
            try (FloatPointer w = new FloatPointer(s.weight())) {
                packed = bytes(CpuKernels.basq_infer_packed_bytes_stem(s.cin(), s.cout(), s.kernel()));
                Kernels.check(CpuKernels.basq_infer_pack_stem(w, s.cin(), s.cout(), s.kernel(), packed),
                        "basq_infer_pack_stem");
            }
            bn = floats(s.bn());
        }

        void run(FloatPointer x, int n, Pointer w, long wb) {
            Kernels.check(CpuKernels.basq_infer_stem(x, n, s.cin(), inSize, inSize, packed, s.cout(), s.kernel(),
                    s.stride(), s.pad(), bn, y, w, wb), "basq_infer_stem");
        }

        long workspace(int threads) {
            return CpuKernels.basq_infer_stem_workspace(maxBatch, s.cin(), inSize, inSize, s.cout(), s.kernel(),
                    s.stride(), s.pad(), threads);
        }
    }

    private final class HeadOp {
        final PackedNetwork.Head h;
        final int hw;
        final FloatPointer x;
        final FloatPointer w;
        final FloatPointer b;

        HeadOp(PackedNetwork.Head h, int hw, FloatPointer x) {
            this.h = h;
            this.hw = hw;
            this.x = x;
            w = floats(h.weight());
            b = floats(h.bias());
        }

        void run(int n, FloatPointer out) {
            Kernels.check(CpuKernels.basq_infer_head(x, n, hw, h.channels(), w, b, h.classes(), out, headWs),
                    "basq_infer_head");
        }
    }

    /** Workspace for the current thread count (grown, never per call, when it rises). */
    private void ensureWorkspace() {
        int threads = Math.max(1, CpuKernels.basq_num_threads());
        if (ws != null && threads <= wsThreads) {
            return;
        }
        long need = stem.workspace(threads);
        for (Op o : ops) {
            need = Math.max(need, o.workspace(threads));
        }
        if (ws != null) {
            owned.remove(ws);
            ws.deallocate();
        }
        ws = bytes(need);
        wsBytes = Math.max(1, need);
        wsThreads = threads;
    }

    // ------------------------------------------------------------------ running

    public PackedNetwork network() {
        return net;
    }

    public int maxBatch() {
        return maxBatch;
    }

    public int classes() {
        return net.classes();
    }

    public int inChannels() {
        return net.inChannels();
    }

    /** The input size the engine runs (height = width). */
    public int resolution() {
        return inSize;
    }

    /** Floats of one input image (channels x size x size). */
    public int imageFloats() {
        return net.inChannels() * inSize * inSize;
    }

    /**
     * Logits of {@code n} images: {@code images} holds them as [n, channels, size, size] (NCHW,
     * from index 0), {@code out} receives [n, classes]. Any n; no allocation.
     */
    public synchronized void logits(float[] images, int n, float[] out) {
        checkOpen();
        int per = imageFloats();
        int k = net.classes();
        if (n < 0 || (long) n * per > images.length || (long) n * k > out.length) {
            throw new IllegalArgumentException(n + " images need " + (long) n * per + " input floats (have "
                    + images.length + ") and " + (long) n * k + " output floats (have " + out.length + ")");
        }
        for (int i = 0; i < n; i += maxBatch) {
            int b = Math.min(maxBatch, n - i);
            input.position(0).put(images, i * per, b * per);
            run(input, b, logitsBuf);
            logitsBuf.position(0).get(out, i * k, b * k);
        }
    }

    /** Logits [N, classes] of a CPU tensor [N, channels, size, size]; the result belongs to the caller's scope. */
    public synchronized Tensor logits(Tensor x) {
        checkOpen();
        if (x.device() != Device.CPU || x.dtype() != DType.F32 || x.rank() != 4 || x.dim(1) != net.inChannels()
                || x.dim(2) != inSize || x.dim(3) != inSize) {
            throw new IllegalArgumentException("input " + x.shape() + " must be a CPU float tensor [N, "
                    + net.inChannels() + ", " + inSize + ", " + inSize + "]");
        }
        int n = x.dim(0);
        Tensor out = Tensor.empty(Device.CPU, n, net.classes());
        int per = imageFloats();
        int k = net.classes();
        FloatPointer xp = x.ptr();
        FloatPointer op = out.ptr();
        for (int i = 0; i < n; i += maxBatch) {
            int b = Math.min(maxBatch, n - i);
            Pointer.memcpy(input, xp.getPointer((long) i * per), (long) b * per * Float.BYTES);
            run(input, b, logitsBuf);
            Pointer.memcpy(op.getPointer((long) i * k), logitsBuf, (long) b * k * Float.BYTES);
        }
        return out;
    }

    private void run(FloatPointer x, int n, FloatPointer out) {
        ensureWorkspace();
        x.position(0);
        out.position(0);
        if (profiling) {
            runProfiled(x, n, out);
            return;
        }
        stem.run(x, n, ws, wsBytes);
        for (Op o : ops) {
            o.run(n, ws, wsBytes);
        }
        head.run(n, out);
    }

    private void runProfiled(FloatPointer x, int n, FloatPointer out) {
        long t = System.nanoTime();
        stem.run(x, n, ws, wsBytes);
        t = account(0, t);
        for (Op o : ops) {
            o.run(n, ws, wsBytes);
            t = account(o.kind(), t);
        }
        head.run(n, out);
        account(5, t);
    }

    private long account(int kind, long since) {
        long now = System.nanoTime();
        profileNanos[kind] += now - since;
        profileCalls[kind]++;
        return now;
    }

    /** Starts (and clears) or stops timing each step; off by default. */
    public synchronized void setProfiling(boolean on) {
        profiling = on;
        java.util.Arrays.fill(profileNanos, 0);
        java.util.Arrays.fill(profileCalls, 0);
    }

    /** Per kind of step ({@link #KINDS}): calls and seconds since profiling was switched on. */
    public synchronized Map<String, double[]> profile() {
        Map<String, double[]> m = new java.util.LinkedHashMap<>();
        for (int k = 0; k < KINDS.size(); k++) {
            if (profileCalls[k] > 0) {
                m.put(KINDS.get(k), new double[] {profileCalls[k], profileNanos[k] / 1e9});
            }
        }
        return m;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("inference engine is closed");
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Pointer p : owned) {
            p.deallocate();
        }
        owned.clear();
    }
}
