package io.basq4j.tensor;

import static org.bytedeco.cuda.global.cudnn.*;

import java.util.HashMap;
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
 * included) on the backend's stream. Per geometry and direction, the descriptors and the
 * algorithm are chosen once and cached: the first algorithm of cuDNN's heuristic ranking that
 * succeeds, fits the workspace limit, is deterministic when asked, and uses no TF32 tensor
 * cores when TF32 is off (FMA math). Workspaces come from the backend's caching allocator.
 */
final class CudaDnn {
    static final int FWD = 0, BWD_DATA = 1, BWD_FILTER = 2;

    private final cudnnContext handle = new cudnnContext();
    private final CachingAllocator allocator;
    private final long workspaceLimit;
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);
    private final SizeTPointer size = new SizeTPointer(1);
    private final Map<Key, Plan> plans = new HashMap<>();

    private record Key(ConvGeom g, int dir, boolean tf32, boolean deterministic) {
    }

    private static final class Plan {
        final cudnnTensorStruct x = new cudnnTensorStruct();
        final cudnnTensorStruct y = new cudnnTensorStruct();
        final cudnnFilterStruct w = new cudnnFilterStruct();
        final cudnnConvolutionStruct conv = new cudnnConvolutionStruct();
        int algo;
        long workspace;
    }

    CudaDnn(CUstream_st stream, CachingAllocator allocator, long workspaceLimit) {
        this.allocator = allocator;
        this.workspaceLimit = workspaceLimit;
        check(cudnnCreate(handle), "cudnnCreate");
        check(cudnnSetStream(handle, stream), "cudnnSetStream");
    }

    static String version() {
        return Long.toString(cudnnGetVersion());
    }

    synchronized void run(int dir, ConvGeom g, boolean tf32, boolean deterministic, long a, long b, long out) {
        Plan p = plans.get(new Key(g, dir, tf32, deterministic));
        if (p == null) {
            p = plan(g, dir, tf32, deterministic);
            plans.put(new Key(g, dir, tf32, deterministic), p);
        }
        long ws = p.workspace == 0 ? 0 : allocator.allocate(p.workspace);
        try {
            Pointer wsp = ws == 0 ? null : CudaRt.dev(ws);
            int st;
            switch (dir) {
                case FWD -> st = cudnnConvolutionForward(handle, one, p.x, CudaRt.dev(a), p.w, CudaRt.dev(b), p.conv,
                        p.algo, wsp, p.workspace, zero, p.y, CudaRt.dev(out));
                case BWD_DATA -> st = cudnnConvolutionBackwardData(handle, one, p.w, CudaRt.dev(b), p.y, CudaRt.dev(a),
                        p.conv, p.algo, wsp, p.workspace, zero, p.x, CudaRt.dev(out));
                default -> st = cudnnConvolutionBackwardFilter(handle, one, p.x, CudaRt.dev(a), p.y, CudaRt.dev(b),
                        p.conv, p.algo, wsp, p.workspace, zero, p.w, CudaRt.dev(out));
            }
            check(st, DIRS[dir] + " " + g);
        } finally {
            if (ws != 0) {
                allocator.free(ws, p.workspace); // stream-ordered: the next user queues behind this call
            }
        }
    }

    private static final String[] DIRS = {"cudnnConvolutionForward", "cudnnConvolutionBackwardData",
        "cudnnConvolutionBackwardFilter"};

    private Plan plan(ConvGeom g, int dir, boolean tf32, boolean deterministic) {
        Plan p = new Plan();
        check(cudnnCreateTensorDescriptor(p.x), "cudnnCreateTensorDescriptor");
        check(cudnnCreateTensorDescriptor(p.y), "cudnnCreateTensorDescriptor");
        check(cudnnCreateFilterDescriptor(p.w), "cudnnCreateFilterDescriptor");
        check(cudnnCreateConvolutionDescriptor(p.conv), "cudnnCreateConvolutionDescriptor");
        check(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.cin(), g.h(), g.w()),
                "cudnnSetTensor4dDescriptor(x)");
        check(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n(), g.cout(), g.ho(), g.wo()),
                "cudnnSetTensor4dDescriptor(y)");
        check(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.cout(), g.cin() / g.groups(),
                g.kh(), g.kw()), "cudnnSetFilter4dDescriptor");
        check(cudnnSetConvolution2dDescriptor(p.conv, g.ph(), g.pw(), g.sh(), g.sw(), 1, 1, CUDNN_CROSS_CORRELATION,
                CUDNN_DATA_FLOAT), "cudnnSetConvolution2dDescriptor");
        check(cudnnSetConvolutionGroupCount(p.conv, g.groups()), "cudnnSetConvolutionGroupCount");
        check(cudnnSetConvolutionMathType(p.conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
                "cudnnSetConvolutionMathType");
        int[] returned = {0};
        int n;
        int[] status, determinism, math, algo;
        long[] memory;
        if (dir == FWD) {
            n = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
            cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(n);
            check(cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x, p.w, p.conv, p.y, n, returned, perf),
                    "cudnnGetConvolutionForwardAlgorithm_v7");
            n = returned[0];
            status = new int[n];
            determinism = new int[n];
            math = new int[n];
            algo = new int[n];
            memory = new long[n];
            for (int i = 0; i < n; i++) {
                perf.position(i);
                status[i] = perf.status();
                determinism[i] = perf.determinism();
                math[i] = perf.mathType();
                algo[i] = perf.algo();
                memory[i] = perf.memory();
            }
        } else if (dir == BWD_DATA) {
            n = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
            cudnnConvolutionBwdDataAlgoPerf_t perf = new cudnnConvolutionBwdDataAlgoPerf_t(n);
            check(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p.w, p.y, p.conv, p.x, n, returned, perf),
                    "cudnnGetConvolutionBackwardDataAlgorithm_v7");
            n = returned[0];
            status = new int[n];
            determinism = new int[n];
            math = new int[n];
            algo = new int[n];
            memory = new long[n];
            for (int i = 0; i < n; i++) {
                perf.position(i);
                status[i] = perf.status();
                determinism[i] = perf.determinism();
                math[i] = perf.mathType();
                algo[i] = perf.algo();
                memory[i] = perf.memory();
            }
        } else {
            n = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
            cudnnConvolutionBwdFilterAlgoPerf_t perf = new cudnnConvolutionBwdFilterAlgoPerf_t(n);
            check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, p.x, p.y, p.conv, p.w, n, returned, perf),
                    "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
            n = returned[0];
            status = new int[n];
            determinism = new int[n];
            math = new int[n];
            algo = new int[n];
            memory = new long[n];
            for (int i = 0; i < n; i++) {
                perf.position(i);
                status[i] = perf.status();
                determinism[i] = perf.determinism();
                math[i] = perf.mathType();
                algo[i] = perf.algo();
                memory[i] = perf.memory();
            }
        }
        // The heuristic ranks best first. Without TF32, FMA-math entries first; then any that
        // is not a tensor-op math (run with FMA math set on the descriptor).
        int chosen = -1;
        int chosenMath = CUDNN_FMA_MATH;
        for (int round = 0; round < 2 && chosen < 0; round++) {
            for (int i = 0; i < n && chosen < 0; i++) {
                boolean mathOk = tf32 || math[i] == CUDNN_FMA_MATH
                        || (round == 1 && math[i] == CUDNN_DEFAULT_MATH);
                if (status[i] == CUDNN_STATUS_SUCCESS && mathOk && memory[i] <= workspaceLimit
                        && (!deterministic || determinism[i] == CUDNN_DETERMINISTIC)) {
                    chosen = algo[i];
                    chosenMath = math[i];
                }
            }
        }
        if (chosen < 0) {
            throw new IllegalStateException("cuDNN offers no " + (deterministic ? "deterministic " : "")
                    + (tf32 ? "" : "FMA-math ") + DIRS[dir].substring(5) + " algorithm for " + g
                    + " within a workspace of " + (workspaceLimit >> 20) + " MiB");
        }
        p.algo = chosen;
        check(cudnnSetConvolutionMathType(p.conv, tf32 ? chosenMath : CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
        switch (dir) {
            case FWD -> check(cudnnGetConvolutionForwardWorkspaceSize(handle, p.x, p.w, p.conv, p.y, chosen, size),
                    "cudnnGetConvolutionForwardWorkspaceSize");
            case BWD_DATA -> check(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p.w, p.y, p.conv, p.x, chosen,
                    size), "cudnnGetConvolutionBackwardDataWorkspaceSize");
            default -> check(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p.x, p.y, p.conv, p.w, chosen,
                    size), "cudnnGetConvolutionBackwardFilterWorkspaceSize");
        }
        p.workspace = size.get();
        return p;
    }

    private static void check(int status, String call) {
        if (status != CUDNN_STATUS_SUCCESS) {
            String s;
            try {
                s = cudnnGetErrorString(status).getString();
            } catch (RuntimeException e) {
                s = "status " + status;
            }
            throw new IllegalStateException(call + " failed: " + s);
        }
    }
}
