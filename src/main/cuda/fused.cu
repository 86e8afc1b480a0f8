// Fused kernels for the BASQ block (cuda_kernels.h): batch norm followed by a quantizer, and a
// clip quantizer that keeps 2 bits per element for its backward instead of its input.
//
// Why each one can pay (all of these kernels are bound by memory traffic; n = elements):
// - BN eval + quantizer: 2n floats moved instead of 4n (the BN output is neither written
//   nor read back). Evaluation runs on every validation pass and on every fitness evaluation
//   of the architecture search.
// - BN train + quantizer: forward 3n instead of 5n; the fused backward recomputes z from x
//   (which BN's backward reads anyway) and moves 5n instead of 8n; and the BN output z is
//   never stored, one activation-sized tensor less per BASQ unit kept for the backward.
// - Clip with masks: the forward writes n/4 bytes more (2 bits per element); the backward
//   reads those instead of x, 8.25n bytes instead of 12n, and x need not outlive the forward
//   (one activation-sized tensor less kept per quantizer).
// Whether they pay on a given GPU is what bench/gpu (QuantBench) measures: each fused kernel
// against the sequence of unfused kernels it replaces, as a fraction of copy bandwidth.
#include "bn_ops.cuh"

namespace basq_cuda {
namespace {

// Forward with masks: each warp takes 128 consecutive elements, 4 per lane, and 8 lanes
// assemble one 32-bit word of each mask with 3 xor-shuffles.
__global__ void __launch_bounds__(kThreads) k_clip_fwd_mask(const float* x, float* y, uint32_t* bits, int64_t n,
                                                            int64_t words, const float* upper, const float* bin,
                                                            int vec) {
    const float u = *upper;
    const float d = basq_clip_step(u, *bin);
    const int lane = threadIdx.x & 31;
    const int64_t gwarp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    const int64_t chunks = (n + 127) / 128;
    for (int64_t chunk = gwarp; chunk < chunks; chunk += nwarps) {  // uniform per warp
        const int64_t e = chunk * 128 + lane * 4;
        const bool full = e + 4 <= n;
        float a[4];
        if (vec && full) {
            ldv<4>(x + e, a);
        } else {
            for (int k = 0; k < 4; k++) a[k] = e + k < n ? x[e + k] : 0.0f;
        }
        uint32_t pass = 0, above = 0;
        float o[4];
        for (int k = 0; k < 4; k++) {
            o[k] = basq_clip_fwd1(a[k], u, d);
            if (e + k < n) {
                pass |= (uint32_t)(a[k] > 0.0f && a[k] < u) << k;
                above |= (uint32_t)(a[k] > u) << k;
            }
        }
        if (vec && full) {
            stv<4>(y + e, o);
        } else {
            for (int k = 0; k < 4; k++)
                if (e + k < n) y[e + k] = o[k];
        }
        pass <<= 4 * (lane & 7);
        above <<= 4 * (lane & 7);
        for (int off = 1; off < 8; off <<= 1) {
            pass |= __shfl_xor_sync(kFull, pass, off);
            above |= __shfl_xor_sync(kFull, above, off);
        }
        if ((lane & 7) == 0) {
            const int64_t w = chunk * 4 + (lane >> 3);
            if (w < words) {
                bits[w] = pass;
                bits[words + w] = above;
            }
        }
    }
}

struct ClipBwdMask {
    static constexpr int K = 1, kCoef = 0;
    static constexpr bool kPass2 = false, kRestore = true, kGlobal = true;
    const uint32_t* bits;
    int64_t words;
    const float* dy;
    float* dx;
    float* dupper;
    struct Chan {};
    __device__ Chan chan(int) const { return Chan{}; }
    __device__ float* scratch() const { return dx; }
    template <int V>
    __device__ void accum(const Chan&, double (&acc)[K], int64_t e) const {
        const int sh = (int)(e & 31);  // V = 4: e % 4 == 0, the V bits share a word
        const uint32_t pw = bits[e >> 5] >> sh, aw = bits[words + (e >> 5)] >> sh;
        float g[V], o[V];
        ldv<V>(dy + e, g);
        for (int k = 0; k < V; k++) {
            o[k] = (pw >> k) & 1u ? g[k] : 0.0f;
            acc[0] += (aw >> k) & 1u ? (double)g[k] : 0.0;
        }
        stv<V>(dx + e, o);
    }
    __device__ void finish(int, const Chan&, const double (&)[K], float (&)[kSlots]) const {}
    __device__ double global_part(const double (&t)[K]) const { return t[0]; }
    __device__ void finish_global(double g) const { *dupper = (float)g; }
    template <int V>
    __device__ void apply(const Chan&, const float (&)[kSlots], int64_t) const {}
    __device__ void restore(const Chan&, int64_t e) const {
        dx[e] = (bits[e >> 5] >> (e & 31)) & 1u ? dy[e] : 0.0f;
    }
};

bool bn_shape_ok(int N, int C, int64_t HW, float eps) { return N > 0 && C >= 0 && HW > 0 && eps >= 0.0f; }

}  // namespace
}  // namespace basq_cuda

using namespace basq_cuda;

BASQ_API int64_t basq_cuda_clip_mask_words(int64_t n) { return n < 0 ? -1 : 2 * ((n + 31) / 32); }

BASQ_API int basq_cuda_clip_quant_fwd_mask(const float* x, float* y, uint32_t* bits, int64_t n, const float* upper,
                                           const float* bin, void* stream) {
    if (n < 0 || (n > 0 && (!x || !y || !bits || !upper || !bin))) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    const int64_t words = (n + 31) / 32;
    const int64_t chunks = (n + 127) / 128;
    auto k = &k_clip_fwd_mask;
    BASQ_LAUNCH(k, grid_for(chunks * 32), kThreads, as_stream(stream), x, y, bits, n, words, upper, bin,
                aligned16(x) && aligned16(y) ? 1 : 0);
    return launch_status();
}

BASQ_API int basq_cuda_clip_quant_bwd_mask(const uint32_t* bits, const float* dy, float* dx, float* dupper,
                                           int64_t n, void* stream) {
    if (n < 0 || (n > 0 && (!bits || !dy || !dx)) || !dupper) return BASQ_EINVAL;
    if (n == 0) {
        cudaMemsetAsync(dupper, 0, sizeof(float), as_stream(stream));
        return launch_status();
    }
    const int64_t words = (n + 31) / 32;
    if (overlaps(dx, dy, n * 4)) return BASQ_EINVAL;
    const ChanPlan p = make_plan(1, 1, n, aligned16(dy) && aligned16(dx));
    return run_chan(ClipBwdMask{bits, words, dy, dx, dupper}, p, as_stream(stream));
}

BASQ_API int basq_cuda_bn_eval_clip_quant_fwd(const float* x, const float* gamma, const float* beta,
                                              const float* running_mean, const float* running_var, float* y, int N,
                                              int C, int64_t HW, float eps, const float* upper, const float* bin,
                                              void* stream) {
    if (N < 0 || C < 0 || HW < 0 || !(eps >= 0.0f)) return BASQ_EINVAL;
    if ((int64_t)N * C == 0 || HW == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !running_mean || !running_var || !y || !upper || !bin) return BASQ_EINVAL;
    BnEvalMap<QClip> f{x, gamma, beta, running_mean, running_var, y, eps, QClip{upper, bin}};
    return launch_chan_map(f, N, C, HW, aligned16(x) && aligned16(y), true, as_stream(stream));
}

BASQ_API int basq_cuda_bn_eval_lsq_fwd(const float* x, const float* gamma, const float* beta,
                                       const float* running_mean, const float* running_var, float* y, int N, int C,
                                       int64_t HW, float eps, const float* s, int qn, int qp, void* stream) {
    if (N < 0 || C < 0 || HW < 0 || !(eps >= 0.0f) || qn > qp) return BASQ_EINVAL;
    if ((int64_t)N * C == 0 || HW == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !running_mean || !running_var || !y || !s) return BASQ_EINVAL;
    BnEvalMap<QLsq> f{x, gamma, beta, running_mean, running_var, y, eps, QLsq{s, (float)qn, (float)qp}};
    return launch_chan_map(f, N, C, HW, aligned16(x) && aligned16(y), true, as_stream(stream));
}

namespace {

template <class Q>
int bn_train_q(const float* x, const float* gamma, const float* beta, float* y, float* save_mean,
               float* save_invstd, float* running_mean, float* running_var, int N, int C, int64_t HW, float eps,
               float momentum, Q q, void* stream) {
    if (!bn_shape_ok(N, C, HW, eps)) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !y || !save_mean || !save_invstd) return BASQ_EINVAL;
    if ((running_mean == nullptr) != (running_var == nullptr)) return BASQ_EINVAL;
    const int64_t M = (int64_t)N * HW;
    if (running_mean && M < 2) return BASQ_EINVAL;
    if (overlaps(x, y, M * C * 4)) return BASQ_EINVAL;
    const ChanPlan p = make_plan(N, C, HW, aligned16(x) && aligned16(y));
    BnTrainOp<Q> op{x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var, HW, M, eps,
                          momentum, q};
    return run_chan(op, p, as_stream(stream));
}

template <class Q>
int bn_q_bwd(const float* x, const float* dy, const float* gamma, const float* beta, const float* save_mean,
             const float* save_invstd, float* dx, float* dgamma, float* dbeta, float* dq, int N, int C, int64_t HW,
             float gscale, Q q, void* stream) {
    if (N <= 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    if (C == 0) {
        if (Q::kGlobal && dq) cudaMemsetAsync(dq, 0, sizeof(float), as_stream(stream));
        return launch_status();
    }
    if (!x || !dy || !gamma || !beta || !save_mean || !save_invstd || !dx || !dq) return BASQ_EINVAL;
    const int64_t M = (int64_t)N * HW;
    const int64_t n = M * C;
    if (overlaps(dx, x, n * 4) || overlaps(dx, dy, n * 4)) return BASQ_EINVAL;
    const ChanPlan p = make_plan(N, C, HW, aligned16(x) && aligned16(dy) && aligned16(dx));
    BnBwdOp<Q> op{x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta, dq, M, gscale, q};
    return run_chan(op, p, as_stream(stream));
}

}  // namespace

BASQ_API int basq_cuda_bn_train_clip_quant_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                               float* save_mean, float* save_invstd, float* running_mean,
                                               float* running_var, int N, int C, int64_t HW, float eps,
                                               float momentum, const float* upper, const float* bin, void* stream) {
    if (!upper || !bin) return BASQ_EINVAL;
    return bn_train_q(x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var, N, C, HW, eps, momentum,
                      QClip{upper, bin}, stream);
}

BASQ_API int basq_cuda_bn_clip_quant_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                                         const float* save_mean, const float* save_invstd, const float* upper,
                                         float* dx, float* dgamma, float* dbeta, float* dupper, int N, int C,
                                         int64_t HW, void* stream) {
    if (!upper) return BASQ_EINVAL;
    return bn_q_bwd(x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta, dupper, N, C, HW, 0.0f,
                    QClip{upper, nullptr}, stream);
}

BASQ_API int basq_cuda_bn_train_lsq_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                        float* save_mean, float* save_invstd, float* running_mean,
                                        float* running_var, int N, int C, int64_t HW, float eps, float momentum,
                                        const float* s, int qn, int qp, void* stream) {
    if (!s || qn > qp) return BASQ_EINVAL;
    return bn_train_q(x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var, N, C, HW, eps, momentum,
                      QLsq{s, (float)qn, (float)qp}, stream);
}

BASQ_API int basq_cuda_bn_lsq_bwd(const float* x, const float* dy, const float* gamma, const float* beta,
                                  const float* save_mean, const float* save_invstd, const float* s, float* dx,
                                  float* dgamma, float* dbeta, float* ds, int N, int C, int64_t HW, int qn, int qp,
                                  float gscale, void* stream) {
    if (!s || qn > qp) return BASQ_EINVAL;
    return bn_q_bwd(x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta, ds, N, C, HW, gscale,
                    QLsq{s, (float)qn, (float)qp}, stream);
}
