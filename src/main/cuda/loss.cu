// Losses on logits [N, K] on the GPU (loss.h). The forwards run as one block of 32 warps, a
// warp per row: the batch mean is then a fixed-order sum (rows in order per warp, then the
// warps in order), reproducible without atomics or workspace. Softmaxes as loss.cpp: the
// maximum subtracted, exponentials in float, their sum and the log-sum-exp in double.
#include "cuda_util.cuh"

namespace basq_cuda {
namespace {

constexpr int kLossThreads = kBigBlock;

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

// Lane 0 of every warp holds a partial sum; thread 0 gets the total in warp order.
__device__ double block_total(double part, int lane, int warp, int nwarps) {
    __shared__ double w[32];
    if (lane == 0) w[warp] = part;
    __syncthreads();
    double t = 0.0;
    if (threadIdx.x == 0)
        for (int i = 0; i < nwarps; i++) t += w[i];
    return t;
}

__global__ void __launch_bounds__(kLossThreads) k_softmax_xent_fwd(const float* logits, const int64_t* target,
                                                                   float* loss, float* prob, int N, int K) {
    __shared__ int bad;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    if (threadIdx.x == 0) bad = 0;
    __syncthreads();
    double part = 0.0;
    for (int n = warp; n < N; n += nwarps) {
        const float* z = logits + (int64_t)n * K;
        const double lse = warp_softmax(z, prob + (int64_t)n * K, K, lane);
        if (lane == 0) {
            const int64_t t = target[n];
            if (t < 0 || t >= K)
                bad = 1;
            else
                part += lse - (double)z[t];
        }
    }
    const double total = block_total(part, lane, warp, nwarps);
    if (threadIdx.x == 0) *loss = bad ? qnan() : (float)(total / (double)N);
}

__global__ void __launch_bounds__(kThreads) k_softmax_xent_bwd(const float* prob, const int64_t* target,
                                                               const float* dloss, float* dlogits, int N, int K) {
    const float g = (float)((double)*dloss / (double)N);
    const int64_t total = (int64_t)N * K;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const int64_t n = i / K;
        const int k = (int)(i - n * K);
        const float p = prob[i];
        dlogits[i] = target[n] == k ? g * (p - 1.0f) : g * p;
    }
}

__global__ void __launch_bounds__(kLossThreads) k_kd_loss_fwd(const float* student, const float* teacher,
                                                              float* loss, float* ps, float* pt, int N, int K) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    double part = 0.0;
    for (int n = warp; n < N; n += nwarps) {
        const int64_t off = (int64_t)n * K;
        const float* s = student + off;
        const double lse = warp_softmax(s, ps + off, K, lane);
        warp_softmax(teacher + off, pt + off, K, lane);
        double acc = 0.0;
        for (int k = lane; k < K; k += 32) acc += (double)pt[off + k] * ((double)s[k] - lse);
        acc = warp_sum(acc);
        if (lane == 0) part += -acc;
    }
    const double total = block_total(part, lane, warp, nwarps);
    if (threadIdx.x == 0) *loss = (float)(total / (double)N);
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

/* An out-of-range target makes *loss NaN (the CPU returns BASQ_EINVAL): the device cannot tell. */
BASQ_API int basq_cuda_softmax_xent_fwd(const float* logits, const int64_t* target, float* loss, float* prob, int N,
                                        int K, void* stream) {
    if (N <= 0 || K <= 0 || !logits || !target || !loss || !prob) return BASQ_EINVAL;
    auto k = &k_softmax_xent_fwd;
    BASQ_LAUNCH(k, 1, kLossThreads, as_stream(stream), logits, target, loss, prob, N, K);
    return launch_status();
}

/* A row with an out-of-range target gets g * prob (no one-hot term). */
BASQ_API int basq_cuda_softmax_xent_bwd(const float* prob, const int64_t* target, const float* dloss,
                                        float* dlogits, int N, int K, void* stream) {
    if (N <= 0 || K <= 0 || !prob || !target || !dloss || !dlogits) return BASQ_EINVAL;
    auto k = &k_softmax_xent_bwd;
    BASQ_LAUNCH(k, grid_for((int64_t)N * K), kThreads, as_stream(stream), prob, target, dloss, dlogits, N, K);
    return launch_status();
}

BASQ_API int basq_cuda_kd_loss_fwd(const float* student, const float* teacher, float* loss, float* p_student,
                                   float* p_teacher, int N, int K, void* stream) {
    if (N <= 0 || K <= 0 || !student || !teacher || !loss || !p_student || !p_teacher) return BASQ_EINVAL;
    auto k = &k_kd_loss_fwd;
    BASQ_LAUNCH(k, 1, kLossThreads, as_stream(stream), student, teacher, loss, p_student, p_teacher, N, K);
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
