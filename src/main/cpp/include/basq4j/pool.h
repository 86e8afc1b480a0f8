/* Pooling and the flexible skip (SPEC 2). NCHW. */
#ifndef BASQ4J_POOL_H
#define BASQ4J_POOL_H
#include "common.h"

/* Average pooling k x k, stride s, no padding, floor output size: Ho = (H - k) / s + 1. */
BASQ_API int basq_avgpool_fwd(const float* x, float* y, int N, int C, int H, int W, int k, int s);
BASQ_API int basq_avgpool_bwd(const float* dy, float* dx, int N, int C, int H, int W, int k, int s);
/* y[n, c] = mean over HW. */
BASQ_API int basq_global_avgpool_fwd(const float* x, float* y, int N, int C, int64_t HW);
BASQ_API int basq_global_avgpool_bwd(const float* dy, float* dx, int N, int C, int64_t HW);
/* Max pooling k x k, stride s, padding p (padding never wins); idx keeps the argmax (h*W+w). */
BASQ_API int basq_maxpool_fwd(const float* x, float* y, int32_t* idx, int N, int C, int H, int W, int k, int s,
                              int p);
BASQ_API int basq_maxpool_bwd(const float* dy, const int32_t* idx, float* dx, int N, int C, int H, int W, int k,
                              int s, int p);

/*
 * Flexible skip F(cin -> cout) without the stride pooling: identity when equal; tiling
 * (output k = input k mod cin) when cin < cout; folding (output k = sum of inputs c with
 * c mod cout == k) when cin > cout.
 */
BASQ_API int basq_flex_skip_fwd(const float* x, float* y, int N, int Cin, int Cout, int64_t HW);
BASQ_API int basq_flex_skip_bwd(const float* dy, float* dx, int N, int Cin, int Cout, int64_t HW);

#endif
