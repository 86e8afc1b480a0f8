// Deterministic per-channel reductions without workspace, the skeleton of every kernel that
// sums over a tensor: the clip bound gradient (one "channel": the whole tensor), LSQ's step
// gradient, batch norm's statistics and backward sums, and the fused BN + quantizer kernels.
//
// The tensor is seen as [outer, C, inner]; channel c holds M = outer*inner elements, processed
// in units of V elements (V = 4 when inner % 4 == 0 and the pointers are 16-byte aligned).
// Channel c is cut into S regions of consecutive units; S and the cut depend on the sizes only,
// so the sums, taken in a fixed order, are bitwise reproducible on any device.
//
//   pass 1   grid C*S, block kThreads: region (c, s) sums K doubles (Op::accum) with a fixed
//            tree, and thread 0 parks them in the region's first 2K floats of the op's big
//            output (Op::scratch(): dx or y, which the call owns). Ops that write their output
//            in pass 1 (kRestore) have written those floats already, before the block barrier.
//   finish   one block of 1024 threads (kBigBlock), one warp per channel: sums the S partials in order,
//            Op::finish writes the per-channel results and computes up to 8 coefficients for
//            pass 2; those go into every region's first floats (kPass2), or the parked floats
//            are recomputed (kRestore, Op::restore). Ops with a global sum (kGlobal, the clip
//            bound) add the channels' parts in channel order per warp, then the warps in order.
//   pass 2   (kPass2) grid C*S: each block reads its region's coefficients, barrier, then
//            overwrites the region (Op::apply).
// Tiny channels (M < 8: no room for 8 floats) take the direct path: the finish block does it
// all, one warp per channel (pass 1, sum, finish, pass 2) with nothing parked.
#ifndef BASQ4J_CHAN_REDUCE_CUH
#define BASQ4J_CHAN_REDUCE_CUH

#include "cuda_util.cuh"

namespace basq_cuda {

constexpr int kFinishThreads = kBigBlock;
constexpr int64_t kTargetBlocks = 2048;  // pass-1 blocks aimed at (all channels together)
constexpr int64_t kMinRegion = 8192;     // elements: a region is at least this long when split
constexpr int64_t kMaxRegions = 1024;    // regions per channel at most
constexpr int kSlots = 8;                // floats parked per region

struct ChanPlan {
    int C;            // channels
    int S;            // regions per channel
    int V;            // elements per unit (1 or 4)
    int outer;        // outer dimension
    int64_t inner;    // elements per plane
    int64_t inner_u;  // units per plane
    int64_t Mu;       // units per channel
    int64_t Lu;       // units per region (the last one may be shorter)
    FastDiv fd;       // divides a unit index by inner_u (when fast)
    bool fast;        // unit indices fit the 32-bit FastDiv
    bool direct;      // tiny channels: the one-block path
};

// The plan for [outer, C, inner]; vec_ok: every pointer involved is 16-byte aligned.
inline ChanPlan make_plan(int outer, int C, int64_t inner, bool vec_ok) {
    ChanPlan p;
    p.C = C;
    p.outer = outer;
    p.inner = inner;
    const int64_t M = (int64_t)outer * inner;
    p.V = (vec_ok && inner % 4 == 0) ? 4 : 1;
    p.inner_u = inner / p.V;
    p.Mu = M / p.V;
    p.fast = p.Mu < index32_limit() && p.inner_u >= 1;
    p.fd = p.fast ? FastDiv((uint32_t)p.inner_u) : FastDiv();
    p.direct = M < kSlots;
    int64_t S = 1;
    if (!p.direct) {
        S = (kTargetBlocks + C - 1) / C;
        if (S > M / kMinRegion) S = M / kMinRegion;
        if (S > kMaxRegions) S = kMaxRegions;
        if (S < 1) S = 1;
    }
    p.S = (int)S;
    p.Lu = (p.Mu + S - 1) / S;
    return p;
}

// Element offset of unit j of channel c.
__device__ __forceinline__ int64_t unit_elem(const ChanPlan& p, int c, int64_t j) {
    int64_t o, i;
    if (p.outer == 1) {
        o = 0;
        i = j;
    } else if (p.fast) {
        const uint32_t q = p.fd.div((uint32_t)j);
        o = q;
        i = j - (int64_t)q * p.inner_u;
    } else {
        o = j / p.inner_u;
        i = j - o * p.inner_u;
    }
    return (o * p.C + c) * p.inner + i * p.V;
}

// Element offset of parked float k (0..kSlots-1) of region (c, s).
__device__ __forceinline__ int64_t slot_elem(const ChanPlan& p, int c, int s, int k) {
    const int64_t j0 = (int64_t)s * p.Lu;
    return p.V == 4 ? unit_elem(p, c, j0 + k / 4) + (k & 3) : unit_elem(p, c, j0 + k);
}

// Doubles and floats parked as raw bits (no float arithmetic touches them).
__device__ __forceinline__ void park_double(float* base, const ChanPlan& p, int c, int s, int k, double v) {
    const unsigned long long b = (unsigned long long)__double_as_longlong(v);
    unsigned int* u = reinterpret_cast<unsigned int*>(base);
    u[slot_elem(p, c, s, 2 * k)] = (unsigned int)(b & 0xffffffffu);
    u[slot_elem(p, c, s, 2 * k + 1)] = (unsigned int)(b >> 32);
}

__device__ __forceinline__ double unpark_double(const float* base, const ChanPlan& p, int c, int s, int k) {
    const unsigned int* u = reinterpret_cast<const unsigned int*>(base);
    const unsigned long long lo = u[slot_elem(p, c, s, 2 * k)];
    const unsigned long long hi = u[slot_elem(p, c, s, 2 * k + 1)];
    return __longlong_as_double((long long)(lo | (hi << 32)));
}

/*
 * An Op provides:
 *   K (doubles summed per channel, 1..4), kCoef (coefficients for pass 2, 0..8),
 *   kPass2, kRestore, kGlobal;
 *   struct Chan; Chan chan(int c) const;                    per-channel constants (loaded once)
 *   float* scratch() const;                                  the big output, parked floats go there
 *   template <int V> void accum(const Chan&, double (&)[K], int64_t e) const;   elements e..e+V-1
 *   void finish(int c, const Chan&, const double (&)[K], float (&coef)[8]) const;  per channel
 *   double global_part(const double (&)[K]) const;  void finish_global(double) const;   (kGlobal)
 *   template <int V> void apply(const Chan&, const float (&coef)[8], int64_t e) const;  (kPass2)
 *   void restore(const Chan&, int64_t e) const;                                         (kRestore)
 * Ops without a feature still declare its functions (empty), so that every path compiles.
 */

template <class Op, int V>
__global__ void __launch_bounds__(kThreads) k_chan_pass1(Op op, ChanPlan p) {
    const int c = (int)(blockIdx.x / (unsigned)p.S);
    const int s = (int)(blockIdx.x - (unsigned)c * (unsigned)p.S);
    const int64_t j0 = (int64_t)s * p.Lu;
    const int64_t j1 = j0 + p.Lu < p.Mu ? j0 + p.Lu : p.Mu;
    const typename Op::Chan ch = op.chan(c);
    double acc[Op::K];
    for (int k = 0; k < Op::K; k++) acc[k] = 0.0;
    for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) op.template accum<V>(ch, acc, unit_elem(p, c, j));
    block_sum<Op::K>(acc);  // barrier: every output this block wrote is written before the parking
    if (threadIdx.x == 0)
        for (int k = 0; k < Op::K; k++) park_double(op.scratch(), p, c, s, k, acc[k]);
}

template <class Op, int V>
__global__ void __launch_bounds__(kFinishThreads) k_chan_finish(Op op, ChanPlan p) {
    __shared__ double wsum[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    double gsum = 0.0;  // lane 0: this warp's channels' global parts, in channel order
    for (int c = warp; c < p.C; c += nwarps) {
        const typename Op::Chan ch = op.chan(c);
        double acc[Op::K];
        for (int k = 0; k < Op::K; k++) acc[k] = 0.0;
        if (p.direct) {
            for (int64_t j = lane; j < p.Mu; j += 32) op.template accum<V>(ch, acc, unit_elem(p, c, j));
        } else {
            for (int s = lane; s < p.S; s += 32)
                for (int k = 0; k < Op::K; k++) acc[k] += unpark_double(op.scratch(), p, c, s, k);
        }
        for (int k = 0; k < Op::K; k++) acc[k] = warp_sum(acc[k]);
        float coef[kSlots];
        for (int k = 0; k < kSlots; k++) coef[k] = 0.0f;
        if (lane == 0) {
            op.finish(c, ch, acc, coef);
            if constexpr (Op::kGlobal) gsum += op.global_part(acc);
        }
        for (int k = 0; k < Op::kCoef; k++) coef[k] = __shfl_sync(kFull, coef[k], 0);
        if (p.direct) {
            if constexpr (Op::kPass2)
                for (int64_t j = lane; j < p.Mu; j += 32) op.template apply<V>(ch, coef, unit_elem(p, c, j));
        } else {
            if constexpr (Op::kPass2) {
                for (int s = lane; s < p.S; s += 32)
                    for (int k = 0; k < Op::kCoef; k++) op.scratch()[slot_elem(p, c, s, k)] = coef[k];
            }
            if constexpr (Op::kRestore) {
                for (int s = lane; s < p.S; s += 32)
                    for (int k = 0; k < 2 * Op::K; k++) op.restore(ch, slot_elem(p, c, s, k));
            }
        }
    }
    if constexpr (Op::kGlobal) {
        if (lane == 0) wsum[warp] = gsum;
        __syncthreads();
        if (threadIdx.x == 0) {
            double g = 0.0;
            for (int w = 0; w < nwarps; w++) g += wsum[w];
            op.finish_global(g);
        }
    }
}

template <class Op, int V>
__global__ void __launch_bounds__(kThreads) k_chan_pass2(Op op, ChanPlan p) {
    __shared__ float sc[kSlots];
    const int c = (int)(blockIdx.x / (unsigned)p.S);
    const int s = (int)(blockIdx.x - (unsigned)c * (unsigned)p.S);
    if (threadIdx.x < (unsigned)Op::kCoef) sc[threadIdx.x] = op.scratch()[slot_elem(p, c, s, threadIdx.x)];
    __syncthreads();  // every coefficient is read before any thread overwrites the region
    float coef[kSlots];
    for (int k = 0; k < kSlots; k++) coef[k] = k < Op::kCoef ? sc[k] : 0.0f;
    const typename Op::Chan ch = op.chan(c);
    const int64_t j0 = (int64_t)s * p.Lu;
    const int64_t j1 = j0 + p.Lu < p.Mu ? j0 + p.Lu : p.Mu;
    for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) op.template apply<V>(ch, coef, unit_elem(p, c, j));
}

template <class Op, int V>
int run_chan_v(const Op& op, const ChanPlan& p, cudaStream_t st) {
    if (p.direct) {
        auto fin = &k_chan_finish<Op, V>;
        BASQ_LAUNCH(fin, 1, kFinishThreads, st, op, p);
        return launch_status();
    }
    const int64_t blocks = (int64_t)p.C * p.S;
    if (blocks > 0x7fffffff) return BASQ_EINVAL;
    auto k1 = &k_chan_pass1<Op, V>;
    BASQ_LAUNCH(k1, blocks, kThreads, st, op, p);
    auto fin = &k_chan_finish<Op, V>;
    BASQ_LAUNCH(fin, 1, kFinishThreads, st, op, p);
    if constexpr (Op::kPass2) {
        auto k2 = &k_chan_pass2<Op, V>;
        BASQ_LAUNCH(k2, blocks, kThreads, st, op, p);
    }
    return launch_status();
}

// Runs the reduction described by op over the plan (C >= 1, M >= 1).
template <class Op>
int run_chan(const Op& op, const ChanPlan& p, cudaStream_t st) {
    return p.V == 4 ? run_chan_v<Op, 4>(op, p, st) : run_chan_v<Op, 1>(op, p, st);
}

}  // namespace basq_cuda

#endif
