// Batch normalization on the CPU (norm.h), over x seen as [N, C, HW].
//
// Training statistics are computed per channel in double (one pass over shifted values,
// which is exact enough in double even when |mean| >> std), one OpenMP task per channel:
// no atomics, and the result does not depend on the thread count. Each task then writes
// its channel's output while the data is still warm in cache.
#include "basq4j/norm.h"

#include <math.h>

namespace {

constexpr int64_t kParMin = 1 << 15;  // elements below which a kernel stays on one thread

// Mean and biased variance of channel c, in double.
inline void channel_stats(const float* x, int N, int C, int64_t HW, int c, double* mean, double* var) {
    const double shift = x[(int64_t)c * HW];  // any sample of the channel: keeps the sums small
    double s = 0.0, ss = 0.0;
    for (int n = 0; n < N; n++) {
        const float* xp = x + ((int64_t)n * C + c) * HW;
#pragma omp simd reduction(+ : s, ss)
        for (int64_t i = 0; i < HW; i++) {
            const double d = (double)xp[i] - shift;
            s += d;
            ss += d * d;
        }
    }
    const double M = (double)N * (double)HW;
    const double dm = s / M;
    double v = ss / M - dm * dm;
    *mean = shift + dm;
    *var = v > 0.0 ? v : 0.0;
}

}  // namespace

/*
 * Training forward. save_mean / save_invstd may be NULL (no backward needed); running_mean
 * and running_var may be NULL (no update). Updating running statistics needs N*HW >= 2 (the
 * unbiased variance divides by N*HW - 1), otherwise BASQ_EINVAL, as torch refuses it too.
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
#pragma omp parallel for schedule(static) if (M * C > kParMin)
    for (int c = 0; c < C; c++) {
        double mean, var;
        channel_stats(x, N, C, HW, c, &mean, &var);
        const double invstd = 1.0 / sqrt(var + (double)eps);
        if (save_mean) save_mean[c] = (float)mean;
        if (save_invstd) save_invstd[c] = (float)invstd;
        if (running_mean) {
            const double unbiased = var * (double)M / (double)(M - 1);
            running_mean[c] = (float)((1.0 - mom) * running_mean[c] + mom * mean);
            running_var[c] = (float)((1.0 - mom) * running_var[c] + mom * unbiased);
        }
        const float fm = (float)mean;
        const float a = (float)(gamma[c] * invstd);
        const float b = beta[c];
        for (int n = 0; n < N; n++) {
            const int64_t off = ((int64_t)n * C + c) * HW;
            const float* xp = x + off;
            float* yp = y + off;
            for (int64_t i = 0; i < HW; i++) yp[i] = (xp[i] - fm) * a + b;
        }
    }
    return BASQ_OK;
}

BASQ_API int basq_bn_eval_fwd(const float* x, const float* gamma, const float* beta, const float* running_mean,
                              const float* running_var, float* y, int N, int C, int64_t HW, float eps) {
    if (N < 0 || C < 0 || HW < 0 || !(eps >= 0.0f)) return BASQ_EINVAL;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0 || HW == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !running_mean || !running_var || !y) return BASQ_EINVAL;
#pragma omp parallel for schedule(static) if (planes * HW > kParMin)
    for (int64_t p = 0; p < planes; p++) {
        const int c = (int)(p % C);
        const float a = (float)((double)gamma[c] / sqrt((double)running_var[c] + (double)eps));
        const float m = running_mean[c];
        const float b = beta[c];
        const float* xp = x + p * HW;
        float* yp = y + p * HW;
        for (int64_t i = 0; i < HW; i++) yp[i] = (xp[i] - m) * a + b;
    }
    return BASQ_OK;
}

/*
 * Backward of the training forward, per channel c with M = N*HW, xhat = (x - mean)*invstd:
 *   dbeta = sum dy;  dgamma = sum dy*xhat;
 *   dx = gamma*invstd * (dy - dbeta/M - xhat * dgamma/M).
 */
BASQ_API int basq_bn_bwd(const float* x, const float* dy, const float* gamma, const float* save_mean,
                         const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C,
                         int64_t HW) {
    if (N <= 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !dy || !gamma || !save_mean || !save_invstd || !dx) return BASQ_EINVAL;
    const int64_t M = (int64_t)N * HW;
#pragma omp parallel for schedule(static) if (M * C > kParMin)
    for (int c = 0; c < C; c++) {
        const float fm = save_mean[c];
        const double invstd = save_invstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < N; n++) {
            const int64_t off = ((int64_t)n * C + c) * HW;
            const float* xp = x + off;
            const float* gp = dy + off;
#pragma omp simd reduction(+ : sdy, sdyx)
            for (int64_t i = 0; i < HW; i++) {
                const double g = gp[i];
                sdy += g;
                sdyx += g * (double)(xp[i] - fm);
            }
        }
        if (dbeta) dbeta[c] = (float)sdy;
        if (dgamma) dgamma[c] = (float)(sdyx * invstd);
        // dx = a*dy - a*mean_dy - (x - mean) * k, with a = gamma*invstd, k = a*invstd^2*sdyx/M
        // (sdyx = sum dy*(x - mean), so sum dy*xhat = invstd*sdyx).
        const double a = (double)gamma[c] * invstd;
        const float fa = (float)a;
        const float fb = (float)(a * sdy / (double)M);
        const float fk = (float)(a * invstd * invstd * sdyx / (double)M);
        for (int n = 0; n < N; n++) {
            const int64_t off = ((int64_t)n * C + c) * HW;
            const float* xp = x + off;
            const float* gp = dy + off;
            float* dp = dx + off;
            for (int64_t i = 0; i < HW; i++) dp[i] = fa * gp[i] - fb - (xp[i] - fm) * fk;
        }
    }
    return BASQ_OK;
}
