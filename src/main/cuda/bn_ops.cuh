// Batch normalization as per-channel reductions (chan_reduce.cuh) and channel maps (map.cuh),
// optionally followed by a quantizer: the BASQ block's Q_lsq(BN_a(x)) and Q_clip[j](BN_a[j](x))
// (SPEC 2), where the BN output feeds only the quantizer and need never be stored.
//
// A quantizer policy Q has per-call constants G (glob: loaded from device scalars), per-channel
// constants Ch, the forward of one element and its backward, which returns dz and adds to one
// extra double (kExtra): the bound gradient (global, clip) or the step gradient (per channel, LSQ).
#ifndef BASQ4J_BN_OPS_CUH
#define BASQ4J_BN_OPS_CUH

#include "chan_reduce.cuh"
#include "map.cuh"

namespace basq_cuda {

// bn_engine.h's bn_train_scale: the training forward's scale from the saved (float) invstd.
__device__ __forceinline__ float bn_train_scale(float gamma, float save_invstd) {
    return (float)((double)gamma * (double)save_invstd);
}

// bn_engine.h's bn_eval_scale: the evaluation forward's scale from the running variance.
__device__ __forceinline__ float bn_eval_scale(float gamma, float running_var, float eps) {
    return (float)((double)gamma / sqrt((double)running_var + (double)eps));
}

struct QNone {
    static constexpr int kExtra = 0;
    static constexpr bool kGlobal = false;
    struct G {};
    struct Ch {};
    __device__ G glob() const { return G{}; }
    __device__ Ch chan(int) const { return Ch{}; }
    __device__ float fwd(const G&, const Ch&, float z) const { return z; }
    __device__ float bwd(const G&, const Ch&, float, float dy, double&) const { return dy; }
};

struct QClip {
    static constexpr int kExtra = 1;
    static constexpr bool kGlobal = true;  // the bound gradient sums over every channel
    const float* upper;
    const float* bin;  // forward only (may be NULL in the backward)
    struct G {
        float u, d;
    };
    struct Ch {};
    __device__ G glob() const {
        const float u = *upper;
        return G{u, bin ? basq_clip_step(u, *bin) : 0.0f};
    }
    __device__ Ch chan(int) const { return Ch{}; }
    __device__ float fwd(const G& g, const Ch&, float z) const { return basq_clip_fwd1(z, g.u, g.d); }
    __device__ float bwd(const G& g, const Ch&, float z, float dy, double& extra) const {
        extra += (double)basq_clip_du1(z, g.u, dy);
        return basq_clip_dx1(z, g.u, dy);
    }
};

struct QLsq {
    static constexpr int kExtra = 1;
    static constexpr bool kGlobal = false;  // one step per channel: a per-channel sum
    const float* s;
    float qn, qp;
    struct G {};
    struct Ch {
        float s;
    };
    __device__ G glob() const { return G{}; }
    __device__ Ch chan(int c) const { return Ch{s[c]}; }
    __device__ float fwd(const G&, const Ch& k, float z) const { return basq_lsq_fwd1(z, k.s, qn, qp); }
    __device__ float bwd(const G&, const Ch& k, float z, float dy, double& extra) const {
        float r;
        const float d = basq_lsq_bwd1(z, k.s, qn, qp, dy, &r);
        extra += (double)dy * (double)r;  // as fused.cpp: the product in double
        return d;
    }
};

/*
 * Training forward: per-channel shifted sums in double (as bn_engine.h's group_stats), then
 * y = Q((x - mean) * a + beta) with a = bn_train_scale(gamma, save_invstd) =
 * (float)(gamma * (double)(float)invstd): the scale of bn_engine.h's bn_train_finish, derived
 * from the float invstd that save_invstd keeps (not from the double one), so that the plain and
 * the fused kernels of both backends use the same a, and a backward can recompute z from x and
 * save_invstd bit for bit.
 */
template <class Q>
struct BnTrainOp {
    static constexpr int K = 2, kCoef = 2;
    static constexpr bool kPass2 = true, kRestore = false, kGlobal = false;
    const float* x;
    const float* gamma;
    const float* beta;
    float* y;
    float* save_mean;
    float* save_invstd;
    float* running_mean;
    float* running_var;
    int64_t HW, M;
    float eps, momentum;
    Q q;
    struct Chan {
        double shift;
        float b;
        typename Q::G g;
        typename Q::Ch qc;
    };
    __device__ Chan chan(int c) const { return Chan{(double)x[(int64_t)c * HW], beta[c], q.glob(), q.chan(c)}; }
    __device__ float* scratch() const { return y; }
    template <int V>
    __device__ void accum(const Chan& ch, double (&acc)[K], int64_t e) const {
        float a[V];
        ldv<V>(x + e, a);
        for (int k = 0; k < V; k++) {
            const double d = (double)a[k] - ch.shift;
            acc[0] += d;
            acc[1] += d * d;
        }
    }
    __device__ void finish(int c, const Chan& ch, const double (&t)[K], float (&coef)[kSlots]) const {
        const double Md = (double)M;
        const double dm = t[0] / Md;
        double var = t[1] / Md - dm * dm;
        var = var > 0.0 ? var : 0.0;
        const double mean = ch.shift + dm;
        const float invstd = (float)(1.0 / sqrt(var + (double)eps));
        if (save_mean) save_mean[c] = (float)mean;
        if (save_invstd) save_invstd[c] = invstd;
        if (running_mean) {
            const double mom = momentum;
            const double unbiased = var * Md / (Md - 1.0);
            running_mean[c] = (float)((1.0 - mom) * running_mean[c] + mom * mean);
            running_var[c] = (float)((1.0 - mom) * running_var[c] + mom * unbiased);
        }
        coef[0] = (float)mean;
        coef[1] = bn_train_scale(gamma[c], invstd);
    }
    __device__ double global_part(const double (&)[K]) const { return 0.0; }
    __device__ void finish_global(double) const {}
    template <int V>
    __device__ void apply(const Chan& ch, const float (&coef)[kSlots], int64_t e) const {
        float a[V];
        ldv<V>(x + e, a);
        for (int k = 0; k < V; k++) a[k] = q.fwd(ch.g, ch.qc, (a[k] - coef[0]) * coef[1] + ch.b);
        stv<V>(y + e, a);
    }
    __device__ void restore(const Chan&, int64_t) const {}
};

/*
 * Backward of the training forward, through the quantizer when there is one: per channel,
 * with dz = Q'(z) * dy and z recomputed from x (with the forward's a = bn_train_scale(gamma, save_invstd)),
 *   dbeta = sum dz;  dgamma = invstd * sum dz*(x - mean);
 *   dx = fa*dz - fb - (x - mean)*fk   (norm.cpp's coefficients).
 */
template <class Q>
struct BnBwdOp {
    static constexpr int K = 2 + Q::kExtra, kCoef = 3;
    static constexpr bool kPass2 = true, kRestore = false, kGlobal = Q::kGlobal;
    const float* x;
    const float* dy;
    const float* gamma;
    const float* beta;  // fused only
    const float* save_mean;
    const float* save_invstd;
    float* dx;
    float* dgamma;
    float* dbeta;
    float* dq;  // fused: dupper (clip, one float) or ds (LSQ, per channel)
    int64_t M;
    float gscale;  // LSQ
    Q q;
    struct Chan {
        float fm, za, zb;
        typename Q::G g;
        typename Q::Ch qc;
    };
    __device__ Chan chan(int c) const {
        const float za = Q::kExtra ? bn_train_scale(gamma[c], save_invstd[c]) : 0.0f;
        return Chan{save_mean[c], za, Q::kExtra ? beta[c] : 0.0f, q.glob(), q.chan(c)};
    }
    __device__ float* scratch() const { return dx; }
    // dz of one element (the extra sum, when any, into extra)
    __device__ __forceinline__ float dz(const Chan& ch, float xv, float g, double& extra) const {
        if constexpr (Q::kExtra == 0) {
            return g;
        } else {
            return q.bwd(ch.g, ch.qc, (xv - ch.fm) * ch.za + ch.zb, g, extra);
        }
    }
    template <int V>
    __device__ void accum(const Chan& ch, double (&acc)[K], int64_t e) const {
        float a[V], g[V];
        ldv<V>(x + e, a);
        ldv<V>(dy + e, g);
        double unused = 0.0;
        double& extra = Q::kExtra > 0 ? acc[K - 1] : unused;  // element by element, as the plain quantizers
        for (int k = 0; k < V; k++) {
            const float d = dz(ch, a[k], g[k], extra);
            acc[0] += (double)d;
            acc[1] += (double)d * (double)(a[k] - ch.fm);
        }
    }
    __device__ void finish(int c, const Chan&, const double (&t)[K], float (&coef)[kSlots]) const {
        const double invstd = save_invstd[c];
        const double sdy = t[0], sdyx = t[1];
        if (dbeta) dbeta[c] = (float)sdy;
        if (dgamma) dgamma[c] = (float)(sdyx * invstd);
        const double a = (double)gamma[c] * invstd;
        coef[0] = (float)a;
        coef[1] = (float)(a * sdy / (double)M);
        coef[2] = (float)(a * invstd * invstd * sdyx / (double)M);
        if constexpr (Q::kExtra > 0 && !Q::kGlobal) dq[c] = (float)(t[2] * (double)gscale);
    }
    __device__ double global_part(const double (&t)[K]) const {
        if constexpr (Q::kExtra > 0) return t[K - 1];
        return 0.0;
    }
    __device__ void finish_global(double g) const {
        if constexpr (Q::kGlobal) *dq = (float)g;
    }
    template <int V>
    __device__ void apply(const Chan& ch, const float (&coef)[kSlots], int64_t e) const {
        float a[V], g[V];
        ldv<V>(x + e, a);
        ldv<V>(dy + e, g);
        double unused = 0.0;
        for (int k = 0; k < V; k++) g[k] = coef[0] * dz(ch, a[k], g[k], unused) - coef[1] - (a[k] - ch.fm) * coef[2];
        stv<V>(dx + e, g);
    }
    __device__ void restore(const Chan&, int64_t) const {}
};

// Evaluation forward: y = Q((x - m) * a + b), a = bn_eval_scale(gamma, running_var, eps).
template <class Q>
struct BnEvalMap {
    const float* x;
    const float* gamma;
    const float* beta;
    const float* running_mean;
    const float* running_var;
    float* y;
    float eps;
    Q q;
    using Glob = typename Q::G;
    struct Coef {
        float m, a, b;
        typename Q::Ch qc;
    };
    __device__ Glob glob() const { return q.glob(); }
    __device__ Coef coef(int c) const {
        const float a = bn_eval_scale(gamma[c], running_var[c], eps);
        return Coef{running_mean[c], a, beta[c], q.chan(c)};
    }
    template <int V>
    __device__ void run(const Glob& g, const Coef& k, int64_t e) const {
        float v[V];
        ldv<V>(x + e, v);
        for (int i = 0; i < V; i++) v[i] = q.fwd(g, k.qc, (v[i] - k.m) * k.a + k.b);
        stv<V>(y + e, v);
    }
};

}  // namespace basq_cuda

#endif
