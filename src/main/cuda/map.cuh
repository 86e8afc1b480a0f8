// Element-wise kernels as grid-stride loops: k_map for plain element-wise functions, k_chan_map
// for functions with per-channel constants on a tensor seen as [outer, C, inner].
//
// A functor F provides `struct Glob; Glob glob() const;` (loaded once per thread: scalars that
// live in device memory, such as the clip bound) and `template <int V> void run(const Glob&,
// int64_t e) const` for elements e..e+V-1 (V = 4: e % 4 == 0, 16-byte aligned pointers).
// A channel functor also has `struct Coef; Coef coef(int c) const;` and run takes the Coef.
#ifndef BASQ4J_MAP_CUH
#define BASQ4J_MAP_CUH

#include "cuda_util.cuh"

namespace basq_cuda {

template <class F>
__global__ void __launch_bounds__(kThreads) k_map(F f, int64_t n, int64_t n4) {
    const typename F::Glob g = f.glob();
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t u = tid; u < n4; u += stride) f.template run<4>(g, u * 4);
    for (int64_t i = n4 * 4 + tid; i < n; i += stride) f.template run<1>(g, i);
}

// Runs f over n elements; vec: every pointer f touches is 16-byte aligned.
template <class F>
int launch_map(const F& f, int64_t n, bool vec, cudaStream_t st) {
    if (n <= 0) return BASQ_OK;
    const int64_t n4 = vec ? n / 4 : 0;
    const int64_t tail = n - n4 * 4;
    auto k = &k_map<F>;
    BASQ_LAUNCH(k, grid_for(n4 > tail ? n4 : tail), kThreads, st, f, n, n4);
    return launch_status();
}

// Channel of element e in [outer, C, inner].
struct ChanIdx {
    FastDiv by_inner, by_c;
    int64_t inner;
    int C;
    bool fast;
    __device__ __forceinline__ int of(int64_t e) const {
        if (fast) {
            const uint32_t q = by_inner.div((uint32_t)e);
            return (int)(q - by_c.div(q) * (uint32_t)C);
        }
        return (int)((e / inner) % C);
    }
};

inline ChanIdx make_chan_idx(int64_t n, int C, int64_t inner) {
    ChanIdx ci;
    ci.inner = inner;
    ci.C = C;
    ci.fast = n < index32_limit() && inner < (int64_t(1) << 31);
    if (ci.fast) {
        ci.by_inner = FastDiv((uint32_t)inner);
        ci.by_c = FastDiv((uint32_t)C);
    }
    return ci;
}

constexpr int kMaxTable = 2048;  // channels whose constants a block keeps in shared memory

template <class F, bool kTable>
__global__ void __launch_bounds__(kThreads) k_chan_map(F f, ChanIdx ci, int64_t n, int64_t n4) {
    __shared__ typename F::Coef tab[kTable ? kMaxTable : 1];
    if (kTable) {
        for (int c = threadIdx.x; c < ci.C; c += blockDim.x) tab[c] = f.coef(c);
        __syncthreads();
    }
    const typename F::Glob g = f.glob();
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t u = tid; u < n4; u += stride) {
        const int64_t e = u * 4;
        const int c = ci.of(e);
        f.template run<4>(g, kTable ? tab[c] : f.coef(c), e);
    }
    for (int64_t i = n4 * 4 + tid; i < n; i += stride) {
        const int c = ci.of(i);
        f.template run<1>(g, kTable ? tab[c] : f.coef(c), i);
    }
}

/*
 * Runs the channel functor over [outer, C, inner]; vec: every pointer is 16-byte aligned.
 * table: the per-channel constants cost enough (double math) to compute once per block.
 */
template <class F>
int launch_chan_map(const F& f, int outer, int C, int64_t inner, bool vec, bool table, cudaStream_t st) {
    const int64_t n = (int64_t)outer * C * inner;
    if (n <= 0) return BASQ_OK;
    const int64_t n4 = (vec && inner % 4 == 0) ? n / 4 : 0;
    const int64_t tail = n - n4 * 4;
    const ChanIdx ci = make_chan_idx(n, C, inner);
    const int grid = grid_for(n4 > tail ? n4 : tail);
    if (table && C <= kMaxTable) {
        auto k = &k_chan_map<F, true>;
        BASQ_LAUNCH(k, grid, kThreads, st, f, ci, n, n4);
    } else {
        auto k = &k_chan_map<F, false>;
        BASQ_LAUNCH(k, grid, kThreads, st, f, ci, n, n4);
    }
    return launch_status();
}

}  // namespace basq_cuda

#endif
