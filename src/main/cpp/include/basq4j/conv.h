/*
 * 2-D convolution, NCHW, weights [Cout, Cin/groups, KH, KW], no bias, dilation 1.
 * Output size: Ho = (H + 2*ph - KH) / sh + 1, Wo likewise. Depthwise (groups == Cin == Cout)
 * and 1x1 (stride 1, no padding) take direct paths; the rest uses im2col + sgemm.
 * ws is caller-provided scratch of basq_conv2d_workspace_floats(...) floats (may be 0);
 * that function returns -1 when the arguments describe no valid convolution.
 */
#ifndef BASQ4J_CONV_H
#define BASQ4J_CONV_H
#include "common.h"

#define BASQ_CONV_ARGS int N, int Cin, int H, int W, int Cout, int KH, int KW, int sh, int sw, int ph, int pw, \
                       int groups

BASQ_API int64_t basq_conv2d_workspace_floats(BASQ_CONV_ARGS);
BASQ_API int basq_conv2d_fwd(const float* x, const float* w, float* y, float* ws, BASQ_CONV_ARGS);
BASQ_API int basq_conv2d_bwd_data(const float* dy, const float* w, float* dx, float* ws, BASQ_CONV_ARGS);
BASQ_API int basq_conv2d_bwd_filter(const float* x, const float* dy, float* dw, float* ws, BASQ_CONV_ARGS);

/* Linear layer: y[N,OUT] = x[N,IN] * w[OUT,IN]^T + b (b may be NULL). */
BASQ_API int basq_linear_fwd(const float* x, const float* w, const float* b, float* y, int N, int IN, int OUT);
/* dx (may be NULL) = dy*w; dw = dy^T*x; db (may be NULL) = column sums of dy. */
BASQ_API int basq_linear_bwd(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                             int N, int IN, int OUT);

/* C[M,N] = alpha * op(A) * op(B) + beta * C, row-major; transA/transB 0 or 1. */
BASQ_API int basq_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                        const float* B, int ldb, float beta, float* C, int ldc);

#endif
