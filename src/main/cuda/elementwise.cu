// Element-wise kernels, sums of squares and dropout on the GPU (elementwise.h).
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

// ---- sums of squares, grid-wide over many tensors at once (the gradient-norm of a step).
//
// Every tensor is cut into chunks of kSqChunk elements; a block sums the squares of one chunk
// in double (a fixed tree) into work[chunk]. Then, per tensor, one warp sums its chunks' parts in
// a fixed tree and rounds the total to float, as a single-tensor sum of squares returns it; last,
// one thread adds those floats in tensor order, in double. Every order depends on the sizes
// only. Tensors go to the kernels in batches of kSqTable, their pointers in the launch's
// parameters (so no table has to be copied to the device).
constexpr int64_t kSqChunk = 16384;  // elements per block (a multiple of 4: chunks stay 16-byte aligned)
constexpr int kSqTable = 96;         // tensors per launch (the table stays under 4 KB of parameters)

struct SqTable {
    const float* x[kSqTable];
    int64_t n[kSqTable];
    int64_t chunk0[kSqTable + 1];  // first chunk of each tensor, relative to the batch; [count]: the batch's chunks
    int64_t work0;                 // the batch's first chunk in work
    int64_t sums;                  // work index of the per-tensor sums (after every chunk part)
    int first;                     // index of the batch's first tensor
    int count;                     // tensors in the batch
};

int64_t sq_chunks(int64_t n) { return (n + kSqChunk - 1) / kSqChunk; }

__global__ void __launch_bounds__(kThreads) k_sq_chunks(SqTable tab, double* work) {
    const int64_t b = blockIdx.x;
    int lo = 0, hi = tab.count - 1;  // the tensor t with chunk0[t] <= b < chunk0[t + 1]
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (tab.chunk0[mid] <= b) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    const float* x = tab.x[lo];
    const int64_t e0 = (b - tab.chunk0[lo]) * kSqChunk;
    const int64_t e1 = e0 + kSqChunk < tab.n[lo] ? e0 + kSqChunk : tab.n[lo];
    double acc[1] = {0.0};
    if (aligned16(x)) {
        const int64_t u1 = e0 + (e1 - e0) / 4 * 4;
        for (int64_t e = e0 + 4 * (int64_t)threadIdx.x; e < u1; e += 4 * (int64_t)blockDim.x) {
            const F4 t = ld4(x + e);
            for (int k = 0; k < 4; k++) acc[0] += (double)t.v[k] * (double)t.v[k];
        }
        for (int64_t i = u1 + threadIdx.x; i < e1; i += blockDim.x) acc[0] += (double)x[i] * (double)x[i];
    } else {
        for (int64_t i = e0 + threadIdx.x; i < e1; i += blockDim.x) acc[0] += (double)x[i] * (double)x[i];
    }
    block_sum<1>(acc);
    if (threadIdx.x == 0) work[tab.work0 + b] = acc[0];
}

// Per tensor of the batch (a warp each): (double)(float)(sum of its chunk parts) into work[sums + t].
__global__ void __launch_bounds__(kThreads) k_sq_tensors(SqTable tab, double* work) {
    const int lane = threadIdx.x & 31;
    const int nwarps = blockDim.x >> 5;
    for (int t = threadIdx.x >> 5; t < tab.count; t += nwarps) {  // uniform per warp
        const int64_t c0 = tab.chunk0[t];
        const double s = warp_sum_strided(work + tab.work0 + c0, tab.chunk0[t + 1] - c0, lane);
        if (lane == 0) work[tab.sums + tab.first + t] = (double)(float)s;
    }
}

// The per-tensor sums added in tensor order: *out_d (double) or *out_f (float), whichever is given.
__global__ void __launch_bounds__(32) k_sq_total(const double* sums, int count, double* out_d, float* out_f) {
    if (threadIdx.x != 0) return;
    double t = 0.0;
    for (int i = 0; i < count; i++) t += sums[i];
    if (out_d) *out_d = t;
    if (out_f) *out_f = (float)t;
}

int64_t sq_work(int count, const int64_t* ns) {
    int64_t w = count;
    for (int i = 0; i < count; i++) w += sq_chunks(ns[i]);
    return w;
}

int sum_squares(const float* const* xs, const int64_t* ns, int count, double* out_d, float* out_f, double* work,
                cudaStream_t st) {
    int64_t chunks = 0;
    for (int i = 0; i < count; i++) chunks += sq_chunks(ns[i]);
    SqTable tab;
    tab.sums = chunks;
    int64_t done = 0;
    for (int first = 0; first < count; first += kSqTable) {
        tab.first = first;
        tab.count = count - first < kSqTable ? count - first : kSqTable;
        tab.work0 = done;
        tab.chunk0[0] = 0;
        for (int t = 0; t < tab.count; t++) {
            tab.x[t] = xs[first + t];
            tab.n[t] = ns[first + t];
            tab.chunk0[t + 1] = tab.chunk0[t] + sq_chunks(ns[first + t]);
        }
        if (tab.chunk0[tab.count] > 0) {
            auto k1 = &k_sq_chunks;
            BASQ_LAUNCH(k1, tab.chunk0[tab.count], kThreads, st, tab, work);
        }
        auto k2 = &k_sq_tensors;
        BASQ_LAUNCH(k2, 1, kThreads, st, tab, work);
        done += tab.chunk0[tab.count];
    }
    auto k3 = &k_sq_total;
    BASQ_LAUNCH(k3, 1, 32, st, work + chunks, count, out_d, out_f);
    return launch_status();
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

BASQ_API int64_t basq_cuda_sum_squares_work(int count, const int64_t* ns) {
    if (count < 0 || (count > 0 && !ns)) return -1;
    for (int i = 0; i < count; i++)
        if (ns[i] < 0) return -1;
    return sq_work(count, ns);
}

BASQ_API int basq_cuda_sum_squares_multi(const float* const* xs, const int64_t* ns, int count, double* out,
                                         double* work, void* stream) {
    if (count < 0 || !out || (count > 0 && (!xs || !ns || !work))) return BASQ_EINVAL;
    for (int i = 0; i < count; i++)
        if (ns[i] < 0 || (ns[i] > 0 && !xs[i])) return BASQ_EINVAL;
    if (count == 0) {
        cudaMemsetAsync(out, 0, sizeof(double), as_stream(stream));
        return launch_status();
    }
    return sum_squares(xs, ns, count, out, nullptr, work, as_stream(stream));
}

BASQ_API int basq_cuda_sum_squares(const float* x, int64_t n, float* out, double* work, void* stream) {
    if (bad(n, x) || !out || !work) return BASQ_EINVAL;
    return sum_squares(&x, &n, 1, nullptr, out, work, as_stream(stream));
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
