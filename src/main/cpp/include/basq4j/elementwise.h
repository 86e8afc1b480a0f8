/* Element-wise kernels, reductions and dropout. */
#ifndef BASQ4J_ELEMENTWISE_H
#define BASQ4J_ELEMENTWISE_H
#include "common.h"

BASQ_API int basq_relu_fwd(const float* x, float* y, int64_t n);
/* dx = dy where y > 0 (y is the ReLU output or its input: same sign test). */
BASQ_API int basq_relu_bwd(const float* y, const float* dy, float* dx, int64_t n);
BASQ_API int basq_add(const float* a, const float* b, float* y, int64_t n);
/* y += alpha * x */
BASQ_API int basq_axpy(float alpha, const float* x, float* y, int64_t n);
/* x *= alpha */
BASQ_API int basq_scale(float* x, float alpha, int64_t n);
BASQ_API int basq_fill(float* x, float value, int64_t n);
BASQ_API int basq_copy(const float* x, float* y, int64_t n);
/* *out = sum of x^2 (accumulated in double, written as float). */
BASQ_API int basq_sum_squares(const float* x, int64_t n, float* out);

/*
 * Inverted dropout with probability p: mask[i] = 1 keeps, y = x * mask / (1 - p). The
 * random stream is a counter-based hash of (seed, offset + i): reproducible, stateless.
 */
BASQ_API int basq_dropout_fwd(const float* x, float* y, uint8_t* mask, int64_t n, float p, uint64_t seed,
                              uint64_t offset);
BASQ_API int basq_dropout_bwd(const float* dy, const uint8_t* mask, float* dx, int64_t n, float p);

#endif
