// Fused kernels of the BASQ block on the CPU (fused.h).
//
// Why they pay on a CPU: the element-wise kernels of a BASQ unit are bound by memory traffic
// and by the per-call overhead of small tensors, not by arithmetic. In evaluation a unit runs
// BN_a, a quantizer, the convolution, BN_b, ReLU, the skip, an add and BN_c: seven passes over
// the activation besides the convolution. Fused, it runs two: BN_a + quantizer (read x, write
// the quantized input of the convolution) and the tail (read the convolution's output and the
// skip source, write the unit's output). In training the fused forwards and backwards read
// and write each activation fewer times and keep fewer tensors for the backward (BN_a's,
// BN_b's and ReLU's outputs are recomputed from their inputs instead of stored).
//
// Every kernel uses the loops and formulas of bn_engine.h and quant_math.h, as the plain
// kernels do, so the values agree with the unfused sequence bit for bit (sums of a channel in
// double, in the engine's order).
// The kernels never read floating-point exception flags: without "trapping math" g++ may
// if-convert selects whose arms compute a float (rintf(v) - v in LSQ's backward), so those loops
// vectorize too. The computed values do not change (IEEE semantics, NaN and infinities kept).
#pragma GCC optimize("no-trapping-math")
#include "basq4j/fused.h"

#include <alloca.h>

#include "basq4j/quant_math.h"
#include "bn_engine.h"

using namespace basq_cpu;

namespace {

/* f(c0, Gc) for every channel group, one OpenMP task each. */
template <class F>
inline void for_groups(int N, int C, int64_t HW, F f) {
    const Grouping gr = grouping(C, HW);
#pragma omp parallel for schedule(static) if ((int64_t)N * C * HW > kParMin)
    for (int g = 0; g < gr.count; g++) {
        const int c0 = g * gr.G;
        f(c0, gr.G < C - c0 ? gr.G : C - c0);
    }
}

/*
 * F(skip) (pool.h's flexible skip from Cs to C channels) for chunk [j0, j0 + K) of sample n of
 * the group that starts at channel c0: a pointer into skip when Cs == C, else the values
 * assembled in buf (folding sums the input planes k, k + C, ... in that order, as the plain
 * kernel).
 */
inline const float* skip_chunk(const float* skip, int Cs, int C, int64_t HW, int n, int c0, int64_t j0, int64_t K,
                               float* buf) {
    const float* sn = skip + (int64_t)n * Cs * HW;
    if (Cs == C) return sn + (int64_t)c0 * HW + j0;
    int64_t j = 0;
    while (j < K) {
        const int64_t pos = j0 + j;
        const int64_t ch = pos / HW;
        const int64_t i = pos - ch * HW;
        int64_t run = HW - i;
        if (run > K - j) run = K - j;
        const int k = c0 + (int)ch;
        float* b = buf + j;
        if (Cs < C) {
            memcpy(b, sn + (int64_t)(k % Cs) * HW + i, sizeof(float) * (size_t)run);
        } else {
            const float* p0 = sn + (int64_t)k * HW + i;
            int c = k + C;
            if (c >= Cs) {
                memcpy(b, p0, sizeof(float) * (size_t)run);
            } else {
                const float* p1 = sn + (int64_t)c * HW + i;
                for (int64_t r = 0; r < run; r++) b[r] = p0[r] + p1[r];
                for (c += C; c < Cs; c += C) {
                    const float* pc = sn + (int64_t)c * HW + i;
                    for (int64_t r = 0; r < run; r++) b[r] += pc[r];
                }
            }
        }
        j += run;
    }
    return buf;
}

bool bn_args_ok(int N, int C, int64_t HW, float eps) { return N > 0 && C >= 0 && HW > 0 && eps >= 0.0f; }

/*
 * Training statistics of one group into the saved and running statistics and the forward's
 * coefficients fm, fa (per channel of the group), from values src(n, j0, K, buf).
 */
template <class Load>
inline void train_stats(int N, int64_t HW, int c0, int Gc, const float* first, int64_t first_stride,
                        const float* gamma, float eps,
                        float momentum, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                        float* fm, float* fa, Load load) {
    double shift[kChunk], mean[kChunk], var[kChunk];
    for (int ch = 0; ch < Gc; ch++) shift[ch] = first[(int64_t)ch * first_stride];
    group_stats(N, HW, Gc, shift, mean, var, load);
    const int64_t M = (int64_t)N * HW;
    for (int ch = 0; ch < Gc; ch++)
        bn_train_finish(mean[ch], var[ch], M, gamma[c0 + ch], eps, (double)momentum, save_mean, save_invstd,
                        running_mean, running_var, c0 + ch, &fm[ch], &fa[ch]);
}

/* BN (coefficients fm, fa per channel of the group; beta) followed by q(z, j) over the group. */
template <class Q, class Prep>
inline void apply_group(const float* x, float* y, int N, int C, int64_t HW, int c0, int Gc, const float* fm,
                        const float* fa, const float* beta, Prep prep, Q q) {
    const int64_t rs = (int64_t)C * HW;
    const int64_t off = (int64_t)c0 * HW;
    for_chunks((int64_t)Gc * HW, [&](int64_t j0, int64_t K) {
        float m[kChunk], a[kChunk], b[kChunk], p[kChunk];
        expand(m, fm, j0, K, HW);
        expand(a, fa, j0, K, HW);
        expand(b, beta + c0, j0, K, HW);
        prep(p, j0, K);
        for (int n = 0; n < N; n++) {
            const float* xp = x + off + n * rs + j0;
            float* yp = y + off + n * rs + j0;
#pragma omp simd
            for (int64_t j = 0; j < K; j++) yp[j] = q(bn_apply(xp[j], m[j], a[j], b[j]), p[j]);
        }
    });
}

bool clip_ptrs_ok(const float* upper, const float* bin) { return upper && bin; }

}  // namespace

// ---------------------------------------------------------------- BN eval + quantizer

BASQ_API int basq_bn_eval_clip_quant_fwd(const float* x, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var, float* y, int N, int C,
                                         int64_t HW, float eps, const float* upper, const float* bin) {
    if (!bn_args_ok(N, C, HW, eps)) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !running_mean || !running_var || !y || !clip_ptrs_ok(upper, bin))
        return BASQ_EINVAL;
    const float u = *upper;
    const float d = basq_clip_step(u, *bin);
    const bool pos = u > 0.0f;
    if (HW >= kPlaneMin) {
        for_planes(N, C, HW, [&](int, int c, int64_t off) {
            const float a = bn_eval_scale(gamma[c], running_var[c], eps);
            const float m = running_mean[c], b = beta[c];
            const float* __restrict xp = x + off;
            float* __restrict yp = y + off;
            if (pos) {
#pragma omp simd
                for (int64_t i = 0; i < HW; i++) yp[i] = basq_clip_fwd1_pos(bn_apply(xp[i], m, a, b), u, d);
            } else {
                for (int64_t i = 0; i < HW; i++) yp[i] = 0.0f;
            }
        });
        return BASQ_OK;
    }
    for_groups(N, C, HW, [&](int c0, int Gc) {
        float fa[kChunk];
        for (int ch = 0; ch < Gc; ch++) fa[ch] = bn_eval_scale(gamma[c0 + ch], running_var[c0 + ch], eps);
        auto none = [](float* p, int64_t, int64_t K) { memset(p, 0, sizeof(float) * (size_t)K); };
        if (pos)
            apply_group(x, y, N, C, HW, c0, Gc, running_mean + c0, fa, beta, none,
                        [u, d](float z, float) { return basq_clip_fwd1_pos(z, u, d); });
        else
            apply_group(x, y, N, C, HW, c0, Gc, running_mean + c0, fa, beta, none,
                        [](float, float) { return 0.0f; });
    });
    return BASQ_OK;
}

BASQ_API int basq_bn_eval_lsq_fwd(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                  const float* running_var, float* y, int N, int C, int64_t HW, float eps,
                                  const float* s, int qn, int qp) {
    if (!bn_args_ok(N, C, HW, eps) || qn > qp) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !running_mean || !running_var || !y || !s) return BASQ_EINVAL;
    const float fqn = (float)qn, fqp = (float)qp;
    if (HW >= kPlaneMin) {
        for_planes(N, C, HW, [&](int, int c, int64_t off) {
            const float a = bn_eval_scale(gamma[c], running_var[c], eps);
            const float m = running_mean[c], b = beta[c], sc = s[c];
            const float* __restrict xp = x + off;
            float* __restrict yp = y + off;
#pragma omp simd
            for (int64_t i = 0; i < HW; i++) yp[i] = basq_lsq_fwd1(bn_apply(xp[i], m, a, b), sc, fqn, fqp);
        });
        return BASQ_OK;
    }
    for_groups(N, C, HW, [&](int c0, int Gc) {
        float fa[kChunk];
        for (int ch = 0; ch < Gc; ch++) fa[ch] = bn_eval_scale(gamma[c0 + ch], running_var[c0 + ch], eps);
        apply_group(
            x, y, N, C, HW, c0, Gc, running_mean + c0, fa, beta,
            [&](float* p, int64_t j0, int64_t K) { expand(p, s + c0, j0, K, HW); },
            [fqn, fqp](float z, float sc) { return basq_lsq_fwd1(z, sc, fqn, fqp); });
    });
    return BASQ_OK;
}

// ---------------------------------------------------------------- BN train + quantizer

BASQ_API int basq_bn_train_clip_quant_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                          float* save_mean, float* save_invstd, float* running_mean,
                                          float* running_var, int N, int C, int64_t HW, float eps, float momentum,
                                          const float* upper, const float* bin) {
    if (!bn_args_ok(N, C, HW, eps)) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !y || !save_mean || !save_invstd || !clip_ptrs_ok(upper, bin)) return BASQ_EINVAL;
    if ((running_mean == nullptr) != (running_var == nullptr)) return BASQ_EINVAL;
    if (running_mean && (int64_t)N * HW < 2) return BASQ_EINVAL;
    const float u = *upper;
    const float d = basq_clip_step(u, *bin);
    const bool pos = u > 0.0f;
    const int64_t rs = (int64_t)C * HW;
    for_groups(N, C, HW, [&](int c0, int Gc) {
        const float* xg = x + (int64_t)c0 * HW;
        float fm[kChunk], fa[kChunk];
        train_stats(N, HW, c0, Gc, xg, HW, gamma, eps, momentum, save_mean, save_invstd, running_mean, running_var, fm,
                    fa, [&](int n, int64_t j0, int64_t, float*) { return xg + n * rs + j0; });
        auto none = [](float* p, int64_t, int64_t K) { memset(p, 0, sizeof(float) * (size_t)K); };
        if (pos)
            apply_group(x, y, N, C, HW, c0, Gc, fm, fa, beta, none,
                        [u, d](float z, float) { return basq_clip_fwd1_pos(z, u, d); });
        else
            apply_group(x, y, N, C, HW, c0, Gc, fm, fa, beta, none, [](float, float) { return 0.0f; });
    });
    return BASQ_OK;
}

BASQ_API int basq_bn_train_lsq_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                   float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                   int N, int C, int64_t HW, float eps, float momentum, const float* s, int qn,
                                   int qp) {
    if (!bn_args_ok(N, C, HW, eps) || qn > qp) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !y || !save_mean || !save_invstd || !s) return BASQ_EINVAL;
    if ((running_mean == nullptr) != (running_var == nullptr)) return BASQ_EINVAL;
    if (running_mean && (int64_t)N * HW < 2) return BASQ_EINVAL;
    const float fqn = (float)qn, fqp = (float)qp;
    const int64_t rs = (int64_t)C * HW;
    for_groups(N, C, HW, [&](int c0, int Gc) {
        const float* xg = x + (int64_t)c0 * HW;
        float fm[kChunk], fa[kChunk];
        train_stats(N, HW, c0, Gc, xg, HW, gamma, eps, momentum, save_mean, save_invstd, running_mean, running_var, fm,
                    fa, [&](int n, int64_t j0, int64_t, float*) { return xg + n * rs + j0; });
        apply_group(
            x, y, N, C, HW, c0, Gc, fm, fa, beta,
            [&](float* p, int64_t j0, int64_t K) { expand(p, s + c0, j0, K, HW); },
            [fqn, fqp](float z, float sc) { return basq_lsq_fwd1(z, sc, fqn, fqp); });
    });
    return BASQ_OK;
}

namespace {

/*
 * Backward of BN (saved statistics) followed by an element-wise quantizer whose backward is
 * qb(z, dy, p, &t) -> gradient reaching z (p: a per-channel parameter expanded per element, t:
 * a float from which term(dy, t) makes the element's (double) term of a per-channel sum).
 * Writes dx, dgamma, dbeta and returns the per-channel sums of the terms in extra_out[c].
 */
template <class QB, class Term>
inline void bn_quant_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                         const float* save_mean, const float* save_invstd, const float* param, float* dx,
                         float* dgamma, float* dbeta, double* extra_out, int N, int C, int64_t HW, QB qb,
                         Term term) {
    const int64_t rs = (int64_t)C * HW;
    const int64_t M = (int64_t)N * HW;
    for_groups(N, C, HW, [&](int c0, int Gc) {
        const int64_t off = (int64_t)c0 * HW;
        float sa[kChunk];  // the forward's scale per channel
        for (int ch = 0; ch < Gc; ch++) sa[ch] = bn_train_scale(gamma[c0 + ch], save_invstd[c0 + ch]);
        double sdy[kChunk], sdyx[kChunk], extra[1][kChunk];
        // per-chunk expanded coefficients, refreshed when the chunk changes
        int64_t cur = -1;
        float a[kChunk], b[kChunk], p[kChunk];
        auto refresh = [&](int64_t j0, int64_t K) {
            if (cur == j0) return;
            cur = j0;
            expand(a, sa, j0, K, HW);
            expand(b, beta + c0, j0, K, HW);
            if (param)
                expand(p, param + c0, j0, K, HW);
            else
                memset(p, 0, sizeof(float) * (size_t)K);
        };
        group_bwd_sums<1>(N, HW, Gc, save_mean + c0, sdy, sdyx, extra,
                          [&](int n, int64_t j0, int64_t K, const float* m, float* gbuf, double(*ex)[kChunk]) {
                              refresh(j0, K);
                              const int64_t o = off + n * rs + j0;
                              const float* __restrict xp = x + o;
                              const float* __restrict gp = dy + o;
                              double* __restrict e = ex[0];
                              float tb[kChunk];
#pragma omp simd
                              for (int64_t j = 0; j < K; j++) {
                                  float t;
                                  gbuf[j] = qb(bn_apply(xp[j], m[j], a[j], b[j]), gp[j], p[j], &t);
                                  tb[j] = t;
                              }
#pragma omp simd
                              for (int64_t j = 0; j < K; j++) e[j] = term(gp[j], tb[j]);
                              return GX{gbuf, xp};
                          });
        float fa[kChunk], fb[kChunk], fk[kChunk];
        for (int ch = 0; ch < Gc; ch++) {
            bn_bwd_finish(sdy[ch], sdyx[ch], M, gamma[c0 + ch], save_invstd[c0 + ch], c0 + ch, dgamma, dbeta,
                          &fa[ch], &fb[ch], &fk[ch]);
            extra_out[c0 + ch] = extra[0][ch];
        }
        for_chunks((int64_t)Gc * HW, [&](int64_t j0, int64_t K) {
            float m[kChunk], ca[kChunk], cb[kChunk], ck[kChunk];
            cur = -1;
            refresh(j0, K);
            expand(m, save_mean + c0, j0, K, HW);
            expand(ca, fa, j0, K, HW);
            expand(cb, fb, j0, K, HW);
            expand(ck, fk, j0, K, HW);
            for (int n = 0; n < N; n++) {
                const int64_t o = off + n * rs + j0;
                const float* __restrict xp = x + o;
                const float* __restrict gp = dy + o;
                float* __restrict dp = dx + o;
                float gq[kChunk], tb[kChunk];
                // the gradient reaching the batch norm's output, recomputed as in the sums pass
                // (two simple loops vectorize where one fused loop did not)
#pragma omp simd
                for (int64_t j = 0; j < K; j++) {
                    float t;
                    gq[j] = qb(bn_apply(xp[j], m[j], a[j], b[j]), gp[j], p[j], &t);
                    tb[j] = t;
                }
#pragma omp simd
                for (int64_t j = 0; j < K; j++) dp[j] = bn_dx(gq[j], xp[j], m[j], ca[j], cb[j], ck[j]);
            }
        });
    });
}

}  // namespace

BASQ_API int basq_bn_clip_quant_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                                    const float* save_mean, const float* save_invstd, const float* upper, float* dx,
                                    float* dgamma, float* dbeta, float* dupper, int N, int C, int64_t HW) {
    if (N <= 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    if (!dupper || !upper) return BASQ_EINVAL;
    if (C == 0) {
        *dupper = 0.0f;
        return BASQ_OK;
    }
    if (!x || !dy || !gamma || !beta || !save_mean || !save_invstd || !dx) return BASQ_EINVAL;
    const float u = *upper;
    double* part = (double*)alloca(sizeof(double) * (size_t)C);
    bn_quant_bwd(x, dy, gamma, beta, save_mean, save_invstd, nullptr, dx, dgamma, dbeta, part, N, C, HW,
                 [u](float z, float g, float, float* t) {
                     *t = basq_clip_du1(z, u, g);
                     return basq_clip_dx1(z, u, g);
                 },
                 [](float, float t) { return (double)t; });
    double du = 0.0;
    for (int c = 0; c < C; c++) du += part[c];
    *dupper = (float)du;
    return BASQ_OK;
}

BASQ_API int basq_bn_lsq_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                             const float* save_mean, const float* save_invstd, const float* s, float* dx,
                             float* dgamma, float* dbeta, float* ds, int N, int C, int64_t HW, int qn, int qp,
                             float gscale) {
    if (N <= 0 || C < 0 || HW <= 0 || qn > qp) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !dy || !gamma || !beta || !save_mean || !save_invstd || !s || !dx || !ds) return BASQ_EINVAL;
    const float fqn = (float)qn, fqp = (float)qp;
    double* part = (double*)alloca(sizeof(double) * (size_t)C);
    bn_quant_bwd(x, dy, gamma, beta, save_mean, save_invstd, s, dx, dgamma, dbeta, part, N, C, HW,
                 [fqn, fqp](float z, float g, float sc, float* r) {
                     return basq_lsq_bwd1_sel(z, sc, fqn, fqp, g, r);
                 },
                 [](float g, float r) { return (double)g * (double)r; });
    for (int c = 0; c < C; c++) ds[c] = (float)(part[c] * gscale);
    return BASQ_OK;
}

// ---------------------------------------------------------------- unit tail

BASQ_API int basq_unit_tail_eval_fwd(const float* z, const float* gamma1, const float* beta1, const float* mean1,
                                     const float* var1, const float* skip, int Cskip, const float* gamma2,
                                     const float* beta2, const float* mean2, const float* var2, const float* res,
                                     float* y, int N, int C, int64_t HW, float eps) {
    if (!bn_args_ok(N, C, HW, eps) || Cskip <= 0) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!z || !gamma1 || !beta1 || !mean1 || !var1 || !skip || !gamma2 || !beta2 || !mean2 || !var2 || !y)
        return BASQ_EINVAL;
    const int64_t rs = (int64_t)C * HW;
    if (HW >= kPlaneMin) {
        for_planes(N, C, HW, [&](int n, int c, int64_t off) {
            const float a1 = bn_eval_scale(gamma1[c], var1[c], eps), m1 = mean1[c], b1 = beta1[c];
            const float a2 = bn_eval_scale(gamma2[c], var2[c], eps), m2 = mean2[c], b2 = beta2[c];
            for_chunks(HW, [&](int64_t j0, int64_t K) {
                float buf[kChunk];
                // the plane's chunk of F(skip): the group of one channel c
                const float* __restrict sk = skip_chunk(skip, Cskip, C, HW, n, c, j0, K, buf);
                const float* __restrict zp = z + off + j0;
                float* __restrict yp = y + off + j0;
                if (res) {
                    const float* __restrict rp = res + off + j0;
#pragma omp simd
                    for (int64_t j = 0; j < K; j++)
                        yp[j] = bn_apply(relu1(bn_apply(zp[j], m1, a1, b1)) + sk[j], m2, a2, b2) + rp[j];
                } else {
#pragma omp simd
                    for (int64_t j = 0; j < K; j++)
                        yp[j] = bn_apply(relu1(bn_apply(zp[j], m1, a1, b1)) + sk[j], m2, a2, b2);
                }
            });
        });
        return BASQ_OK;
    }
    for_groups(N, C, HW, [&](int c0, int Gc) {
        float fa1[kChunk], fa2[kChunk];
        for (int ch = 0; ch < Gc; ch++) {
            fa1[ch] = bn_eval_scale(gamma1[c0 + ch], var1[c0 + ch], eps);
            fa2[ch] = bn_eval_scale(gamma2[c0 + ch], var2[c0 + ch], eps);
        }
        const int64_t off = (int64_t)c0 * HW;
        for_chunks((int64_t)Gc * HW, [&](int64_t j0, int64_t K) {
            float m1[kChunk], a1[kChunk], b1[kChunk], m2[kChunk], a2[kChunk], b2[kChunk], buf[kChunk];
            expand(m1, mean1 + c0, j0, K, HW);
            expand(a1, fa1, j0, K, HW);
            expand(b1, beta1 + c0, j0, K, HW);
            expand(m2, mean2 + c0, j0, K, HW);
            expand(a2, fa2, j0, K, HW);
            expand(b2, beta2 + c0, j0, K, HW);
            for (int n = 0; n < N; n++) {
                const int64_t o = off + n * rs + j0;
                const float* zp = z + o;
                const float* sk = skip_chunk(skip, Cskip, C, HW, n, c0, j0, K, buf);
                float* yp = y + o;
                if (res) {
                    const float* rp = res + o;
#pragma omp simd
                    for (int64_t j = 0; j < K; j++) {
                        const float t = relu1(bn_apply(zp[j], m1[j], a1[j], b1[j])) + sk[j];
                        yp[j] = bn_apply(t, m2[j], a2[j], b2[j]) + rp[j];
                    }
                } else {
#pragma omp simd
                    for (int64_t j = 0; j < K; j++) {
                        const float t = relu1(bn_apply(zp[j], m1[j], a1[j], b1[j])) + sk[j];
                        yp[j] = bn_apply(t, m2[j], a2[j], b2[j]);
                    }
                }
            }
        });
    });
    return BASQ_OK;
}

BASQ_API int basq_unit_tail_train_fwd(const float* z, const float* gamma1, const float* beta1, float* save_mean1,
                                      float* save_invstd1, float* running_mean1, float* running_var1,
                                      const float* skip, int Cskip, const float* gamma2, const float* beta2,
                                      float* save_mean2, float* save_invstd2, float* running_mean2,
                                      float* running_var2, float* s, float* y, int N, int C, int64_t HW, float eps,
                                      float momentum) {
    if (!bn_args_ok(N, C, HW, eps) || Cskip <= 0) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!z || !gamma1 || !beta1 || !save_mean1 || !save_invstd1 || !skip || !gamma2 || !beta2 || !save_mean2 ||
        !save_invstd2 || !s || !y)
        return BASQ_EINVAL;
    if ((running_mean1 == nullptr) != (running_var1 == nullptr)) return BASQ_EINVAL;
    if ((running_mean2 == nullptr) != (running_var2 == nullptr)) return BASQ_EINVAL;
    if ((running_mean1 || running_mean2) && (int64_t)N * HW < 2) return BASQ_EINVAL;
    const int64_t rs = (int64_t)C * HW;
    for_groups(N, C, HW, [&](int c0, int Gc) {
        const int64_t off = (int64_t)c0 * HW;
        const float* zg = z + off;
        // BN1's statistics over z
        float fm1[kChunk], fa1[kChunk];
        train_stats(N, HW, c0, Gc, zg, HW, gamma1, eps, momentum, save_mean1, save_invstd1, running_mean1, running_var1,
                    fm1, fa1, [&](int n, int64_t j0, int64_t, float*) { return zg + n * rs + j0; });
        // s = ReLU(BN1(z)) + F(skip), written, and BN2's statistics over it; the shift of a
        // channel is its first value of s (sample 0, position 0), computed up front.
        float first[kChunk];
        {
            float one[1];
            for (int ch = 0; ch < Gc; ch++) {
                const int64_t p = (int64_t)ch * HW;
                const float* sk = skip_chunk(skip, Cskip, C, HW, 0, c0, p, 1, one);
                first[ch] = relu1(bn_apply(zg[p], fm1[ch], fa1[ch], beta1[c0 + ch])) + sk[0];
            }
        }
        int64_t cur = -1;
        float m1[kChunk], a1[kChunk], b1[kChunk];
        float fm2[kChunk], fa2[kChunk];
        train_stats(N, HW, c0, Gc, first, 1, gamma2, eps, momentum, save_mean2, save_invstd2, running_mean2,
                    running_var2, fm2, fa2, [&](int n, int64_t j0, int64_t K, float* buf) {
                        if (cur != j0) {
                            cur = j0;
                            expand(m1, fm1, j0, K, HW);
                            expand(a1, fa1, j0, K, HW);
                            expand(b1, beta1 + c0, j0, K, HW);
                        }
                        const int64_t o = off + n * rs + j0;
                        const float* zp = z + o;
                        const float* sk = skip_chunk(skip, Cskip, C, HW, n, c0, j0, K, buf);
                        float* sp = s + o;
#pragma omp simd
                        for (int64_t j = 0; j < K; j++) sp[j] = relu1(bn_apply(zp[j], m1[j], a1[j], b1[j])) + sk[j];
                        return (const float*)sp;
                    });
        // y = BN2(s)
        apply_group(s, y, N, C, HW, c0, Gc, fm2, fa2, beta2,
                    [](float* p, int64_t, int64_t K) { memset(p, 0, sizeof(float) * (size_t)K); },
                    [](float v, float) { return v; });
    });
    return BASQ_OK;
}

BASQ_API int basq_unit_tail_bwd(const float* z, const float* s, const float* dy, const float* gamma1,
                                const float* beta1, const float* save_mean1, const float* save_invstd1,
                                const float* gamma2, const float* save_mean2, const float* save_invstd2, float* ds,
                                float* dz, float* dgamma1, float* dbeta1, float* dgamma2, float* dbeta2, int N, int C,
                                int64_t HW) {
    if (N <= 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!z || !s || !dy || !gamma1 || !beta1 || !save_mean1 || !save_invstd1 || !gamma2 || !save_mean2 ||
        !save_invstd2 || !ds || !dz)
        return BASQ_EINVAL;
    const int64_t rs = (int64_t)C * HW;
    const int64_t M = (int64_t)N * HW;
    for_groups(N, C, HW, [&](int c0, int Gc) {
        const int64_t off = (int64_t)c0 * HW;
        // BN2's sums over (dy, s)
        double sdy[kChunk], sdyx[kChunk];
        group_bwd_sums<0>(N, HW, Gc, save_mean2 + c0, sdy, sdyx, nullptr,
                          [&](int n, int64_t j0, int64_t, const float*, float*, double(*)[kChunk]) {
                              return GX{dy + off + n * rs + j0, s + off + n * rs + j0};
                          });
        float fa2[kChunk], fb2[kChunk], fk2[kChunk], sa1[kChunk];
        for (int ch = 0; ch < Gc; ch++) {
            bn_bwd_finish(sdy[ch], sdyx[ch], M, gamma2[c0 + ch], save_invstd2[c0 + ch], c0 + ch, dgamma2, dbeta2,
                          &fa2[ch], &fb2[ch], &fk2[ch]);
            sa1[ch] = bn_train_scale(gamma1[c0 + ch], save_invstd1[c0 + ch]);
        }
        // ds = BN2's input gradient (written); the gradient reaching BN1's output is ds where
        // BN1's output (recomputed) is positive; BN1's sums over it.
        int64_t cur = -1;
        float m2[kChunk], a2[kChunk], b2[kChunk], k2[kChunk], a1[kChunk], b1[kChunk];
        auto refresh = [&](int64_t j0, int64_t K) {
            if (cur == j0) return;
            cur = j0;
            expand(m2, save_mean2 + c0, j0, K, HW);
            expand(a2, fa2, j0, K, HW);
            expand(b2, fb2, j0, K, HW);
            expand(k2, fk2, j0, K, HW);
            expand(a1, sa1, j0, K, HW);
            expand(b1, beta1 + c0, j0, K, HW);
        };
        group_bwd_sums<0>(N, HW, Gc, save_mean1 + c0, sdy, sdyx, nullptr,
                          [&](int n, int64_t j0, int64_t K, const float* m1, float* gbuf, double(*)[kChunk]) {
                              refresh(j0, K);
                              const int64_t o = off + n * rs + j0;
                              const float* zp = z + o;
                              const float* sp = s + o;
                              const float* gp = dy + o;
                              float* dsp = ds + o;
#pragma omp simd
                              for (int64_t j = 0; j < K; j++) {
                                  const float d = bn_dx(gp[j], sp[j], m2[j], a2[j], b2[j], k2[j]);
                                  dsp[j] = d;
                                  gbuf[j] = bn_apply(zp[j], m1[j], a1[j], b1[j]) > 0.0f ? d : 0.0f;
                              }
                              return GX{gbuf, zp};
                          });
        float fa1[kChunk], fb1[kChunk], fk1[kChunk];
        for (int ch = 0; ch < Gc; ch++)
            bn_bwd_finish(sdy[ch], sdyx[ch], M, gamma1[c0 + ch], save_invstd1[c0 + ch], c0 + ch, dgamma1, dbeta1,
                          &fa1[ch], &fb1[ch], &fk1[ch]);
        // dz = BN1's input gradient
        for_chunks((int64_t)Gc * HW, [&](int64_t j0, int64_t K) {
            float m1[kChunk], ca[kChunk], cb[kChunk], ck[kChunk];
            refresh(j0, K);
            expand(m1, save_mean1 + c0, j0, K, HW);
            expand(ca, fa1, j0, K, HW);
            expand(cb, fb1, j0, K, HW);
            expand(ck, fk1, j0, K, HW);
            for (int n = 0; n < N; n++) {
                const int64_t o = off + n * rs + j0;
                const float* zp = z + o;
                const float* dsp = ds + o;
                float* dzp = dz + o;
#pragma omp simd
                for (int64_t j = 0; j < K; j++) {
                    const float zj = zp[j];
                    const float g = bn_apply(zj, m1[j], a1[j], b1[j]) > 0.0f ? dsp[j] : 0.0f;
                    dzp[j] = bn_dx(g, zj, m1[j], ca[j], cb[j], ck[j]);
                }
            }
        });
    });
    return BASQ_OK;
}
