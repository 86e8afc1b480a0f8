package io.basq4j.kernels;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * The CUDA kernels as static Java methods, mirroring {@link CpuKernels}: each is a thin JNI
 * binding of one C function of {@code src/main/cuda/basq4j/cuda_kernels.h}, whose comments
 * are the contract (the CPU header's, plus a trailing stream argument and device pointers).
 *
 * <p>Loaded lazily: nothing here is touched unless the CUDA backend is asked for. The static
 * initializer loads the CUDA runtime through the JavaCPP presets first (which fails cleanly,
 * with an {@link UnsatisfiedLinkError}, where no NVIDIA driver is installed), then the kernel
 * library. Builds made without nvcc contain this class but not its native library
 * ({@code io.basq4j.tensor.CudaBackend.kernelsInBuild()} says which without loading anything).
 *
 * <p>Pointers are device addresses (wrap one with a {@code FloatPointer} whose address is
 * set); {@code stream} is a {@code cudaStream_t} (e.g. a presets {@code CUstream_st}), or
 * null for the default stream.
 */
@Properties(value = @Platform(include = {"basq4j/common.h", "basq4j/cuda_kernels.h"}, link = "basq4j_cuda"))
public final class CudaKernels {
    static {
        Loader.load(org.bytedeco.cuda.global.cudart.class);
        Loader.load();
    }

    private CudaKernels() {
    }

    /** Forces the native libraries to load (the static initializer does the work). */
    public static void load() {
    }

    // ---- quant.h
    public static native int basq_cuda_clip_quant_fwd(@Const FloatPointer x, FloatPointer y, long n,
            @Const FloatPointer upper, @Const FloatPointer bin, Pointer stream);

    public static native int basq_cuda_clip_quant_bwd(@Const FloatPointer x, @Const FloatPointer dy,
            FloatPointer dx, FloatPointer dupper, long n, @Const FloatPointer upper, Pointer stream);

    public static native int basq_cuda_lsq_fwd(@Const FloatPointer x, @Const FloatPointer s, FloatPointer y,
            int outer, int channels, long inner, int qn, int qp, Pointer stream);

    public static native int basq_cuda_lsq_bwd(@Const FloatPointer x, @Const FloatPointer s, @Const FloatPointer dy,
            FloatPointer dx, FloatPointer ds, int outer, int channels, long inner, int qn, int qp, float gscale,
            Pointer stream);

    public static native int basq_cuda_channel_abs_mean(@Const FloatPointer x, FloatPointer out, int outer,
            int channels, long inner, Pointer stream);

    // ---- norm.h
    public static native int basq_cuda_bn_train_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, FloatPointer y, FloatPointer saveMean, FloatPointer saveInvstd,
            FloatPointer runningMean, FloatPointer runningVar, int N, int C, long HW, float eps, float momentum,
            Pointer stream);

    public static native int basq_cuda_bn_eval_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, @Const FloatPointer runningMean, @Const FloatPointer runningVar, FloatPointer y,
            int N, int C, long HW, float eps, Pointer stream);

    public static native int basq_cuda_bn_bwd(@Const FloatPointer x, @Const FloatPointer dy,
            @Const FloatPointer gamma, @Const FloatPointer saveMean, @Const FloatPointer saveInvstd, FloatPointer dx,
            FloatPointer dgamma, FloatPointer dbeta, int N, int C, long HW, Pointer stream);

    // ---- elementwise.h
    public static native int basq_cuda_relu_fwd(@Const FloatPointer x, FloatPointer y, long n, Pointer stream);

    public static native int basq_cuda_relu_bwd(@Const FloatPointer y, @Const FloatPointer dy, FloatPointer dx,
            long n, Pointer stream);

    public static native int basq_cuda_add(@Const FloatPointer a, @Const FloatPointer b, FloatPointer y, long n,
            Pointer stream);

    public static native int basq_cuda_axpy(float alpha, @Const FloatPointer x, FloatPointer y, long n,
            Pointer stream);

    public static native int basq_cuda_scale(FloatPointer x, float alpha, long n, Pointer stream);

    public static native int basq_cuda_fill(FloatPointer x, float value, long n, Pointer stream);

    public static native int basq_cuda_copy(@Const FloatPointer x, FloatPointer y, long n, Pointer stream);

    public static native int basq_cuda_sum_squares(@Const FloatPointer x, long n, FloatPointer out, DoublePointer work,
            Pointer stream);

    /** Doubles of workspace that basq_cuda_sum_squares_multi needs for count arrays of ns[i] floats (host array). */
    public static native long basq_cuda_sum_squares_work(int count, @Cast("const int64_t*") LongPointer ns);

    /** xs: a host array of count device pointers; ns: a host array of their lengths; out: one device double. */
    public static native int basq_cuda_sum_squares_multi(@Cast("const float*const*") PointerPointer<?> xs,
            @Cast("const int64_t*") LongPointer ns, int count, DoublePointer out, DoublePointer work, Pointer stream);

    public static native int basq_cuda_dropout_fwd(@Const FloatPointer x, FloatPointer y,
            @Cast("uint8_t*") BytePointer mask, long n, float p, @Cast("uint64_t") long seed,
            @Cast("uint64_t") long offset, Pointer stream);

    public static native int basq_cuda_dropout_bwd(@Const FloatPointer dy, @Cast("const uint8_t*") BytePointer mask,
            FloatPointer dx, long n, float p, Pointer stream);

    // ---- pool.h
    public static native int basq_cuda_avgpool_fwd(@Const FloatPointer x, FloatPointer y, int N, int C, int H,
            int W, int k, int s, Pointer stream);

    public static native int basq_cuda_avgpool_bwd(@Const FloatPointer dy, FloatPointer dx, int N, int C, int H,
            int W, int k, int s, Pointer stream);

    public static native int basq_cuda_global_avgpool_fwd(@Const FloatPointer x, FloatPointer y, int N, int C,
            long HW, Pointer stream);

    public static native int basq_cuda_global_avgpool_bwd(@Const FloatPointer dy, FloatPointer dx, int N, int C,
            long HW, Pointer stream);

    public static native int basq_cuda_maxpool_fwd(@Const FloatPointer x, FloatPointer y, IntPointer idx, int N,
            int C, int H, int W, int k, int s, int p, Pointer stream);

    public static native int basq_cuda_maxpool_bwd(@Const FloatPointer dy, @Const IntPointer idx, FloatPointer dx,
            int N, int C, int H, int W, int k, int s, int p, Pointer stream);

    public static native int basq_cuda_flex_skip_fwd(@Const FloatPointer x, FloatPointer y, int N, int Cin,
            int Cout, long HW, Pointer stream);

    public static native int basq_cuda_flex_skip_bwd(@Const FloatPointer dy, FloatPointer dx, int N, int Cin,
            int Cout, long HW, Pointer stream);

    // ---- loss.h
    /** Doubles of workspace the loss forwards need for N rows. */
    public static native long basq_cuda_loss_work(int N);

    public static native int basq_cuda_softmax_xent_fwd(@Const FloatPointer logits,
            @Cast("const int64_t*") LongPointer target, FloatPointer loss, FloatPointer prob, int N, int K,
            DoublePointer work, Pointer stream);

    public static native int basq_cuda_softmax_xent_bwd(@Const FloatPointer prob,
            @Cast("const int64_t*") LongPointer target, @Const FloatPointer dloss, FloatPointer dlogits, int N, int K,
            Pointer stream);

    public static native int basq_cuda_kd_loss_fwd(@Const FloatPointer student, @Const FloatPointer teacher,
            FloatPointer loss, FloatPointer pStudent, FloatPointer pTeacher, int N, int K, DoublePointer work,
            Pointer stream);

    public static native int basq_cuda_kd_loss_bwd(@Const FloatPointer pStudent, @Const FloatPointer pTeacher,
            @Const FloatPointer dloss, FloatPointer dstudent, int N, int K, Pointer stream);

    // ---- optim.h
    public static native int basq_cuda_adam_step(FloatPointer p, @Const FloatPointer g, FloatPointer m,
            FloatPointer v, long n, double stepSize, double beta1, double beta2, double eps, double wd, double bc2Sqrt,
            Pointer stream);

    public static native int basq_cuda_sgd_step(FloatPointer p, @Const FloatPointer g, FloatPointer buf, long n,
            float lr, float momentum, float wd, int nesterov, Pointer stream);

    // ---- linear-layer helpers
    public static native int basq_cuda_bias_add(FloatPointer y, @Const FloatPointer b, int N, int OUT,
            Pointer stream);

    public static native int basq_cuda_col_sum(@Const FloatPointer dy, FloatPointer db, int N, int OUT,
            Pointer stream);

    // ---- fused kernels for the BASQ block
    public static native long basq_cuda_clip_mask_words(long n);

    public static native int basq_cuda_clip_quant_fwd_mask(@Const FloatPointer x, FloatPointer y,
            @Cast("uint32_t*") IntPointer bits, long n, @Const FloatPointer upper, @Const FloatPointer bin,
            Pointer stream);

    public static native int basq_cuda_clip_quant_bwd_mask(@Cast("const uint32_t*") IntPointer bits,
            @Const FloatPointer dy, FloatPointer dx, FloatPointer dupper, long n, Pointer stream);

    public static native int basq_cuda_bn_eval_clip_quant_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, @Const FloatPointer runningMean, @Const FloatPointer runningVar, FloatPointer y,
            int N, int C, long HW, float eps, @Const FloatPointer upper, @Const FloatPointer bin, Pointer stream);

    public static native int basq_cuda_bn_eval_lsq_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, @Const FloatPointer runningMean, @Const FloatPointer runningVar, FloatPointer y,
            int N, int C, long HW, float eps, @Const FloatPointer s, int qn, int qp, Pointer stream);

    public static native int basq_cuda_bn_train_clip_quant_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, FloatPointer y, FloatPointer saveMean, FloatPointer saveInvstd,
            FloatPointer runningMean, FloatPointer runningVar, int N, int C, long HW, float eps, float momentum,
            @Const FloatPointer upper, @Const FloatPointer bin, Pointer stream);

    public static native int basq_cuda_bn_clip_quant_bwd(@Const FloatPointer x, @Const FloatPointer dy,
            @Const FloatPointer gamma, @Const FloatPointer beta, @Const FloatPointer saveMean,
            @Const FloatPointer saveInvstd, @Const FloatPointer upper, FloatPointer dx, FloatPointer dgamma,
            FloatPointer dbeta, FloatPointer dupper, int N, int C, long HW, Pointer stream);

    public static native int basq_cuda_bn_train_lsq_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, FloatPointer y, FloatPointer saveMean, FloatPointer saveInvstd,
            FloatPointer runningMean, FloatPointer runningVar, int N, int C, long HW, float eps, float momentum,
            @Const FloatPointer s, int qn, int qp, Pointer stream);

    public static native int basq_cuda_bn_lsq_bwd(@Const FloatPointer x, @Const FloatPointer dy,
            @Const FloatPointer gamma, @Const FloatPointer beta, @Const FloatPointer saveMean,
            @Const FloatPointer saveInvstd, @Const FloatPointer s, FloatPointer dx, FloatPointer dgamma,
            FloatPointer dbeta, FloatPointer ds, int N, int C, long HW, int qn, int qp, float gscale, Pointer stream);

    // ---- runtime
    public static native @Cast("const char*") BytePointer basq_cuda_version();

    public static native @Cast("const char*") BytePointer basq_cuda_last_error();
}
