// Quantizer kernels on the CPU: loops around the element math of quant_math.h.
#include "basq4j/quant.h"

#include "basq4j/quant_math.h"

BASQ_API int basq_clip_quant_fwd(const float* x, float* y, int64_t n, const float* upper, const float* bin) {
    if (n < 0 || (n > 0 && (!x || !y || !upper || !bin))) return BASQ_EINVAL;
    const float u = *upper;
    const float d = basq_clip_step(u, *bin);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) y[i] = basq_clip_fwd1(x[i], u, d);
    return BASQ_OK;
}

BASQ_API int basq_clip_quant_bwd(const float* x, const float* dy, float* dx, float* dupper, int64_t n,
                                 const float* upper) {
    if (n < 0 || (n > 0 && (!x || !dy || !dx || !upper)) || !dupper) return BASQ_EINVAL;
    const float u = *upper;
    double du = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : du) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i];
        dx[i] = basq_clip_dx1(x[i], u, g);
        du += basq_clip_du1(x[i], u, g);
    }
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
#pragma omp parallel for schedule(static) if (planes * inner > 65536)
    for (int64_t p = 0; p < planes; p++) {
        const float sc = s[p % channels];
        const float* xp = x + p * inner;
        float* yp = y + p * inner;
        for (int64_t i = 0; i < inner; i++) yp[i] = basq_lsq_fwd1(xp[i], sc, fqn, fqp);
    }
    return BASQ_OK;
}

BASQ_API int basq_lsq_bwd(const float* x, const float* s, const float* dy, float* dx, float* ds, int outer,
                          int channels, int64_t inner, int qn, int qp, float gscale) {
    if (!lsq_args_ok(outer, channels, inner, qn, qp)) return BASQ_EINVAL;
    const float fqn = (float)qn, fqp = (float)qp;
    // One task per channel: the step gradient of a channel is a private sum, no atomics.
#pragma omp parallel for schedule(static) if ((int64_t)outer * channels * inner > 65536)
    for (int c = 0; c < channels; c++) {
        const float sc = s[c];
        double acc = 0.0;
        for (int o = 0; o < outer; o++) {
            const int64_t base = ((int64_t)o * channels + c) * inner;
            const float* xp = x + base;
            const float* gp = dy + base;
            float* dp = dx + base;
            float part = 0.0f;
            for (int64_t i = 0; i < inner; i++) {
                float r;
                dp[i] = basq_lsq_bwd1(xp[i], sc, fqn, fqp, gp[i], &r);
                part += gp[i] * r;
            }
            acc += part;
        }
        ds[c] = (float)(acc * gscale);
    }
    return BASQ_OK;
}

BASQ_API int basq_channel_abs_mean(const float* x, float* out, int outer, int channels, int64_t inner) {
    if (outer <= 0 || channels < 0 || inner <= 0) return BASQ_EINVAL;
#pragma omp parallel for schedule(static) if ((int64_t)outer * channels * inner > 65536)
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
