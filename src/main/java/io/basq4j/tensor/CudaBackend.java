package io.basq4j.tensor;

import static org.bytedeco.cuda.global.cudart.cudaErrorInsufficientDriver;
import static org.bytedeco.cuda.global.cudart.cudaErrorNoDevice;
import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceProperties;
import static org.bytedeco.cuda.global.cudart.cudaGetLastError;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemGetInfo;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyAsync;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaMemsetAsync;
import static org.bytedeco.cuda.global.cudart.cudaSetDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaStreamNonBlocking;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;

import io.basq4j.kernels.CpuKernels;
import io.basq4j.kernels.CudaKernels;
import io.basq4j.kernels.Kernels;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * The CUDA backend: device memory from a caching allocator over cudaMalloc/cudaFree, one
 * non-blocking stream on which every operation is queued in order (so a block freed to the
 * cache can be handed out again at once), the kernels of libbasq4j_cuda, cuBLAS for the
 * linear layer and cuDNN for convolutions. Copies to the host wait for the stream.
 *
 * <p>Construction fails with a {@link CudaUnavailableException} (one line: why) when this
 * build has no CUDA kernels, when there is no NVIDIA driver, or when the CUDA runtime cannot
 * start; {@link #available()} is false when the driver reports no device. Only device 0 is
 * used (select another with CUDA_VISIBLE_DEVICES).
 *
 * <p>TF32 and the choice of cuDNN algorithms follow {@link CudaMath} (by default TF32 for
 * convolutions while training, not while evaluating, nor for the linear layer's SGEMM, as
 * PyTorch's defaults; deterministic cuDNN algorithms from its heuristic ranking).
 *
 * <p>Errors. Kernels run asynchronously: a fault inside one (an illegal address, say) surfaces
 * at the next synchronization, or as the error of whichever launch comes next, since such a
 * fault is sticky. Messages say so; with {@code CUDA_LAUNCH_BLOCKING=1} every launch waits for
 * its kernel, so that the failing call names the kernel that faulted.
 */
public final class CudaBackend implements Backend {
    private final int devices;
    private final String deviceName;
    private final CUstream_st stream;
    private final CachingAllocator allocator;
    private final long scalarDev;
    private final FloatPointer scalarHost;
    private final DoublePointer doubleHost;
    private CudaBlas blas;
    private CudaDnn dnn;

    public CudaBackend() {
        if (!kernelsInBuild()) {
            throw new CudaUnavailableException("this build has no CUDA kernels (nvcc was not on the PATH when it was "
                    + "built)");
        }
        try {
            Loader.load(org.bytedeco.cuda.global.cudart.class);
        } catch (Throwable t) {
            throw CudaUnavailableException.fromLoadFailure("the CUDA runtime", t);
        }
        int[] count = {0};
        int err = cudaGetDeviceCount(count);
        if (err == cudaErrorNoDevice) {
            count[0] = 0;
        } else if (err == cudaErrorInsufficientDriver) {
            cudaGetLastError();
            throw new CudaUnavailableException("the NVIDIA driver is older than the CUDA runtime ("
                    + CudaRt.errorString(err) + ")");
        } else if (err != 0) {
            cudaGetLastError();
            throw new CudaUnavailableException("cudaGetDeviceCount failed: " + CudaRt.errorString(err));
        }
        devices = count[0];
        if (devices == 0) {
            deviceName = null;
            stream = null;
            allocator = null;
            scalarDev = 0;
            scalarHost = null;
            doubleHost = null;
            return;
        }
        CudaRt.check(cudaSetDevice(0), "cudaSetDevice(0)");
        cudaDeviceProp prop = new cudaDeviceProp();
        CudaRt.check(cudaGetDeviceProperties(prop, 0), "cudaGetDeviceProperties");
        deviceName = prop.name().getString() + " (sm_" + prop.major() + prop.minor() + ", "
                + (prop.totalGlobalMem() >> 20) + " MiB)";
        try {
            CudaKernels.load();
        } catch (Throwable t) {
            throw CudaUnavailableException.fromLoadFailure("the CUDA kernel library", t);
        }
        stream = new CUstream_st();
        CudaRt.check(cudaStreamCreateWithFlags(stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
        allocator = new CachingAllocator(CudaBackend::rawAlloc, CudaBackend::rawFree);
        scalarDev = allocator.allocate(8);
        scalarHost = new FloatPointer(1);
        doubleHost = new DoublePointer(1);
    }

    /**
     * Whether this build contains the CUDA kernel library (it does when nvcc was on the PATH of
     * the machine that built it). Loads nothing.
     */
    public static boolean kernelsInBuild() {
        String dir = Loader.getPlatform() + "/";
        Class<?> k = CudaKernels.class; // a class literal: does not run its static initializer
        return k.getResource(dir + "libjniCudaKernels.so") != null && k.getResource(dir + "libbasq4j_cuda.so") != null;
    }

    private static long rawAlloc(long bytes) {
        Pointer p = new Pointer();
        int err = cudaMalloc(p, bytes);
        if (err != 0) {
            cudaGetLastError(); // out of memory is not sticky: clear it, the allocator trims and retries
            return 0;
        }
        return p.address();
    }

    private static void rawFree(long address) {
        // cudaFree synchronizes the device, so it also reports an earlier kernel's asynchronous fault
        CudaRt.check(cudaFree(CudaRt.dev(address)), "cudaFree (or an earlier asynchronous fault)");
    }

    // ---------------------------------------------------------------- facts and settings

    /** "NVIDIA H100 ... (sm_90, 81008 MiB)", or null without a device. */
    public String deviceName() {
        return deviceName;
    }

    /** Version string of the CUDA kernel library. */
    public String kernelVersion() {
        return CudaKernels.basq_cuda_version().getString();
    }

    /** The stream every operation is queued on (a cudaStream_t). */
    public CUstream_st stream() {
        return stream;
    }

    /**
     * Device memory in use now, all users together (cudaMemGetInfo: total minus free), in bytes:
     * this backend's cached and live blocks, the CUDA context, cuBLAS's and cuDNN's own.
     */
    public long deviceBytesUsed() {
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            CudaRt.check(cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return total.get() - free.get();
        }
    }

    /** Convolution plans cached by cuDNN's wrapper (bounded: -Dbasq4j.cuda.convPlans). */
    public int convPlans() {
        return dnn == null ? 0 : dnn.planCount();
    }

    @Override
    public Device device() {
        return Device.CUDA;
    }

    @Override
    public boolean available() {
        return devices > 0;
    }

    // ---------------------------------------------------------------- memory

    @Override
    public long allocate(long bytes) {
        return allocator.allocate(bytes);
    }

    @Override
    public void free(long address, long bytes) {
        allocator.free(address, bytes);
    }

    @Override
    public CachingAllocator allocator() {
        return allocator;
    }

    @Override
    public void toHost(Tensor src, Pointer dst, long bytes) {
        CudaRt.check(cudaMemcpyAsync(dst, CudaRt.dev(src.address()), bytes, cudaMemcpyDeviceToHost, stream),
                "cudaMemcpyAsync(device to host)");
        synchronize();
    }

    @Override
    public void fromHost(Pointer src, Tensor dst, long bytes) {
        CudaRt.check(cudaMemcpyAsync(CudaRt.dev(dst.address()), src, bytes, cudaMemcpyHostToDevice, stream),
                "cudaMemcpyAsync(host to device)");
        synchronize(); // the caller may free src as soon as this returns
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        if (src.bytes() != dst.bytes()) {
            throw new IllegalArgumentException("copy between " + src + " and " + dst);
        }
        if (src.bytes() == 0 || src.address() == dst.address()) {
            return;
        }
        CudaRt.check(cudaMemcpyAsync(CudaRt.dev(dst.address()), CudaRt.dev(src.address()), src.bytes(),
                cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync(device to device)");
    }

    @Override
    public void synchronize() {
        CudaRt.check(cudaStreamSynchronize(stream), "waiting for the CUDA stream: a kernel or copy queued on it "
                + "faulted (rerun with CUDA_LAUNCH_BLOCKING=1 to name it)");
    }

    // ---------------------------------------------------------------- errors

    private static void check(int code, String kernel) {
        if (code == CpuKernels.EDEVICE) {
            throw new IllegalStateException("CUDA kernel " + kernel + ": error at launch or an earlier asynchronous "
                    + "fault: " + CudaKernels.basq_cuda_last_error().getString()
                    + " (rerun with CUDA_LAUNCH_BLOCKING=1 to name the kernel that faulted)");
        }
        Kernels.check(code, "cuda " + kernel);
    }

    /** Device scratch of {@code doubles} doubles from the caching allocator, for the span of one call. */
    private final class Work implements AutoCloseable {
        final long address;
        final long bytes;

        Work(long doubles) {
            bytes = Math.max(1, doubles) * 8;
            address = allocator.allocate(bytes);
        }

        DoublePointer ptr(long offsetDoubles) {
            return new CudaRt.DevDouble(address + offsetDoubles * 8);
        }

        @Override
        public void close() {
            allocator.free(address, bytes); // stream-ordered: a later user queues behind the kernels
        }
    }

    private static FloatPointer p(Tensor t) {
        return t == null ? null : t.ptr();
    }

    private static long hw(Tensor x) {
        return x.shape().numelFrom(2);
    }

    // ---------------------------------------------------------------- element-wise

    @Override
    public void fill(Tensor t, float v) {
        if (t.dtype() == DType.F32) {
            check(CudaKernels.basq_cuda_fill(t.ptr(), v, t.numel(), stream), "fill");
        } else if (v == 0f) {
            CudaRt.check(cudaMemsetAsync(CudaRt.dev(t.address()), 0, t.bytes(), stream), "cudaMemsetAsync");
        } else {
            throw new IllegalArgumentException("fill of " + t.dtype() + " with " + v);
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        check(CudaKernels.basq_cuda_add(a.ptr(), b.ptr(), out.ptr(), out.numel(), stream), "add");
    }

    @Override
    public void axpy(float alpha, Tensor x, Tensor y) {
        check(CudaKernels.basq_cuda_axpy(alpha, x.ptr(), y.ptr(), y.numel(), stream), "axpy");
    }

    @Override
    public void scale(Tensor x, float alpha) {
        check(CudaKernels.basq_cuda_scale(x.ptr(), alpha, x.numel(), stream), "scale");
    }

    @Override
    public synchronized double sumSquares(Tensor x) {
        try (LongPointer n = new LongPointer(1); Work w = new Work(workOf(n.put(0, x.numel()), 1))) {
            check(CudaKernels.basq_cuda_sum_squares(x.ptr(), x.numel(), new CudaRt.DevFloat(scalarDev), w.ptr(0),
                    stream), "sum_squares");
            CudaRt.check(cudaMemcpyAsync(scalarHost, CudaRt.dev(scalarDev), 4, cudaMemcpyDeviceToHost, stream),
                    "cudaMemcpyAsync(device to host)");
            synchronize();
            return scalarHost.get(0);
        }
    }

    /** All the tensors' sums of squares with one kernel sequence and one read-back. */
    @Override
    public synchronized double sumSquares(java.util.List<Tensor> xs) {
        int count = xs.size();
        if (count == 0) {
            return 0;
        }
        try (PointerPointer<Pointer> ptrs = new PointerPointer<>(count); LongPointer ns = new LongPointer(count)) {
            for (int i = 0; i < count; i++) {
                Tensor t = xs.get(i);
                if (t.dtype() != DType.F32 || t.device() != Device.CUDA) {
                    throw new IllegalArgumentException("sum of squares of " + t + ": expected float32 on CUDA");
                }
                ptrs.put(i, CudaRt.dev(t.address()));
                ns.put(i, t.numel());
            }
            try (Work w = new Work(workOf(ns, count))) {
                check(CudaKernels.basq_cuda_sum_squares_multi(ptrs, ns, count, new CudaRt.DevDouble(scalarDev),
                        w.ptr(0), stream), "sum_squares_multi");
                CudaRt.check(cudaMemcpyAsync(doubleHost, CudaRt.dev(scalarDev), 8, cudaMemcpyDeviceToHost, stream),
                        "cudaMemcpyAsync(device to host)");
                synchronize();
                return doubleHost.get(0);
            }
        }
    }

    private static long workOf(LongPointer ns, int count) {
        long words = CudaKernels.basq_cuda_sum_squares_work(count, ns);
        if (words < 0) {
            throw new IllegalArgumentException("sum of squares: bad sizes");
        }
        return words;
    }

    @Override
    public void relu(Tensor x, Tensor y) {
        check(CudaKernels.basq_cuda_relu_fwd(x.ptr(), y.ptr(), x.numel(), stream), "relu");
    }

    @Override
    public void reluBackward(Tensor y, Tensor dy, Tensor dx) {
        check(CudaKernels.basq_cuda_relu_bwd(y.ptr(), dy.ptr(), dx.ptr(), y.numel(), stream), "relu_bwd");
    }

    @Override
    public void dropout(Tensor x, Tensor y, Tensor mask, float p, long seed, long offset) {
        check(CudaKernels.basq_cuda_dropout_fwd(x.ptr(), y.ptr(), mask.bytePtr(), x.numel(), p, seed, offset, stream),
                "dropout");
    }

    @Override
    public void dropoutBackward(Tensor dy, Tensor mask, Tensor dx, float p) {
        check(CudaKernels.basq_cuda_dropout_bwd(dy.ptr(), mask.bytePtr(), dx.ptr(), dy.numel(), p, stream),
                "dropout_bwd");
    }

    // ---------------------------------------------------------------- quantizers

    @Override
    public void clipQuant(Tensor x, Tensor y, Tensor upper, Tensor bin) {
        check(CudaKernels.basq_cuda_clip_quant_fwd(x.ptr(), y.ptr(), x.numel(), upper.ptr(), bin.ptr(), stream),
                "clip_quant");
    }

    @Override
    public void clipQuantBackward(Tensor x, Tensor dy, Tensor dx, Tensor dupper, Tensor upper) {
        check(CudaKernels.basq_cuda_clip_quant_bwd(x.ptr(), dy.ptr(), dx.ptr(), dupper.ptr(), x.numel(), upper.ptr(),
                stream), "clip_quant_bwd");
    }

    @Override
    public void lsq(Tensor x, Tensor s, Tensor y, int outer, int channels, long inner, int qn, int qp) {
        check(CudaKernels.basq_cuda_lsq_fwd(x.ptr(), s.ptr(), y.ptr(), outer, channels, inner, qn, qp, stream), "lsq");
    }

    @Override
    public void lsqBackward(Tensor x, Tensor s, Tensor dy, Tensor dx, Tensor ds, int outer, int channels, long inner,
            int qn, int qp, float gscale) {
        check(CudaKernels.basq_cuda_lsq_bwd(x.ptr(), s.ptr(), dy.ptr(), dx.ptr(), ds.ptr(), outer, channels, inner, qn,
                qp, gscale, stream), "lsq_bwd");
    }

    @Override
    public void channelAbsMean(Tensor x, Tensor out, int outer, int channels, long inner) {
        check(CudaKernels.basq_cuda_channel_abs_mean(x.ptr(), out.ptr(), outer, channels, inner, stream),
                "channel_abs_mean");
    }

    // ---------------------------------------------------------------- convolution (cuDNN), linear (cuBLAS)

    private synchronized CudaDnn dnn() {
        if (dnn == null) {
            try {
                long limit = Long.getLong("basq4j.cuda.convWorkspaceMiB", 1024L) << 20;
                dnn = new CudaDnn(stream, allocator, limit);
            } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
                throw CudaUnavailableException.fromLoadFailure("cuDNN", e);
            }
        }
        return dnn;
    }

    private synchronized CudaBlas blas() {
        if (blas == null) {
            try {
                blas = new CudaBlas(stream, CudaMath.matmulTf32());
            } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
                throw CudaUnavailableException.fromLoadFailure("cuBLAS", e);
            }
        }
        return blas;
    }

    @Override
    public void conv2d(Tensor x, Tensor w, Tensor y, ConvGeom g) {
        dnn().run(CudaDnn.FWD, g, x.address(), w.address(), y.address());
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvGeom g) {
        dnn().run(CudaDnn.BWD_DATA, g, dy.address(), w.address(), dx.address());
    }

    @Override
    public void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, ConvGeom g) {
        dnn().run(CudaDnn.BWD_FILTER, g, x.address(), dy.address(), dw.address());
    }

    @Override
    public void linear(Tensor x, Tensor w, Tensor b, Tensor y) {
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        CudaBlas cb = blas();
        synchronized (this) {
            cb.setTf32(CudaMath.matmulTf32());
            cb.sgemm(false, true, n, out, in, 1f, x.ptr(), in, w.ptr(), in, 0f, y.ptr(), out);
        }
        if (b != null) {
            check(CudaKernels.basq_cuda_bias_add(y.ptr(), b.ptr(), n, out, stream), "bias_add");
        }
    }

    @Override
    public void linearBackward(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor dw, Tensor db) {
        int n = x.dim(0), in = x.dim(1), out = w.dim(0);
        CudaBlas cb = blas();
        synchronized (this) {
            cb.setTf32(CudaMath.matmulTf32());
            if (dx != null) {
                cb.sgemm(false, false, n, in, out, 1f, dy.ptr(), out, w.ptr(), in, 0f, dx.ptr(), in);
            }
            cb.sgemm(true, false, out, in, n, 1f, dy.ptr(), out, x.ptr(), in, 0f, dw.ptr(), in);
        }
        if (db != null) {
            check(CudaKernels.basq_cuda_col_sum(dy.ptr(), db.ptr(), n, out, stream), "col_sum");
        }
    }

    // ---------------------------------------------------------------- batch norm

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean, Tensor saveInvstd,
            Tensor runningMean, Tensor runningVar, float eps, float momentum) {
        check(CudaKernels.basq_cuda_bn_train_fwd(x.ptr(), gamma.ptr(), beta.ptr(), y.ptr(), p(saveMean),
                p(saveInvstd), p(runningMean), p(runningVar), x.dim(0), x.dim(1), hw(x), eps, momentum, stream),
                "bn_train");
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y,
            float eps) {
        check(CudaKernels.basq_cuda_bn_eval_fwd(x.ptr(), gamma.ptr(), beta.ptr(), runningMean.ptr(), runningVar.ptr(),
                y.ptr(), x.dim(0), x.dim(1), hw(x), eps, stream), "bn_eval");
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvstd, Tensor dx,
            Tensor dgamma, Tensor dbeta) {
        check(CudaKernels.basq_cuda_bn_bwd(x.ptr(), dy.ptr(), gamma.ptr(), saveMean.ptr(), saveInvstd.ptr(), dx.ptr(),
                p(dgamma), p(dbeta), x.dim(0), x.dim(1), hw(x), stream), "bn_bwd");
    }

    // ---------------------------------------------------------------- pooling, skip

    @Override
    public void avgPool(Tensor x, Tensor y, int k, int s) {
        check(CudaKernels.basq_cuda_avgpool_fwd(x.ptr(), y.ptr(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), k, s,
                stream), "avgpool");
    }

    @Override
    public void avgPoolBackward(Tensor dy, Tensor dx, int k, int s) {
        check(CudaKernels.basq_cuda_avgpool_bwd(dy.ptr(), dx.ptr(), dx.dim(0), dx.dim(1), dx.dim(2), dx.dim(3), k, s,
                stream), "avgpool_bwd");
    }

    @Override
    public void globalAvgPool(Tensor x, Tensor y) {
        check(CudaKernels.basq_cuda_global_avgpool_fwd(x.ptr(), y.ptr(), x.dim(0), x.dim(1), hw(x), stream),
                "global_avgpool");
    }

    @Override
    public void globalAvgPoolBackward(Tensor dy, Tensor dx) {
        check(CudaKernels.basq_cuda_global_avgpool_bwd(dy.ptr(), dx.ptr(), dx.dim(0), dx.dim(1), hw(dx), stream),
                "global_avgpool_bwd");
    }

    @Override
    public void maxPool(Tensor x, Tensor y, Tensor idx, int k, int s, int p) {
        check(CudaKernels.basq_cuda_maxpool_fwd(x.ptr(), y.ptr(), idx.intPtr(), x.dim(0), x.dim(1), x.dim(2),
                x.dim(3), k, s, p, stream), "maxpool");
    }

    @Override
    public void maxPoolBackward(Tensor dy, Tensor idx, Tensor dx, int k, int s, int p) {
        check(CudaKernels.basq_cuda_maxpool_bwd(dy.ptr(), idx.intPtr(), dx.ptr(), dx.dim(0), dx.dim(1), dx.dim(2),
                dx.dim(3), k, s, p, stream), "maxpool_bwd");
    }

    @Override
    public void flexSkip(Tensor x, Tensor y) {
        check(CudaKernels.basq_cuda_flex_skip_fwd(x.ptr(), y.ptr(), x.dim(0), x.dim(1), y.dim(1), hw(x), stream),
                "flex_skip");
    }

    @Override
    public void flexSkipBackward(Tensor dy, Tensor dx) {
        check(CudaKernels.basq_cuda_flex_skip_bwd(dy.ptr(), dx.ptr(), dx.dim(0), dx.dim(1), dy.dim(1), hw(dx),
                stream), "flex_skip_bwd");
    }

    // ---------------------------------------------------------------- losses

    /** An out-of-range target gives a NaN loss here (the device cannot report it synchronously). */
    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor target, Tensor loss, Tensor prob) {
        try (Work w = new Work(CudaKernels.basq_cuda_loss_work(logits.dim(0)))) {
            check(CudaKernels.basq_cuda_softmax_xent_fwd(logits.ptr(), target.longPtr(), loss.ptr(), prob.ptr(),
                    logits.dim(0), logits.dim(1), w.ptr(0), stream), "softmax_xent");
        }
    }

    @Override
    public void softmaxCrossEntropyBackward(Tensor prob, Tensor target, Tensor dloss, Tensor dlogits) {
        check(CudaKernels.basq_cuda_softmax_xent_bwd(prob.ptr(), target.longPtr(), dloss.ptr(), dlogits.ptr(),
                prob.dim(0), prob.dim(1), stream), "softmax_xent_bwd");
    }

    @Override
    public void kdLoss(Tensor student, Tensor teacher, Tensor loss, Tensor pStudent, Tensor pTeacher) {
        try (Work w = new Work(CudaKernels.basq_cuda_loss_work(student.dim(0)))) {
            check(CudaKernels.basq_cuda_kd_loss_fwd(student.ptr(), teacher.ptr(), loss.ptr(), pStudent.ptr(),
                    pTeacher.ptr(), student.dim(0), student.dim(1), w.ptr(0), stream), "kd_loss");
        }
    }

    @Override
    public void kdLossBackward(Tensor pStudent, Tensor pTeacher, Tensor dloss, Tensor dstudent) {
        check(CudaKernels.basq_cuda_kd_loss_bwd(pStudent.ptr(), pTeacher.ptr(), dloss.ptr(), dstudent.ptr(),
                pStudent.dim(0), pStudent.dim(1), stream), "kd_loss_bwd");
    }

    // ---------------------------------------------------------------- optimizers

    @Override
    public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double stepSize, double beta1, double beta2,
            double eps, double wd, double bc2Sqrt) {
        check(CudaKernels.basq_cuda_adam_step(p.ptr(), g.ptr(), m.ptr(), v.ptr(), p.numel(), stepSize, beta1, beta2,
                eps, wd, bc2Sqrt, stream), "adam_step");
    }

    @Override
    public void sgdStep(Tensor p, Tensor g, Tensor buf, float lr, float momentum, float wd, boolean nesterov) {
        check(CudaKernels.basq_cuda_sgd_step(p.ptr(), g.ptr(), buf.ptr(), p.numel(), lr, momentum, wd,
                nesterov ? 1 : 0, stream), "sgd_step");
    }

    // ---------------------------------------------------------------- fused BASQ-block kernels

    /**
     * Batch norm followed by a quantizer, in evaluation and in training (F.batchNormClipQuant,
     * F.batchNormLsq): the same values as the two operations (the emulation's checks hold them
     * bit for bit to the CPU's formulas), fewer passes over memory. The unit tail has no CUDA
     * kernel yet: it runs layer by layer. {@code --no-fused} turns all of them off.
     */
    @Override
    public boolean fuses(Fused family) {
        return family == Fused.BN_QUANT_EVAL || family == Fused.BN_QUANT_TRAIN;
    }

    /** Words (int32) of the masks that {@link #clipQuantWithMask} writes for n elements: 2 * ceil(n / 32). */
    public static long clipMaskWords(long n) {
        return 2 * ((n + 31) / 32);
    }

    /** Clip quantizer forward that also writes its backward's bit masks ({@code bits}: I32, clipMaskWords). */
    public void clipQuantWithMask(Tensor x, Tensor y, Tensor bits, Tensor upper, Tensor bin) {
        requireWords(bits, x.numel());
        check(CudaKernels.basq_cuda_clip_quant_fwd_mask(x.ptr(), y.ptr(), bits.intPtr(), x.numel(), upper.ptr(),
                bin.ptr(), stream), "clip_quant_fwd_mask");
    }

    /** Clip quantizer backward from the masks of {@link #clipQuantWithMask} (x is not needed). */
    public void clipQuantBackwardFromMask(Tensor bits, Tensor dy, Tensor dx, Tensor dupper) {
        requireWords(bits, dy.numel());
        check(CudaKernels.basq_cuda_clip_quant_bwd_mask(bits.intPtr(), dy.ptr(), dx.ptr(), dupper.ptr(), dy.numel(),
                stream), "clip_quant_bwd_mask");
    }

    private static void requireWords(Tensor bits, long n) {
        if (bits.dtype() != DType.I32 || bits.numel() < clipMaskWords(n)) {
            throw new IllegalArgumentException("clip masks for " + n + " elements need an I32 tensor of "
                    + clipMaskWords(n) + " words, got " + bits);
        }
    }

    /** y = clipQuant(batchNormEval(x)) without the intermediate tensor. */
    public void batchNormEvalClipQuant(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
            Tensor y, float eps, Tensor upper, Tensor bin) {
        check(CudaKernels.basq_cuda_bn_eval_clip_quant_fwd(x.ptr(), gamma.ptr(), beta.ptr(), runningMean.ptr(),
                runningVar.ptr(), y.ptr(), x.dim(0), x.dim(1), hw(x), eps, upper.ptr(), bin.ptr(), stream),
                "bn_eval_clip_quant");
    }

    /** y = lsq(batchNormEval(x)) per channel without the intermediate tensor. */
    public void batchNormEvalLsq(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, Tensor y,
            float eps, Tensor s, int qn, int qp) {
        check(CudaKernels.basq_cuda_bn_eval_lsq_fwd(x.ptr(), gamma.ptr(), beta.ptr(), runningMean.ptr(),
                runningVar.ptr(), y.ptr(), x.dim(0), x.dim(1), hw(x), eps, s.ptr(), qn, qp, stream), "bn_eval_lsq");
    }

    /** Training batch norm followed by the clip quantizer; saveMean and saveInvstd are required. */
    public void batchNormTrainClipQuant(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean,
            Tensor saveInvstd, Tensor runningMean, Tensor runningVar, float eps, float momentum, Tensor upper,
            Tensor bin) {
        check(CudaKernels.basq_cuda_bn_train_clip_quant_fwd(x.ptr(), gamma.ptr(), beta.ptr(), y.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), p(runningMean), p(runningVar), x.dim(0), x.dim(1), hw(x), eps, momentum, upper.ptr(),
                bin.ptr(), stream), "bn_train_clip_quant");
    }

    /** Backward of {@link #batchNormTrainClipQuant}: dx, dgamma, dbeta (may be null) and dupper. */
    public void batchNormClipQuantBackward(Tensor x, Tensor dy, Tensor gamma, Tensor beta, Tensor saveMean,
            Tensor saveInvstd, Tensor upper, Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dupper) {
        check(CudaKernels.basq_cuda_bn_clip_quant_bwd(x.ptr(), dy.ptr(), gamma.ptr(), beta.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), upper.ptr(), dx.ptr(), p(dgamma), p(dbeta), dupper.ptr(), x.dim(0), x.dim(1), hw(x),
                stream), "bn_clip_quant_bwd");
    }

    /** Training batch norm followed by LSQ per channel; saveMean and saveInvstd are required. */
    public void batchNormTrainLsq(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor saveMean, Tensor saveInvstd,
            Tensor runningMean, Tensor runningVar, float eps, float momentum, Tensor s, int qn, int qp) {
        check(CudaKernels.basq_cuda_bn_train_lsq_fwd(x.ptr(), gamma.ptr(), beta.ptr(), y.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), p(runningMean), p(runningVar), x.dim(0), x.dim(1), hw(x), eps, momentum, s.ptr(), qn,
                qp, stream), "bn_train_lsq");
    }

    /** Backward of {@link #batchNormTrainLsq}: dx, dgamma, dbeta (may be null) and ds (scaled by gscale). */
    public void batchNormLsqBackward(Tensor x, Tensor dy, Tensor gamma, Tensor beta, Tensor saveMean,
            Tensor saveInvstd, Tensor s, Tensor dx, Tensor dgamma, Tensor dbeta, Tensor ds, int qn, int qp,
            float gscale) {
        check(CudaKernels.basq_cuda_bn_lsq_bwd(x.ptr(), dy.ptr(), gamma.ptr(), beta.ptr(), saveMean.ptr(),
                saveInvstd.ptr(), s.ptr(), dx.ptr(), p(dgamma), p(dbeta), ds.ptr(), x.dim(0), x.dim(1), hw(x), qn, qp,
                gscale, stream), "bn_lsq_bwd");
    }
}
