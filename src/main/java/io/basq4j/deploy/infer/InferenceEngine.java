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
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntToLongFunction;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Runs a deployed network ({@link PackedNetwork}) on the CPU: one native call per unit (the fused
 * kernels of {@code infer.h}: folded batch norm, quantizer, convolution on the integer weight
 * codes, ReLU, skip, add), channels-last activations in buffers allocated once, no autograd
 * tape, no supernet branches.
 *
 * <p>Threads: the thread count is the OpenMP one ({@link CpuKernels#basq_set_num_threads}, the
 * CLI's {@code --threads}), read at every call. A batch of at least {@value #IMAGES_PER_LANE}
 * images per thread is split across the threads, each running its images through the whole
 * network (the kernels single-threaded, one join per batch: no barrier between units, which on
 * a shared machine costs a time slice whenever a thread is descheduled); smaller batches (a
 * single image: latency) run each unit on all threads.
 *
 * <p>Compile once for a largest batch; {@link #logits(float[], int, float[])} then runs any
 * number of images (in chunks of that batch) without allocating. Its answers agree with the
 * training library's evaluation path ({@link Supernet#forward} in evaluation mode) to float
 * rounding (see {@link PackedNetwork} on what is exact), whatever the thread count. One engine
 * runs one call at a time (the methods are synchronized); {@link #close()} frees its native
 * memory and stops its threads.
 */
public final class InferenceEngine implements AutoCloseable {
    /** The kinds of step, as {@link #profile()} reports them. */
    public static final List<String> KINDS = List.of("stem", "pointwise", "depthwise", "conv3x3", "maxpool", "head");
    /** Images per thread from which a batch is split across threads. */
    public static final int IMAGES_PER_LANE = 4;

    // buffers: three for activations, the input images, the logits, the head's pooled features
    private static final int INPUT = 3;
    private static final int LOGITS = 4;
    private static final int POOLED = 5;

    private final PackedNetwork net;
    private final int maxBatch;
    private final int inSize;
    private final List<Pointer> owned = new ArrayList<>();
    private final FloatPointer[] bufs = new FloatPointer[6];
    private final List<Step> steps = new ArrayList<>();
    private final Lane whole = new Lane(0);
    private Lane[] lanes = new Lane[0];
    private Thread[] workers = new Thread[0];
    private final Object lock = new Object();
    private int generation;
    private int pending;
    private int active;
    private int batchN;
    private Throwable failure;
    private volatile boolean closed;

    private final long[] profileNanos = new long[KINDS.size()];
    private final long[] profileCalls = new long[KINDS.size()];
    private boolean profiling;

    /** A kernel call on n images: x, res (or null) and y point at the lane's first image. */
    private interface Kernel {
        int call(int n, FloatPointer x, FloatPointer res, FloatPointer y, Pointer ws, long wsBytes);
    }

    /**
     * One kernel call of the network: the buffers it reads (x, res: -1 for none) and writes (y),
     * and its workspace for a number of threads.
     */
    private record Step(int kind, String name, int x, int res, int y, Kernel kernel, IntToLongFunction workspace) {
    }

    /**
     * Floats per image of each buffer's layout for lanes: a lane's images start at its first
     * image times this, whichever tensor the buffer holds at a step (an activation buffer holds
     * tensors of different sizes in turn, and lanes run their steps at their own pace).
     */
    private final long[] laneStride = new long[6];

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
            int h = (inSize + 2 * s.pad() - s.kernel()) / s.stride() + 1;
            if (h < 1) {
                throw new IllegalArgumentException("input size " + inSize + " too small for the stem");
            }
            int cur = 0; // buffer holding the current activation
            addStem(s, h, cur);
            int size = h;
            long largest = (long) h * h * s.cout(); // floats of the largest activation of one image
            if (s.maxPool()) {
                int hp = size;
                size = (size + 2 - 3) / 2 + 1;
                steps.add(new Step(4, "basq_infer_maxpool", cur, -1, 1,
                        (n, x, r, y, w, wb) -> CpuKernels.basq_infer_maxpool(x, n, hp, hp, s.cout(), 3, 2, 1, y),
                        t -> 0));
                cur = 1;
            }
            int qa = QuantBits.activationQp(net.bits());
            for (PackedNetwork.Block b : net.blocks()) {
                int blockIn = cur;
                List<PackedNetwork.Unit> units = b.units();
                for (int i = 0; i < units.size(); i++) {
                    boolean last = i == units.size() - 1;
                    int y = free(cur, blockIn);
                    addUnit(units.get(i), size, qa, cur, last && b.residual() ? blockIn : -1, y);
                    size = (size - 1) / units.get(i).stride() + 1;
                    largest = Math.max(largest, (long) size * size * units.get(i).cout());
                    cur = y;
                }
            }
            // the steps name their buffers by index; the buffers are looked up when they run
            for (int i = 0; i < 3; i++) {
                bufs[i] = floats(largest * maxBatch);
                laneStride[i] = largest;
            }
            bufs[INPUT] = floats((long) maxBatch * imageFloats());
            bufs[LOGITS] = floats((long) maxBatch * net.classes());
            bufs[POOLED] = floats((long) maxBatch * net.head().channels());
            laneStride[INPUT] = imageFloats();
            laneStride[LOGITS] = net.classes();
            laneStride[POOLED] = net.head().channels();
            addHead(net.head(), size * size, cur);
            whole.ensureWorkspace(Math.max(1, CpuKernels.basq_num_threads()));
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

    private void addStem(PackedNetwork.Stem s, int out, int y) {
        BytePointer packed = bytes(CpuKernels.basq_infer_packed_bytes_stem(s.cin(), s.cout(), s.kernel()));
        try (FloatPointer w = new FloatPointer(s.weight())) {
            Kernels.check(CpuKernels.basq_infer_pack_stem(w, s.cin(), s.cout(), s.kernel(), packed),
                    "basq_infer_pack_stem");
        }
        FloatPointer bn = floats(s.bn());
        steps.add(new Step(0, "basq_infer_stem", INPUT, -1, y,
                (n, x, r, o, w, wb) -> CpuKernels.basq_infer_stem(x, n, s.cin(), inSize, inSize, packed, s.cout(),
                        s.kernel(), s.stride(), s.pad(), bn, o, w, wb),
                t -> CpuKernels.basq_infer_stem_workspace(maxBatch, s.cin(), inSize, inSize, s.cout(), s.kernel(),
                        s.stride(), s.pad(), t)));
    }

    private void addUnit(PackedNetwork.Unit u, int h, int qa, int x, int res, int y) {
        FloatPointer pro = floats(u.pro());
        FloatPointer epi = floats(u.epi());
        BytePointer codes = bytes(u.codes().length);
        codes.put(u.codes());
        int cin = u.cin();
        int cout = u.cout();
        int stride = u.stride();
        int bits = net.bits();
        float top = u.top();
        switch (u.kind()) {
            case POINTWISE -> {
                BytePointer packed = bytes(CpuKernels.basq_infer_packed_bytes_pw(cin, cout));
                Kernels.check(CpuKernels.basq_infer_pack_pw(codes, cin, cout, packed), "basq_infer_pack_pw");
                steps.add(new Step(1, "basq_infer_pw_unit", x, res, y,
                        (n, xp, rp, yp, w, wb) -> CpuKernels.basq_infer_pw_unit(xp, n * h * h, cin, cout, pro, qa,
                                packed, epi, rp, yp, w, wb),
                        t -> CpuKernels.basq_infer_pw_workspace(maxBatch * h * h, cin, cout, t)));
            }
            case DEPTHWISE -> {
                BytePointer packed = bytes(CpuKernels.basq_infer_packed_bytes_dw(cin));
                Kernels.check(CpuKernels.basq_infer_pack_dw(codes, cin, packed), "basq_infer_pack_dw");
                steps.add(new Step(2, "basq_infer_dw_unit", x, res, y,
                        (n, xp, rp, yp, w, wb) -> CpuKernels.basq_infer_dw_unit(xp, n, h, h, cin, stride, pro, top,
                                bits, packed, epi, rp, yp, w, wb),
                        t -> CpuKernels.basq_infer_dw_workspace(maxBatch, h, h, cin, stride, t)));
            }
            case CONV3X3 -> {
                BytePointer packed = bytes(CpuKernels.basq_infer_packed_bytes_conv(cin, cout));
                Kernels.check(CpuKernels.basq_infer_pack_conv(codes, cin, cout, packed), "basq_infer_pack_conv");
                steps.add(new Step(3, "basq_infer_conv_unit", x, res, y,
                        (n, xp, rp, yp, w, wb) -> CpuKernels.basq_infer_conv_unit(xp, n, h, h, cin, cout, stride, pro,
                                top, packed, epi, rp, yp, w, wb),
                        t -> CpuKernels.basq_infer_conv_workspace(maxBatch, h, h, cin, cout, stride, t)));
            }
            default -> throw new IllegalStateException();
        }
    }

    private void addHead(PackedNetwork.Head h, int hw, int x) {
        FloatPointer w = floats(h.weight());
        FloatPointer b = floats(h.bias());
        int c = h.channels();
        // the pooled features are the head's scratch (the "res" slot)
        steps.add(new Step(5, "basq_infer_head", x, POOLED, LOGITS,
                (n, xp, pooled, out, ws, wb) -> CpuKernels.basq_infer_head(xp, n, hw, c, w, b, h.classes(), out,
                        pooled),
                t -> 0));
    }

    /**
     * Runs every step on images [i0, i0 + n) of the buffers, with its own views of them (so that
     * lanes run concurrently without sharing a pointer's position) and its own workspace.
     */
    private final class Lane {
        final int index;
        final FloatPointer[] views = new FloatPointer[bufs.length];
        Pointer ws;
        long wsBytes;
        int wsThreads;

        Lane(int index) {
            this.index = index;
        }

        /** Workspace for {@code threads} threads (grown when they rise, never per call). */
        void ensureWorkspace(int threads) {
            if (ws != null && threads <= wsThreads) {
                return;
            }
            long need = 1;
            for (Step s : steps) {
                need = Math.max(need, s.workspace().applyAsLong(threads));
            }
            if (ws != null) {
                owned.remove(ws);
                ws.deallocate();
            }
            ws = bytes(need);
            wsBytes = need;
            wsThreads = threads;
        }

        /** Buffer b from image i0 of this lane's layout. */
        private FloatPointer view(int b, int i0) {
            if (b < 0) {
                return null;
            }
            if (views[b] == null) {
                views[b] = new FloatPointer(bufs[b]);
            }
            views[b].position(i0 * laneStride[b]);
            return views[b];
        }

        void run(int i0, int n, boolean account) {
            for (Step s : steps) {
                long t0 = account ? System.nanoTime() : 0;
                Kernels.check(s.kernel().call(n, view(s.x(), i0), view(s.res(), i0), view(s.y(), i0), ws, wsBytes),
                        s.name());
                if (account) {
                    profileNanos[s.kind()] += System.nanoTime() - t0;
                    profileCalls[s.kind()]++;
                }
            }
        }
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
            bufs[INPUT].position(0).put(images, i * per, b * per);
            run(b);
            bufs[LOGITS].position(0).get(out, i * k, b * k);
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
            Pointer.memcpy(bufs[INPUT].position(0), xp.getPointer((long) i * per), (long) b * per * Float.BYTES);
            run(b);
            Pointer.memcpy(op.getPointer((long) i * k), bufs[LOGITS].position(0), (long) b * k * Float.BYTES);
        }
        return out;
    }

    /** One batch of n <= maxBatch images from the input buffer to the logits buffer. */
    private void run(int n) {
        int threads = Math.max(1, CpuKernels.basq_num_threads());
        int split = Math.min(threads, n / IMAGES_PER_LANE);
        if (split <= 1) {
            whole.ensureWorkspace(threads);
            whole.run(0, n, profiling);
            return;
        }
        ensureLanes(split);
        synchronized (lock) {
            active = split;
            batchN = n;
            failure = null;
            pending = workers.length;
            generation++;
            lock.notifyAll();
        }
        Throwable mine = null;
        try {
            runLane(0);
        } catch (RuntimeException | Error e) {
            mine = e;
        }
        synchronized (lock) {
            while (pending > 0) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while the engine's threads run", e);
                }
            }
        }
        Throwable f = mine != null ? mine : failure;
        if (f instanceof RuntimeException re) {
            throw re;
        }
        if (f instanceof Error er) {
            throw er;
        }
    }

    /** Lane k's images of the current batch: an even split, the first lanes one more. */
    private void runLane(int k) {
        int n = batchN;
        int base = n / active;
        int extra = n % active;
        int i0 = k * base + Math.min(k, extra);
        int count = base + (k < extra ? 1 : 0);
        lanes[k].run(i0, count, profiling && k == 0);
    }

    /** At least {@code count} lanes with one-thread workspaces, and count - 1 worker threads. */
    private void ensureLanes(int count) {
        if (lanes.length < count) {
            Lane[] more = Arrays.copyOf(lanes, count);
            for (int k = lanes.length; k < count; k++) {
                more[k] = new Lane(k);
                more[k].ensureWorkspace(1);
            }
            lanes = more;
        }
        if (workers.length < count - 1) {
            Thread[] more = Arrays.copyOf(workers, count - 1);
            int now;
            synchronized (lock) {
                now = generation; // a new worker waits for the next batch, whenever it starts running
            }
            for (int k = workers.length; k < count - 1; k++) {
                int lane = k + 1;
                more[k] = new Thread(() -> work(lane, now), "basq4j-infer-" + lane);
                more[k].setDaemon(true);
                more[k].start();
            }
            synchronized (lock) {
                workers = more;
            }
        }
    }

    /** A worker thread: runs its lane whenever a new batch is posted, until the engine closes. */
    private void work(int lane, int seenGeneration) {
        int seen = seenGeneration;
        while (true) {
            synchronized (lock) {
                while (generation == seen && !closed) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        if (closed) {
                            return;
                        }
                    }
                }
                if (closed) {
                    return;
                }
                seen = generation;
            }
            try {
                if (lane < active) {
                    runLane(lane);
                }
            } catch (RuntimeException | Error e) {
                synchronized (lock) {
                    failure = e;
                }
            } finally {
                synchronized (lock) {
                    if (--pending == 0) {
                        lock.notifyAll();
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ profiling, closing

    /** Starts (and clears) or stops timing each step; off by default. */
    public synchronized void setProfiling(boolean on) {
        profiling = on;
        Arrays.fill(profileNanos, 0);
        Arrays.fill(profileCalls, 0);
    }

    /**
     * Per kind of step ({@link #KINDS}): calls and seconds since profiling was switched on (of the
     * first thread's share when a batch is split across threads).
     */
    public synchronized Map<String, double[]> profile() {
        Map<String, double[]> m = new LinkedHashMap<>();
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
        synchronized (lock) {
            closed = true;
            lock.notifyAll();
        }
        for (Thread t : workers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Pointer p : owned) {
            p.deallocate();
        }
        owned.clear();
    }
}
