// Quantizer kernels on the GPU (quant.h): the element math of quant_math.h, mapped to threads.
#include "chan_reduce.cuh"
#include "map.cuh"

namespace basq_cuda {
namespace {

// ---------------------------------------------------------------- clip quantizer (SPEC 1.1)

struct ClipFwd {
    const float* x;
    float* y;
    const float* upper;
    const float* bin;
    struct Glob {
        float u, d;
    };
    __device__ Glob glob() const {
        const float u = *upper;
        return Glob{u, basq_clip_step(u, *bin)};
    }
    template <int V>
    __device__ void run(const Glob& g, int64_t e) const {
        float a[V];
        ldv<V>(x + e, a);
        for (int k = 0; k < V; k++) a[k] = basq_clip_fwd1(a[k], g.u, g.d);
        stv<V>(y + e, a);
    }
};

// dx where 0 < x < u; the bound gradient sums dy where x > u (one channel: the whole tensor).
struct ClipBwd {
    static constexpr int K = 1, kCoef = 0;
    static constexpr bool kPass2 = false, kRestore = true, kGlobal = true;
    const float* x;
    const float* dy;
    float* dx;
    float* dupper;
    const float* upper;
    struct Chan {
        float u;
    };
    __device__ Chan chan(int) const { return Chan{*upper}; }
    __device__ float* scratch() const { return dx; }
    template <int V>
    __device__ void accum(const Chan& ch, double (&acc)[K], int64_t e) const {
        float a[V], g[V], o[V];
        ldv<V>(x + e, a);
        ldv<V>(dy + e, g);
        for (int k = 0; k < V; k++) {
            o[k] = basq_clip_dx1(a[k], ch.u, g[k]);
            acc[0] += (double)basq_clip_du1(a[k], ch.u, g[k]);
        }
        stv<V>(dx + e, o);
    }
    __device__ void finish(int, const Chan&, const double (&)[K], float (&)[kSlots]) const {}
    __device__ double global_part(const double (&t)[K]) const { return t[0]; }
    __device__ void finish_global(double g) const { *dupper = (float)g; }
    template <int V>
    __device__ void apply(const Chan&, const float (&)[kSlots], int64_t) const {}
    __device__ void restore(const Chan& ch, int64_t e) const { dx[e] = basq_clip_dx1(x[e], ch.u, dy[e]); }
};

// ---------------------------------------------------------------- LSQ per channel (SPEC 1.2, 1.3)

struct LsqFwd {
    const float* x;
    const float* s;
    float* y;
    float qn, qp;
    struct Glob {};
    struct Coef {
        float s;
    };
    __device__ Glob glob() const { return Glob{}; }
    __device__ Coef coef(int c) const { return Coef{s[c]}; }
    template <int V>
    __device__ void run(const Glob&, const Coef& k, int64_t e) const {
        float a[V];
        ldv<V>(x + e, a);
        for (int i = 0; i < V; i++) a[i] = basq_lsq_fwd1(a[i], k.s, qn, qp);
        stv<V>(y + e, a);
    }
};

struct LsqBwd {
    static constexpr int K = 1, kCoef = 0;
    static constexpr bool kPass2 = false, kRestore = true, kGlobal = false;
    const float* x;
    const float* s;
    const float* dy;
    float* dx;
    float* ds;
    float qn, qp, gscale;
    struct Chan {
        float s;
    };
    __device__ Chan chan(int c) const { return Chan{s[c]}; }
    __device__ float* scratch() const { return dx; }
    template <int V>
    __device__ void accum(const Chan& ch, double (&acc)[K], int64_t e) const {
        float a[V], g[V], o[V];
        ldv<V>(x + e, a);
        ldv<V>(dy + e, g);
        for (int k = 0; k < V; k++) {
            float r;
            o[k] = basq_lsq_bwd1(a[k], ch.s, qn, qp, g[k], &r);
            acc[0] += (double)g[k] * (double)r;  // as quant.cpp: the product in double
        }
        stv<V>(dx + e, o);
    }
    __device__ void finish(int c, const Chan&, const double (&t)[K], float (&)[kSlots]) const {
        ds[c] = (float)(t[0] * (double)gscale);
    }
    __device__ double global_part(const double (&)[K]) const { return 0.0; }
    __device__ void finish_global(double) const {}
    template <int V>
    __device__ void apply(const Chan&, const float (&)[kSlots], int64_t) const {}
    __device__ void restore(const Chan& ch, int64_t e) const {
        float r;
        dx[e] = basq_lsq_bwd1(x[e], ch.s, qn, qp, dy[e], &r);
    }
};

// out[c] = mean |x| over channel c: one block per channel (an initialization, not a hot path;
// `out` has no room to park partials).
__global__ void __launch_bounds__(kThreads) k_channel_abs_mean(const float* x, float* out, ChanPlan p) {
    const int c = blockIdx.x;
    double acc[1] = {0.0};
    for (int64_t j = threadIdx.x; j < p.Mu; j += blockDim.x) {
        const int64_t e = unit_elem(p, c, j);
        for (int k = 0; k < p.V; k++) acc[0] += (double)fabsf(x[e + k]);
    }
    block_sum<1>(acc);
    if (threadIdx.x == 0) out[c] = (float)(acc[0] / ((double)p.outer * (double)p.inner));
}

bool lsq_args_ok(int outer, int channels, int64_t inner, int qn, int qp) {
    return outer >= 0 && channels >= 0 && inner >= 0 && qn <= qp;
}

}  // namespace
}  // namespace basq_cuda

using namespace basq_cuda;

BASQ_API int basq_cuda_clip_quant_fwd(const float* x, float* y, int64_t n, const float* upper, const float* bin,
                                      void* stream) {
    if (n < 0 || (n > 0 && (!x || !y || !upper || !bin))) return BASQ_EINVAL;
    return launch_map(ClipFwd{x, y, upper, bin}, n, aligned16(x) && aligned16(y), as_stream(stream));
}

BASQ_API int basq_cuda_clip_quant_bwd(const float* x, const float* dy, float* dx, float* dupper, int64_t n,
                                      const float* upper, void* stream) {
    if (n < 0 || (n > 0 && (!x || !dy || !dx || !upper)) || !dupper) return BASQ_EINVAL;
    if (n == 0) {
        cudaMemsetAsync(dupper, 0, sizeof(float), as_stream(stream));
        return launch_status();
    }
    if (overlaps(dx, x, n * 4) || overlaps(dx, dy, n * 4)) return BASQ_EINVAL;
    const ChanPlan p = make_plan(1, 1, n, aligned16(x) && aligned16(dy) && aligned16(dx));
    return run_chan(ClipBwd{x, dy, dx, dupper, upper}, p, as_stream(stream));
}

BASQ_API int basq_cuda_lsq_fwd(const float* x, const float* s, float* y, int outer, int channels, int64_t inner,
                               int qn, int qp, void* stream) {
    if (!lsq_args_ok(outer, channels, inner, qn, qp)) return BASQ_EINVAL;
    if ((int64_t)outer * channels * inner == 0) return BASQ_OK;
    if (!x || !s || !y) return BASQ_EINVAL;
    return launch_chan_map(LsqFwd{x, s, y, (float)qn, (float)qp}, outer, channels, inner,
                           aligned16(x) && aligned16(y), false, as_stream(stream));
}

BASQ_API int basq_cuda_lsq_bwd(const float* x, const float* s, const float* dy, float* dx, float* ds, int outer,
                               int channels, int64_t inner, int qn, int qp, float gscale, void* stream) {
    if (!lsq_args_ok(outer, channels, inner, qn, qp)) return BASQ_EINVAL;
    if (channels == 0) return BASQ_OK;
    if (!s || !ds) return BASQ_EINVAL;
    const int64_t n = (int64_t)outer * channels * inner;
    if (n == 0) {  // no elements: every step gradient is an empty sum
        cudaMemsetAsync(ds, 0, sizeof(float) * (size_t)channels, as_stream(stream));
        return launch_status();
    }
    if (!x || !dy || !dx) return BASQ_EINVAL;
    if (overlaps(dx, x, n * 4) || overlaps(dx, dy, n * 4)) return BASQ_EINVAL;
    const ChanPlan p = make_plan(outer, channels, inner, aligned16(x) && aligned16(dy) && aligned16(dx));
    return run_chan(LsqBwd{x, s, dy, dx, ds, (float)qn, (float)qp, gscale}, p, as_stream(stream));
}

BASQ_API int basq_cuda_channel_abs_mean(const float* x, float* out, int outer, int channels, int64_t inner,
                                        void* stream) {
    if (outer <= 0 || channels < 0 || inner <= 0) return BASQ_EINVAL;
    if (channels == 0) return BASQ_OK;
    if (!x || !out) return BASQ_EINVAL;
    const ChanPlan p = make_plan(outer, channels, inner, aligned16(x));
    auto k = &k_channel_abs_mean;
    BASQ_LAUNCH(k, channels, kThreads, as_stream(stream), x, out, p);
    return launch_status();
}
