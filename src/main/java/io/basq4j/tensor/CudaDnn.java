package io.basq4j.tensor;

import static org.bytedeco.cuda.global.cudnn.*;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdDataAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdFilterAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionFwdAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * cuDNN convolutions (forward, backward data, backward filter; any group count, depthwise
 * included) on the backend's stream. The first call of a geometry and direction (and TF32,
 * determinism and algorithm mode: {@link CudaMath}) walks cuDNN's heuristic ranking of the
 * algorithms that qualify ({@link CudnnCandidates#usable}) and keeps the first that runs: one
 * whose workspace query or run says NOT_SUPPORTED, or whose workspace cannot be had, passes to
 * the next. That choice and the descriptors are cached, in a least-recently-used map of at most
 * {@code -Dbasq4j.cuda.convPlans} entries (default 512; evicted plans' descriptors are
 * destroyed), so that the search's many batch shapes do not grow it without bound. Every error
 * names the algorithm; {@code BASQ4J_DEBUG=1} (or {@code -Dbasq4j.debug=true}) prints a line per
 * choice. Workspaces come from the backend's caching allocator, at most the given limit.
 */
final class CudaDnn {
    static final int FWD = CudnnCandidates.FWD, BWD_DATA = CudnnCandidates.BWD_DATA,
            BWD_FILTER = CudnnCandidates.BWD_FILTER;
    private static final String[] CALLS = {"cudnnConvolutionForward", "cudnnConvolutionBackwardData",
        "cudnnConvolutionBackwardFilter"};
    private static final boolean DEBUG =
            "1".equals(System.getenv("BASQ4J_DEBUG")) || Boolean.getBoolean("basq4j.debug");

    private final cudnnContext handle = new cudnnContext();
    private final CachingAllocator allocator;
    private final long workspaceLimit;
    private final int maxPlans;
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);
    private final SizeTPointer size = new SizeTPointer(1);
    private final Map<Key, Plan> plans;

    private record Key(ConvGeom g, int dir, boolean tf32, boolean deterministic, CudaMath.Algorithms algorithms) {
    }

    /** Descriptors and the chosen algorithm of one geometry and direction. */
    private static final class Plan {
        final cudnnTensorStruct x = new cudnnTensorStruct();
        final cudnnTensorStruct y = new cudnnTensorStruct();
        final cudnnFilterStruct w = new cudnnFilterStruct();
        final cudnnConvolutionStruct conv = new cudnnConvolutionStruct();
        int created; // descriptors created so far (destroyed in reverse)
        int algo;
        int math;
        long workspace;
        String label; // "IMPLICIT_PRECOMP_GEMM, FMA_MATH"
    }

    CudaDnn(CUstream_st stream, CachingAllocator allocator, long workspaceLimit) {
        this.allocator = allocator;
        this.workspaceLimit = workspaceLimit;
        this.maxPlans = Math.max(1, Integer.getInteger("basq4j.cuda.convPlans", 512));
        this.plans = new LinkedHashMap<>(64, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<Key, Plan> eldest) {
                if (size() > maxPlans) {
                    destroy(eldest.getValue());
                    return true;
                }
                return false;
            }
        };
        check(cudnnCreate(handle), "cudnnCreate");
        check(cudnnSetStream(handle, stream), "cudnnSetStream");
    }

    static String version() {
        return Long.toString(cudnnGetVersion());
    }

    /** Plans cached now (at most the configured bound). */
    synchronized int planCount() {
        return plans.size();
    }

    synchronized void run(int dir, ConvGeom g, long a, long b, long out) {
        Key key = new Key(g, dir, CudaMath.convTf32(), CudaMath.deterministic(), CudaMath.algorithms());
        Plan p = plans.get(key);
        if (p != null) {
            int st = execute(p, dir, a, b, out, p.algo, p.workspace);
            if (st != CUDNN_STATUS_SUCCESS) {
                throw new IllegalStateException(what(dir, g) + " with algorithm " + p.label + " failed: "
                        + statusString(st) + CudnnCandidates.hint(st));
            }
            return;
        }
        p = new Plan();
        try {
            describe(p, g);
            choose(p, key, a, b, out);
        } catch (RuntimeException | Error e) {
            destroy(p);
            throw e;
        }
        plans.put(key, p);
    }

    private static String what(int dir, ConvGeom g) {
        return CALLS[dir] + " (" + CudnnCandidates.direction(dir) + ") for " + g;
    }

    private void describe(Plan p, ConvGeom g) {
        check(cudnnCreateTensorDescriptor(p.x), "cudnnCreateTensorDescriptor");
        p.created++;
        check(cudnnCreateTensorDescriptor(p.y), "cudnnCreateTensorDescriptor");
        p.created++;
        check(cudnnCreateFilterDescriptor(p.w), "cudnnCreateFilterDescriptor");
        p.created++;
        check(cudnnCreateConvolutionDescriptor(p.conv), "cudnnCreateConvolutionDescriptor");
        p.created++;
        check(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.cin(), g.h(), g.w()),
                "cudnnSetTensor4dDescriptor(x)");
        check(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.cout(), g.ho(), g.wo()),
                "cudnnSetTensor4dDescriptor(y)");
        check(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.cout(), g.cin() / g.groups(),
                g.kh(), g.kw()), "cudnnSetFilter4dDescriptor");
        check(cudnnSetConvolution2dDescriptor(p.conv, g.ph(), g.pw(), g.sh(), g.sw(), 1, 1, CUDNN_CROSS_CORRELATION,
                CUDNN_DATA_FLOAT), "cudnnSetConvolution2dDescriptor");
        check(cudnnSetConvolutionGroupCount(p.conv, g.groups()), "cudnnSetConvolutionGroupCount");
    }

    /** Walks the ranked candidates; the first that runs has computed {@code out} and becomes the plan. */
    private void choose(Plan p, Key key, long a, long b, long out) {
        int dir = key.dir();
        check(cudnnSetConvolutionMathType(p.conv, key.tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
                "cudnnSetConvolutionMathType");
        List<CudnnCandidates.Candidate> ranked = ranking(p, dir);
        List<String> skipped = new ArrayList<>();
        List<CudnnCandidates.Candidate> usable = CudnnCandidates.usable(dir, ranked, key.tf32(), key.deterministic(),
                key.algorithms() == CudaMath.Algorithms.DIRECT_SUM, workspaceLimit, skipped);
        CudnnCandidates.Choice c = CudnnCandidates.walk(dir, usable, cand -> {
            int math = key.tf32() ? cand.math() : CUDNN_FMA_MATH;
            int st = cudnnSetConvolutionMathType(p.conv, math);
            if (st != CUDNN_STATUS_SUCCESS) {
                return st;
            }
            st = workspaceSize(p, dir, cand.algo());
            if (st != CUDNN_STATUS_SUCCESS) {
                return st;
            }
            long ws = size.get();
            if (ws > workspaceLimit) {
                throw new CudnnCandidates.WorkspaceUnavailable("needs " + CudnnCandidates.mib(ws) + " (limit "
                        + CudnnCandidates.mib(workspaceLimit) + ", -Dbasq4j.cuda.convWorkspaceMiB)");
            }
            st = execute(p, dir, a, b, out, cand.algo(), ws);
            if (st == CUDNN_STATUS_SUCCESS) {
                p.algo = cand.algo();
                p.math = math;
                p.workspace = ws;
            }
            return st;
        }, what(dir, key.g()), CudaDnn::statusString, skipped);
        p.label = CudnnCandidates.name(dir, p.algo) + ", " + CudnnCandidates.mathName(p.math);
        if (DEBUG) {
            System.err.printf("cudnn: %s %s: %s, workspace %s (candidate %d of %d%s)%n",
                    CudnnCandidates.direction(dir), key.g(), p.label, CudnnCandidates.mib(p.workspace),
                    c.index() + 1, usable.size(), c.failed().isEmpty() ? "" : "; failed: "
                            + String.join("; ", c.failed()));
        }
    }

    /** cuDNN's heuristic ranking for the plan's descriptors (math type as set on the descriptor). */
    private List<CudnnCandidates.Candidate> ranking(Plan p, int dir) {
        int[] n = {0};
        if (dir == FWD) {
            try (var perf = new cudnnConvolutionFwdAlgoPerf_t(CUDNN_CONVOLUTION_FWD_ALGO_COUNT)) {
                check(cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x, p.w, p.conv, p.y, (int) perf.capacity(), n,
                        perf), "cudnnGetConvolutionForwardAlgorithm_v7");
                return read(perf, n[0], q -> new int[] {q.algo(), q.status(), q.determinism(), q.mathType()},
                        cudnnConvolutionFwdAlgoPerf_t::memory);
            }
        } else if (dir == BWD_DATA) {
            try (var perf = new cudnnConvolutionBwdDataAlgoPerf_t(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)) {
                check(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p.w, p.y, p.conv, p.x,
                        (int) perf.capacity(), n, perf), "cudnnGetConvolutionBackwardDataAlgorithm_v7");
                return read(perf, n[0], q -> new int[] {q.algo(), q.status(), q.determinism(), q.mathType()},
                        cudnnConvolutionBwdDataAlgoPerf_t::memory);
            }
        }
        try (var perf = new cudnnConvolutionBwdFilterAlgoPerf_t(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT)) {
            check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, p.x, p.y, p.conv, p.w, (int) perf.capacity(),
                    n, perf), "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
            return read(perf, n[0], q -> new int[] {q.algo(), q.status(), q.determinism(), q.mathType()},
                    cudnnConvolutionBwdFilterAlgoPerf_t::memory);
        }
    }

    /** The first n entries of a cudnnConvolution*AlgoPerf_t array: {algo, status, determinism, math}, memory. */
    private static <P extends Pointer> List<CudnnCandidates.Candidate> read(P perf, int n,
            java.util.function.Function<P, int[]> fields, java.util.function.ToLongFunction<P> memory) {
        List<CudnnCandidates.Candidate> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            perf.position(i);
            int[] f = fields.apply(perf);
            out.add(new CudnnCandidates.Candidate(f[0], f[1], f[2] == CUDNN_DETERMINISTIC, f[3],
                    memory.applyAsLong(perf)));
        }
        perf.position(0);
        return out;
    }

    private int workspaceSize(Plan p, int dir, int algo) {
        return switch (dir) {
            case FWD -> cudnnGetConvolutionForwardWorkspaceSize(handle, p.x, p.w, p.conv, p.y, algo, size);
            case BWD_DATA -> cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p.w, p.y, p.conv, p.x, algo, size);
            default -> cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p.x, p.y, p.conv, p.w, algo, size);
        };
    }

    /** Queues the convolution with the given algorithm and workspace size; returns cuDNN's status. */
    private int execute(Plan p, int dir, long a, long b, long out, int algo, long workspace) {
        long ws = workspace == 0 ? 0 : allocator.allocate(workspace); // OutOfMemoryError: the walk moves on
        try {
            Pointer wsp = ws == 0 ? null : CudaRt.dev(ws);
            return switch (dir) {
                case FWD -> cudnnConvolutionForward(handle, one, p.x, CudaRt.dev(a), p.w, CudaRt.dev(b), p.conv, algo,
                        wsp, workspace, zero, p.y, CudaRt.dev(out));
                case BWD_DATA -> cudnnConvolutionBackwardData(handle, one, p.w, CudaRt.dev(b), p.y, CudaRt.dev(a),
                        p.conv, algo, wsp, workspace, zero, p.x, CudaRt.dev(out));
                default -> cudnnConvolutionBackwardFilter(handle, one, p.x, CudaRt.dev(a), p.y, CudaRt.dev(b), p.conv,
                        algo, wsp, workspace, zero, p.w, CudaRt.dev(out));
            };
        } finally {
            if (ws != 0) {
                allocator.free(ws, workspace); // stream-ordered: the next user queues behind this call
            }
        }
    }

    /** Destroys the descriptors a plan created (the convolutions that used them are queued already). */
    private static void destroy(Plan p) {
        int n = p.created;
        p.created = 0;
        // best effort: a failed destroy is not worth failing a run for, and cannot be retried
        if (n >= 4) {
            cudnnDestroyConvolutionDescriptor(p.conv);
        }
        if (n >= 3) {
            cudnnDestroyFilterDescriptor(p.w);
        }
        if (n >= 2) {
            cudnnDestroyTensorDescriptor(p.y);
        }
        if (n >= 1) {
            cudnnDestroyTensorDescriptor(p.x);
        }
    }

    private static String statusString(int status) {
        String s;
        try {
            s = cudnnGetErrorString(status).getString();
        } catch (RuntimeException e) {
            s = "status";
        }
        return s + " (" + status + ")";
    }

    private static void check(int status, String call) {
        if (status != CUDNN_STATUS_SUCCESS) {
            throw new IllegalStateException(call + " failed: " + statusString(status) + CudnnCandidates.hint(status));
        }
    }
}
