/*
 * Fused kernels of the BASQ block (SPEC 2) on the CPU: batch norm followed by a quantizer, and
 * the tail of a unit, y = BN_c(ReLU(BN_b(z)) + F(skip)). Each computes what the sequence of
 * plain kernels computes (same per-element formulas, bit for bit; sums over a channel in
 * double, possibly in another order than the plain quantizer kernels) while moving each
 * activation through memory fewer times and, in training, keeping fewer tensors for the
 * backward: a backward recomputes the batch norm's output from its input and the saved
 * statistics (the training forward's scale is gamma times the saved float invstd, exactly).
 *
 * Shapes: x, y, z, dy, dx ... are [N, C, HW]; per-channel vectors have C floats; upper, bin
 * point to one float each; s (LSQ steps) has C floats. Outputs are overwritten. save_mean /
 * save_invstd must not be NULL in the training forwards; running statistics may be NULL (no
 * update), and dgamma / dbeta may be NULL (not wanted). The CUDA library has the BN +
 * quantizer functions with the prefix basq_cuda_ and a trailing stream (cuda_kernels.h).
 */
#ifndef BASQ4J_FUSED_H
#define BASQ4J_FUSED_H
#include "common.h"

/* ---- batch norm (evaluation: running statistics) followed by a quantizer */

/* y = clip_quant(bn_eval(x)) */
BASQ_API int basq_bn_eval_clip_quant_fwd(const float* x, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var, float* y, int N, int C,
                                         int64_t HW, float eps, const float* upper, const float* bin);
/* y = lsq(bn_eval(x)) with one step per channel and integer range [qn, qp] */
BASQ_API int basq_bn_eval_lsq_fwd(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                  const float* running_var, float* y, int N, int C, int64_t HW, float eps,
                                  const float* s, int qn, int qp);

/* ---- batch norm (training: batch statistics) followed by a quantizer, and their backwards */

/* y = clip_quant(bn_train(x)); the batch norm's output is not stored. */
BASQ_API int basq_bn_train_clip_quant_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                          float* save_mean, float* save_invstd, float* running_mean,
                                          float* running_var, int N, int C, int64_t HW, float eps, float momentum,
                                          const float* upper, const float* bin);
/* From dy (the gradient of y): dx, dgamma, dbeta and *dupper (the bound's gradient). */
BASQ_API int basq_bn_clip_quant_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                                    const float* save_mean, const float* save_invstd, const float* upper, float* dx,
                                    float* dgamma, float* dbeta, float* dupper, int N, int C, int64_t HW);
/* y = lsq(bn_train(x)) */
BASQ_API int basq_bn_train_lsq_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                   float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                   int N, int C, int64_t HW, float eps, float momentum, const float* s, int qn,
                                   int qp);
/* dx, dgamma, dbeta and ds[c] = gscale * sum dy * r (r as basq_lsq_bwd). */
BASQ_API int basq_bn_lsq_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                             const float* save_mean, const float* save_invstd, const float* s, float* dx,
                             float* dgamma, float* dbeta, float* ds, int N, int C, int64_t HW, int qn, int qp,
                             float gscale);

/* ---- the tail of a BASQ unit: y = BN2(ReLU(BN1(z)) + F(skip)) (+ res)
 *
 * skip is [N, Cskip, HW] and F(skip) the flexible skip of pool.h to C channels (identity,
 * tiling or folding); z and y are [N, C, HW]. */

/* Evaluation: both batch norms with running statistics; res (may be NULL) is added last. */
BASQ_API int basq_unit_tail_eval_fwd(const float* z, const float* gamma1, const float* beta1, const float* mean1,
                                     const float* var1, const float* skip, int Cskip, const float* gamma2,
                                     const float* beta2, const float* mean2, const float* var2, const float* res,
                                     float* y, int N, int C, int64_t HW, float eps);
/*
 * Training: s = ReLU(BN1(z)) + F(skip) is written (the backward needs it; BN1's output and the
 * ReLU output are not stored), y = BN2(s). save_* of both batch norms are required, running
 * statistics may be NULL.
 */
BASQ_API int basq_unit_tail_train_fwd(const float* z, const float* gamma1, const float* beta1, float* save_mean1,
                                      float* save_invstd1, float* running_mean1, float* running_var1,
                                      const float* skip, int Cskip, const float* gamma2, const float* beta2,
                                      float* save_mean2, float* save_invstd2, float* running_mean2,
                                      float* running_var2, float* s, float* y, int N, int C, int64_t HW, float eps,
                                      float momentum);
/*
 * Backward from dy: ds (the gradient of s, which is also that of F(skip): apply
 * basq_flex_skip_bwd for skip's own), dz, and the four affine gradients (each may be NULL).
 */
BASQ_API int basq_unit_tail_bwd(const float* z, const float* s, const float* dy, const float* gamma1,
                                const float* beta1, const float* save_mean1, const float* save_invstd1,
                                const float* gamma2, const float* save_mean2, const float* save_invstd2, float* ds,
                                float* dz, float* dgamma1, float* dbeta1, float* dgamma2, float* dbeta2, int N, int C,
                                int64_t HW);

#endif
