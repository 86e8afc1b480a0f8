/*
 * Batch normalization over [N, C, HW] per channel. Training: biased batch variance for the
 * output; running statistics (if not NULL) updated with momentum and the unbiased variance:
 * r = (1 - momentum) * r + momentum * batch_stat. save_mean / save_invstd (C floats each)
 * keep 1/sqrt(var + eps) for the backward.
 */
#ifndef BASQ4J_NORM_H
#define BASQ4J_NORM_H
#include "common.h"

BASQ_API int basq_bn_train_fwd(const float* x, const float* gamma, const float* beta, float* y,
                               float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                               int N, int C, int64_t HW, float eps, float momentum);
BASQ_API int basq_bn_eval_fwd(const float* x, const float* gamma, const float* beta, const float* running_mean,
                              const float* running_var, float* y, int N, int C, int64_t HW, float eps);
/* Backward of the training forward: dx, dgamma, dbeta (all overwritten; dgamma/dbeta may be NULL). */
BASQ_API int basq_bn_bwd(const float* x, const float* dy, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C,
                         int64_t HW);

#endif
