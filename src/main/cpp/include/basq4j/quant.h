/* Quantizer kernels: clip fake-quant (SPEC 1.1) and LSQ per channel (SPEC 1.2, 1.3). */
#ifndef BASQ4J_QUANT_H
#define BASQ4J_QUANT_H
#include "common.h"

/* y = clip-quantize(x) over n elements; upper and bin point to one float each. */
BASQ_API int basq_clip_quant_fwd(const float* x, float* y, int64_t n, const float* upper, const float* bin);
/* dx = dy where 0 < x < u else 0; *dupper = sum(dy where x > u) (one float, overwritten). */
BASQ_API int basq_clip_quant_bwd(const float* x, const float* dy, float* dx, float* dupper, int64_t n,
                                 const float* upper);

/*
 * LSQ per channel on a tensor seen as [outer, channels, inner] (activations: N, C, H*W;
 * weights: 1, O, K). s has one step per channel; qn/qp the integer range.
 */
BASQ_API int basq_lsq_fwd(const float* x, const float* s, float* y, int outer, int channels, int64_t inner,
                          int qn, int qp);
/* dx (straight-through inside the inclusive range) and ds[c] = gscale * sum(dy * r) (overwritten). */
BASQ_API int basq_lsq_bwd(const float* x, const float* s, const float* dy, float* dx, float* ds, int outer,
                          int channels, int64_t inner, int qn, int qp, float gscale);
/* out[c] = mean over outer and inner of |x| (for the LSQ step initialization). */
BASQ_API int basq_channel_abs_mean(const float* x, float* out, int outer, int channels, int64_t inner);

#endif
