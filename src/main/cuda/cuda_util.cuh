// Shared machinery of the CUDA kernels: launch helpers, fast integer division, warp and block
// reductions in double with a fixed order, vector loads. Included by every .cu file.
//
// The same sources also compile as plain C++ against emu/cuda_emu.h (BASQ_CUDA_EMU), which runs
// each block's threads as host threads: that is how the kernels' indexing, partitions and
// barriers are checked on machines without a GPU (bench/gpu/emu). Hence two rules here: launch
// through BASQ_LAUNCH (no <<< >>> in the sources), and use only static __shared__ arrays.
#ifndef BASQ4J_CUDA_UTIL_CUH
#define BASQ4J_CUDA_UTIL_CUH

#ifdef BASQ_CUDA_EMU
#include "emu/cuda_emu.h"
#else
#include <cuda_runtime.h>
// Ops (chan_reduce.cuh) declare every hook of the interface; unused ones are no warning.
#pragma nv_diag_suppress 177
#define BASQ_LAUNCH(kernel, grid, block, stream, ...) \
    kernel<<<(unsigned)(grid), (unsigned)(block), 0, (cudaStream_t)(stream)>>>(__VA_ARGS__)
#endif

#include <math.h>
#include <stdint.h>

#include "basq4j/cuda_kernels.h"
#include "basq4j/quant_math.h"

namespace basq_cuda {

constexpr int kThreads = 256;        // block size of the element-wise and per-region kernels
#ifdef BASQ_CUDA_EMU
constexpr int kMaxGrid = 3;          // emulation: few blocks, many grid-stride turns
constexpr int kBigBlock = 128;       // emulation: the channel reductions' finish block with 4 warps
#else
constexpr int kMaxGrid = 4096;       // grid-stride kernels: at most this many blocks
constexpr int kBigBlock = 1024;      // the channel reductions' finish block (chan_reduce.cuh)
#endif
constexpr unsigned kFull = 0xffffffffu;

// Records a failed launch for basq_cuda_last_error (runtime.cu) and maps it to BASQ_EDEVICE.
int note_error(cudaError_t e);

// BASQ_OK, or BASQ_EDEVICE when the last launch on this thread failed.
inline int launch_status() {
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? BASQ_OK : note_error(e);
}

inline cudaStream_t as_stream(void* s) { return (cudaStream_t)s; }

__host__ __device__ inline bool aligned16(const void* p) { return ((uintptr_t)p & 15u) == 0; }

// True when the byte ranges [a, a + n_bytes) and [b, b + n_bytes) overlap.
inline bool overlaps(const void* a, const void* b, int64_t n_bytes) {
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y + (uintptr_t)n_bytes && y < x + (uintptr_t)n_bytes;
}

/*
 * Index math runs in 32 bits (FastDiv below) when every linear index of a launch is below this
 * limit, else in 64-bit division. The host emulation lowers it on request (emu/cuda_emu.h), so
 * that its checks run the 64-bit paths too, on tensors small enough for a host.
 */
inline int64_t index32_limit() {
#ifdef BASQ_CUDA_EMU
    return basq_emu::index32_limit;
#else
    return int64_t(1) << 31;
#endif
}

// Blocks for a grid-stride loop over `work` items of kThreads threads each.
inline int grid_for(int64_t work) {
    int64_t b = (work + kThreads - 1) / kThreads;
    if (b < 1) b = 1;
    return (int)(b < kMaxGrid ? b : kMaxGrid);
}

/*
 * Division by a run-time constant d in [1, 2^31) of n in [0, 2^31) with a multiply-high and a
 * shift (Granlund-Montgomery, as in PyTorch's IntDivider): n / d == (umulhi(n, m) + n) >> s.
 */
struct FastDiv {
    uint32_t d, m, s;
    FastDiv() : d(1), m(1), s(0) {}
    explicit FastDiv(uint32_t div) : d(div) {
        for (s = 0; s < 32; s++)
            if ((1ull << s) >= d) break;
        m = (uint32_t)(((1ull << 32) * ((1ull << s) - d)) / d + 1);
    }
    __host__ __device__ __forceinline__ uint32_t div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
        uint32_t t = __umulhi(n, m);
#else
        uint32_t t = (uint32_t)(((uint64_t)n * m) >> 32);
#endif
        return (t + n) >> s;
    }
};

/*
 * A run-time divisor d >= 1 for splitting linear indices: quot<true> divides with FastDiv (the
 * caller guarantees i < index32_limit() and d < 2^31), quot<false> with 64-bit division.
 */
struct IdxDiv {
    FastDiv f;
    int64_t d;
    template <bool kFast>
    __device__ __forceinline__ int64_t quot(int64_t i) const {
        if constexpr (kFast) {
            return (int64_t)f.div((uint32_t)i);
        } else {
            return i / d;
        }
    }
};

// The divisor d for kernels launched with kFast = fast (FastDiv set up only then).
inline IdxDiv idx_div(int64_t d, bool fast) {
    IdxDiv r;
    r.d = d;
    if (fast) r.f = FastDiv((uint32_t)d);
    return r;
}

// ---------------------------------------------------------------- vector loads

struct F4 {
    float v[4];
};

#ifdef BASQ_CUDA_EMU
#define BASQ_EMU_ALIGNED(p)                                                          \
    if (((uintptr_t)(p)&15u) != 0) {                                                 \
        fprintf(stderr, "cuda_emu: misaligned 16-byte access at %p\n", (const void*)(p)); \
        abort();                                                                     \
    }
#else
#define BASQ_EMU_ALIGNED(p)
#endif

__device__ __forceinline__ F4 ld4(const float* p) {
    BASQ_EMU_ALIGNED(p)
    float4 t = *reinterpret_cast<const float4*>(p);
    F4 r;
    r.v[0] = t.x;
    r.v[1] = t.y;
    r.v[2] = t.z;
    r.v[3] = t.w;
    return r;
}

__device__ __forceinline__ void st4(float* p, const F4& r) {
    BASQ_EMU_ALIGNED(p)
    *reinterpret_cast<float4*>(p) = make_float4(r.v[0], r.v[1], r.v[2], r.v[3]);
}

// V consecutive floats at p (V = 4: one 16-byte load; the caller guarantees the alignment).
template <int V>
__device__ __forceinline__ void ldv(const float* p, float (&out)[V]) {
    if constexpr (V == 4) {
        F4 t = ld4(p);
        for (int k = 0; k < 4; k++) out[k] = t.v[k];
    } else {
        for (int k = 0; k < V; k++) out[k] = p[k];
    }
}

template <int V>
__device__ __forceinline__ void stv(float* p, const float (&in)[V]) {
    if constexpr (V == 4) {
        F4 t;
        for (int k = 0; k < 4; k++) t.v[k] = in[k];
        st4(p, t);
    } else {
        for (int k = 0; k < V; k++) p[k] = in[k];
    }
}

// ---------------------------------------------------------------- reductions (fixed order)

// Sum over the 32 lanes, into lane 0 (a fixed tree: the same bits on every run).
__device__ __forceinline__ double warp_sum(double v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(kFull, v, off);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, off));
    return v;
}

/*
 * Sums K doubles over the block into thread 0 (other threads: unspecified). blockDim.x must be
 * a multiple of 32, at most 1024; every thread of the block must call it (it has a barrier).
 */
template <int K>
__device__ __forceinline__ void block_sum(double (&v)[K]) {
    __shared__ double part[K][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int k = 0; k < K; k++) v[k] = warp_sum(v[k]);
    if (lane == 0)
        for (int k = 0; k < K; k++) part[k][warp] = v[k];
    __syncthreads();
    if (warp == 0) {
        for (int k = 0; k < K; k++) v[k] = warp_sum(lane < nwarps ? part[k][lane] : 0.0);
    }
}

/*
 * Sum of v[0..n) by one warp (every lane calls it; the result in lane 0): lane l adds v[l],
 * v[l + 32], ... in order, then the lanes in warp_sum's tree. The order depends on n only.
 */
__device__ __forceinline__ double warp_sum_strided(const double* v, int64_t n, int lane) {
    double t = 0.0;
    for (int64_t i = lane; i < n; i += 32) t += v[i];
    return warp_sum(t);
}

// A quiet float NaN.
__device__ __forceinline__ float qnan() { return __int_as_float(0x7fc00000); }

}  // namespace basq_cuda

#endif
