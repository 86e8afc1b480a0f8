// Element-wise kernels, the sum of squares and dropout on the GPU (elementwise.h).
#include "map.cuh"

namespace basq_cuda {
namespace {

struct NoGlob {};

struct Relu {
    const float* x;
    float* y;
    using Glob = NoGlob;
    __device__ Glob glob() const { return Glob{}; }
    template <int V>
    __device__ void run(const Glob&, int64_t e) const {
        float a[V];
        ldv<V>(x + e, a);
        for (int k = 0; k < V; k++) a[k] = a[k] > 0.0f ? a[k] : 0.0f;
        stv<V>(y + e, a);
    }
};

struct ReluBwd {
    const float* y;
    const float* dy;
    float* dx;
    using Glob = NoGlob;
    __device__ Glob glob() const { return Glob{}; }
    template <int V>
    __device__ void run(const Glob&, int64_t e) const {
        float a[V], g[V];
        ldv<V>(y + e, a);
        ldv<V>(dy + e, g);
        for (int k = 0; k < V; k++) g[k] = a[k] > 0.0f ? g[k] : 0.0f;
        stv<V>(dx + e, g);
    }
};

struct Add {
    const float* a;
    const float* b;
    float* y;
    using Glob = NoGlob;
    __device__ Glob glob() const { return Glob{}; }
    template <int V>
    __device__ void run(const Glob&, int64_t e) const {
        float p[V], q[V];
        ldv<V>(a + e, p);
        ldv<V>(b + e, q);
        for (int k = 0; k < V; k++) p[k] = p[k] + q[k];
        stv<V>(y + e, p);
    }
};

struct Axpy {
    float alpha;
    const float* x;
    float* y;
    using Glob = NoGlob;
    __device__ Glob glob() const { return Glob{}; }
    template <int V>
    __device__ void run(const Glob&, int64_t e) const {
        float p[V], q[V];
        ldv<V>(x + e, p);
        ldv<V>(y + e, q);
        for (int k = 0; k < V; k++) q[k] += alpha * p[k];
        stv<V>(y + e, q);
    }
};

struct Scale {
    float* x;
    float alpha;
    using Glob = NoGlob;
    __device__ Glob glob() const { return Glob{}; }
    template <int V>
    __device__ void run(const Glob&, int64_t e) const {
        float p[V];
        ldv<V>(x + e, p);
        for (int k = 0; k < V; k++) p[k] *= alpha;
        stv<V>(x + e, p);
    }
};

struct Fill {
    float* x;
    float value;
    using Glob = NoGlob;
    __device__ Glob glob() const { return Glob{}; }
    template <int V>
    __device__ void run(const Glob&, int64_t e) const {
        float p[V];
        for (int k = 0; k < V; k++) p[k] = value;
        stv<V>(x + e, p);
    }
};

// One block: a fixed-order sum, as reproducible as the CPU's (not its order).
__global__ void __launch_bounds__(kBigBlock) k_sum_squares(const float* x, int64_t n, int64_t n4, float* out) {
    double acc[1] = {0.0};
    for (int64_t u = threadIdx.x; u < n4; u += blockDim.x) {
        const F4 t = ld4(x + u * 4);
        for (int k = 0; k < 4; k++) acc[0] += (double)t.v[k] * (double)t.v[k];
    }
    for (int64_t i = n4 * 4 + threadIdx.x; i < n; i += blockDim.x) acc[0] += (double)x[i] * (double)x[i];
    block_sum<1>(acc);
    if (threadIdx.x == 0) *out = (float)acc[0];
}

// splitmix64's finalizer, as elementwise.cpp: the dropout stream of both backends.
__host__ __device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

__global__ void __launch_bounds__(kThreads) k_dropout_fwd(const float* x, float* y, uint8_t* mask, int64_t n,
                                                          uint64_t key, uint64_t base, uint64_t thresh, float scale,
                                                          int keep_all) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        if (keep_all) {
            y[i] = x[i];
            mask[i] = 1;
            continue;
        }
        const uint64_t h = mix64(key + (base + (uint64_t)i) * 0x9E3779B97F4A7C15ULL);
        const uint8_t keep = (h >> 40) >= thresh ? 1 : 0;
        mask[i] = keep;
        y[i] = x[i] * (float)keep * scale;
    }
}

__global__ void __launch_bounds__(kThreads) k_dropout_bwd(const float* dy, const uint8_t* mask, float* dx, int64_t n,
                                                          float scale) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        dx[i] = dy[i] * (float)mask[i] * scale;
}

inline bool bad(int64_t n, const void* a, const void* b = (const void*)1, const void* c = (const void*)1) {
    return n < 0 || (n > 0 && (!a || !b || !c));
}

}  // namespace
}  // namespace basq_cuda

using namespace basq_cuda;

BASQ_API int basq_cuda_relu_fwd(const float* x, float* y, int64_t n, void* stream) {
    if (bad(n, x, y)) return BASQ_EINVAL;
    return launch_map(Relu{x, y}, n, aligned16(x) && aligned16(y), as_stream(stream));
}

BASQ_API int basq_cuda_relu_bwd(const float* y, const float* dy, float* dx, int64_t n, void* stream) {
    if (bad(n, y, dy, dx)) return BASQ_EINVAL;
    return launch_map(ReluBwd{y, dy, dx}, n, aligned16(y) && aligned16(dy) && aligned16(dx), as_stream(stream));
}

BASQ_API int basq_cuda_add(const float* a, const float* b, float* y, int64_t n, void* stream) {
    if (bad(n, a, b, y)) return BASQ_EINVAL;
    return launch_map(Add{a, b, y}, n, aligned16(a) && aligned16(b) && aligned16(y), as_stream(stream));
}

BASQ_API int basq_cuda_axpy(float alpha, const float* x, float* y, int64_t n, void* stream) {
    if (bad(n, x, y)) return BASQ_EINVAL;
    return launch_map(Axpy{alpha, x, y}, n, aligned16(x) && aligned16(y), as_stream(stream));
}

BASQ_API int basq_cuda_scale(float* x, float alpha, int64_t n, void* stream) {
    if (bad(n, x)) return BASQ_EINVAL;
    return launch_map(Scale{x, alpha}, n, aligned16(x), as_stream(stream));
}

BASQ_API int basq_cuda_fill(float* x, float value, int64_t n, void* stream) {
    if (bad(n, x)) return BASQ_EINVAL;
    return launch_map(Fill{x, value}, n, aligned16(x), as_stream(stream));
}

/* Device-to-device copy; the ranges must not overlap unless x == y. */
BASQ_API int basq_cuda_copy(const float* x, float* y, int64_t n, void* stream) {
    if (bad(n, x, y)) return BASQ_EINVAL;
    if (n == 0 || x == y) return BASQ_OK;
    if (overlaps(x, y, n * 4)) return BASQ_EINVAL;
    cudaMemcpyAsync(y, x, (size_t)n * sizeof(float), cudaMemcpyDeviceToDevice, as_stream(stream));
    return launch_status();
}

BASQ_API int basq_cuda_sum_squares(const float* x, int64_t n, float* out, void* stream) {
    if (bad(n, x) || !out) return BASQ_EINVAL;
    const int64_t n4 = aligned16(x) ? n / 4 : 0;
    auto k = &k_sum_squares;
    BASQ_LAUNCH(k, 1, kBigBlock, as_stream(stream), x, n, n4, out);
    return launch_status();
}

BASQ_API int basq_cuda_dropout_fwd(const float* x, float* y, uint8_t* mask, int64_t n, float p, uint64_t seed,
                                   uint64_t offset, void* stream) {
    if (bad(n, x, y, mask) || !(p >= 0.0f && p <= 1.0f)) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    // The CPU's threshold and scale, computed the same way on the host.
    const uint64_t thresh = (uint64_t)ceil((double)p * 16777216.0);
    const float scale = p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f;
    auto k = &k_dropout_fwd;
    BASQ_LAUNCH(k, grid_for(n), kThreads, as_stream(stream), x, y, mask, n, mix64(seed), offset, thresh, scale,
                p == 0.0f ? 1 : 0);
    return launch_status();
}

BASQ_API int basq_cuda_dropout_bwd(const float* dy, const uint8_t* mask, float* dx, int64_t n, float p,
                                   void* stream) {
    if (bad(n, dy, mask, dx) || !(p >= 0.0f && p <= 1.0f)) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    const float scale = p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f;
    auto k = &k_dropout_bwd;
    BASQ_LAUNCH(k, grid_for(n), kThreads, as_stream(stream), dy, mask, dx, n, scale);
    return launch_status();
}
