// Pooling and the flexible skip on the CPU (pool.h). NCHW; one OpenMP task per plane
// (or per output plane), so backward passes accumulate without atomics.
#include "basq4j/pool.h"

#include <math.h>
#include <string.h>

namespace {

constexpr int64_t kParMin = 1 << 15;  // elements below which a kernel stays on one thread

bool pool_ok(int N, int C, int H, int W, int k, int s) {
    return N >= 0 && C >= 0 && H >= k && W >= k && k >= 1 && s >= 1;
}

}  // namespace

BASQ_API int basq_avgpool_fwd(const float* x, float* y, int N, int C, int H, int W, int k, int s) {
    if (!pool_ok(N, C, H, W, k, s)) return BASQ_EINVAL;
    const int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!x || !y) return BASQ_EINVAL;
    const float inv = 1.0f / (float)(k * k);
#pragma omp parallel for schedule(static) if (planes * H * W > kParMin)
    for (int64_t p = 0; p < planes; p++) {
        const float* xp = x + p * H * W;
        float* yp = y + p * Ho * Wo;
        if (k == 2 && s == 2) {  // the stride-2 skip of SPEC 2: the common case
            for (int ho = 0; ho < Ho; ho++) {
                const float* r0 = xp + (int64_t)(2 * ho) * W;
                const float* r1 = r0 + W;
                float* yr = yp + (int64_t)ho * Wo;
                for (int wo = 0; wo < Wo; wo++)
                    yr[wo] = ((r0[2 * wo] + r0[2 * wo + 1]) + (r1[2 * wo] + r1[2 * wo + 1])) * inv;
            }
            continue;
        }
        for (int ho = 0; ho < Ho; ho++) {
            float* yr = yp + (int64_t)ho * Wo;
            for (int wo = 0; wo < Wo; wo++) yr[wo] = 0.0f;
            for (int i = 0; i < k; i++) {
                const float* xr = xp + (int64_t)(ho * s + i) * W;
                for (int wo = 0; wo < Wo; wo++) {
                    const float* xw = xr + (int64_t)wo * s;
                    float acc = 0.0f;
                    for (int j = 0; j < k; j++) acc += xw[j];
                    yr[wo] += acc;
                }
            }
            for (int wo = 0; wo < Wo; wo++) yr[wo] *= inv;
        }
    }
    return BASQ_OK;
}

BASQ_API int basq_avgpool_bwd(const float* dy, float* dx, int N, int C, int H, int W, int k, int s) {
    if (!pool_ok(N, C, H, W, k, s)) return BASQ_EINVAL;
    const int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!dy || !dx) return BASQ_EINVAL;
    const float inv = 1.0f / (float)(k * k);
#pragma omp parallel for schedule(static) if (planes * H * W > kParMin)
    for (int64_t p = 0; p < planes; p++) {
        float* dp = dx + p * H * W;
        const float* gp = dy + p * Ho * Wo;
        if (k == 2 && s == 2 && (W & 1) == 0 && (H & 1) == 0) {  // the stride-2 skip: exact tiling
            for (int ho = 0; ho < Ho; ho++) {
                const float* gr = gp + (int64_t)ho * Wo;
                float* d0 = dp + (int64_t)(2 * ho) * W;
                float* d1 = d0 + W;
                for (int wo = 0; wo < Wo; wo++) {
                    const float g = gr[wo] * inv;
                    d0[2 * wo] = g;
                    d0[2 * wo + 1] = g;
                }
                for (int w = 0; w < W; w++) d1[w] = d0[w];
            }
            continue;
        }
        if (k == s) {  // windows tile without overlap: every dx is written exactly once or is zero
            for (int ho = 0; ho < Ho; ho++) {
                const float* gr = gp + (int64_t)ho * Wo;
                for (int i = 0; i < k; i++) {
                    float* dr = dp + (int64_t)(ho * k + i) * W;
                    for (int wo = 0; wo < Wo; wo++) {
                        const float g = gr[wo] * inv;
                        for (int j = 0; j < k; j++) dr[wo * k + j] = g;
                    }
                    for (int w = Wo * k; w < W; w++) dr[w] = 0.0f;  // columns no window covers
                }
            }
            for (int64_t i = (int64_t)Ho * k * W; i < (int64_t)H * W; i++) dp[i] = 0.0f;  // rows no window covers
            continue;
        }
        memset(dp, 0, sizeof(float) * (size_t)H * W);
        for (int ho = 0; ho < Ho; ho++) {
            const float* gr = gp + (int64_t)ho * Wo;
            for (int i = 0; i < k; i++) {
                float* dr = dp + (int64_t)(ho * s + i) * W;
                for (int wo = 0; wo < Wo; wo++) {
                    const float g = gr[wo] * inv;
                    float* dw = dr + (int64_t)wo * s;
                    for (int j = 0; j < k; j++) dw[j] += g;
                }
            }
        }
    }
    return BASQ_OK;
}

BASQ_API int basq_global_avgpool_fwd(const float* x, float* y, int N, int C, int64_t HW) {
    if (N < 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!x || !y) return BASQ_EINVAL;
    const double inv = 1.0 / (double)HW;
#pragma omp parallel for schedule(static) if (planes * HW > kParMin)
    for (int64_t p = 0; p < planes; p++) {
        const float* xp = x + p * HW;
        double acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < HW; i++) acc += xp[i];
        y[p] = (float)(acc * inv);
    }
    return BASQ_OK;
}

BASQ_API int basq_global_avgpool_bwd(const float* dy, float* dx, int N, int C, int64_t HW) {
    if (N < 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!dy || !dx) return BASQ_EINVAL;
    const float inv = (float)(1.0 / (double)HW);
#pragma omp parallel for schedule(static) if (planes * HW > kParMin)
    for (int64_t p = 0; p < planes; p++) {
        const float g = dy[p] * inv;
        float* dp = dx + p * HW;
        for (int64_t i = 0; i < HW; i++) dp[i] = g;
    }
    return BASQ_OK;
}

namespace {

// Max pooling needs k >= 1, s >= 1, 0 <= p <= k/2 (as torch: every window then holds at
// least one real element) and an output of at least one element.
bool maxpool_ok(int N, int C, int H, int W, int k, int s, int p) {
    return N >= 0 && C >= 0 && H >= 1 && W >= 1 && k >= 1 && s >= 1 && p >= 0 && 2 * p <= k &&
           H + 2 * p >= k && W + 2 * p >= k;
}

}  // namespace

/*
 * Max pooling: y is the largest element of the window over real (unpadded) positions, the
 * first one in row-major order on ties; a NaN wins (propagates) as in torch's CPU kernel
 * (v > best || isnan(v), so the last NaN of a window gives the index). idx = h*W + w.
 */
BASQ_API int basq_maxpool_fwd(const float* x, float* y, int32_t* idx, int N, int C, int H, int W, int k, int s,
                              int p) {
    if (!maxpool_ok(N, C, H, W, k, s, p)) return BASQ_EINVAL;
    const int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!x || !y || !idx) return BASQ_EINVAL;
    // Output columns whose window lies inside the row: [wlo, whi). They take a branch-free
    // loop vectorized across columns; the few border columns take the checked loop.
    int wlo = (p + s - 1) / s, whi = (W + p - k) / s + 1;
    if (whi > Wo) whi = Wo;
    if (wlo > whi) wlo = whi;
#pragma omp parallel for schedule(static) if (planes * H * W > kParMin)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float* xp = x + pl * H * W;
        for (int ho = 0; ho < Ho; ho++) {
            const int h0 = ho * s - p;
            const int hs = h0 < 0 ? 0 : h0;
            const int he = h0 + k > H ? H : h0 + k;
            float* yr = y + (pl * Ho + ho) * Wo;
            int32_t* ir = idx + (pl * Ho + ho) * Wo;
            for (int wo = 0; wo < Wo; wo++) {
                if (wo == wlo) wo = whi;  // skip the interior here
                if (wo >= Wo) break;
                const int w0 = wo * s - p;
                const int ws = w0 < 0 ? 0 : w0;
                const int we = w0 + k > W ? W : w0 + k;
                float best = -INFINITY;
                int32_t bi = hs * W + ws;
                for (int h = hs; h < he; h++) {
                    const float* xr = xp + (int64_t)h * W;
                    for (int w = ws; w < we; w++) {
                        const float v = xr[w];
                        if (v > best || isnan(v)) {
                            best = v;
                            bi = h * W + w;
                        }
                    }
                }
                yr[wo] = best;
                ir[wo] = bi;
            }
            for (int wo = wlo; wo < whi; wo++) {
                yr[wo] = -INFINITY;
                ir[wo] = hs * W + wo * s - p;
            }
            for (int h = hs; h < he; h++) {
                const float* xr = xp + (int64_t)h * W - p;
                const int32_t rowbase = h * W - p;
                for (int j = 0; j < k; j++) {
                    for (int wo = wlo; wo < whi; wo++) {
                        const float v = xr[wo * s + j];
                        const float b = yr[wo];
                        const bool take = v > b || v != v;
                        yr[wo] = take ? v : b;
                        ir[wo] = take ? rowbase + wo * s + j : ir[wo];
                    }
                }
            }
        }
    }
    return BASQ_OK;
}

/* dx (overwritten) gets each dy at its argmax; an index outside [0, H*W) is skipped and makes the call return BASQ_EINVAL. */
BASQ_API int basq_maxpool_bwd(const float* dy, const int32_t* idx, float* dx, int N, int C, int H, int W, int k,
                              int s, int p) {
    if (!maxpool_ok(N, C, H, W, k, s, p)) return BASQ_EINVAL;
    const int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!dy || !idx || !dx) return BASQ_EINVAL;
    const int64_t HWi = (int64_t)H * W, HWo = (int64_t)Ho * Wo;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (planes * HWi > kParMin)
    for (int64_t pl = 0; pl < planes; pl++) {
        float* dp = dx + pl * HWi;
        const float* gp = dy + pl * HWo;
        const int32_t* ip = idx + pl * HWo;
        memset(dp, 0, sizeof(float) * (size_t)HWi);
        for (int64_t o = 0; o < HWo; o++) {
            const int32_t i = ip[o];
            if (i < 0 || i >= HWi) {
                bad = 1;
                continue;
            }
            dp[i] += gp[o];
        }
    }
    return bad ? BASQ_EINVAL : BASQ_OK;
}

namespace {

/*
 * Output plane k of [N, Cout, HW] from input [N, Cin, HW]: the sum of the input planes
 * c = k, k + Cout, k + 2*Cout, ... below Cin when Cin >= Cout (folding, identity when
 * equal), the input plane k mod Cin when Cin < Cout (tiling). The backward of one mode is
 * the forward of the other with Cin and Cout exchanged.
 */
void fold_or_tile(const float* x, float* y, int N, int Cin, int Cout, int64_t HW) {
    const int64_t planes = (int64_t)N * Cout;
#pragma omp parallel for schedule(static) if (planes * HW > kParMin)
    for (int64_t pl = 0; pl < planes; pl++) {
        const int64_t n = pl / Cout;
        const int k = (int)(pl - n * Cout);
        const float* xn = x + n * Cin * HW;
        float* yp = y + pl * HW;
        if (Cin < Cout) {
            memcpy(yp, xn + (int64_t)(k % Cin) * HW, sizeof(float) * (size_t)HW);
            continue;
        }
        const float* x0 = xn + (int64_t)k * HW;
        int c = k + Cout;
        if (c >= Cin) {
            memcpy(yp, x0, sizeof(float) * (size_t)HW);
            continue;
        }
        // Sum the group in input-channel order: x[k] + x[k+Cout] + ..., two planes at a time.
        const float* x1 = xn + (int64_t)c * HW;
        for (int64_t i = 0; i < HW; i++) yp[i] = x0[i] + x1[i];
        for (c += Cout; c < Cin; c += Cout) {
            const float* xc = xn + (int64_t)c * HW;
            for (int64_t i = 0; i < HW; i++) yp[i] += xc[i];
        }
    }
}

}  // namespace

BASQ_API int basq_flex_skip_fwd(const float* x, float* y, int N, int Cin, int Cout, int64_t HW) {
    if (N < 0 || Cin <= 0 || Cout <= 0 || HW < 0) return BASQ_EINVAL;
    if ((int64_t)N * HW == 0) return BASQ_OK;
    if (!x || !y) return BASQ_EINVAL;
    fold_or_tile(x, y, N, Cin, Cout, HW);
    return BASQ_OK;
}

/* dx[c] = sum of dy[k] with k mod Cin == c when tiling (Cin < Cout); dy[c mod Cout] when folding. */
BASQ_API int basq_flex_skip_bwd(const float* dy, float* dx, int N, int Cin, int Cout, int64_t HW) {
    if (N < 0 || Cin <= 0 || Cout <= 0 || HW < 0) return BASQ_EINVAL;
    if ((int64_t)N * HW == 0) return BASQ_OK;
    if (!dy || !dx) return BASQ_EINVAL;
    fold_or_tile(dy, dx, N, Cout, Cin, HW);
    return BASQ_OK;
}
