// Batch normalization on the CPU (norm.h), over x seen as [N, C, HW].
//
// The loops are those of bn_engine.h: one OpenMP task per group of channels, per-element
// coefficient and accumulator arrays so that the inner loops stay long and vectorized for
// any HW (HW = 1 or 4 included), statistics in double (shifted sums) in an order that does not
// depend on the thread count. The fused kernels (fused.cpp) use the same loops and formulas.
// The kernels never read floating-point exception flags: without "trapping math" g++ may
// if-convert selects whose arms compute a float (rintf(v) - v in LSQ's backward), so those loops
// vectorize too. The computed values do not change (IEEE semantics, NaN and infinities kept).
#pragma GCC optimize("no-trapping-math")
#include "basq4j/norm.h"

#include "bn_engine.h"

using namespace basq_cpu;

/*
 * Training forward. save_mean / save_invstd may be NULL (no backward needed); running_mean
 * and running_var may be NULL (no update). Updating running statistics needs N*HW >= 2 (the
 * unbiased variance divides by N*HW - 1), otherwise BASQ_EINVAL, as torch refuses it too.
 * The output's scale is gamma * invstd with invstd rounded to float first (the saved value),
 * so that a backward can recompute the output exactly.
 */
BASQ_API int basq_bn_train_fwd(const float* x, const float* gamma, const float* beta, float* y,
                               float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                               int N, int C, int64_t HW, float eps, float momentum) {
    if (N <= 0 || C < 0 || HW <= 0 || !(eps >= 0.0f)) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !y) return BASQ_EINVAL;
    if ((running_mean == nullptr) != (running_var == nullptr)) return BASQ_EINVAL;
    const int64_t M = (int64_t)N * HW;
    if (running_mean && M < 2) return BASQ_EINVAL;
    const double mom = momentum;
    const Grouping gr = grouping(C, HW);
    const int64_t rs = (int64_t)C * HW;
#pragma omp parallel for schedule(static) if (M * C > kParMin)
    for (int g = 0; g < gr.count; g++) {
        const int c0 = g * gr.G;
        const int Gc = gr.G < C - c0 ? gr.G : C - c0;
        const float* xg = x + (int64_t)c0 * HW;
        float* yg = y + (int64_t)c0 * HW;
        double shift[kChunk], mean[kChunk], var[kChunk];
        for (int ch = 0; ch < Gc; ch++) shift[ch] = xg[(int64_t)ch * HW];
        group_stats(N, HW, Gc, shift, mean, var,
                    [&](int n, int64_t j0, int64_t, float*) { return xg + n * rs + j0; });
        float fm[kChunk], fa[kChunk];
        for (int ch = 0; ch < Gc; ch++)
            bn_train_finish(mean[ch], var[ch], M, gamma[c0 + ch], eps, mom, save_mean, save_invstd, running_mean,
                            running_var, c0 + ch, &fm[ch], &fa[ch]);
        for_chunks((int64_t)Gc * HW, [&](int64_t j0, int64_t K) {
            float m[kChunk], a[kChunk], b[kChunk];
            expand(m, fm, j0, K, HW);
            expand(a, fa, j0, K, HW);
            expand(b, beta + c0, j0, K, HW);
            for (int n = 0; n < N; n++) {
                const float* xp = xg + n * rs + j0;
                float* yp = yg + n * rs + j0;
#pragma omp simd
                for (int64_t j = 0; j < K; j++) yp[j] = bn_apply(xp[j], m[j], a[j], b[j]);
            }
        });
    }
    return BASQ_OK;
}

BASQ_API int basq_bn_eval_fwd(const float* x, const float* gamma, const float* beta, const float* running_mean,
                              const float* running_var, float* y, int N, int C, int64_t HW, float eps) {
    if (N < 0 || C < 0 || HW < 0 || !(eps >= 0.0f)) return BASQ_EINVAL;
    if ((int64_t)N * C == 0 || HW == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !running_mean || !running_var || !y) return BASQ_EINVAL;
    if (HW >= kPlaneMin) {
        for_planes(N, C, HW, [&](int, int c, int64_t off) {
            const float a = bn_eval_scale(gamma[c], running_var[c], eps);
            const float m = running_mean[c], b = beta[c];
            const float* __restrict xp = x + off;
            float* __restrict yp = y + off;
#pragma omp simd
            for (int64_t i = 0; i < HW; i++) yp[i] = bn_apply(xp[i], m, a, b);
        });
        return BASQ_OK;
    }
    const Grouping gr = grouping(C, HW);
    const int64_t rs = (int64_t)C * HW;
#pragma omp parallel for schedule(static) if ((int64_t)N * rs > kParMin)
    for (int g = 0; g < gr.count; g++) {
        const int c0 = g * gr.G;
        const int Gc = gr.G < C - c0 ? gr.G : C - c0;
        float fa[kChunk];
        for (int ch = 0; ch < Gc; ch++) fa[ch] = bn_eval_scale(gamma[c0 + ch], running_var[c0 + ch], eps);
        for_chunks((int64_t)Gc * HW, [&](int64_t j0, int64_t K) {
            float m[kChunk], a[kChunk], b[kChunk];
            expand(m, running_mean + c0, j0, K, HW);
            expand(a, fa, j0, K, HW);
            expand(b, beta + c0, j0, K, HW);
            for (int n = 0; n < N; n++) {
                const float* xp = x + n * rs + (int64_t)c0 * HW + j0;
                float* yp = y + n * rs + (int64_t)c0 * HW + j0;
#pragma omp simd
                for (int64_t j = 0; j < K; j++) yp[j] = bn_apply(xp[j], m[j], a[j], b[j]);
            }
        });
    }
    return BASQ_OK;
}

/*
 * Backward of the training forward, per channel c with M = N*HW, xhat = (x - mean)*invstd:
 *   dbeta = sum dy;  dgamma = sum dy*xhat;
 *   dx = gamma*invstd * (dy - dbeta/M - xhat * dgamma/M).
 * Written dx = a*dy - a*mean_dy - (x - mean) * k, with a = gamma*invstd and
 * k = a*invstd^2*sdyx/M (sdyx = sum dy*(x - mean), so sum dy*xhat = invstd*sdyx).
 */
BASQ_API int basq_bn_bwd(const float* x, const float* dy, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C,
                         int64_t HW) {
    if (N <= 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !dy || !gamma || !save_mean || !save_invstd || !dx) return BASQ_EINVAL;
    const int64_t M = (int64_t)N * HW;
    const Grouping gr = grouping(C, HW);
    const int64_t rs = (int64_t)C * HW;
#pragma omp parallel for schedule(static) if (M * C > kParMin)
    for (int g = 0; g < gr.count; g++) {
        const int c0 = g * gr.G;
        const int Gc = gr.G < C - c0 ? gr.G : C - c0;
        const int64_t off = (int64_t)c0 * HW;
        double sdy[kChunk], sdyx[kChunk];
        group_bwd_sums<0>(N, HW, Gc, save_mean + c0, sdy, sdyx, nullptr,
                          [&](int n, int64_t j0, int64_t, const float*, float*, double(*)[kChunk]) {
                              return GX{dy + off + n * rs + j0, x + off + n * rs + j0};
                          });
        float fa[kChunk], fb[kChunk], fk[kChunk];
        for (int ch = 0; ch < Gc; ch++)
            bn_bwd_finish(sdy[ch], sdyx[ch], M, gamma[c0 + ch], save_invstd[c0 + ch], c0 + ch, dgamma, dbeta,
                          &fa[ch], &fb[ch], &fk[ch]);
        for_chunks((int64_t)Gc * HW, [&](int64_t j0, int64_t K) {
            float m[kChunk], a[kChunk], b[kChunk], k[kChunk];
            expand(m, save_mean + c0, j0, K, HW);
            expand(a, fa, j0, K, HW);
            expand(b, fb, j0, K, HW);
            expand(k, fk, j0, K, HW);
            for (int n = 0; n < N; n++) {
                const int64_t o = off + n * rs + j0;
                const float* xp = x + o;
                const float* gp = dy + o;
                float* dp = dx + o;
#pragma omp simd
                for (int64_t j = 0; j < K; j++) dp[j] = bn_dx(gp[j], xp[j], m[j], a[j], b[j], k[j]);
            }
        });
    }
    return BASQ_OK;
}
