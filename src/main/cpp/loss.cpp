// Losses on logits [N, K] on the CPU (loss.h).
//
// Softmaxes are numerically stable (max subtracted, log-sum-exp in double). The batch mean
// is summed over a fixed partition of the rows (independent of the thread count), so the
// loss is bitwise reproducible.
#include "basq4j/loss.h"

#include <math.h>

namespace {

constexpr int64_t kParMin = 1 << 14;  // logits below which a kernel stays on one thread
constexpr int kParts = 64;            // fixed row partition for the batch-mean reduction

// Writes p = softmax(z) (K floats) and returns log-sum-exp(z) in double.
inline double softmax_row(const float* z, float* p, int K) {
    float mx = z[0];
    for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    double s = 0.0;
    for (int k = 0; k < K; k++) {
        const float e = expf(z[k] - mx);
        p[k] = e;
        s += e;
    }
    const float inv = (float)(1.0 / s);
    for (int k = 0; k < K; k++) p[k] *= inv;
    return (double)mx + log(s);
}

// Runs row_loss(n) for every row and returns the mean over rows, reproducibly.
template <class F>
double batch_mean(int N, int K, F row_loss) {
    double part[kParts];
    const int chunk = (N + kParts - 1) / kParts;
#pragma omp parallel for schedule(static) if ((int64_t)N * K > kParMin)
    for (int b = 0; b < kParts; b++) {
        const int lo = b * chunk;
        const int hi = lo + chunk < N ? lo + chunk : N;
        double acc = 0.0;
        for (int n = lo; n < hi; n++) acc += row_loss(n);
        part[b] = acc;
    }
    double total = 0.0;
    for (int b = 0; b < kParts; b++) total += part[b];
    return total / (double)N;
}

bool targets_ok(const int64_t* target, int N, int K) {
    for (int n = 0; n < N; n++)
        if (target[n] < 0 || target[n] >= K) return false;
    return true;
}

}  // namespace

/* BASQ_EINVAL unless N >= 1, K >= 1 and every target lies in [0, K) (nothing is written then). */
BASQ_API int basq_softmax_xent_fwd(const float* logits, const int64_t* target, float* loss, float* prob, int N,
                                   int K) {
    if (N <= 0 || K <= 0 || !logits || !target || !loss || !prob) return BASQ_EINVAL;
    if (!targets_ok(target, N, K)) return BASQ_EINVAL;
    const double mean = batch_mean(N, K, [&](int n) {
        const float* z = logits + (int64_t)n * K;
        const double lse = softmax_row(z, prob + (int64_t)n * K, K);
        return lse - (double)z[target[n]];
    });
    *loss = (float)mean;
    return BASQ_OK;
}

/* dlogits = dloss * (prob - onehot(target)) / N. */
BASQ_API int basq_softmax_xent_bwd(const float* prob, const int64_t* target, const float* dloss, float* dlogits,
                                   int N, int K) {
    if (N <= 0 || K <= 0 || !prob || !target || !dloss || !dlogits) return BASQ_EINVAL;
    if (!targets_ok(target, N, K)) return BASQ_EINVAL;
    const float g = (float)((double)*dloss / (double)N);
#pragma omp parallel for schedule(static) if ((int64_t)N * K > kParMin)
    for (int n = 0; n < N; n++) {
        const float* p = prob + (int64_t)n * K;
        float* d = dlogits + (int64_t)n * K;
        for (int k = 0; k < K; k++) d[k] = g * p[k];
        d[target[n]] = g * (p[target[n]] - 1.0f);
    }
    return BASQ_OK;
}

/*
 * loss = mean_n -sum_k pt_k * (s_k - lse(s)) with pt = softmax(teacher); the log-softmax
 * of the student is formed in double from its log-sum-exp, never as log(p_student).
 */
BASQ_API int basq_kd_loss_fwd(const float* student, const float* teacher, float* loss, float* p_student,
                              float* p_teacher, int N, int K) {
    if (N <= 0 || K <= 0 || !student || !teacher || !loss || !p_student || !p_teacher) return BASQ_EINVAL;
    const double mean = batch_mean(N, K, [&](int n) {
        const float* s = student + (int64_t)n * K;
        float* ps = p_student + (int64_t)n * K;
        float* pt = p_teacher + (int64_t)n * K;
        const double lse = softmax_row(s, ps, K);
        softmax_row(teacher + (int64_t)n * K, pt, K);
        double acc = 0.0;
        for (int k = 0; k < K; k++) acc += (double)pt[k] * ((double)s[k] - lse);
        return -acc;
    });
    *loss = (float)mean;
    return BASQ_OK;
}

BASQ_API int basq_kd_loss_bwd(const float* p_student, const float* p_teacher, const float* dloss,
                              float* dstudent, int N, int K) {
    if (N <= 0 || K <= 0 || !p_student || !p_teacher || !dloss || !dstudent) return BASQ_EINVAL;
    const float g = (float)((double)*dloss / (double)N);
    const int64_t n = (int64_t)N * K;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) dstudent[i] = g * (p_student[i] - p_teacher[i]);
    return BASQ_OK;
}
