// Runs every CUDA kernel of src/main/cuda under the host emulation (src/main/cuda/emu) against
// the CPU kernels of src/main/cpp, on random inputs and on shapes that take each code path
// (vector and scalar units, split and single regions, the direct path for tiny channels, the
// shared-memory table and its fallback, 32-bit and 64-bit index math). Built and run by
// bench/gpu/emu/run.sh; prints one line per check family and "N passed, M failed" last; exits
// non-zero on a failure.
//
// How exact. Both sides are compiled here with the same flags (-ffp-contract=off; the CUDA
// library is built with --fmad=false), so wherever the two compute the same float operations
// on the same inputs the results must be bitwise equal, and are compared so (exact()): element
// maps, quantizers, batch-norm applications, pooling, optimizers, the backward formulas. A
// reduction cannot be exact in general: both sides sum in double, but in another order (the
// GPU's is a tree over blocks and warps), so the two doubles may differ in their last bits and
// their roundings to float by an ulp (by more where the sum cancels). Such values are held to
// what the order alone can explain (ulps(), sum_close()), and everything computed from them
// (a batch norm's output from its saved statistics) is checked exactly against the CPU's
// formula applied to the GPU's own statistics. In addition every reduction runs on "grid"
// data: values on a coarse binary grid, for which every sum in double is exact in any order;
// there the GPU must equal the CPU bit for bit, statistics, gradients and losses included.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "basq4j/cuda_kernels.h"
#include "bn_engine.h"
#include "basq4j/elementwise.h"
#include "basq4j/fused.h"
#include "basq4j/loss.h"
#include "basq4j/norm.h"
#include "basq4j/optim.h"
#include "basq4j/pool.h"
#include "basq4j/quant.h"
#include "basq4j/quant_math.h"
#include "emu/cuda_emu.h"

namespace {

int passed = 0, failed = 0;
std::mt19937_64 rng(20240611);

// A float buffer at a chosen misalignment (in floats) from a 64-byte boundary.
struct Buf {
    float* base = nullptr;
    float* p = nullptr;
    size_t n = 0;
    Buf(size_t n_, int misalign = 0) : n(n_) {
        base = (float*)aligned_alloc(64, ((n + 16 + misalign) * 4 + 63) / 64 * 64);
        p = base + misalign;
        for (size_t i = 0; i < n; i++) p[i] = NAN;
    }
    Buf(const std::vector<float>& v, int misalign = 0) : Buf(v.size(), misalign) {
        memcpy(p, v.data(), v.size() * 4);
    }
    Buf(const Buf&) = delete;
    ~Buf() { free(base); }
    std::vector<float> vec() const { return std::vector<float>(p, p + n); }
    operator float*() { return p; }
};

// Device workspace of doubles (host memory under the emulation), poisoned.
struct Work {
    std::vector<double> v;
    explicit Work(int64_t n) : v((size_t)(n > 0 ? n : 1), NAN) {}
    operator double*() { return v.data(); }
};

std::vector<float> randn(size_t n, double scale = 1.0, double shift = 0.0) {
    std::normal_distribution<double> d(0.0, 1.0);
    std::vector<float> v(n);
    for (auto& x : v) x = (float)(d(rng) * scale + shift);
    return v;
}

std::vector<float> uniform(size_t n, double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = (float)d(rng);
    return v;
}

// Grid data: k * step for integers k in [lo, hi]. With a coarse step and small |k|, every sum
// (and sum of products) of a few million such values is exact in double, in any order.
std::vector<float> grid(size_t n, int lo, int hi, double step) {
    std::uniform_int_distribution<int> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = (float)(d(rng) * step);
    return v;
}

void report(bool ok, const std::string& what, const std::string& detail = "") {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL %s %s\n", what.c_str(), detail.c_str());
    }
}

void code(int got, int want, const std::string& what) {
    report(got == want, what, "returned " + std::to_string(got) + ", expected " + std::to_string(want));
}

// Bitwise-equal floats (NaN == NaN, -0 == 0).
void exact(const std::vector<float>& e, const std::vector<float>& a, const std::string& what) {
    for (size_t i = 0; i < e.size(); i++) {
        bool same = e[i] == a[i] || (std::isnan(e[i]) && std::isnan(a[i]));
        if (!same) {
            char b[160];
            snprintf(b, sizeof b, "element %zu: %.9g, expected %.9g", i, a[i], e[i]);
            report(false, what, b);
            return;
        }
    }
    report(true, what);
}

// The spacing of floats at |v| (the distance to the next float away from zero).
double ulp(float v) {
    const float a = fabsf(v);
    return (double)nextafterf(a, INFINITY) - (double)a;
}

// At most k ulps apart, element by element (no NaN): a value computed from a sum in double
// taken in another order, rounded once (k = 1) or passed through one more rounding (k = 2).
void ulps(const std::vector<float>& e, const std::vector<float>& a, int k, const std::string& what) {
    for (size_t i = 0; i < e.size(); i++) {
        const double err = fabs((double)e[i] - (double)a[i]);
        if (!(err <= k * ulp(e[i]))) {
            char b[200];
            snprintf(b, sizeof b, "element %zu: %.9g, expected %.9g (%.2f ulps, %d allowed)", i, a[i], e[i],
                     err / ulp(e[i]), k);
            report(false, what, b);
            return;
        }
    }
    report(true, what);
}

// Sums of n terms in double in two orders, each rounded to float (times a factor f, the same on
// both sides): |e - a| <= ulp(e) + f * 2 n 2^-53 * sum|terms| (abs[i], already times f).
void sum_close(const std::vector<float>& e, const std::vector<float>& a, const std::vector<double>& abs, int64_t n,
               const std::string& what) {
    for (size_t i = 0; i < e.size(); i++) {
        const double err = fabs((double)e[i] - (double)a[i]);
        const double tol = ulp(e[i]) + 2.0 * (double)n * ldexp(1.0, -53) * abs[i];
        if (!(err <= tol)) {
            char b[200];
            snprintf(b, sizeof b, "element %zu: %.9g, expected %.9g (tol %.3g)", i, a[i], e[i], tol);
            report(false, what, b);
            return;
        }
    }
    report(true, what);
}

// |e - a| <= rtol * max(1, max|e|) everywhere, no NaN: only for values derived from several
// order-dependent sums (a batch-norm input gradient on random data), where sum_close's bound
// does not apply element-wise.
void close(const std::vector<float>& e, const std::vector<float>& a, double rtol, const std::string& what) {
    double scale = 1.0;
    for (float v : e) scale = fmax(scale, fabs((double)v));
    for (size_t i = 0; i < e.size(); i++) {
        double err = fabs((double)e[i] - (double)a[i]);
        if (!(err <= rtol * scale)) {
            char b[200];
            snprintf(b, sizeof b, "element %zu: %.9g, expected %.9g (tol %.3g)", i, a[i], e[i], rtol * scale);
            report(false, what, b);
            return;
        }
    }
    report(true, what);
}

// Runs f with the kernels' 32-bit index paths disabled (cuda_util.cuh's index32_limit), so that
// the 64-bit paths, which real sizes take only beyond 2^31 elements, run on small tensors.
template <class F>
void wide_index(F f) {
    basq_emu::index32_limit = 0;
    f();
    basq_emu::index32_limit = int64_t(1) << 31;
}

std::string shape(std::initializer_list<long long> dims) {
    std::string s = "[";
    for (long long d : dims) s += (s.size() > 1 ? "," : "") + std::to_string(d);
    return s + "]";
}

// ---------------------------------------------------------------- quantizers

void check_clip() {
    for (long long n : {1LL, 5LL, 8LL, 1000LL, 100003LL, 200000LL}) {
        for (int mis : {0, 1}) {
            for (int kind = 0; kind < 2; kind++) {  // dy random, dy on a grid
                if (kind == 1 && n != 1000 && n != 100003) continue;
                const float u = 3.7f, bin = 1.0f - 1.0f / 3.0f;
                auto x = uniform(n, -0.3 * u, 1.3 * u);
                auto dy = kind == 0 ? randn(n) : grid(n, -16, 16, 0.125);
                if (n > 10) {
                    x[0] = 0.0f;
                    x[1] = u;
                }
                std::string at = " n=" + std::to_string(n) + " misalign=" + std::to_string(mis) +
                                 (kind ? " grid" : "");
                Buf X(x, mis), DY(dy, mis), Y(n, mis), DX(n, mis), U(std::vector<float>{u}),
                    BIN(std::vector<float>{bin});
                Buf Ye(n), DXe(n), DUe(1), DU(1);
                double abs = 0.0;
                for (long long i = 0; i < n; i++) abs += x[i] > u ? fabs((double)dy[i]) : 0.0;
                auto check_du = [&](const std::vector<float>& got, const std::string& what) {
                    if (kind == 1)
                        exact(DUe.vec(), got, what);
                    else
                        sum_close(DUe.vec(), got, {abs}, n, what);
                };
                basq_clip_quant_fwd(X, Ye, n, U, BIN);
                code(basq_cuda_clip_quant_fwd(X, Y, n, U, BIN, nullptr), 0, "clip fwd code" + at);
                exact(Ye.vec(), Y.vec(), "clip fwd" + at);
                basq_clip_quant_bwd(X, DY, DXe, DUe, n, U);
                code(basq_cuda_clip_quant_bwd(X, DY, DX, DU, n, U, nullptr), 0, "clip bwd code" + at);
                exact(DXe.vec(), DX.vec(), "clip bwd dx" + at);
                check_du(DU.vec(), "clip bwd du" + at);
                float first = DU.p[0];
                basq_cuda_clip_quant_bwd(X, DY, DX, DU, n, U, nullptr);
                report(memcmp(&first, DU.p, 4) == 0, "clip bwd du deterministic" + at);
                exact(DXe.vec(), DX.vec(), "clip bwd dx again" + at);

                // the mask variant: same y, same dx, same du
                std::vector<uint32_t> bits((size_t)basq_cuda_clip_mask_words(n) + 1, 0xdeadbeefu);
                Buf Y2(n, mis), DX2(n, mis), DU2(1);
                code(basq_cuda_clip_quant_fwd_mask(X, Y2, bits.data(), n, U, BIN, nullptr), 0,
                     "clip fwd mask code" + at);
                exact(Ye.vec(), Y2.vec(), "clip fwd mask y" + at);
                report(bits.back() == 0xdeadbeefu, "clip fwd mask stays in its words" + at);
                code(basq_cuda_clip_quant_bwd_mask(bits.data(), DY, DX2, DU2, n, nullptr), 0,
                     "clip bwd mask code" + at);
                exact(DXe.vec(), DX2.vec(), "clip bwd mask dx" + at);
                check_du(DU2.vec(), "clip bwd mask du" + at);
                if (n == 1000 && kind == 1) {
                    wide_index([&] {
                        Buf DX3(n, mis), DU3(1);
                        basq_cuda_clip_quant_bwd(X, DY, DX3, DU3, n, U, nullptr);
                        exact(DXe.vec(), DX3.vec(), "clip bwd dx, 64-bit indices" + at);
                        exact(DUe.vec(), DU3.vec(), "clip bwd du, 64-bit indices" + at);
                    });
                }
            }
        }
    }
    Buf X(std::vector<float>(64, 1.0f)), U(std::vector<float>{1.0f}), DU(1);
    code(basq_cuda_clip_quant_bwd(X, X, X, DU, 64, U, nullptr), BASQ_EINVAL, "clip bwd refuses dx aliasing x");
    Buf Z(1);
    code(basq_cuda_clip_quant_bwd(X, X, Z, DU, 0, U, nullptr), 0, "clip bwd n=0");
    exact({0.0f}, DU.vec(), "clip bwd n=0 du");
}

// Per channel of [outer, C, inner]: sum |gscale * dy * r| of LSQ's step gradient.
std::vector<double> lsq_abs(const std::vector<float>& x, const std::vector<float>& dy, const std::vector<float>& s,
                            int outer, int C, long long inner, int qn, int qp, float g) {
    std::vector<double> abs(C, 0.0);
    for (int o = 0; o < outer; o++)
        for (int c = 0; c < C; c++)
            for (long long i = 0; i < inner; i++) {
                const long long e = ((long long)o * C + c) * inner + i;
                float r;
                basq_lsq_bwd1(x[e], s[c], (float)qn, (float)qp, dy[e], &r);
                abs[c] += fabs((double)dy[e] * (double)r * (double)g);
            }
    return abs;
}

void check_lsq() {
    struct S {
        int outer, C;
        long long inner;
        int qn, qp;
    };
    for (S s : {S{1, 16, 9, -1, 1}, S{1, 8, 27, -7, 7}, S{4, 3, 100, 0, 3}, S{2, 5, 64, 0, 15}, S{4, 3, 12544, 0, 3},
                S{1, 1, 5, 0, 3}, S{2, 300, 1, 0, 3}, S{3, 7, 2, 0, 7}, S{2, 3, 4096, -1, 1}}) {
        for (int mis : {0, 1})
        for (int kind : {0, 1}) {
            // kind 1: steps 1/2 and 1/4, x on a 2^-17 grid, dy with 16 significant bits: r and
            // dy * r are exact in double (not in float), and so is every sum of the step gradient
            const long long n = (long long)s.outer * s.C * s.inner;
            std::string at = " " + shape({s.outer, s.C, s.inner}) + " q[" + std::to_string(s.qn) + "," +
                             std::to_string(s.qp) + "] misalign=" + std::to_string(mis) + (kind ? " grid" : "");
            auto step = kind ? grid(s.C, 1, 2, 0.25) : uniform(s.C, 0.2, 0.6);
            auto x = kind ? grid(n, -(1 << 18), 1 << 19, ldexp(1.0, -17)) : randn(n, 1.0, s.qn < 0 ? 0.0 : 0.5);
            auto dy = kind ? grid(n, -(1 << 15), 1 << 15, 1.0 / 256) : randn(n);
            Buf X(x, mis), DY(dy, mis), ST(step), Y(n, mis), DX(n, mis), DS(s.C);
            Buf Ye(n), DXe(n), DSe(s.C);
            const float g = (float)(1.0 / sqrt((double)n * s.qp));
            basq_lsq_fwd(X, ST, Ye, s.outer, s.C, s.inner, s.qn, s.qp);
            code(basq_cuda_lsq_fwd(X, ST, Y, s.outer, s.C, s.inner, s.qn, s.qp, nullptr), 0, "lsq fwd code" + at);
            exact(Ye.vec(), Y.vec(), "lsq fwd" + at);
            basq_lsq_bwd(X, ST, DY, DXe, DSe, s.outer, s.C, s.inner, s.qn, s.qp, g);
            code(basq_cuda_lsq_bwd(X, ST, DY, DX, DS, s.outer, s.C, s.inner, s.qn, s.qp, g, nullptr), 0,
                 "lsq bwd code" + at);
            exact(DXe.vec(), DX.vec(), "lsq bwd dx" + at);
            // sum of dy * r (each product exact in double), in another order
            if (kind)
                exact(DSe.vec(), DS.vec(), "lsq bwd ds" + at);
            else
                sum_close(DSe.vec(), DS.vec(), lsq_abs(x, dy, step, s.outer, s.C, s.inner, s.qn, s.qp, g),
                          (int64_t)s.outer * s.inner, "lsq bwd ds" + at);
            Buf M(s.C), Me(s.C);
            basq_channel_abs_mean(X, Me, s.outer, s.C, s.inner);
            code(basq_cuda_channel_abs_mean(X, M, s.outer, s.C, s.inner, nullptr), 0, "abs mean code" + at);
            ulps(Me.vec(), M.vec(), 1, "channel abs mean" + at);  // a sum of positive terms
            if (mis == 0 && kind == 0 && n < 20000) {
                wide_index([&] {
                    Buf Y3(n), DX3(n), DS3(s.C);
                    basq_cuda_lsq_fwd(X, ST, Y3, s.outer, s.C, s.inner, s.qn, s.qp, nullptr);
                    exact(Ye.vec(), Y3.vec(), "lsq fwd, 64-bit indices" + at);
                    basq_cuda_lsq_bwd(X, ST, DY, DX3, DS3, s.outer, s.C, s.inner, s.qn, s.qp, g, nullptr);
                    exact(DXe.vec(), DX3.vec(), "lsq bwd dx, 64-bit indices" + at);
                    exact(DS.vec(), DS3.vec(), "lsq bwd ds, 64-bit indices (the same partition)" + at);
                });
            }
        }
    }
}

// ---------------------------------------------------------------- batch norm

struct BnShape {
    int N, C;
    long long HW;
};
const BnShape kBn[] = {{2, 3, 4}, {2, 4, 1}, {8, 3, 4096}, {3, 5, 49}, {1, 2, 3}, {16, 2, 1024}, {2, 1, 16384}};

/*
 * Inputs of one batch-norm case. kind 0: random. kind 1: a coarse grid (x in steps of 1/64, dy
 * of 1/8), on which every sum of the forward and the backward is exact in double. kind 2: a fine
 * grid (x in steps of 2^-17, dy of 2^-8 with 16 significant bits, gamma 1, and for LSQ steps of
 * 1/2), on which the backward's sums are exact (from a mean on that grid and invstd 1, which
 * make z = x - mean + beta exact) although LSQ's terms dy * r need more bits than a float has:
 * a step gradient that rounded them to float first would differ there.
 */
struct BnData {
    int kind;
    std::vector<float> x, dy, gamma, beta, rm0, rv0, step;
    BnData(const BnShape& s, int kind_) : kind(kind_) {
        const long long n = (long long)s.N * s.C * s.HW;
        x = kind == 0   ? randn(n, 2.0, 3.0)
            : kind == 1 ? grid(n, -128, 384, 1.0 / 64)
                        : grid(n, -(1 << 19), 1 << 19, ldexp(1.0, -17));
        dy = kind == 0 ? randn(n) : kind == 1 ? grid(n, -32, 32, 1.0 / 8) : grid(n, -(1 << 15), 1 << 15, 1.0 / 256);
        gamma = kind == 2 ? std::vector<float>(s.C, 1.0f) : uniform(s.C, 0.5, 1.5);
        beta = kind == 0 ? randn(s.C) : grid(s.C, -64, 64, 1.0 / 64);
        rm0 = randn(s.C);
        rv0 = uniform(s.C, 0.5, 2.0);
        step = kind == 2 ? std::vector<float>(s.C, 0.5f) : uniform(s.C, 0.3, 0.6);
    }
    // Every sum of the forward exact (statistics equal the CPU's bit for bit).
    bool fwd_exact() const { return kind == 1; }
    // Every sum of the backward exact, given bwd_mean and bwd_invstd.
    bool bwd_exact() const { return kind != 0; }
    // The saved statistics the backward is given: on grid data a mean on the grid (x - mean exact).
    std::vector<float> bwd_mean(const float* m, int C) const {
        if (kind == 0) return std::vector<float>(m, m + C);
        const double q = kind == 1 ? 64.0 : ldexp(1.0, 17);
        std::vector<float> g(C);
        for (int c = 0; c < C; c++) g[c] = (float)(nearbyint((double)m[c] * q) / q);
        return g;
    }
    std::vector<float> bwd_invstd(const float* i, int C) const {
        return kind == 2 ? std::vector<float>(C, 1.0f) : std::vector<float>(i, i + C);
    }
};

// The training forward's output from given statistics, by bn_engine.h's formulas (the CPU's).
std::vector<float> bn_train_ref(const std::vector<float>& x, const BnShape& s, const std::vector<float>& gamma,
                                const std::vector<float>& beta, const float* mean, const float* invstd) {
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); i++) {
        const int c = (int)((i / (size_t)s.HW) % (size_t)s.C);
        y[i] = basq_cpu::bn_apply(x[i], mean[c], basq_cpu::bn_train_scale(gamma[c], invstd[c]), beta[c]);
    }
    return y;
}

// Per channel: sum |dz| and sum |dz * (x - m)| * invstd, the scales of dbeta's and dgamma's sums.
void bn_bwd_abs(const std::vector<float>& x, const std::vector<float>& dz, const BnShape& s, const float* mean,
                const float* invstd, std::vector<double>& adb, std::vector<double>& adg) {
    adb.assign(s.C, 0.0);
    adg.assign(s.C, 0.0);
    for (size_t i = 0; i < x.size(); i++) {
        const int c = (int)((i / (size_t)s.HW) % (size_t)s.C);
        adb[c] += fabs((double)dz[i]);
        adg[c] += fabs((double)dz[i] * (double)(x[i] - mean[c])) * (double)invstd[c];
    }
}

void check_bn_case(const BnShape& s, int mis, int kind, const std::string& at) {
    const long long n = (long long)s.N * s.C * s.HW;
    const long long M = (long long)s.N * s.HW;
    BnData d(s, kind);
    Buf X(d.x, mis), DY(d.dy, mis), G(d.gamma), B(d.beta);
    Buf Y(n, mis), SM(s.C), SI(s.C), RM(d.rm0), RV(d.rv0);
    Buf Ye(n), SMe(s.C), SIe(s.C), RMe(d.rm0), RVe(d.rv0);
    const bool run = M >= 2;
    int ce = basq_bn_train_fwd(X, G, B, Ye, SMe, SIe, run ? RMe.p : nullptr, run ? RVe.p : nullptr, s.N, s.C, s.HW,
                               1e-5f, 0.1f);
    code(basq_cuda_bn_train_fwd(X, G, B, Y, SM, SI, run ? RM.p : nullptr, run ? RV.p : nullptr, s.N, s.C, s.HW,
                                1e-5f, 0.1f, nullptr),
         ce, "bn train code" + at);
    // y from the GPU's own statistics with the CPU's formulas: exact whatever the statistics
    exact(bn_train_ref(d.x, s, d.gamma, d.beta, SM.p, SI.p), Y.vec(), "bn train y (CPU formula, own stats)" + at);
    if (d.fwd_exact()) {  // every sum exact: the statistics, and so everything, equal the CPU's
        exact(SMe.vec(), SM.vec(), "bn train mean" + at);
        exact(SIe.vec(), SI.vec(), "bn train invstd" + at);
        exact(RMe.vec(), RM.vec(), "bn running mean" + at);
        exact(RVe.vec(), RV.vec(), "bn running var" + at);
        exact(Ye.vec(), Y.vec(), "bn train y" + at);
    } else {  // sums of the data and its squares in another order, rounded once
        ulps(SMe.vec(), SM.vec(), 1, "bn train mean" + at);
        ulps(SIe.vec(), SI.vec(), 1, "bn train invstd" + at);
        ulps(RMe.vec(), RM.vec(), 1, "bn running mean" + at);
        ulps(RVe.vec(), RV.vec(), 1, "bn running var" + at);
    }
    Buf Y2(n, mis);
    code(basq_cuda_bn_train_fwd(X, G, B, Y2, nullptr, nullptr, nullptr, nullptr, s.N, s.C, s.HW, 1e-5f, 0.1f,
                                nullptr),
         0, "bn train without saves code" + at);
    exact(Y.vec(), Y2.vec(), "bn train without saves" + at);

    Buf YE(n, mis), YEe(n);
    basq_bn_eval_fwd(X, G, B, RM, RV, YEe, s.N, s.C, s.HW, 1e-5f);
    code(basq_cuda_bn_eval_fwd(X, G, B, RM, RV, YE, s.N, s.C, s.HW, 1e-5f, nullptr), 0, "bn eval code" + at);
    exact(YEe.vec(), YE.vec(), "bn eval" + at);

    // backward from given statistics (on grid data a mean on the grid, so that every sum is exact)
    Buf MEAN(d.bwd_mean(SMe.p, s.C)), INV(d.bwd_invstd(SIe.p, s.C));
    Buf DX(n, mis), DG(s.C), DB(s.C), DXe(n), DGe(s.C), DBe(s.C);
    basq_bn_bwd(X, DY, G, MEAN, INV, DXe, DGe, DBe, s.N, s.C, s.HW);
    code(basq_cuda_bn_bwd(X, DY, G, MEAN, INV, DX, DG, DB, s.N, s.C, s.HW, nullptr), 0, "bn bwd code" + at);
    if (d.bwd_exact()) {
        exact(DXe.vec(), DX.vec(), "bn bwd dx" + at);
        exact(DGe.vec(), DG.vec(), "bn bwd dgamma" + at);
        exact(DBe.vec(), DB.vec(), "bn bwd dbeta" + at);
    } else {
        std::vector<double> adb, adg;
        bn_bwd_abs(d.x, d.dy, s, MEAN.p, INV.p, adb, adg);
        sum_close(DGe.vec(), DG.vec(), adg, M, "bn bwd dgamma" + at);
        sum_close(DBe.vec(), DB.vec(), adb, M, "bn bwd dbeta" + at);
        // dx = fa*g - fb - (x - m)*fk with fb, fk from those sums: a few ulps of the largest term
        close(DXe.vec(), DX.vec(), 2e-6, "bn bwd dx" + at);
    }
    Buf DX2(n, mis);
    code(basq_cuda_bn_bwd(X, DY, G, MEAN, INV, DX2, nullptr, nullptr, s.N, s.C, s.HW, nullptr), 0,
         "bn bwd without dgamma code" + at);
    exact(DX.vec(), DX2.vec(), "bn bwd without dgamma" + at);
}

const char* kKind[] = {" random", " grid", " fine grid"};

void check_bn() {
    for (BnShape s : kBn)
        for (int mis : {0, 1})
            for (int kind : {0, 1, 2})
                if (kind < 2 || mis == 0)  // the fine grid checks sums, not alignment paths
                    check_bn_case(s, mis, kind,
                                  " " + shape({s.N, s.C, s.HW}) + " misalign=" + std::to_string(mis) + kKind[kind]);
    wide_index([] {
        for (BnShape s : {BnShape{3, 5, 49}, BnShape{2, 1, 16384}, BnShape{2, 4, 1}})
            check_bn_case(s, 0, 1, " " + shape({s.N, s.C, s.HW}) + " grid, 64-bit indices");
    });
    // many channels: the evaluation map without its shared-memory table
    {
        const int N = 2, C = 2100;
        const long long HW = 4, n = (long long)N * C * HW;
        Buf X(randn(n)), G(uniform(C, 0.5, 1.5)), B(randn(C)), RM(randn(C)), RV(uniform(C, 0.5, 2)), Y(n), Ye(n);
        basq_bn_eval_fwd(X, G, B, RM, RV, Ye, N, C, HW, 1e-5f);
        code(basq_cuda_bn_eval_fwd(X, G, B, RM, RV, Y, N, C, HW, 1e-5f, nullptr), 0, "bn eval 2100 channels code");
        exact(Ye.vec(), Y.vec(), "bn eval 2100 channels");
    }
    Buf X(randn(8)), G(std::vector<float>{1}), B(std::vector<float>{0}), RM(1), RV(1), SM(1), SI(1);
    code(basq_cuda_bn_train_fwd(X, G, B, X, SM, SI, nullptr, nullptr, 2, 1, 4, 1e-5f, 0.1f, nullptr), BASQ_EINVAL,
         "bn train refuses y aliasing x");
    code(basq_cuda_bn_train_fwd(X, G, B, SM, SM, SI, RM, RV, 1, 1, 1, 1e-5f, 0.1f, nullptr), BASQ_EINVAL,
         "bn train refuses running stats of one sample");
}

// ---------------------------------------------------------------- fused BN + quantizer

void check_fused_case(const BnShape& s, int mis, int kind, const std::string& at) {
    const long long n = (long long)s.N * s.C * s.HW;
    const long long M = (long long)s.N * s.HW;
    const bool run = M >= 2;
    BnData d(s, kind);
    const float u = 2.5f, bin = 1.0f - 1.0f / 3.0f;
    const int qn = 0, qp = 3;
    const std::vector<float>& step = d.step;
    Buf X(d.x, mis), DY(d.dy, mis), G(d.gamma), B(d.beta), U(std::vector<float>{u}), BIN(std::vector<float>{bin});
    Buf ST(step), RM(d.rm0), RV(d.rv0);

    // evaluation: exactly the CPU's fused kernel, and the CPU's bn_eval followed by the quantizer
    Buf Z(n), Qe(n), Qf(n), Q(n, mis);
    basq_bn_eval_fwd(X, G, B, RM, RV, Z, s.N, s.C, s.HW, 1e-5f);
    basq_clip_quant_fwd(Z, Qe, n, U, BIN);
    basq_bn_eval_clip_quant_fwd(X, G, B, RM, RV, Qf, s.N, s.C, s.HW, 1e-5f, U, BIN);
    code(basq_cuda_bn_eval_clip_quant_fwd(X, G, B, RM, RV, Q, s.N, s.C, s.HW, 1e-5f, U, BIN, nullptr), 0,
         "bn eval + clip code" + at);
    exact(Qe.vec(), Q.vec(), "bn eval + clip" + at);
    exact(Qf.vec(), Q.vec(), "bn eval + clip vs CPU fused" + at);
    basq_lsq_fwd(Z, ST, Qe, s.N, s.C, s.HW, qn, qp);
    basq_bn_eval_lsq_fwd(X, G, B, RM, RV, Qf, s.N, s.C, s.HW, 1e-5f, ST, qn, qp);
    code(basq_cuda_bn_eval_lsq_fwd(X, G, B, RM, RV, Q, s.N, s.C, s.HW, 1e-5f, ST, qn, qp, nullptr), 0,
         "bn eval + lsq code" + at);
    exact(Qe.vec(), Q.vec(), "bn eval + lsq" + at);
    exact(Qf.vec(), Q.vec(), "bn eval + lsq vs CPU fused" + at);

    // training forward, against (a) the CPU's formulas on the GPU's own statistics, (b) the GPU's
    // plain batch norm followed by the GPU's quantizer (the same partition: the same statistics,
    // bit for bit), (c) on grid data the CPU's fused kernel itself
    Buf Yb(n, mis), SMb(s.C), SIb(s.C);
    basq_cuda_bn_train_fwd(X, G, B, Yb, SMb, SIb, nullptr, nullptr, s.N, s.C, s.HW, 1e-5f, 0.1f, nullptr);
    for (int which = 0; which < 2; which++) {
        const char* qname = which == 0 ? "clip" : "lsq";
        std::string w = std::string(" + ") + qname + at;
        Buf Yq(n, mis), SM(s.C), SI(s.C), RMq(d.rm0), RVq(d.rv0);
        Buf Yc(n), SMc(s.C), SIc(s.C), RMc(d.rm0), RVc(d.rv0), Yu(n, mis);
        int rc;
        if (which == 0) {
            rc = basq_cuda_bn_train_clip_quant_fwd(X, G, B, Yq, SM, SI, run ? RMq.p : nullptr, run ? RVq.p : nullptr,
                                                   s.N, s.C, s.HW, 1e-5f, 0.1f, U, BIN, nullptr);
            basq_bn_train_clip_quant_fwd(X, G, B, Yc, SMc, SIc, run ? RMc.p : nullptr, run ? RVc.p : nullptr, s.N,
                                         s.C, s.HW, 1e-5f, 0.1f, U, BIN);
            basq_cuda_clip_quant_fwd(Yb, Yu, n, U, BIN, nullptr);
        } else {
            rc = basq_cuda_bn_train_lsq_fwd(X, G, B, Yq, SM, SI, run ? RMq.p : nullptr, run ? RVq.p : nullptr, s.N,
                                            s.C, s.HW, 1e-5f, 0.1f, ST, qn, qp, nullptr);
            basq_bn_train_lsq_fwd(X, G, B, Yc, SMc, SIc, run ? RMc.p : nullptr, run ? RVc.p : nullptr, s.N, s.C,
                                  s.HW, 1e-5f, 0.1f, ST, qn, qp);
            basq_cuda_lsq_fwd(Yb, ST, Yu, s.N, s.C, s.HW, qn, qp, nullptr);
        }
        code(rc, 0, "bn train" + w + " code");
        std::vector<float> ref = bn_train_ref(d.x, s, d.gamma, d.beta, SM.p, SI.p);
        for (long long i = 0; i < n; i++) {
            const int c = (int)((i / s.HW) % s.C);
            ref[i] = which == 0 ? basq_clip_fwd1(ref[i], u, basq_clip_step(u, bin))
                                : basq_lsq_fwd1(ref[i], step[c], (float)qn, (float)qp);
        }
        exact(ref, Yq.vec(), "bn train" + w + " y (CPU formulas, own stats)");
        exact(SMb.vec(), SM.vec(), "bn train" + w + " mean vs GPU plain");
        exact(SIb.vec(), SI.vec(), "bn train" + w + " invstd vs GPU plain");
        exact(Yu.vec(), Yq.vec(), "bn train" + w + " y vs GPU plain + quantizer");
        if (d.fwd_exact()) {
            exact(SMc.vec(), SM.vec(), "bn train" + w + " mean vs CPU fused");
            exact(SIc.vec(), SI.vec(), "bn train" + w + " invstd vs CPU fused");
            exact(RMc.vec(), RMq.vec(), "bn train" + w + " running mean vs CPU fused");
            exact(RVc.vec(), RVq.vec(), "bn train" + w + " running var vs CPU fused");
            exact(Yc.vec(), Yq.vec(), "bn train" + w + " y vs CPU fused");
        } else {
            ulps(SMc.vec(), SM.vec(), 1, "bn train" + w + " mean vs CPU fused");
            ulps(SIc.vec(), SI.vec(), 1, "bn train" + w + " invstd vs CPU fused");
            ulps(RMc.vec(), RMq.vec(), 1, "bn train" + w + " running mean vs CPU fused");
            ulps(RVc.vec(), RVq.vec(), 1, "bn train" + w + " running var vs CPU fused");
        }
    }

    // backward from given statistics (grid data: those that keep every sum exact): against the
    // CPU's fused kernel (exact on grid data, but for LSQ's step gradient on the coarse grid,
    // where r = round(z/s) - z/s is off the grid), and against the GPU's plain sequence (z by the
    // CPU formula, the GPU's quantizer backward, the GPU's batch-norm backward: the same sums in
    // the same order, so exact but for the clip bound, which the plain kernel sums over the
    // whole tensor at once)
    Buf SMe(s.C), SIe(s.C), Yt(n);
    basq_bn_train_fwd(X, G, B, Yt, SMe, SIe, nullptr, nullptr, s.N, s.C, s.HW, 1e-5f, 0.1f);
    Buf MEAN(d.bwd_mean(SMe.p, s.C)), SIe2(d.bwd_invstd(SIe.p, s.C));
    float* INV = SIe2.p;
    Buf ZR(bn_train_ref(d.x, s, d.gamma, d.beta, MEAN.p, INV));
    const float gs = (float)(1.0 / sqrt((double)n * qp));
    for (int which = 0; which < 2; which++) {
        const char* qname = which == 0 ? "clip" : "lsq";
        std::string w = std::string(" + ") + qname + at;
        Buf DX(n, mis), DG(s.C), DB(s.C), DQ(which == 0 ? 1 : s.C);
        Buf DXc(n), DGc(s.C), DBc(s.C), DQc(which == 0 ? 1 : s.C);
        Buf DZ(n, mis), DQu(which == 0 ? 1 : s.C), DXu(n, mis), DGu(s.C), DBu(s.C);
        int rc;
        if (which == 0) {
            rc = basq_cuda_bn_clip_quant_bwd(X, DY, G, B, MEAN, INV, U, DX, DG, DB, DQ, s.N, s.C, s.HW, nullptr);
            basq_bn_clip_quant_bwd(X, DY, G, B, MEAN, INV, U, DXc, DGc, DBc, DQc, s.N, s.C, s.HW);
            basq_cuda_clip_quant_bwd(ZR, DY, DZ, DQu, n, U, nullptr);
        } else {
            rc = basq_cuda_bn_lsq_bwd(X, DY, G, B, MEAN, INV, ST, DX, DG, DB, DQ, s.N, s.C, s.HW, qn, qp, gs,
                                      nullptr);
            basq_bn_lsq_bwd(X, DY, G, B, MEAN, INV, ST, DXc, DGc, DBc, DQc, s.N, s.C, s.HW, qn, qp, gs);
            basq_cuda_lsq_bwd(ZR, ST, DY, DZ, DQu, s.N, s.C, s.HW, qn, qp, gs, nullptr);
        }
        basq_cuda_bn_bwd(X, DZ, G, MEAN, INV, DXu, DGu, DBu, s.N, s.C, s.HW, nullptr);
        code(rc, 0, "bn" + w + " bwd code");
        exact(DXu.vec(), DX.vec(), "bn" + w + " bwd dx vs GPU plain");
        exact(DGu.vec(), DG.vec(), "bn" + w + " bwd dgamma vs GPU plain");
        exact(DBu.vec(), DB.vec(), "bn" + w + " bwd dbeta vs GPU plain");
        std::vector<double> adb, adg, adq;
        bn_bwd_abs(d.x, DZ.vec(), s, MEAN.p, INV, adb, adg);
        if (which == 0) {
            double a = 0.0;
            for (long long i = 0; i < n; i++) a += ZR.p[i] > u ? fabs((double)d.dy[i]) : 0.0;
            adq = {a};
            if (d.bwd_exact())
                exact(DQu.vec(), DQ.vec(), "bn" + w + " bwd dupper vs GPU plain");
            else
                sum_close(DQu.vec(), DQ.vec(), adq, n, "bn" + w + " bwd dupper vs GPU plain");
        } else {
            adq = lsq_abs(ZR.vec(), d.dy, step, s.N, s.C, s.HW, qn, qp, gs);
            exact(DQu.vec(), DQ.vec(), "bn" + w + " bwd ds vs GPU plain");
        }
        if (d.bwd_exact()) {
            exact(DXc.vec(), DX.vec(), "bn" + w + " bwd dx vs CPU fused");
            exact(DGc.vec(), DG.vec(), "bn" + w + " bwd dgamma vs CPU fused");
            exact(DBc.vec(), DB.vec(), "bn" + w + " bwd dbeta vs CPU fused");
        } else {
            close(DXc.vec(), DX.vec(), 2e-6, "bn" + w + " bwd dx vs CPU fused");
            sum_close(DGc.vec(), DG.vec(), adg, M, "bn" + w + " bwd dgamma vs CPU fused");
            sum_close(DBc.vec(), DB.vec(), adb, M, "bn" + w + " bwd dbeta vs CPU fused");
        }
        if (d.bwd_exact() && (which == 0 || kind == 2))
            exact(DQc.vec(), DQ.vec(), std::string("bn") + w + (which ? " bwd ds" : " bwd dupper") + " vs CPU fused");
        else
            sum_close(DQc.vec(), DQ.vec(), adq, which == 0 ? n : M, "bn" + w + " bwd dq vs CPU fused");
    }
}

void check_fused() {
    for (BnShape s : kBn)
        for (int mis : {0, 1})
            for (int kind : {0, 1, 2})
                if (kind < 2 || mis == 0)  // the fine grid checks sums, not alignment paths
                    check_fused_case(s, mis, kind,
                                     " " + shape({s.N, s.C, s.HW}) + " misalign=" + std::to_string(mis) +
                                         kKind[kind]);
    wide_index([] {
        for (BnShape s : {BnShape{3, 5, 49}, BnShape{8, 3, 4096}})
            check_fused_case(s, 0, 1, " " + shape({s.N, s.C, s.HW}) + " grid, 64-bit indices");
    });
}

// ---------------------------------------------------------------- element-wise, optimizers

// The CPU's sum of squares of one array (its float result).
float cpu_sum_squares(const float* x, int64_t n) {
    float s = NAN;
    basq_sum_squares(x, n, &s);
    return s;
}

void check_sum_squares() {
    // one array: positive terms, in another order (grid data: exact)
    for (int64_t n : {0L, 1L, 3L, 1000L, 16384L, 16385L, 65539L, 250000L}) {
        for (int mis : {0, 1}) {
            for (int kind = 0; kind < 2; kind++) {
                if (kind == 1 && n == 250000L) continue;
                std::string at = " n=" + std::to_string(n) + " misalign=" + std::to_string(mis) + (kind ? " grid" : "");
                auto a = kind ? grid(n, -64, 64, 1.0 / 64) : randn(n);
                Buf A(a, mis), S(1);
                const int64_t words = basq_cuda_sum_squares_work(1, &n);
                Work W(words);
                code(basq_cuda_sum_squares(A, n, S, W, nullptr), 0, "sum squares code" + at);
                const float e = cpu_sum_squares(A, n);
                if (kind)
                    exact({e}, S.vec(), "sum squares" + at);
                else
                    ulps({e}, S.vec(), 1, "sum squares" + at);
            }
        }
    }
    // many arrays (a gradient norm): empty to several chunks, more than one launch's table
    for (int count : {1, 7, 97, 200}) {
        for (int kind = 0; kind < 2; kind++) {
            std::string at = " " + std::to_string(count) + " arrays" + (kind ? " grid" : "");
            std::vector<std::unique_ptr<Buf>> bufs;
            std::vector<const float*> ptrs;
            std::vector<int64_t> ns;
            std::uniform_int_distribution<int> size(0, 2);
            for (int i = 0; i < count; i++) {
                const int pick = i % 40 == 3 ? 3 : size(rng);  // a few arrays of several chunks
                const int64_t n = pick == 0   ? (i % 5 == 0 ? 0 : 1 + i % 7)
                                  : pick == 1 ? 100 + i
                                  : pick == 2 ? 1000 + 37 * i
                                              : 2 * 16384 + i;
                ns.push_back(n);
                bufs.emplace_back(new Buf(kind ? grid(n, -64, 64, 1.0 / 64) : randn(n), i % 3 == 0 ? 1 : 0));
                ptrs.push_back(bufs.back()->p);
            }
            double e = 0.0, tol = 0.0;
            for (int i = 0; i < count; i++) {
                const float f = cpu_sum_squares(ptrs[i], ns[i]);
                e += (double)f;
                tol += ulp(f);  // each array's float may differ by an ulp
            }
            const int64_t words = basq_cuda_sum_squares_work(count, ns.data());
            Work W(words);
            double out = NAN;
            code(basq_cuda_sum_squares_multi(ptrs.data(), ns.data(), count, &out, W, nullptr), 0,
                 "sum squares multi code" + at);
            if (kind) {
                report(out == e, "sum squares multi" + at,
                       "got " + std::to_string(out) + ", expected " + std::to_string(e));
            } else {
                report(fabs(out - e) <= tol + 1e-12 * e, "sum squares multi" + at,
                       "got " + std::to_string(out) + ", expected " + std::to_string(e));
            }
            if (kind == 0) {
                double again = NAN;
                basq_cuda_sum_squares_multi(ptrs.data(), ns.data(), count, &again, W, nullptr);
                report(memcmp(&out, &again, 8) == 0, "sum squares multi deterministic" + at);
            }
        }
    }
    double out = NAN;
    code(basq_cuda_sum_squares_multi(nullptr, nullptr, 0, &out, nullptr, nullptr), 0, "sum squares of no arrays");
    report(out == 0.0, "sum squares of no arrays is 0");
    int64_t bad_n = -1;
    report(basq_cuda_sum_squares_work(1, &bad_n) == -1, "sum squares work refuses n < 0");
}

void check_elementwise() {
    for (long long n : {1LL, 3LL, 1000LL, 65539LL}) {
        for (int mis : {0, 1}) {
            std::string at = " n=" + std::to_string(n) + " misalign=" + std::to_string(mis);
            auto a = randn(n), b = randn(n);
            Buf A(a, mis), B(b, mis), Y(n, mis), Ye(n);
            basq_relu_fwd(A, Ye, n);
            basq_cuda_relu_fwd(A, Y, n, nullptr);
            exact(Ye.vec(), Y.vec(), "relu" + at);
            basq_relu_bwd(A, B, Ye, n);
            basq_cuda_relu_bwd(A, B, Y, n, nullptr);
            exact(Ye.vec(), Y.vec(), "relu bwd" + at);
            basq_add(A, B, Ye, n);
            basq_cuda_add(A, B, Y, n, nullptr);
            exact(Ye.vec(), Y.vec(), "add" + at);
            Buf Y1(b, mis), Y1e(b);
            basq_axpy(0.37f, A, Y1e, n);
            basq_cuda_axpy(0.37f, A, Y1, n, nullptr);
            exact(Y1e.vec(), Y1.vec(), "axpy" + at);
            basq_scale(Y1e, -1.5f, n);
            basq_cuda_scale(Y1, -1.5f, n, nullptr);
            exact(Y1e.vec(), Y1.vec(), "scale" + at);
            basq_cuda_fill(Y, 2.5f, n, nullptr);
            exact(std::vector<float>(n, 2.5f), Y.vec(), "fill" + at);
            basq_cuda_copy(A, Y, n, nullptr);
            exact(a, Y.vec(), "copy" + at);
            for (float p : {0.0f, 0.2f, 0.5f, 1.0f}) {
                std::string w = at + " p=" + std::to_string(p);
                std::vector<uint8_t> m(n), me(n);
                basq_dropout_fwd(A, Ye, me.data(), n, p, 1234, 77);
                basq_cuda_dropout_fwd(A, Y, m.data(), n, p, 1234, 77, nullptr);
                report(m == me, "dropout mask" + w);
                exact(Ye.vec(), Y.vec(), "dropout y" + w);
                basq_dropout_bwd(B, me.data(), Ye, n, p);
                basq_cuda_dropout_bwd(B, m.data(), Y, n, p, nullptr);
                exact(Ye.vec(), Y.vec(), "dropout bwd" + w);
            }
        }
    }
    for (long long n : {1LL, 999LL, 40000LL}) {
        for (int mis : {0, 1}) {
            std::string at = " n=" + std::to_string(n) + " misalign=" + std::to_string(mis);
            auto p = randn(n), g = randn(n), m = randn(n, 0.1), v = uniform(n, 0.0, 0.1);
            Buf P(p, mis), Gr(g, mis), Mo(m, mis), Ve(v, mis), Pe(p), Me(m), Vee(v);
            basq_adam_step(Pe, Gr, Me, Vee, n, 1e-3, 0.9, 0.999, 1e-8, 1e-4, 0.3);
            basq_cuda_adam_step(P, Gr, Mo, Ve, n, 1e-3, 0.9, 0.999, 1e-8, 1e-4, 0.3, nullptr);
            exact(Pe.vec(), P.vec(), "adam p" + at);
            exact(Me.vec(), Mo.vec(), "adam m" + at);
            exact(Vee.vec(), Ve.vec(), "adam v" + at);
            for (int nest : {0, 1}) {
                Buf P2(p, mis), B2(m, mis), P2e(p), B2e(m);
                basq_sgd_step(P2e, Gr, B2e, n, 0.05f, 0.9f, 4e-5f, nest);
                basq_cuda_sgd_step(P2, Gr, B2, n, 0.05f, 0.9f, 4e-5f, nest, nullptr);
                exact(P2e.vec(), P2.vec(), "sgd p nesterov=" + std::to_string(nest) + at);
                exact(B2e.vec(), B2.vec(), "sgd buf nesterov=" + std::to_string(nest) + at);
            }
        }
    }
    // linear helpers (the CPU's column sums: rows in order, in double)
    for (auto no : std::vector<std::pair<int, int>>{{5, 300}, {256, 10}, {37, 1000}, {1, 1}, {0, 3}}) {
        for (int kind = 0; kind < 2; kind++) {
            const int N = no.first, OUT = no.second;
            std::string at = " " + shape({N, OUT}) + (kind ? " grid" : "");
            auto y = kind ? grid((size_t)N * OUT, -64, 64, 1.0 / 16) : randn((size_t)N * OUT);
            auto b = randn(OUT);
            std::vector<float> ye(y);
            for (int i = 0; i < N * OUT; i++) ye[i] += b[i % OUT];
            std::vector<float> dbe(OUT);
            std::vector<double> abs(OUT, 0.0);
            for (int o = 0; o < OUT; o++) {
                double acc = 0;
                for (int r = 0; r < N; r++) {
                    acc += y[(size_t)r * OUT + o];
                    abs[o] += fabs((double)y[(size_t)r * OUT + o]);
                }
                dbe[o] = (float)acc;
            }
            for (int wide = 0; wide < 2; wide++) {
                auto run = [&] {
                    const std::string w = at + (wide ? ", 64-bit indices" : "");
                    Buf Y(y), Bb(b), DB(OUT);
                    basq_cuda_col_sum(Y, DB, N, OUT, nullptr);
                    if (kind)
                        exact(dbe, DB.vec(), "column sums" + w);
                    else
                        sum_close(dbe, DB.vec(), abs, N, "column sums" + w);
                    basq_cuda_bias_add(Y, Bb, N, OUT, nullptr);
                    exact(ye, Y.vec(), "bias add" + w);
                };
                if (wide)
                    wide_index(run);
                else
                    run();
            }
        }
    }
}

// ---------------------------------------------------------------- pooling, skip, losses

void check_pool_once(const std::string& how) {
    struct P {
        int N, C, H, W, k, s, p;
    };
    for (P q : {P{2, 3, 8, 8, 2, 2, 0}, P{1, 2, 7, 9, 2, 2, 0}, P{2, 2, 9, 9, 3, 2, 1}, P{1, 3, 6, 6, 3, 1, 1},
                P{1, 1, 5, 7, 3, 3, 0}, P{2, 2, 10, 6, 3, 2, 0}}) {
        std::string at = " " + shape({q.N, q.C, q.H, q.W}) + " k" + std::to_string(q.k) + " s" + std::to_string(q.s) +
                         " p" + std::to_string(q.p) + how;
        const long long n = (long long)q.N * q.C * q.H * q.W;
        auto x = randn(n);
        if (n > 20) x[7] = NAN;
        Buf X(x);
        if (q.p == 0) {
            const int Ho = (q.H - q.k) / q.s + 1, Wo = (q.W - q.k) / q.s + 1;
            const long long no = (long long)q.N * q.C * Ho * Wo;
            Buf Xf(randn(n)), Y(no), Ye(no), G(randn(no)), DX(n), DXe(n);
            basq_avgpool_fwd(Xf, Ye, q.N, q.C, q.H, q.W, q.k, q.s);
            basq_cuda_avgpool_fwd(Xf, Y, q.N, q.C, q.H, q.W, q.k, q.s, nullptr);
            exact(Ye.vec(), Y.vec(), "avgpool" + at);
            basq_avgpool_bwd(G, DXe, q.N, q.C, q.H, q.W, q.k, q.s);
            basq_cuda_avgpool_bwd(G, DX, q.N, q.C, q.H, q.W, q.k, q.s, nullptr);
            exact(DXe.vec(), DX.vec(), "avgpool bwd" + at);
        }
        if (2 * q.p <= q.k) {
            const int Ho = (q.H + 2 * q.p - q.k) / q.s + 1, Wo = (q.W + 2 * q.p - q.k) / q.s + 1;
            const long long no = (long long)q.N * q.C * Ho * Wo;
            Buf Y(no), Ye(no), G(randn(no)), DX(n), DXe(n);
            std::vector<int32_t> idx(no), idxe(no);
            basq_maxpool_fwd(X, Ye, idxe.data(), q.N, q.C, q.H, q.W, q.k, q.s, q.p);
            basq_cuda_maxpool_fwd(X, Y, idx.data(), q.N, q.C, q.H, q.W, q.k, q.s, q.p, nullptr);
            exact(Ye.vec(), Y.vec(), "maxpool" + at);
            report(idx == idxe, "maxpool idx" + at);
            basq_maxpool_bwd(G, idxe.data(), DXe, q.N, q.C, q.H, q.W, q.k, q.s, q.p);
            basq_cuda_maxpool_bwd(G, idx.data(), DX, q.N, q.C, q.H, q.W, q.k, q.s, q.p, nullptr);
            exact(DXe.vec(), DX.vec(), "maxpool bwd" + at);
        }
    }
    for (long long HW : {1LL, 49LL, 3136LL}) {
        for (int kind = 0; kind < 2; kind++) {
            const int N = 3, C = 5;
            std::string at = " HW=" + std::to_string(HW) + (kind ? " grid" : "") + how;
            auto x = kind ? grid(N * C * HW, -64, 64, 1.0 / 64) : randn(N * C * HW);
            Buf X(x), Y(N * C), Ye(N * C), G(randn(N * C)), DX(N * C * HW), DXe(N * C * HW);
            basq_global_avgpool_fwd(X, Ye, N, C, HW);
            basq_cuda_global_avgpool_fwd(X, Y, N, C, HW, nullptr);
            if (kind) {
                exact(Ye.vec(), Y.vec(), "global avgpool" + at);
            } else {
                std::vector<double> abs(N * C, 0.0);
                for (long long i = 0; i < N * C * HW; i++) abs[i / HW] += fabs((double)x[i]) / (double)HW;
                sum_close(Ye.vec(), Y.vec(), abs, HW, "global avgpool" + at);
            }
            basq_global_avgpool_bwd(G, DXe, N, C, HW);
            basq_cuda_global_avgpool_bwd(G, DX, N, C, HW, nullptr);
            exact(DXe.vec(), DX.vec(), "global avgpool bwd" + at);
        }
    }
    for (auto io : std::vector<std::pair<int, int>>{{4, 4}, {3, 8}, {8, 3}, {7, 3}, {5, 16}}) {
        const int N = 2, Cin = io.first, Cout = io.second;
        const long long HW = 10;
        std::string at = " " + std::to_string(Cin) + "->" + std::to_string(Cout) + how;
        Buf X(randn(N * Cin * HW)), Y(N * Cout * HW), Ye(N * Cout * HW), G(randn(N * Cout * HW));
        Buf DX(N * Cin * HW), DXe(N * Cin * HW);
        basq_flex_skip_fwd(X, Ye, N, Cin, Cout, HW);
        basq_cuda_flex_skip_fwd(X, Y, N, Cin, Cout, HW, nullptr);
        exact(Ye.vec(), Y.vec(), "flex skip" + at);
        basq_flex_skip_bwd(G, DXe, N, Cin, Cout, HW);
        basq_cuda_flex_skip_bwd(G, DX, N, Cin, Cout, HW, nullptr);
        exact(DXe.vec(), DX.vec(), "flex skip bwd" + at);
    }
}

void check_pool() {
    check_pool_once("");
    wide_index([] { check_pool_once(", 64-bit indices"); });
}

// Losses: the softmaxes' exponentials are the same floats on both sides, but their sum (in
// double) is taken in another order, so 1/sum may round to the neighbouring float: a
// probability within 2 ulps (two roundings). The batch mean sums positive row terms in another
// order: the cross-entropy within an ulp; the distillation loss, whose row terms involve those
// probabilities, within 2.
void check_loss() {
    for (auto nk : std::vector<std::pair<int, int>>{{1, 1}, {4, 10}, {37, 100}, {70, 1000}, {300, 10}}) {
        const int N = nk.first, K = nk.second;
        std::string at = " " + shape({N, K});
        std::vector<int64_t> t(N);
        for (int i = 0; i < N; i++) t[i] = (int64_t)(rng() % K);
        Buf Z(randn(N * K, 3.0)), T(randn(N * K, 2.0)), P(N * K), Pe(N * K), L(1), Le(1), D(1);
        Work W(basq_cuda_loss_work(N));
        D.p[0] = 0.7f;
        basq_softmax_xent_fwd(Z, t.data(), Le, Pe, N, K);
        code(basq_cuda_softmax_xent_fwd(Z, t.data(), L, P, N, K, W, nullptr), 0, "xent code" + at);
        ulps(Pe.vec(), P.vec(), 2, "xent prob" + at);
        ulps(Le.vec(), L.vec(), 1, "xent loss" + at);
        Buf G(N * K), Ge(N * K);
        basq_softmax_xent_bwd(Pe, t.data(), D, Ge, N, K);
        basq_cuda_softmax_xent_bwd(Pe, t.data(), D, G, N, K, nullptr);
        exact(Ge.vec(), G.vec(), "xent bwd" + at);
        wide_index([&] {
            Buf G2(N * K);
            basq_cuda_softmax_xent_bwd(Pe, t.data(), D, G2, N, K, nullptr);
            exact(Ge.vec(), G2.vec(), "xent bwd, 64-bit indices" + at);
        });
        Buf PT(N * K), PTe(N * K);
        basq_kd_loss_fwd(Z, T, Le, Pe, PTe, N, K);
        code(basq_cuda_kd_loss_fwd(Z, T, L, P, PT, N, K, W, nullptr), 0, "kd code" + at);
        ulps(Pe.vec(), P.vec(), 2, "kd p student" + at);
        ulps(PTe.vec(), PT.vec(), 2, "kd p teacher" + at);
        ulps(Le.vec(), L.vec(), 2, "kd loss" + at);
        basq_kd_loss_bwd(Pe, PTe, D, Ge, N, K);
        basq_cuda_kd_loss_bwd(Pe, PTe, D, G, N, K, nullptr);
        exact(Ge.vec(), G.vec(), "kd bwd" + at);
        float first = L.p[0];
        basq_cuda_kd_loss_fwd(Z, T, L, P, PT, N, K, W, nullptr);
        report(memcmp(&first, L.p, 4) == 0, "kd loss deterministic" + at);
        t[N - 1] = K;  // out of range
        basq_cuda_softmax_xent_fwd(Z, t.data(), L, P, N, K, W, nullptr);
        report(std::isnan(L.p[0]), "xent bad target gives NaN" + at);
    }
    report(basq_cuda_loss_work(0) == -1, "loss work refuses N = 0");
    Buf Z(4), L(1), P(4);
    int64_t t = 0;
    code(basq_cuda_softmax_xent_fwd(Z, &t, L, P, 1, 4, nullptr, nullptr), BASQ_EINVAL, "xent needs a workspace");
}

void timed(const char* name, void (*f)()) {
    const int before = failed;
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("%-12s %s (%.1f s)\n", name, failed == before ? "ok" : "FAILED", s);
    fflush(stdout);
}

}  // namespace

int main() {
    printf("%s\n", basq_cuda_version());
    timed("quantizers", check_clip);
    timed("lsq", check_lsq);
    timed("batch norm", check_bn);
    timed("fused", check_fused);
    timed("sum squares", check_sum_squares);
    timed("elementwise", check_elementwise);
    timed("pooling", check_pool);
    timed("losses", check_loss);
    printf("emu-check: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
