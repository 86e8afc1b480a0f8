// Losses on logits [N, K] on the GPU (loss.h). Softmaxes as loss.cpp: the maximum subtracted,
// exponentials in float, their sum and the log-sum-exp in double. The forwards are grid-wide: a
// warp per row, 32 rows per block, each block's rows summed in a fixed order (rows of a warp in
// order, then the warps in order) into one double of the caller's workspace, then one warp sums
// those in a fixed tree: the batch mean depends on N only, reproducible without atomics.
#include "cuda_util.cuh"

namespace basq_cuda {
namespace {

constexpr int kLossWarps = kThreads / 32;                     // warps per block
constexpr int kRowsPerWarp = 4;
constexpr int kRowsPerBlock = kLossWarps * kRowsPerWarp;      // rows per block (one workspace double)

int64_t loss_parts(int N) { return ((int64_t)N + kRowsPerBlock - 1) / kRowsPerBlock; }

// Softmax of row z (K floats) into p by one warp; returns log-sum-exp (in every lane).
__device__ double warp_softmax(const float* z, float* p, int K, int lane) {
    float mx = -INFINITY;
    for (int k = lane; k < K; k += 32) mx = fmaxf(mx, z[k]);
    mx = warp_max(mx);
    double s = 0.0;
    for (int k = lane; k < K; k += 32) {
        const float e = expf(z[k] - mx);
        p[k] = e;
        s += e;
    }
    s = __shfl_sync(kFull, warp_sum(s), 0);
    const float inv = (float)(1.0 / s);
    for (int k = lane; k < K; k += 32) p[k] *= inv;  // the lane that wrote p[k]
    return (double)mx + log(s);
}

// The block's row losses (lane 0 of each warp holds its warp's, rows in order) into work[block],
// warps in order.
__device__ void store_block_part(double part, int lane, int warp, double* work) {
    __shared__ double w[kLossWarps];
    if (lane == 0) w[warp] = part;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int i = 0; i < kLossWarps; i++) t += w[i];
        work[blockIdx.x] = t;
    }
}

// Row n of block b, round r, warp w: rows interleave over the warps, so a small batch still
// spreads over them.
__device__ __forceinline__ int row_of(int r, int warp) {
    return (int)blockIdx.x * kRowsPerBlock + r * kLossWarps + warp;
}

__global__ void __launch_bounds__(kThreads) k_softmax_xent_part(const float* logits, const int64_t* target,
                                                                float* prob, int N, int K, double* work) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    double part = 0.0;
    for (int r = 0; r < kRowsPerWarp; r++) {
        const int n = row_of(r, warp);
        if (n >= N) break;  // uniform per warp
        const float* z = logits + (int64_t)n * K;
        const double lse = warp_softmax(z, prob + (int64_t)n * K, K, lane);
        if (lane == 0) {
            const int64_t t = target[n];
            part += (t < 0 || t >= K) ? (double)qnan() : lse - (double)z[t];
        }
    }
    store_block_part(part, lane, warp, work);
}

__global__ void __launch_bounds__(kThreads) k_kd_loss_part(const float* student, const float* teacher, float* ps,
                                                           float* pt, int N, int K, double* work) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    double part = 0.0;
    for (int r = 0; r < kRowsPerWarp; r++) {
        const int n = row_of(r, warp);
        if (n >= N) break;  // uniform per warp
        const int64_t off = (int64_t)n * K;
        const float* s = student + off;
        const double lse = warp_softmax(s, ps + off, K, lane);
        warp_softmax(teacher + off, pt + off, K, lane);
        double acc = 0.0;
        for (int k = lane; k < K; k += 32) acc += (double)pt[off + k] * ((double)s[k] - lse);
        acc = warp_sum(acc);
        if (lane == 0) part += -acc;
    }
    store_block_part(part, lane, warp, work);
}

// loss = (sum of the parts) / N, the parts summed by one warp in a fixed tree.
__global__ void __launch_bounds__(32) k_loss_finish(const double* work, int64_t parts, int N, float* loss) {
    const double t = warp_sum_strided(work, parts, (int)threadIdx.x);
    if (threadIdx.x == 0) *loss = (float)(t / (double)N);
}

template <bool kFast>
__global__ void __launch_bounds__(kThreads) k_softmax_xent_bwd(const float* prob, const int64_t* target,
                                                               const float* dloss, float* dlogits, int N, int K,
                                                               IdxDiv by_k) {
    const float g = (float)((double)*dloss / (double)N);
    const int64_t total = (int64_t)N * K;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const int64_t n = by_k.quot<kFast>(i);
        const int k = (int)(i - n * K);
        const float p = prob[i];
        dlogits[i] = target[n] == k ? g * (p - 1.0f) : g * p;
    }
}

__global__ void __launch_bounds__(kThreads) k_kd_loss_bwd(const float* ps, const float* pt, const float* dloss,
                                                          float* ds, int64_t total, int N) {
    const float g = (float)((double)*dloss / (double)N);
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
        ds[i] = g * (ps[i] - pt[i]);
}

}  // namespace
}  // namespace basq_cuda

using namespace basq_cuda;

BASQ_API int64_t basq_cuda_loss_work(int N) { return N <= 0 ? -1 : loss_parts(N); }

/* An out-of-range target makes *loss NaN (the CPU returns BASQ_EINVAL): the device cannot tell. */
BASQ_API int basq_cuda_softmax_xent_fwd(const float* logits, const int64_t* target, float* loss, float* prob, int N,
                                        int K, double* work, void* stream) {
    if (N <= 0 || K <= 0 || !logits || !target || !loss || !prob || !work) return BASQ_EINVAL;
    const int64_t parts = loss_parts(N);
    auto k1 = &k_softmax_xent_part;
    BASQ_LAUNCH(k1, parts, kThreads, as_stream(stream), logits, target, prob, N, K, work);
    auto k2 = &k_loss_finish;
    BASQ_LAUNCH(k2, 1, 32, as_stream(stream), work, parts, N, loss);
    return launch_status();
}

/* A row with an out-of-range target gets g * prob (no one-hot term). */
BASQ_API int basq_cuda_softmax_xent_bwd(const float* prob, const int64_t* target, const float* dloss,
                                        float* dlogits, int N, int K, void* stream) {
    if (N <= 0 || K <= 0 || !prob || !target || !dloss || !dlogits) return BASQ_EINVAL;
    const int64_t total = (int64_t)N * K;
    const bool fast = total < index32_limit();
    if (fast) {
        auto k = &k_softmax_xent_bwd<true>;
        BASQ_LAUNCH(k, grid_for(total), kThreads, as_stream(stream), prob, target, dloss, dlogits, N, K,
                    idx_div(K, true));
    } else {
        auto k = &k_softmax_xent_bwd<false>;
        BASQ_LAUNCH(k, grid_for(total), kThreads, as_stream(stream), prob, target, dloss, dlogits, N, K,
                    idx_div(K, false));
    }
    return launch_status();
}

BASQ_API int basq_cuda_kd_loss_fwd(const float* student, const float* teacher, float* loss, float* p_student,
                                   float* p_teacher, int N, int K, double* work, void* stream) {
    if (N <= 0 || K <= 0 || !student || !teacher || !loss || !p_student || !p_teacher || !work) return BASQ_EINVAL;
    const int64_t parts = loss_parts(N);
    auto k1 = &k_kd_loss_part;
    BASQ_LAUNCH(k1, parts, kThreads, as_stream(stream), student, teacher, p_student, p_teacher, N, K, work);
    auto k2 = &k_loss_finish;
    BASQ_LAUNCH(k2, 1, 32, as_stream(stream), work, parts, N, loss);
    return launch_status();
}

BASQ_API int basq_cuda_kd_loss_bwd(const float* p_student, const float* p_teacher, const float* dloss,
                                   float* dstudent, int N, int K, void* stream) {
    if (N <= 0 || K <= 0 || !p_student || !p_teacher || !dloss || !dstudent) return BASQ_EINVAL;
    auto k = &k_kd_loss_bwd;
    const int64_t total = (int64_t)N * K;
    BASQ_LAUNCH(k, grid_for(total), kThreads, as_stream(stream), p_student, p_teacher, dloss, dstudent, total, N);
    return launch_status();
}
