/*
 * basq4j CUDA kernels (libbasq4j_cuda): the CPU ABI of src/main/cpp/include/basq4j/*.h with the
 * prefix basq_cuda_ and one more trailing argument, the stream (a cudaStream_t passed as void*;
 * NULL is the default stream). The header comments of the CPU functions are the contract; what
 * differs on the device is said here.
 *
 * - Every pointer is a device pointer, the one-float scalars too (upper, bin, dupper, loss, dloss).
 * - A call enqueues its kernels on the stream and returns at once. The return code reports
 *   argument errors (BASQ_EINVAL) and BASQ_EDEVICE when cudaGetLastError reports an error after
 *   the launch: a failed launch, or an asynchronous fault of an earlier kernel (on any stream)
 *   that has become sticky. A fault while a kernel runs surfaces at the next synchronization
 *   of the stream, or at the next call that returns BASQ_EDEVICE; CUDA_LAUNCH_BLOCKING=1 makes
 *   every launch synchronous, so that the call that returns the error is the one that faulted.
 * - Conditions that the CPU detects by reading the data cannot be returned without a
 *   synchronization: an out-of-range target makes the loss NaN (and its row gets no one-hot
 *   term in the backward); an argmax index outside its window is ignored by maxpool_bwd.
 * - Reductions are deterministic: they run over a partition of the data that depends on the
 *   sizes only (not on the device), with fixed-order trees in double, so the same inputs give
 *   bitwise the same outputs on every run and every GPU. They are grid-wide (many blocks), and
 *   not bitwise the CPU's: the order differs, so a sum rounded to float may differ from the
 *   CPU's by an ulp (exactly equal where the sum in double is exact in any order).
 * - Element formulas are the CPU's (quant_math.h, and bn_engine.h's scales): with the same
 *   inputs, the same float operations (the library is built with --fmad=false, as the
 *   emulation's checks assume; see build-native/build.sh).
 * - Per-channel reductions keep their per-block partial sums in the first floats of their big
 *   output (dx, y) between their kernels, and restore them: no workspace, no atomics. Hence
 *   the big output must not alias an input there (clip/LSQ/BN backward, BN training forward and
 *   the fused kernels): BASQ_EINVAL. The sums of squares and the loss forwards, which have no
 *   big output, take a workspace of doubles from the caller (sizes: the *_work functions).
 * - Nothing here allocates, prints or synchronizes.
 *
 * Beyond the CPU set: helpers for a cuBLAS linear layer, and fused kernels for the BASQ block
 * (batch norm followed by a quantizer, SPEC 2; a clip quantizer that keeps bit masks instead of
 * its input for the backward). Convolutions and matrix products are cuDNN's and cuBLAS's,
 * called from Java (io.basq4j.tensor.CudaBackend).
 */
#ifndef BASQ4J_CUDA_KERNELS_H
#define BASQ4J_CUDA_KERNELS_H
#include "basq4j/common.h"

/* ---- quant.h */
BASQ_API int basq_cuda_clip_quant_fwd(const float* x, float* y, int64_t n, const float* upper, const float* bin,
                                      void* stream);
BASQ_API int basq_cuda_clip_quant_bwd(const float* x, const float* dy, float* dx, float* dupper, int64_t n,
                                      const float* upper, void* stream);
BASQ_API int basq_cuda_lsq_fwd(const float* x, const float* s, float* y, int outer, int channels, int64_t inner,
                               int qn, int qp, void* stream);
BASQ_API int basq_cuda_lsq_bwd(const float* x, const float* s, const float* dy, float* dx, float* ds, int outer,
                               int channels, int64_t inner, int qn, int qp, float gscale, void* stream);
BASQ_API int basq_cuda_channel_abs_mean(const float* x, float* out, int outer, int channels, int64_t inner,
                                        void* stream);

/* ---- norm.h (save_mean/save_invstd and running_mean/running_var may be NULL as on the CPU) */
BASQ_API int basq_cuda_bn_train_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                    float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                    int N, int C, int64_t HW, float eps, float momentum, void* stream);
BASQ_API int basq_cuda_bn_eval_fwd(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                   const float* running_var, float* y, int N, int C, int64_t HW, float eps,
                                   void* stream);
BASQ_API int basq_cuda_bn_bwd(const float* x, const float* dy, const float* gamma, const float* save_mean,
                              const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C,
                              int64_t HW, void* stream);

/* ---- elementwise.h (dropout: the CPU's counter-based hash, so both give the same masks) */
BASQ_API int basq_cuda_relu_fwd(const float* x, float* y, int64_t n, void* stream);
BASQ_API int basq_cuda_relu_bwd(const float* y, const float* dy, float* dx, int64_t n, void* stream);
BASQ_API int basq_cuda_add(const float* a, const float* b, float* y, int64_t n, void* stream);
BASQ_API int basq_cuda_axpy(float alpha, const float* x, float* y, int64_t n, void* stream);
BASQ_API int basq_cuda_scale(float* x, float alpha, int64_t n, void* stream);
BASQ_API int basq_cuda_fill(float* x, float value, int64_t n, void* stream);
BASQ_API int basq_cuda_copy(const float* x, float* y, int64_t n, void* stream);
/* *out (device, one float) = the sum of squares of x[0..n); work: basq_cuda_sum_squares_work(1, &n) doubles. */
BASQ_API int basq_cuda_sum_squares(const float* x, int64_t n, float* out, double* work, void* stream);
BASQ_API int basq_cuda_dropout_fwd(const float* x, float* y, uint8_t* mask, int64_t n, float p, uint64_t seed,
                                   uint64_t offset, void* stream);
BASQ_API int basq_cuda_dropout_bwd(const float* dy, const uint8_t* mask, float* dx, int64_t n, float p,
                                   void* stream);

/*
 * Sum of squares of count device arrays at once (a gradient norm with one kernel sequence and
 * one read-back): *out (device, one double) = the sum over i, in order, in double, of
 * (float)(sum of squares of xs[i][0..ns[i])), each inner sum as basq_cuda_sum_squares computes
 * it. xs and ns are host arrays (read during the call); work: device scratch of
 * basq_cuda_sum_squares_work(count, ns) doubles (-1: bad arguments).
 */
BASQ_API int64_t basq_cuda_sum_squares_work(int count, const int64_t* ns);
BASQ_API int basq_cuda_sum_squares_multi(const float* const* xs, const int64_t* ns, int count, double* out,
                                         double* work, void* stream);

/* ---- pool.h */
BASQ_API int basq_cuda_avgpool_fwd(const float* x, float* y, int N, int C, int H, int W, int k, int s, void* stream);
BASQ_API int basq_cuda_avgpool_bwd(const float* dy, float* dx, int N, int C, int H, int W, int k, int s,
                                   void* stream);
BASQ_API int basq_cuda_global_avgpool_fwd(const float* x, float* y, int N, int C, int64_t HW, void* stream);
BASQ_API int basq_cuda_global_avgpool_bwd(const float* dy, float* dx, int N, int C, int64_t HW, void* stream);
BASQ_API int basq_cuda_maxpool_fwd(const float* x, float* y, int32_t* idx, int N, int C, int H, int W, int k, int s,
                                   int p, void* stream);
BASQ_API int basq_cuda_maxpool_bwd(const float* dy, const int32_t* idx, float* dx, int N, int C, int H, int W, int k,
                                   int s, int p, void* stream);
BASQ_API int basq_cuda_flex_skip_fwd(const float* x, float* y, int N, int Cin, int Cout, int64_t HW, void* stream);
BASQ_API int basq_cuda_flex_skip_bwd(const float* dy, float* dx, int N, int Cin, int Cout, int64_t HW, void* stream);

/* ---- loss.h (the forwards take a workspace of basq_cuda_loss_work(N) doubles: per-block parts of
 * the batch mean, summed in a fixed order) */
BASQ_API int64_t basq_cuda_loss_work(int N);
BASQ_API int basq_cuda_softmax_xent_fwd(const float* logits, const int64_t* target, float* loss, float* prob, int N,
                                        int K, double* work, void* stream);
BASQ_API int basq_cuda_softmax_xent_bwd(const float* prob, const int64_t* target, const float* dloss,
                                        float* dlogits, int N, int K, void* stream);
BASQ_API int basq_cuda_kd_loss_fwd(const float* student, const float* teacher, float* loss, float* p_student,
                                   float* p_teacher, int N, int K, double* work, void* stream);
BASQ_API int basq_cuda_kd_loss_bwd(const float* p_student, const float* p_teacher, const float* dloss,
                                   float* dstudent, int N, int K, void* stream);

/* ---- optim.h */
BASQ_API int basq_cuda_adam_step(float* p, const float* g, float* m, float* v, int64_t n, double step_size,
                                 double beta1, double beta2, double eps, double wd, double bc2_sqrt, void* stream);
BASQ_API int basq_cuda_sgd_step(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float wd,
                                int nesterov, void* stream);

/* ---- linear-layer helpers around cuBLAS */
/* y[n, o] += b[o] for y [N, OUT]. */
BASQ_API int basq_cuda_bias_add(float* y, const float* b, int N, int OUT, void* stream);
/* db[o] = sum over n of dy[n, o] (in double, a fixed order that depends on N) for dy [N, OUT]. */
BASQ_API int basq_cuda_col_sum(const float* dy, float* db, int N, int OUT, void* stream);

/* ---- fused kernels for the BASQ block (SPEC 2: BN_a feeds only its quantizer) */

/*
 * Clip quantizer with bit masks: the forward also writes 2 * ceil(n/32) words, bit i of the
 * first ceil(n/32) words says 0 < x[i] < u (dx passes), of the last ceil(n/32) says x[i] > u
 * (adds to du). The backward then needs the masks and dy, not x: 1/16 of x's memory.
 */
BASQ_API int64_t basq_cuda_clip_mask_words(int64_t n);
BASQ_API int basq_cuda_clip_quant_fwd_mask(const float* x, float* y, uint32_t* bits, int64_t n, const float* upper,
                                           const float* bin, void* stream);
BASQ_API int basq_cuda_clip_quant_bwd_mask(const uint32_t* bits, const float* dy, float* dx, float* dupper,
                                           int64_t n, void* stream);

/* Evaluation batch norm followed by a quantizer, without the intermediate tensor. */
BASQ_API int basq_cuda_bn_eval_clip_quant_fwd(const float* x, const float* gamma, const float* beta,
                                              const float* running_mean, const float* running_var, float* y, int N,
                                              int C, int64_t HW, float eps, const float* upper, const float* bin,
                                              void* stream);
BASQ_API int basq_cuda_bn_eval_lsq_fwd(const float* x, const float* gamma, const float* beta,
                                       const float* running_mean, const float* running_var, float* y, int N, int C,
                                       int64_t HW, float eps, const float* s, int qn, int qp, void* stream);

/*
 * Training batch norm followed by a quantizer: y = Q(z), z = (x - mean) * a + beta with
 * a = (float)(gamma * (double)save_invstd), recomputed by the backward from x (z is never
 * stored). save_mean and save_invstd are required; running statistics as bn_train_fwd.
 * The backward returns dx, dgamma, dbeta (may be NULL) and the quantizer's parameter
 * gradient: *dupper (clip) or ds[C] (LSQ per channel, scaled by gscale).
 */
BASQ_API int basq_cuda_bn_train_clip_quant_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                               float* save_mean, float* save_invstd, float* running_mean,
                                               float* running_var, int N, int C, int64_t HW, float eps,
                                               float momentum, const float* upper, const float* bin, void* stream);
BASQ_API int basq_cuda_bn_clip_quant_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                                         const float* save_mean, const float* save_invstd, const float* upper,
                                         float* dx, float* dgamma, float* dbeta, float* dupper, int N, int C,
                                         int64_t HW, void* stream);
BASQ_API int basq_cuda_bn_train_lsq_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                        float* save_mean, float* save_invstd, float* running_mean,
                                        float* running_var, int N, int C, int64_t HW, float eps, float momentum,
                                        const float* s, int qn, int qp, void* stream);
BASQ_API int basq_cuda_bn_lsq_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                                  const float* save_mean, const float* save_invstd, const float* s, float* dx,
                                  float* dgamma, float* dbeta, float* ds, int N, int C, int64_t HW, int qn, int qp,
                                  float gscale, void* stream);

/* ---- runtime */
/* Version of the kernel library and the architectures it was compiled for. */
BASQ_API const char* basq_cuda_version(void);
/* The last CUDA error of this thread as text (clears it), for messages after BASQ_EDEVICE. */
BASQ_API const char* basq_cuda_last_error(void);

#endif
