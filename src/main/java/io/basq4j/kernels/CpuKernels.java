package io.basq4j.kernels;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;

/**
 * The CPU kernels as static Java methods: the embeddable, stateless kernel API.
 *
 * <p>Each method is a thin JNI binding of one C function declared in
 * {@code src/main/cpp/include/basq4j/*.h}; the header comments are the contract (shapes,
 * what is overwritten, error codes). Arguments are JavaCPP pointers: wrap a direct
 * {@link java.nio.FloatBuffer} with {@code new FloatPointer(buffer)} to call a kernel on
 * your own memory. Every method returns {@link #OK} or an error code; use
 * {@link Kernels#check(int, String)} to turn a code into an exception.
 */
@Properties(value = @Platform(
        include = {"basq4j/common.h", "basq4j/quant.h", "basq4j/conv.h", "basq4j/norm.h",
                "basq4j/elementwise.h", "basq4j/pool.h", "basq4j/loss.h", "basq4j/optim.h",
                "basq4j/runtime.h", "basq4j/fused.h", "basq4j/infer.h"},
        preload = "gomp@.1",
        link = "basq4j_cpu"))
public final class CpuKernels {
    static {
        // libbasq4j_cpu.so needs libopenblas.so.0, which the OpenBLAS preset extracts and loads.
        Loader.load(org.bytedeco.openblas.global.openblas_nolapack.class);
        Loader.load();
    }

    public static final int OK = 0, EINVAL = 1, EUNSUPPORTED = 2, EDEVICE = 3;

    private CpuKernels() {
    }

    /** Forces the native libraries to load (the static initializer does the work). */
    public static void load() {
    }

    // ---- quant.h
    public static native int basq_clip_quant_fwd(@Const FloatPointer x, FloatPointer y, long n,
            @Const FloatPointer upper, @Const FloatPointer bin);

    public static native int basq_clip_quant_bwd(@Const FloatPointer x, @Const FloatPointer dy, FloatPointer dx,
            FloatPointer dupper, long n, @Const FloatPointer upper);

    public static native int basq_lsq_fwd(@Const FloatPointer x, @Const FloatPointer s, FloatPointer y, int outer,
            int channels, long inner, int qn, int qp);

    public static native int basq_lsq_bwd(@Const FloatPointer x, @Const FloatPointer s, @Const FloatPointer dy,
            FloatPointer dx, FloatPointer ds, int outer, int channels, long inner, int qn, int qp, float gscale);

    public static native int basq_channel_abs_mean(@Const FloatPointer x, FloatPointer out, int outer, int channels,
            long inner);

    // ---- conv.h
    public static native long basq_conv2d_workspace_floats(int N, int Cin, int H, int W, int Cout, int KH, int KW,
            int sh, int sw, int ph, int pw, int groups);

    public static native int basq_conv2d_fwd(@Const FloatPointer x, @Const FloatPointer w, FloatPointer y,
            FloatPointer ws, int N, int Cin, int H, int W, int Cout, int KH, int KW, int sh, int sw, int ph, int pw,
            int groups);

    public static native int basq_conv2d_bwd_data(@Const FloatPointer dy, @Const FloatPointer w, FloatPointer dx,
            FloatPointer ws, int N, int Cin, int H, int W, int Cout, int KH, int KW, int sh, int sw, int ph, int pw,
            int groups);

    public static native int basq_conv2d_bwd_filter(@Const FloatPointer x, @Const FloatPointer dy, FloatPointer dw,
            FloatPointer ws, int N, int Cin, int H, int W, int Cout, int KH, int KW, int sh, int sw, int ph, int pw,
            int groups);

    public static native int basq_linear_fwd(@Const FloatPointer x, @Const FloatPointer w, @Const FloatPointer b,
            FloatPointer y, int N, int IN, int OUT);

    public static native int basq_linear_bwd(@Const FloatPointer x, @Const FloatPointer w, @Const FloatPointer dy,
            FloatPointer dx, FloatPointer dw, FloatPointer db, int N, int IN, int OUT);

    public static native int basq_sgemm(int transA, int transB, int M, int N, int K, float alpha,
            @Const FloatPointer A, int lda, @Const FloatPointer B, int ldb, float beta, FloatPointer C, int ldc);

    // ---- norm.h
    public static native int basq_bn_train_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, FloatPointer y, FloatPointer saveMean, FloatPointer saveInvstd,
            FloatPointer runningMean, FloatPointer runningVar, int N, int C, long HW, float eps, float momentum);

    public static native int basq_bn_eval_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, @Const FloatPointer runningMean, @Const FloatPointer runningVar, FloatPointer y,
            int N, int C, long HW, float eps);

    public static native int basq_bn_bwd(@Const FloatPointer x, @Const FloatPointer dy, @Const FloatPointer gamma,
            @Const FloatPointer saveMean, @Const FloatPointer saveInvstd, FloatPointer dx, FloatPointer dgamma,
            FloatPointer dbeta, int N, int C, long HW);

    // ---- elementwise.h
    public static native int basq_relu_fwd(@Const FloatPointer x, FloatPointer y, long n);

    public static native int basq_relu_bwd(@Const FloatPointer y, @Const FloatPointer dy, FloatPointer dx, long n);

    public static native int basq_add(@Const FloatPointer a, @Const FloatPointer b, FloatPointer y, long n);

    public static native int basq_axpy(float alpha, @Const FloatPointer x, FloatPointer y, long n);

    public static native int basq_scale(FloatPointer x, float alpha, long n);

    public static native int basq_fill(FloatPointer x, float value, long n);

    public static native int basq_copy(@Const FloatPointer x, FloatPointer y, long n);

    public static native int basq_sum_squares(@Const FloatPointer x, long n, FloatPointer out);

    public static native int basq_dropout_fwd(@Const FloatPointer x, FloatPointer y, @Cast("uint8_t*") BytePointer mask,
            long n, float p, @Cast("uint64_t") long seed, @Cast("uint64_t") long offset);

    public static native int basq_dropout_bwd(@Const FloatPointer dy, @Cast("const uint8_t*") BytePointer mask,
            FloatPointer dx, long n, float p);

    // ---- pool.h
    public static native int basq_avgpool_fwd(@Const FloatPointer x, FloatPointer y, int N, int C, int H, int W,
            int k, int s);

    public static native int basq_avgpool_bwd(@Const FloatPointer dy, FloatPointer dx, int N, int C, int H, int W,
            int k, int s);

    public static native int basq_global_avgpool_fwd(@Const FloatPointer x, FloatPointer y, int N, int C, long HW);

    public static native int basq_global_avgpool_bwd(@Const FloatPointer dy, FloatPointer dx, int N, int C, long HW);

    public static native int basq_maxpool_fwd(@Const FloatPointer x, FloatPointer y, IntPointer idx, int N, int C,
            int H, int W, int k, int s, int p);

    public static native int basq_maxpool_bwd(@Const FloatPointer dy, @Const IntPointer idx, FloatPointer dx, int N,
            int C, int H, int W, int k, int s, int p);

    public static native int basq_flex_skip_fwd(@Const FloatPointer x, FloatPointer y, int N, int Cin, int Cout,
            long HW);

    public static native int basq_flex_skip_bwd(@Const FloatPointer dy, FloatPointer dx, int N, int Cin, int Cout,
            long HW);

    // ---- loss.h
    public static native int basq_softmax_xent_fwd(@Const FloatPointer logits,
            @Cast("const int64_t*") LongPointer target, FloatPointer loss, FloatPointer prob, int N, int K);

    public static native int basq_softmax_xent_bwd(@Const FloatPointer prob, @Cast("const int64_t*") LongPointer target,
            @Const FloatPointer dloss, FloatPointer dlogits, int N, int K);

    public static native int basq_kd_loss_fwd(@Const FloatPointer student, @Const FloatPointer teacher,
            FloatPointer loss, FloatPointer pStudent, FloatPointer pTeacher, int N, int K);

    public static native int basq_kd_loss_bwd(@Const FloatPointer pStudent, @Const FloatPointer pTeacher,
            @Const FloatPointer dloss, FloatPointer dstudent, int N, int K);

    // ---- optim.h
    public static native int basq_adam_step(FloatPointer p, @Const FloatPointer g, FloatPointer m, FloatPointer v,
            long n, double stepSize, double beta1, double beta2, double eps, double wd, double bc2Sqrt);

    public static native int basq_sgd_step(FloatPointer p, @Const FloatPointer g, FloatPointer buf, long n, float lr,
            float momentum, float wd, int nesterov);

    // ---- fused.h (the BASQ block: batch norm + quantizer, and a unit's tail)
    public static native int basq_bn_eval_clip_quant_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, @Const FloatPointer runningMean, @Const FloatPointer runningVar, FloatPointer y,
            int N, int C, long HW, float eps, @Const FloatPointer upper, @Const FloatPointer bin);

    public static native int basq_bn_eval_lsq_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, @Const FloatPointer runningMean, @Const FloatPointer runningVar, FloatPointer y,
            int N, int C, long HW, float eps, @Const FloatPointer s, int qn, int qp);

    public static native int basq_bn_train_clip_quant_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, FloatPointer y, FloatPointer saveMean, FloatPointer saveInvstd,
            FloatPointer runningMean, FloatPointer runningVar, int N, int C, long HW, float eps, float momentum,
            @Const FloatPointer upper, @Const FloatPointer bin);

    public static native int basq_bn_clip_quant_bwd(@Const FloatPointer x, @Const FloatPointer dy,
            @Const FloatPointer gamma, @Const FloatPointer beta, @Const FloatPointer saveMean,
            @Const FloatPointer saveInvstd, @Const FloatPointer upper, FloatPointer dx, FloatPointer dgamma,
            FloatPointer dbeta, FloatPointer dupper, int N, int C, long HW);

    public static native int basq_bn_train_lsq_fwd(@Const FloatPointer x, @Const FloatPointer gamma,
            @Const FloatPointer beta, FloatPointer y, FloatPointer saveMean, FloatPointer saveInvstd,
            FloatPointer runningMean, FloatPointer runningVar, int N, int C, long HW, float eps, float momentum,
            @Const FloatPointer s, int qn, int qp);

    public static native int basq_bn_lsq_bwd(@Const FloatPointer x, @Const FloatPointer dy, @Const FloatPointer gamma,
            @Const FloatPointer beta, @Const FloatPointer saveMean, @Const FloatPointer saveInvstd,
            @Const FloatPointer s, FloatPointer dx, FloatPointer dgamma, FloatPointer dbeta, FloatPointer ds, int N,
            int C, long HW, int qn, int qp, float gscale);

    public static native int basq_unit_tail_eval_fwd(@Const FloatPointer z, @Const FloatPointer gamma1,
            @Const FloatPointer beta1, @Const FloatPointer mean1, @Const FloatPointer var1, @Const FloatPointer skip,
            int Cskip, @Const FloatPointer gamma2, @Const FloatPointer beta2, @Const FloatPointer mean2,
            @Const FloatPointer var2, @Const FloatPointer res, FloatPointer y, int N, int C, long HW, float eps);

    public static native int basq_unit_tail_train_fwd(@Const FloatPointer z, @Const FloatPointer gamma1,
            @Const FloatPointer beta1, FloatPointer saveMean1, FloatPointer saveInvstd1, FloatPointer runningMean1,
            FloatPointer runningVar1, @Const FloatPointer skip, int Cskip, @Const FloatPointer gamma2,
            @Const FloatPointer beta2, FloatPointer saveMean2, FloatPointer saveInvstd2, FloatPointer runningMean2,
            FloatPointer runningVar2, FloatPointer s, FloatPointer y, int N, int C, long HW, float eps,
            float momentum);

    public static native int basq_unit_tail_bwd(@Const FloatPointer z, @Const FloatPointer s, @Const FloatPointer dy,
            @Const FloatPointer gamma1, @Const FloatPointer beta1, @Const FloatPointer saveMean1,
            @Const FloatPointer saveInvstd1, @Const FloatPointer gamma2, @Const FloatPointer saveMean2,
            @Const FloatPointer saveInvstd2, FloatPointer ds, FloatPointer dz, FloatPointer dgamma1,
            FloatPointer dbeta1, FloatPointer dgamma2, FloatPointer dbeta2, int N, int C, long HW);

    // ---- runtime.h
    public static native int basq_num_threads();

    public static native void basq_set_num_threads(int n);

    public static native int basq_blas_num_threads();

    public static native void basq_blas_set_num_threads(int n);

    public static native @Cast("const char*") BytePointer basq_blas_config();

    public static native @Cast("const char*") BytePointer basq_version();

    // ---- infer.h (inference of a deployed network: NHWC units with integer weight codes)
    public static native int basq_infer_isa();

    public static native int basq_infer_set_isa(int level);

    public static native long basq_infer_packed_bytes_pw(int cin, int cout);

    public static native int basq_infer_pack_pw(@Cast("const int8_t*") BytePointer codes, int cin, int cout,
            Pointer packed);

    public static native long basq_infer_packed_bytes_dw(int c);

    public static native int basq_infer_pack_dw(@Cast("const int8_t*") BytePointer codes, int c, Pointer packed);

    public static native long basq_infer_packed_bytes_conv(int cin, int cout);

    public static native int basq_infer_pack_conv(@Cast("const int8_t*") BytePointer codes, int cin, int cout,
            Pointer packed);

    public static native long basq_infer_packed_bytes_stem(int cin, int cout, int k);

    public static native int basq_infer_pack_stem(@Const FloatPointer w, int cin, int cout, int k, Pointer packed);

    public static native long basq_infer_stem_workspace(int n, int cin, int h, int w, int cout, int k, int stride,
            int pad, int threads);

    public static native int basq_infer_stem(@Const FloatPointer x, int n, int cin, int h, int w,
            @Const Pointer packed, int cout, int k, int stride, int pad, @Const FloatPointer bn, FloatPointer y,
            Pointer ws, long wsBytes);

    public static native int basq_infer_maxpool(@Const FloatPointer x, int n, int h, int w, int c, int k, int s,
            int p, FloatPointer y);

    public static native long basq_infer_pw_workspace(int m, int cin, int cout, int threads);

    public static native int basq_infer_pw_unit(@Const FloatPointer x, int m, int cin, int cout,
            @Const FloatPointer pro, int qa, @Const Pointer packed, @Const FloatPointer epi, @Const FloatPointer res,
            FloatPointer y, Pointer ws, long wsBytes);

    public static native long basq_infer_dw_workspace(int n, int h, int w, int c, int stride, int threads);

    public static native int basq_infer_dw_unit(@Const FloatPointer x, int n, int h, int w, int c, int stride,
            @Const FloatPointer pro, float top, int bits, @Const Pointer packed, @Const FloatPointer epi,
            @Const FloatPointer res, FloatPointer y, Pointer ws, long wsBytes);

    public static native long basq_infer_conv_workspace(int n, int h, int w, int cin, int cout, int stride,
            int threads);

    public static native int basq_infer_conv_unit(@Const FloatPointer x, int n, int h, int w, int cin, int cout,
            int stride, @Const FloatPointer pro, float top, @Const Pointer packed, @Const FloatPointer epi,
            @Const FloatPointer res, FloatPointer y, Pointer ws, long wsBytes);

    public static native int basq_infer_head(@Const FloatPointer x, int n, long hw, int c, @Const FloatPointer w,
            @Const FloatPointer b, int classes, FloatPointer logits, FloatPointer ws);
}
