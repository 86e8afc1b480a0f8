// Helpers around cuBLAS for the linear layer (cuda_kernels.h): the bias and its gradient.
#include "cuda_util.cuh"

namespace basq_cuda {
namespace {

__global__ void __launch_bounds__(kThreads) k_bias_add(float* y, const float* b, int64_t total, int OUT) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) y[i] += b[i % OUT];
}

// One thread per column, rows in order (coalesced across the threads of a warp).
__global__ void __launch_bounds__(kThreads) k_col_sum(const float* dy, float* db, int N, int OUT) {
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= OUT) return;
    double acc = 0.0;
    for (int n = 0; n < N; n++) acc += dy[(int64_t)n * OUT + o];
    db[o] = (float)acc;
}

}  // namespace
}  // namespace basq_cuda

using namespace basq_cuda;

BASQ_API int basq_cuda_bias_add(float* y, const float* b, int N, int OUT, void* stream) {
    if (N < 0 || OUT < 0) return BASQ_EINVAL;
    const int64_t total = (int64_t)N * OUT;
    if (total == 0) return BASQ_OK;
    if (!y || !b) return BASQ_EINVAL;
    auto k = &k_bias_add;
    BASQ_LAUNCH(k, grid_for(total), kThreads, as_stream(stream), y, b, total, OUT);
    return launch_status();
}

BASQ_API int basq_cuda_col_sum(const float* dy, float* db, int N, int OUT, void* stream) {
    if (N < 0 || OUT < 0) return BASQ_EINVAL;
    if (OUT == 0) return BASQ_OK;
    if (!db || (N > 0 && !dy)) return BASQ_EINVAL;
    auto k = &k_col_sum;
    BASQ_LAUNCH(k, (OUT + kThreads - 1) / kThreads, kThreads, as_stream(stream), dy, db, N, OUT);
    return launch_status();
}
