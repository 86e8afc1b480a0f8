// Quantizer kernels on the CPU: loops around the element math of quant_math.h.
//
// The loops are branch-free (compare-and-select forms of quant_math.h) so that g++ vectorizes
// them (vroundps, vdivps, blends); loop-invariant tests (a bound u <= 0) are taken once outside.
// Reductions are summed in double over a partition that depends on the sizes only, never on
// the thread count, so a result is bitwise the same for any number of threads.
// The kernels never read floating-point exception flags: without "trapping math" g++ may
// if-convert selects whose arms compute a float (rintf(v) - v in LSQ's backward), so those loops
// vectorize too. The computed values do not change (IEEE semantics, NaN and infinities kept).
#pragma GCC optimize("no-trapping-math")
#include "basq4j/quant.h"

#include "basq4j/quant_math.h"

namespace {

constexpr int64_t kParMin = 1 << 16;  // elements below which a kernel stays on one thread
constexpr int kParts = 64;            // fixed blocks of a whole-tensor reduction

}  // namespace

BASQ_API int basq_clip_quant_fwd(const float* x, float* y, int64_t n, const float* upper, const float* bin) {
    if (n < 0 || (n > 0 && (!x || !y || !upper || !bin))) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    const float u = *upper;
    const float d = basq_clip_step(u, *bin);
    if (!(u > 0.0f)) {
#pragma omp parallel for simd schedule(static) if (n > kParMin)
        for (int64_t i = 0; i < n; i++) y[i] = 0.0f;
        return BASQ_OK;
    }
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) y[i] = basq_clip_fwd1_pos(x[i], u, d);
    return BASQ_OK;
}

BASQ_API int basq_clip_quant_bwd(const float* x, const float* dy, float* dx, float* dupper, int64_t n,
                                 const float* upper) {
    if (n < 0 || (n > 0 && (!x || !dy || !dx || !upper)) || !dupper) return BASQ_EINVAL;
    if (n == 0) {
        *dupper = 0.0f;
        return BASQ_OK;
    }
    const float u = *upper;
    double part[kParts];
    const int64_t chunk = (n + kParts - 1) / kParts;
#pragma omp parallel for schedule(static) if (n > kParMin)
    for (int b = 0; b < kParts; b++) {
        const int64_t lo = (int64_t)b * chunk;
        const int64_t hi = lo + chunk < n ? lo + chunk : n;
        double du = 0.0;
#pragma omp simd reduction(+ : du)
        for (int64_t i = lo; i < hi; i++) {
            const float xi = x[i], g = dy[i];
            dx[i] = basq_clip_dx1(xi, u, g);
            du += (double)basq_clip_du1(xi, u, g);
        }
        part[b] = du;
    }
    double du = 0.0;
    for (int b = 0; b < kParts; b++) du += part[b];
    *dupper = (float)du;
    return BASQ_OK;
}

static bool lsq_args_ok(int outer, int channels, int64_t inner, int qn, int qp) {
    return outer >= 0 && channels >= 0 && inner >= 0 && qn <= qp;
}

BASQ_API int basq_lsq_fwd(const float* x, const float* s, float* y, int outer, int channels, int64_t inner,
                          int qn, int qp) {
    if (!lsq_args_ok(outer, channels, inner, qn, qp)) return BASQ_EINVAL;
    const int64_t planes = (int64_t)outer * channels;
    const float fqn = (float)qn, fqp = (float)qp;
#pragma omp parallel for schedule(static) if (planes * inner > kParMin)
    for (int64_t p = 0; p < planes; p++) {
        const float sc = s[p % channels];
        const float* xp = x + p * inner;
        float* yp = y + p * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) yp[i] = basq_lsq_fwd1(xp[i], sc, fqn, fqp);
    }
    return BASQ_OK;
}

BASQ_API int basq_lsq_bwd(const float* x, const float* s, const float* dy, float* dx, float* ds, int outer,
                          int channels, int64_t inner, int qn, int qp, float gscale) {
    if (!lsq_args_ok(outer, channels, inner, qn, qp)) return BASQ_EINVAL;
    const float fqn = (float)qn, fqp = (float)qp;
    // One task per channel: the step gradient of a channel is a private sum (in double, in a
    // fixed order), no atomics.
#pragma omp parallel for schedule(static) if ((int64_t)outer * channels * inner > kParMin)
    for (int c = 0; c < channels; c++) {
        const float sc = s[c];
        double acc = 0.0;
        for (int o = 0; o < outer; o++) {
            const int64_t base = ((int64_t)o * channels + c) * inner;
            const float* xp = x + base;
            const float* gp = dy + base;
            float* dp = dx + base;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < inner; i++) {
                float r;
                const float g = gp[i];
                dp[i] = basq_lsq_bwd1_sel(xp[i], sc, fqn, fqp, g, &r);
                acc += (double)g * (double)r;
            }
        }
        ds[c] = (float)(acc * gscale);
    }
    return BASQ_OK;
}

BASQ_API int basq_channel_abs_mean(const float* x, float* out, int outer, int channels, int64_t inner) {
    if (outer <= 0 || channels < 0 || inner <= 0) return BASQ_EINVAL;
#pragma omp parallel for schedule(static) if ((int64_t)outer * channels * inner > kParMin)
    for (int c = 0; c < channels; c++) {
        double acc = 0.0;
        for (int o = 0; o < outer; o++) {
            const float* xp = x + ((int64_t)o * channels + c) * inner;
            for (int64_t i = 0; i < inner; i++) acc += fabsf(xp[i]);
        }
        out[c] = (float)(acc / ((double)outer * inner));
    }
    return BASQ_OK;
}
