/*
 * Private to the CPU kernels (norm.cpp, fused.cpp): the loop structure and the per-element
 * formulas of batch norm, shared by the plain and the fused kernels so that both compute
 * bit for bit the same values.
 *
 * Loop structure. x is [N, C, HW]. Channels are split into groups of G channels such that
 * a group's segment of one sample, G*HW floats, is contiguous and at most kChunk long (for
 * HW > kChunk, G = 1 and the plane is walked in chunks of kChunk). One OpenMP task per group;
 * inside it, per chunk, the N segments are walked in order with per-element (not
 * per-channel) coefficient and accumulator arrays on the stack, so that the inner loops are
 * long, contiguous and vectorized even for HW = 1 or 4 (MobileNet's late layers), where a
 * per-channel loop would run over one to four floats at a time.
 *
 * Reductions: per element position j of a chunk, the sum over the N samples in order (in
 * double), then per channel the sum over its positions in order. That order depends neither on
 * the grouping nor on the thread count: every result is bitwise reproducible. (Per-position
 * accumulators have no dependency chain across positions; a register reduction along a row
 * is latency-bound in double and measured slower even for HW = 256.)
 */
#ifndef BASQ4J_BN_ENGINE_H
#define BASQ4J_BN_ENGINE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "basq4j/common.h"

namespace basq_cpu {

constexpr int64_t kChunk = 256;        // floats of one chunk (per-element arrays on the stack)
constexpr int64_t kParMin = 1 << 15;   // elements below which a kernel stays on one thread
constexpr int kMinGroups = 16;         // groups at least (when there are that many channels)
constexpr int64_t kPlaneMin = 16;      // HW from which element-wise (evaluation) kernels go plane by plane

struct Grouping {
    int G;      // channels per group (the last group may have fewer)
    int count;  // number of groups
};

inline Grouping grouping(int C, int64_t HW) {
    const int gmax = HW >= kChunk ? 1 : (int)(kChunk / HW);
    int count = (C + gmax - 1) / gmax;
    const int want = C < kMinGroups ? C : kMinGroups;
    if (count < want) count = want;
    const int G = (C + count - 1) / count;
    return {G, (C + G - 1) / G};
}

/*
 * Element-wise kernels without reductions (evaluation) walk the tensor in memory order when
 * its planes are long enough (HW >= kPlaneMin): f(n, c, offset) for every plane, one OpenMP
 * task per plane, contiguous planes per thread, per-channel coefficients as scalars. (The
 * channel groups would walk N rows at a stride of C*HW per group, which defeats the hardware
 * prefetchers on large activations.)
 */
template <class F>
inline void for_planes(int N, int C, int64_t HW, F f) {
    const int64_t planes = (int64_t)N * C;
#pragma omp parallel for schedule(static) if (planes * HW > kParMin)
    for (int64_t p = 0; p < planes; p++) f((int)(p / C), (int)(p % C), p * HW);
}

/* Calls f(j0, K) for the chunks [j0, j0 + K) of a group segment of length L. */
template <class F>
inline void for_chunks(int64_t L, F f) {
    for (int64_t j0 = 0; j0 < L; j0 += kChunk) f(j0, L - j0 < kChunk ? L - j0 : kChunk);
}

/* out[j] = v[(j0 + j) / HW] for j < K: a per-channel array (indexed from the group's first
 * channel) expanded to the elements of a chunk. */
template <class T, class U>
inline void expand(T* out, const U* v, int64_t j0, int64_t K, int64_t HW) {
    int64_t j = 0;
    while (j < K) {
        const int64_t pos = j0 + j;
        const int64_t ch = pos / HW;
        int64_t run = HW - (pos - ch * HW);
        if (run > K - j) run = K - j;
        const T val = (T)v[ch];
        for (int64_t r = 0; r < run; r++) out[j + r] = val;
        j += run;
    }
}

/* sum[(j0 + j) / HW] += acc[j] for j < K, in order. */
inline void fold(double* sum, const double* acc, int64_t j0, int64_t K, int64_t HW) {
    int64_t j = 0;
    while (j < K) {
        const int64_t pos = j0 + j;
        const int64_t ch = pos / HW;
        int64_t run = HW - (pos - ch * HW);
        if (run > K - j) run = K - j;
        double s = sum[ch];
        for (int64_t r = 0; r < run; r++) s += acc[j + r];
        sum[ch] = s;
        j += run;
    }
}

// ------------------------------------------------------------------ per-element formulas

/* Batch-norm affine: (x - m) * a + b. */
static inline float bn_apply(float x, float m, float a, float b) { return (x - m) * a + b; }

/* Input gradient of the training batch norm: a*g - b' - (x - m) * k (see norm.cpp). */
static inline float bn_dx(float g, float x, float m, float fa, float fb, float fk) {
    return fa * g - fb - (x - m) * fk;
}

/* Scale of the training forward from the saved (float) invstd: the forward uses exactly this
 * value, so that a backward can recompute the forward's output bit for bit from x. */
static inline float bn_train_scale(float gamma, float save_invstd) {
    return (float)((double)gamma * (double)save_invstd);
}

/* Scale of the evaluation forward from the running variance. */
static inline float bn_eval_scale(float gamma, float running_var, float eps) {
    return (float)((double)gamma / sqrt((double)running_var + (double)eps));
}

/* ReLU as the relu kernel computes it. */
static inline float relu1(float v) { return v > 0.0f ? v : 0.0f; }

// ------------------------------------------------------------------ statistics

/*
 * Batch statistics of the group's channels [c0, c0 + Gc): mean and biased variance (double)
 * of v[n, c, i] = src(n, c0-relative offset). Shifted sums (by the channel's first sample,
 * shift[ch], which the caller provides) keep them exact enough in double even when
 * |mean| >> std. load(n, j0, K, buf) must make buf[0..K) (or return a pointer to) the values
 * of chunk [j0, j0 + K) of sample n.
 */
template <class Load>
inline void group_stats(int N, int64_t HW, int Gc, const double* shift, double* mean, double* var, Load load) {
    double sum[kChunk], sq[kChunk];
    for (int ch = 0; ch < Gc; ch++) sum[ch] = sq[ch] = 0.0;
    const int64_t L = (int64_t)Gc * HW;
    for_chunks(L, [&](int64_t j0, int64_t K) {
        double sh[kChunk], as[kChunk], aq[kChunk];
        float buf[kChunk];
        expand(sh, shift, j0, K, HW);
        for (int64_t j = 0; j < K; j++) as[j] = aq[j] = 0.0;
        for (int n = 0; n < N; n++) {
            const float* v = load(n, j0, K, buf);
#pragma omp simd
            for (int64_t j = 0; j < K; j++) {
                const double d = (double)v[j] - sh[j];
                as[j] += d;
                aq[j] += d * d;
            }
        }
        fold(sum, as, j0, K, HW);
        fold(sq, aq, j0, K, HW);
    });
    const double M = (double)N * (double)HW;
    for (int ch = 0; ch < Gc; ch++) {
        const double dm = sum[ch] / M;
        const double v = sq[ch] / M - dm * dm;
        mean[ch] = shift[ch] + dm;
        var[ch] = v > 0.0 ? v : 0.0;
    }
}

/*
 * Training statistics of channel c to what the forward keeps: save_mean/save_invstd (may be
 * NULL), running statistics (may be NULL; momentum, unbiased variance), and the float
 * coefficients of bn_apply.
 */
static inline void bn_train_finish(double mean, double var, int64_t M, float gamma, float eps, double mom,
                                   float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                   int c, float* fm, float* fa) {
    const float invstd = (float)(1.0 / sqrt(var + (double)eps));
    if (save_mean) save_mean[c] = (float)mean;
    if (save_invstd) save_invstd[c] = invstd;
    if (running_mean) {
        const double unbiased = var * (double)M / (double)(M - 1);
        running_mean[c] = (float)((1.0 - mom) * running_mean[c] + mom * mean);
        running_var[c] = (float)((1.0 - mom) * running_var[c] + mom * unbiased);
    }
    *fm = (float)mean;
    *fa = bn_train_scale(gamma, invstd);
}

/*
 * Backward coefficients of channel c from sdy = sum g and sdyx = sum g*(x - mean):
 * dx = fa*g - fb - (x - mean)*fk; dgamma = sdyx*invstd, dbeta = sdy (may be NULL).
 */
static inline void bn_bwd_finish(double sdy, double sdyx, int64_t M, float gamma, float save_invstd, int c,
                                 float* dgamma, float* dbeta, float* fa, float* fb, float* fk) {
    const double invstd = save_invstd;
    if (dbeta) dbeta[c] = (float)sdy;
    if (dgamma) dgamma[c] = (float)(sdyx * invstd);
    const double a = (double)gamma * invstd;
    *fa = (float)a;
    *fb = (float)(a * sdy / (double)M);
    *fk = (float)(a * invstd * invstd * sdyx / (double)M);
}

/* What a backward step yields for one chunk of one sample: the gradient reaching the batch
 * norm's output and the batch norm's input. */
struct GX {
    const float* g;
    const float* x;
};

/*
 * Backward sums of the group's channels: sdy[ch] = sum g, sdyx[ch] = sum g * (x - m) (x - m in
 * float, as the element formula), and extra[e][ch] = sum of the extra per-element terms (e <
 * E). step(n, j0, K, m, gbuf, ex) returns the chunk's g and x (g may point into gbuf, which it
 * may fill) and fills ex[e][0..K) when E > 0.
 */
template <int E, class Step>
inline void group_bwd_sums(int N, int64_t HW, int Gc, const float* mean_local, double* sdy, double* sdyx,
                           double (*extra)[kChunk], Step step) {
    for (int ch = 0; ch < Gc; ch++) sdy[ch] = sdyx[ch] = 0.0;
    for (int e = 0; e < E; e++)
        for (int ch = 0; ch < Gc; ch++) extra[e][ch] = 0.0;
    const int64_t L = (int64_t)Gc * HW;
    for_chunks(L, [&](int64_t j0, int64_t K) {
        float m[kChunk], gbuf[kChunk];
        double ex[E > 0 ? E : 1][kChunk];
        double ad[kChunk], ax[kChunk];
        double ae[E > 0 ? E : 1][kChunk];
        expand(m, mean_local, j0, K, HW);
        for (int64_t j = 0; j < K; j++) ad[j] = ax[j] = 0.0;
        for (int e = 0; e < E; e++)
            for (int64_t j = 0; j < K; j++) ae[e][j] = 0.0;
        for (int n = 0; n < N; n++) {
            const GX gx = step(n, j0, K, (const float*)m, gbuf, ex);
            const float* g = gx.g;
            const float* x = gx.x;
#pragma omp simd
            for (int64_t j = 0; j < K; j++) {
                const double gj = g[j];
                ad[j] += gj;
                ax[j] += gj * (double)(x[j] - m[j]);
            }
            for (int e = 0; e < E; e++) {
#pragma omp simd
                for (int64_t j = 0; j < K; j++) ae[e][j] += ex[e][j];
            }
        }
        fold(sdy, ad, j0, K, HW);
        fold(sdyx, ax, j0, K, HW);
        for (int e = 0; e < E; e++) fold(extra[e], ae[e], j0, K, HW);
    });
}

}  // namespace basq_cpu

#endif
