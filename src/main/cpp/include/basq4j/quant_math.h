/*
 * The quantizer arithmetic, written once ("one math, two loops"): the C++ kernels and the
 * CUDA kernels both include this header and loop over elements around these functions.
 * SPEC 1.1 (clip quantizer) and 1.2/1.3 (LSQ). round = round-half-to-even (rintf).
 */
#ifndef BASQ4J_QUANT_MATH_H
#define BASQ4J_QUANT_MATH_H

#include <math.h>

#if defined(__CUDACC__)
#define BASQ_HD __host__ __device__ __forceinline__
#else
#define BASQ_HD static inline
#endif

/*
 * fmaxf / fminf with the host C library's results, written as compare-and-select so that the
 * CPU loops vectorize (g++ does not vectorize the library calls): the first argument on equal
 * values (so max(-0, +0) is -0, as glibc), the other argument when one is NaN. nvcc keeps the
 * intrinsics.
 */
#if defined(__CUDACC__)
#define basq_fmaxf(a, b) fmaxf(a, b)
#define basq_fminf(a, b) fminf(a, b)
#else
BASQ_HD float basq_fmaxf(float a, float b) { return (a >= b || b != b) ? a : b; }
BASQ_HD float basq_fminf(float a, float b) { return (a <= b || b != b) ? a : b; }
#endif

/*
 * Step of the clip quantizer from its bound u and its bin b (SPEC 1.1): d = u * (1 - b). When
 * 1 - b is the float nearest 1/(n-1) for an integer level count n (the bin's initial value,
 * which it keeps: it is never trained), the reference multiplies by the float nearest 1/(n-1)
 * itself (ops.safetensors, clip_quant.*), not by the float difference 1 - fl(1 - 1/(n-1)),
 * which is 1-2 ulps off; snap to it so the levels agree bit for bit.
 */
BASQ_HD float basq_clip_step(float u, float bin) {
    float a = 1.0f - bin;
    if (a >= 1.0f) return u;
    if (a <= 1.0f / 255.0f) return u / 255.0f;
    float levels = rintf(1.0f / a);
    if (fabsf(levels * a - 1.0f) < 1e-5f) a = 1.0f / levels;
    return u * a;
}

/* Clip quantizer forward for one element with a bound u > 0: round(clamp(x, 0, u) / d) * d. */
BASQ_HD float basq_clip_fwd1_pos(float x, float u, float d) {
    float c = basq_fminf(basq_fmaxf(x, 0.0f), u);
    return rintf(c / d) * d;
}

/* Clip quantizer forward for one element: round(clamp(x, 0, u) / d) * d; zero when u <= 0. */
BASQ_HD float basq_clip_fwd1(float x, float u, float d) {
    if (!(u > 0.0f)) return 0.0f;
    return basq_clip_fwd1_pos(x, u, d);
}

/* Straight-through input gradient: passes where 0 < x < u. */
BASQ_HD float basq_clip_dx1(float x, float u, float dy) {
    return ((x > 0.0f) & (x < u)) ? dy : 0.0f;  // & rather than &&: no branch, the CPU loops vectorize
}

/* Contribution of one element to the bound gradient: dy where x > u. */
BASQ_HD float basq_clip_du1(float x, float u, float dy) {
    return x > u ? dy : 0.0f;
}

/* LSQ forward for one element with step s and integer range [qn, qp]. */
BASQ_HD float basq_lsq_fwd1(float x, float s, float qn, float qp) {
    float v = basq_fminf(basq_fmaxf(x / s, qn), qp);
    return rintf(v) * s;
}

/*
 * LSQ backward for one element: returns the input gradient and writes r, the factor of dy
 * in the (unscaled) step gradient: round(v) - v inside [qn, qp] (inclusive), qn below, qp above.
 */
BASQ_HD float basq_lsq_bwd1(float x, float s, float qn, float qp, float dy, float* r) {
    float v = x / s;
    if (v < qn) { *r = qn; return 0.0f; }
    if (v > qp) { *r = qp; return 0.0f; }
    *r = rintf(v) - v;
    return dy;
}

/* The same without branches (the CPU loops vectorize it): identical results, NaN included. */
BASQ_HD float basq_lsq_bwd1_sel(float x, float s, float qn, float qp, float dy, float* r) {
    const float v = x / s;
    const bool lo = v < qn, hi = v > qp;
    const float frac = rintf(v) - v;  // computed unconditionally: a select, not a branch
    *r = lo ? qn : (hi ? qp : frac);
    return (lo | hi) ? 0.0f : dy;
}

#endif
