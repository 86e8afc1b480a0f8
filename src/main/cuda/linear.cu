// Helpers around cuBLAS for the linear layer (cuda_kernels.h): the bias and its gradient.
#include "cuda_util.cuh"

namespace basq_cuda {
namespace {

template <bool kFast>
__global__ void __launch_bounds__(kThreads) k_bias_add(float* y, const float* b, int64_t total, IdxDiv by_out) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
        y[i] += b[i - by_out.quot<kFast>(i) * by_out.d];
}

constexpr int kColWarps = 16;  // warps of a column-sum block: each sums every 16th row

/*
 * Column sums of dy [N, OUT]: a block per 32 columns (lane = column, so a warp reads 32
 * consecutive floats of a row), its warps splitting the rows (warp w: rows w, w + 16, ... in
 * order, in double), then the 16 warp sums of a column added in warp order. The order depends
 * on N only: deterministic.
 */
__global__ void __launch_bounds__(32 * kColWarps) k_col_sum(const float* dy, float* db, int N, int OUT) {
    __shared__ double part[kColWarps][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int o = blockIdx.x * 32 + lane;
    double acc = 0.0;
    if (o < OUT)
        for (int n = warp; n < N; n += kColWarps) acc += dy[(int64_t)n * OUT + o];
    part[warp][lane] = acc;
    __syncthreads();
    if (warp == 0 && o < OUT) {
        double t = 0.0;
        for (int w = 0; w < kColWarps; w++) t += part[w][lane];
        db[o] = (float)t;
    }
}

}  // namespace
}  // namespace basq_cuda

using namespace basq_cuda;

BASQ_API int basq_cuda_bias_add(float* y, const float* b, int N, int OUT, void* stream) {
    if (N < 0 || OUT < 0) return BASQ_EINVAL;
    const int64_t total = (int64_t)N * OUT;
    if (total == 0) return BASQ_OK;
    if (!y || !b) return BASQ_EINVAL;
    if (total < index32_limit()) {
        auto k = &k_bias_add<true>;
        BASQ_LAUNCH(k, grid_for(total), kThreads, as_stream(stream), y, b, total, idx_div(OUT, true));
    } else {
        auto k = &k_bias_add<false>;
        BASQ_LAUNCH(k, grid_for(total), kThreads, as_stream(stream), y, b, total, idx_div(OUT, false));
    }
    return launch_status();
}

BASQ_API int basq_cuda_col_sum(const float* dy, float* db, int N, int OUT, void* stream) {
    if (N < 0 || OUT < 0) return BASQ_EINVAL;
    if (OUT == 0) return BASQ_OK;
    if (!db || (N > 0 && !dy)) return BASQ_EINVAL;
    auto k = &k_col_sum;
    BASQ_LAUNCH(k, (OUT + 31) / 32, 32 * kColWarps, as_stream(stream), dy, db, N, OUT);
    return launch_status();
}
