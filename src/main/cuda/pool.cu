// Pooling and the flexible skip on the GPU (pool.h). One thread per output element; the
// backward passes gather (each input element sums the windows that cover it, in the CPU's
// order) instead of scattering with atomics, so they are deterministic and match pool.cpp.
// Linear indices are split with FastDiv (32-bit multiply-high) when the tensor allows it.
#include "cuda_util.cuh"

namespace basq_cuda {
namespace {

// Linear index i of [planes, rows, cols] split into plane, row and column: two divisions by
// run-time constants, in 32 bits when the launch's indices allow it (kFast).
struct Split3 {
    IdxDiv by_cols, by_rows;
    template <bool kFast>
    __device__ __forceinline__ int64_t at(int64_t i, int& row, int& col) const {
        const int64_t t = by_cols.quot<kFast>(i);
        col = (int)(i - t * by_cols.d);
        const int64_t pl = by_rows.quot<kFast>(t);
        row = (int)(t - pl * by_rows.d);
        return pl;
    }
};

inline Split3 split3(int64_t total, int rows, int cols) {
    const bool fast = total < index32_limit();
    return Split3{idx_div(cols, fast), idx_div(rows, fast)};
}

// Launches kernel<true> when the split can run in 32 bits, else kernel<false>.
#define BASQ_LAUNCH_SPLIT(kernel, fast, grid, stream, ...)     \
    do {                                                       \
        if (fast) {                                            \
            auto k_ = &kernel<true>;                           \
            BASQ_LAUNCH(k_, grid, kThreads, stream, __VA_ARGS__); \
        } else {                                               \
            auto k_ = &kernel<false>;                          \
            BASQ_LAUNCH(k_, grid, kThreads, stream, __VA_ARGS__); \
        }                                                      \
    } while (0)

template <bool kFast>
__global__ void __launch_bounds__(kThreads) k_avgpool_fwd(const float* x, float* y, int64_t planes, int H, int W,
                                                          int Ho, int Wo, int k, int s, float inv, Split3 sp) {
    const int64_t total = planes * Ho * Wo;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += stride) {
        int ho, wo;
        const int64_t pl = sp.at<kFast>(o, ho, wo);
        const float* xp = x + pl * H * W;
        if (k == 2 && s == 2) {  // as pool.cpp's fast path, same association
            const float* r0 = xp + (int64_t)(2 * ho) * W;
            const float* r1 = r0 + W;
            y[o] = ((r0[2 * wo] + r0[2 * wo + 1]) + (r1[2 * wo] + r1[2 * wo + 1])) * inv;
            continue;
        }
        float acc_y = 0.0f;
        for (int i = 0; i < k; i++) {
            const float* xr = xp + (int64_t)(ho * s + i) * W + (int64_t)wo * s;
            float acc = 0.0f;
            for (int j = 0; j < k; j++) acc += xr[j];
            acc_y += acc;
        }
        y[o] = acc_y * inv;
    }
}

// First and last window (output index) whose span [o*s - p, o*s - p + k) holds position h,
// clamped to [0, n_out); empty when first > last.
__device__ __forceinline__ void cover(int h, int k, int s, int p, int n_out, int* first, int* last) {
    const int a = h + p - k + 1;  // o*s >= a
    int lo = a <= 0 ? 0 : (a + s - 1) / s;
    int hi = (h + p) / s;
    if (hi > n_out - 1) hi = n_out - 1;
    *first = lo;
    *last = hi;
}

template <bool kFast>
__global__ void __launch_bounds__(kThreads) k_avgpool_bwd(const float* dy, float* dx, int64_t planes, int H, int W,
                                                          int Ho, int Wo, int k, int s, float inv, Split3 sp) {
    const int64_t total = planes * H * W;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int h, w;
        const int64_t pl = sp.at<kFast>(i, h, w);
        int h0, h1, w0, w1;
        cover(h, k, s, 0, Ho, &h0, &h1);
        cover(w, k, s, 0, Wo, &w0, &w1);
        const float* gp = dy + pl * Ho * Wo;
        float acc = 0.0f;
        for (int ho = h0; ho <= h1; ho++)
            for (int wo = w0; wo <= w1; wo++) acc += __fmul_rn(gp[(int64_t)ho * Wo + wo], inv);  // as pool.cpp: g = dy * inv, then +=
        dx[i] = acc;
    }
}

__global__ void __launch_bounds__(kThreads) k_global_avgpool_fwd(const float* x, float* y, int64_t planes,
                                                                 int64_t HW) {
    const int lane = threadIdx.x & 31;
    const int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    const double inv = 1.0 / (double)HW;
    for (int64_t pl = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; pl < planes; pl += nwarps) {
        const float* xp = x + pl * HW;
        double acc = 0.0;
        for (int64_t i = lane; i < HW; i += 32) acc += xp[i];
        acc = warp_sum(acc);
        if (lane == 0) y[pl] = (float)(acc * inv);
    }
}

template <bool kFast>
__global__ void __launch_bounds__(kThreads) k_global_avgpool_bwd(const float* dy, float* dx, int64_t total,
                                                                 IdxDiv by_hw, float inv) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
        dx[i] = dy[by_hw.quot<kFast>(i)] * inv;
}

template <bool kFast>
__global__ void __launch_bounds__(kThreads) k_maxpool_fwd(const float* x, float* y, int32_t* idx, int64_t planes,
                                                          int H, int W, int Ho, int Wo, int k, int s, int p,
                                                          Split3 sp) {
    const int64_t total = planes * Ho * Wo;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += stride) {
        int ho, wo;
        const int64_t pl = sp.at<kFast>(o, ho, wo);
        const float* xp = x + pl * H * W;
        const int h0 = ho * s - p, w0 = wo * s - p;
        const int hs = h0 < 0 ? 0 : h0, he = h0 + k > H ? H : h0 + k;
        const int ws = w0 < 0 ? 0 : w0, we = w0 + k > W ? W : w0 + k;
        float best = -INFINITY;
        int32_t bi = hs * W + ws;
        for (int h = hs; h < he; h++)
            for (int w = ws; w < we; w++) {
                const float v = xp[(int64_t)h * W + w];
                if (v > best || v != v) {  // as pool.cpp: the first maximum, a NaN propagates
                    best = v;
                    bi = h * W + w;
                }
            }
        y[o] = best;
        idx[o] = bi;
    }
}

template <bool kFast>
__global__ void __launch_bounds__(kThreads) k_maxpool_bwd(const float* dy, const int32_t* idx, float* dx,
                                                          int64_t planes, int H, int W, int Ho, int Wo, int k, int s,
                                                          int p, Split3 sp) {
    const int64_t total = planes * H * W;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int h, w;
        const int64_t pl = sp.at<kFast>(i, h, w);
        int h0, h1, w0, w1;
        cover(h, k, s, p, Ho, &h0, &h1);
        cover(w, k, s, p, Wo, &w0, &w1);
        const float* gp = dy + pl * Ho * Wo;
        const int32_t* ip = idx + pl * Ho * Wo;
        const int32_t me = h * W + w;
        float acc = 0.0f;
        for (int ho = h0; ho <= h1; ho++)
            for (int wo = w0; wo <= w1; wo++) {
                const int64_t o = (int64_t)ho * Wo + wo;
                if (ip[o] == me) acc += gp[o];
            }
        dx[i] = acc;
    }
}

// Output plane k of [N, Cout, HW] from [N, Cin, HW]: tiling (Cin < Cout) or folding (pool.cpp).
template <bool kFast>
__global__ void __launch_bounds__(kThreads) k_fold_or_tile(const float* x, float* y, int N, int Cin, int Cout,
                                                           int64_t HW, IdxDiv by_hw, IdxDiv by_cout) {
    const int64_t total = (int64_t)N * Cout * HW;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const int64_t t = by_hw.quot<kFast>(i);
        const int64_t hw = i - t * HW;
        const int64_t n = by_cout.quot<kFast>(t);
        const int k = (int)(t - n * Cout);
        const float* xn = x + n * Cin * HW + hw;
        if (Cin < Cout) {
            y[i] = xn[(int64_t)(k % Cin) * HW];
            continue;
        }
        float acc = xn[(int64_t)k * HW];
        for (int c = k + Cout; c < Cin; c += Cout) acc += xn[(int64_t)c * HW];
        y[i] = acc;
    }
}

// y [N, Cout, HW] from x [N, Cin, HW] (the skip's forward, and with Cin and Cout swapped its backward).
int fold_or_tile(const float* x, float* y, int N, int Cin, int Cout, int64_t HW, cudaStream_t st) {
    const int64_t total = (int64_t)N * Cout * HW;
    const bool fast = total < index32_limit();
    BASQ_LAUNCH_SPLIT(k_fold_or_tile, fast, grid_for(total), st, x, y, N, Cin, Cout, HW, idx_div(HW, fast),
                      idx_div(Cout, fast));
    return launch_status();
}

bool pool_ok(int N, int C, int H, int W, int k, int s) {
    return N >= 0 && C >= 0 && H >= k && W >= k && k >= 1 && s >= 1;
}

bool maxpool_ok(int N, int C, int H, int W, int k, int s, int p) {
    return N >= 0 && C >= 0 && H >= 1 && W >= 1 && k >= 1 && s >= 1 && p >= 0 && 2 * p <= k && H + 2 * p >= k &&
           W + 2 * p >= k;
}

}  // namespace
}  // namespace basq_cuda

using namespace basq_cuda;

BASQ_API int basq_cuda_avgpool_fwd(const float* x, float* y, int N, int C, int H, int W, int k, int s, void* stream) {
    if (!pool_ok(N, C, H, W, k, s)) return BASQ_EINVAL;
    const int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!x || !y) return BASQ_EINVAL;
    const int64_t total = planes * Ho * Wo;
    BASQ_LAUNCH_SPLIT(k_avgpool_fwd, total < index32_limit(), grid_for(total), as_stream(stream), x, y, planes, H, W,
                      Ho, Wo, k, s, 1.0f / (float)(k * k), split3(total, Ho, Wo));
    return launch_status();
}

BASQ_API int basq_cuda_avgpool_bwd(const float* dy, float* dx, int N, int C, int H, int W, int k, int s,
                                   void* stream) {
    if (!pool_ok(N, C, H, W, k, s)) return BASQ_EINVAL;
    const int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!dy || !dx) return BASQ_EINVAL;
    const int64_t total = planes * H * W;
    BASQ_LAUNCH_SPLIT(k_avgpool_bwd, total < index32_limit(), grid_for(total), as_stream(stream), dy, dx, planes, H,
                      W, Ho, Wo, k, s, 1.0f / (float)(k * k), split3(total, H, W));
    return launch_status();
}

BASQ_API int basq_cuda_global_avgpool_fwd(const float* x, float* y, int N, int C, int64_t HW, void* stream) {
    if (N < 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!x || !y) return BASQ_EINVAL;
    auto kern = &k_global_avgpool_fwd;
    BASQ_LAUNCH(kern, grid_for(planes * 32), kThreads, as_stream(stream), x, y, planes, HW);
    return launch_status();
}

BASQ_API int basq_cuda_global_avgpool_bwd(const float* dy, float* dx, int N, int C, int64_t HW, void* stream) {
    if (N < 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!dy || !dx) return BASQ_EINVAL;
    const int64_t total = planes * HW;
    const bool fast = total < index32_limit();
    BASQ_LAUNCH_SPLIT(k_global_avgpool_bwd, fast, grid_for(total), as_stream(stream), dy, dx, total,
                      idx_div(HW, fast), (float)(1.0 / (double)HW));
    return launch_status();
}

BASQ_API int basq_cuda_maxpool_fwd(const float* x, float* y, int32_t* idx, int N, int C, int H, int W, int k, int s,
                                   int p, void* stream) {
    if (!maxpool_ok(N, C, H, W, k, s, p)) return BASQ_EINVAL;
    const int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!x || !y || !idx) return BASQ_EINVAL;
    const int64_t total = planes * Ho * Wo;
    BASQ_LAUNCH_SPLIT(k_maxpool_fwd, total < index32_limit(), grid_for(total), as_stream(stream), x, y, idx, planes,
                      H, W, Ho, Wo, k, s, p, split3(total, Ho, Wo));
    return launch_status();
}

BASQ_API int basq_cuda_maxpool_bwd(const float* dy, const int32_t* idx, float* dx, int N, int C, int H, int W, int k,
                                   int s, int p, void* stream) {
    if (!maxpool_ok(N, C, H, W, k, s, p)) return BASQ_EINVAL;
    const int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    const int64_t planes = (int64_t)N * C;
    if (planes == 0) return BASQ_OK;
    if (!dy || !idx || !dx) return BASQ_EINVAL;
    const int64_t total = planes * H * W;
    BASQ_LAUNCH_SPLIT(k_maxpool_bwd, total < index32_limit(), grid_for(total), as_stream(stream), dy, idx, dx, planes,
                      H, W, Ho, Wo, k, s, p, split3(total, H, W));
    return launch_status();
}

BASQ_API int basq_cuda_flex_skip_fwd(const float* x, float* y, int N, int Cin, int Cout, int64_t HW, void* stream) {
    if (N < 0 || Cin <= 0 || Cout <= 0 || HW < 0) return BASQ_EINVAL;
    if ((int64_t)N * HW == 0) return BASQ_OK;
    if (!x || !y) return BASQ_EINVAL;
    return fold_or_tile(x, y, N, Cin, Cout, HW, as_stream(stream));
}

BASQ_API int basq_cuda_flex_skip_bwd(const float* dy, float* dx, int N, int Cin, int Cout, int64_t HW, void* stream) {
    if (N < 0 || Cin <= 0 || Cout <= 0 || HW < 0) return BASQ_EINVAL;
    if ((int64_t)N * HW == 0) return BASQ_OK;
    if (!dy || !dx) return BASQ_EINVAL;
    return fold_or_tile(dy, dx, N, Cout, Cin, HW, as_stream(stream));
}
