// Runs every CUDA kernel of src/main/cuda under the host emulation (src/main/cuda/emu) against
// the CPU kernels of src/main/cpp, on random inputs and on shapes that take each code path
// (vector and scalar units, split and single regions, the direct path for tiny channels, the
// shared-memory table and its fallback). Built and run by bench/gpu/emu/run.sh; prints one line
// per check and "N passed, M failed" last; exits non-zero on a failure.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "basq4j/cuda_kernels.h"
#include "basq4j/elementwise.h"
#include "basq4j/loss.h"
#include "basq4j/norm.h"
#include "basq4j/optim.h"
#include "basq4j/pool.h"
#include "basq4j/quant.h"
#include "basq4j/quant_math.h"

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

// |e - a| <= rtol * max(1, max|e|) everywhere, no NaN.
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

// As close(), but up to `flips` elements may differ by up to one quantization level (step at
// most d): a value within an ulp of a rounding tie may round either way when a scale differs by
// an ulp (a sum taken in another order, a fused multiply-add).
void close_levels(const std::vector<float>& e, const std::vector<float>& a, double rtol, double d, size_t flips,
                  const std::string& what) {
    double scale = 1.0;
    for (float v : e) scale = fmax(scale, fabs((double)v));
    size_t n = 0;
    for (size_t i = 0; i < e.size(); i++) {
        double err = fabs((double)e[i] - (double)a[i]);
        if (err <= rtol * scale) continue;
        if (err <= d * (1.0 + 1e-4) + rtol * scale && ++n <= flips) continue;
        char b[200];
        snprintf(b, sizeof b, "element %zu: %.9g, expected %.9g (%zu level flips so far)", i, a[i], e[i], n);
        report(false, what, b);
        return;
    }
    report(true, what);
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
            const float u = 3.7f, bin = 1.0f - 1.0f / 3.0f;
            auto x = uniform(n, -0.3 * u, 1.3 * u);
            auto dy = randn(n);
            if (n > 10) {
                x[0] = 0.0f;
                x[1] = u;
            }
            std::string at = " n=" + std::to_string(n) + " misalign=" + std::to_string(mis);
            Buf X(x, mis), DY(dy, mis), Y(n, mis), DX(n, mis), U(std::vector<float>{u}), BIN(std::vector<float>{bin});
            Buf Ye(n), DXe(n), DUe(1), DU(1);
            basq_clip_quant_fwd(X, Ye, n, U, BIN);
            code(basq_cuda_clip_quant_fwd(X, Y, n, U, BIN, nullptr), 0, "clip fwd code" + at);
            exact(Ye.vec(), Y.vec(), "clip fwd" + at);
            basq_clip_quant_bwd(X, DY, DXe, DUe, n, U);
            code(basq_cuda_clip_quant_bwd(X, DY, DX, DU, n, U, nullptr), 0, "clip bwd code" + at);
            exact(DXe.vec(), DX.vec(), "clip bwd dx" + at);
            close(DUe.vec(), DU.vec(), 1e-6, "clip bwd du" + at);
            float first = DU.p[0];
            basq_cuda_clip_quant_bwd(X, DY, DX, DU, n, U, nullptr);
            report(memcmp(&first, DU.p, 4) == 0, "clip bwd du deterministic" + at);
            exact(DXe.vec(), DX.vec(), "clip bwd dx again" + at);

            // the mask variant: same y, same dx, same du
            std::vector<uint32_t> bits((size_t)basq_cuda_clip_mask_words(n) + 1, 0xdeadbeefu);
            Buf Y2(n, mis), DX2(n, mis), DU2(1);
            code(basq_cuda_clip_quant_fwd_mask(X, Y2, bits.data(), n, U, BIN, nullptr), 0, "clip fwd mask code" + at);
            exact(Ye.vec(), Y2.vec(), "clip fwd mask y" + at);
            report(bits.back() == 0xdeadbeefu, "clip fwd mask stays in its words" + at);
            code(basq_cuda_clip_quant_bwd_mask(bits.data(), DY, DX2, DU2, n, nullptr), 0, "clip bwd mask code" + at);
            exact(DXe.vec(), DX2.vec(), "clip bwd mask dx" + at);
            close(DUe.vec(), DU2.vec(), 1e-6, "clip bwd mask du" + at);
        }
    }
    Buf X(std::vector<float>(64, 1.0f)), U(std::vector<float>{1.0f}), DU(1);
    code(basq_cuda_clip_quant_bwd(X, X, X, DU, 64, U, nullptr), BASQ_EINVAL, "clip bwd refuses dx aliasing x");
    Buf Z(1);
    code(basq_cuda_clip_quant_bwd(X, X, Z, DU, 0, U, nullptr), 0, "clip bwd n=0");
    exact({0.0f}, DU.vec(), "clip bwd n=0 du");
}

void check_lsq() {
    struct S {
        int outer, C;
        long long inner;
        int qn, qp;
    };
    for (S s : {S{1, 16, 9, -1, 1}, S{1, 8, 27, -7, 7}, S{4, 3, 100, 0, 3}, S{2, 5, 64, 0, 15}, S{4, 3, 12544, 0, 3},
                S{1, 1, 5, 0, 3}, S{2, 300, 1, 0, 3}, S{3, 7, 2, 0, 7}, S{2, 3, 4096, -1, 1}}) {
        for (int mis : {0, 1}) {
            const long long n = (long long)s.outer * s.C * s.inner;
            std::string at = " " + shape({s.outer, s.C, s.inner}) + " q[" + std::to_string(s.qn) + "," +
                             std::to_string(s.qp) + "] misalign=" + std::to_string(mis);
            auto step = uniform(s.C, 0.2, 0.6);
            auto x = randn(n, 1.0, s.qn < 0 ? 0.0 : 0.5);
            auto dy = randn(n);
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
            close(DSe.vec(), DS.vec(), 1e-5, "lsq bwd ds" + at);  // the CPU sums planes in float
            Buf M(s.C), Me(s.C);
            basq_channel_abs_mean(X, Me, s.outer, s.C, s.inner);
            code(basq_cuda_channel_abs_mean(X, M, s.outer, s.C, s.inner, nullptr), 0, "abs mean code" + at);
            close(Me.vec(), M.vec(), 1e-6, "channel abs mean" + at);
        }
    }
}

// ---------------------------------------------------------------- batch norm

struct BnShape {
    int N, C;
    long long HW;
};
const BnShape kBn[] = {{2, 3, 4}, {2, 4, 1}, {8, 3, 4096}, {3, 5, 49}, {1, 2, 3}, {16, 2, 1024}, {2, 1, 16384}};

void check_bn() {
    for (BnShape s : kBn) {
        for (int mis : {0, 1}) {
            const long long n = (long long)s.N * s.C * s.HW;
            const long long M = (long long)s.N * s.HW;
            std::string at = " " + shape({s.N, s.C, s.HW}) + " misalign=" + std::to_string(mis);
            auto x = randn(n, 2.0, 3.0);
            auto dy = randn(n);
            auto gamma = uniform(s.C, 0.5, 1.5), beta = randn(s.C);
            auto rm0 = randn(s.C), rv0 = uniform(s.C, 0.5, 2.0);
            Buf X(x, mis), DY(dy, mis), G(gamma), B(beta);
            Buf Y(n, mis), SM(s.C), SI(s.C), RM(rm0), RV(rv0);
            Buf Ye(n), SMe(s.C), SIe(s.C), RMe(rm0), RVe(rv0);
            bool run = M >= 2;
            int ce = basq_bn_train_fwd(X, G, B, Ye, SMe, SIe, run ? RMe.p : nullptr, run ? RVe.p : nullptr, s.N, s.C,
                                       s.HW, 1e-5f, 0.1f);
            code(basq_cuda_bn_train_fwd(X, G, B, Y, SM, SI, run ? RM.p : nullptr, run ? RV.p : nullptr, s.N, s.C, s.HW,
                                        1e-5f, 0.1f, nullptr),
                 ce, "bn train code" + at);
            close(Ye.vec(), Y.vec(), 1e-5, "bn train y" + at);
            close(SMe.vec(), SM.vec(), 1e-6, "bn train mean" + at);
            close(SIe.vec(), SI.vec(), 1e-5, "bn train invstd" + at);
            close(RMe.vec(), RM.vec(), 1e-6, "bn running mean" + at);
            close(RVe.vec(), RV.vec(), 1e-6, "bn running var" + at);
            Buf Y2(n, mis);
            code(basq_cuda_bn_train_fwd(X, G, B, Y2, nullptr, nullptr, nullptr, nullptr, s.N, s.C, s.HW, 1e-5f, 0.1f,
                                        nullptr),
                 0, "bn train without saves code" + at);
            exact(Y.vec(), Y2.vec(), "bn train without saves" + at);

            Buf YE(n, mis), YEe(n);
            basq_bn_eval_fwd(X, G, B, RM, RV, YEe, s.N, s.C, s.HW, 1e-5f);
            code(basq_cuda_bn_eval_fwd(X, G, B, RM, RV, YE, s.N, s.C, s.HW, 1e-5f, nullptr), 0, "bn eval code" + at);
            close(YEe.vec(), YE.vec(), 1e-6, "bn eval" + at);

            Buf DX(n, mis), DG(s.C), DB(s.C), DXe(n), DGe(s.C), DBe(s.C);
            basq_bn_bwd(X, DY, G, SM, SI, DXe, DGe, DBe, s.N, s.C, s.HW);
            code(basq_cuda_bn_bwd(X, DY, G, SM, SI, DX, DG, DB, s.N, s.C, s.HW, nullptr), 0, "bn bwd code" + at);
            close(DXe.vec(), DX.vec(), 1e-5, "bn bwd dx" + at);
            close(DGe.vec(), DG.vec(), 1e-5, "bn bwd dgamma" + at);
            close(DBe.vec(), DB.vec(), 1e-5, "bn bwd dbeta" + at);
            Buf DX2(n, mis);
            code(basq_cuda_bn_bwd(X, DY, G, SM, SI, DX2, nullptr, nullptr, s.N, s.C, s.HW, nullptr), 0,
                 "bn bwd without dgamma code" + at);
            exact(DX.vec(), DX2.vec(), "bn bwd without dgamma" + at);
        }
    }
    // many channels: the evaluation map without its shared-memory table
    {
        const int N = 2, C = 2100;
        const long long HW = 4, n = (long long)N * C * HW;
        Buf X(randn(n)), G(uniform(C, 0.5, 1.5)), B(randn(C)), RM(randn(C)), RV(uniform(C, 0.5, 2)), Y(n), Ye(n);
        basq_bn_eval_fwd(X, G, B, RM, RV, Ye, N, C, HW, 1e-5f);
        code(basq_cuda_bn_eval_fwd(X, G, B, RM, RV, Y, N, C, HW, 1e-5f, nullptr), 0, "bn eval 2100 channels code");
        close(Ye.vec(), Y.vec(), 1e-6, "bn eval 2100 channels");
    }
    Buf X(randn(8)), G(std::vector<float>{1}), B(std::vector<float>{0}), RM(1), RV(1), SM(1), SI(1);
    code(basq_cuda_bn_train_fwd(X, G, B, X, SM, SI, nullptr, nullptr, 2, 1, 4, 1e-5f, 0.1f, nullptr), BASQ_EINVAL,
         "bn train refuses y aliasing x");
    code(basq_cuda_bn_train_fwd(X, G, B, SM, SM, SI, RM, RV, 1, 1, 1, 1e-5f, 0.1f, nullptr), BASQ_EINVAL,
         "bn train refuses running stats of one sample");
}

// ---------------------------------------------------------------- fused BN + quantizer

void check_fused() {
    for (BnShape s : kBn) {
        for (int mis : {0, 1}) {
            const long long n = (long long)s.N * s.C * s.HW;
            std::string at = " " + shape({s.N, s.C, s.HW}) + " misalign=" + std::to_string(mis);
            auto x = randn(n, 2.0, 3.0);
            auto dy = randn(n);
            auto gamma = uniform(s.C, 0.5, 1.5), beta = randn(s.C, 0.5, 1.0);
            const float u = 2.5f, bin = 1.0f - 1.0f / 3.0f, d = basq_clip_step(u, bin);
            const int qn = 0, qp = 3;
            auto step = uniform(s.C, 0.3, 0.6);
            Buf X(x, mis), DY(dy, mis), G(gamma), B(beta), U(std::vector<float>{u}), BIN(std::vector<float>{bin});
            Buf ST(step), RM(randn(s.C)), RV(uniform(s.C, 0.5, 2.0));
            const size_t flips = 2 + (size_t)n / 20000;

            // evaluation: CPU bn_eval then CPU quantizer
            Buf Z(n), Qe(n), Q(n, mis);
            basq_bn_eval_fwd(X, G, B, RM, RV, Z, s.N, s.C, s.HW, 1e-5f);
            basq_clip_quant_fwd(Z, Qe, n, U, BIN);
            code(basq_cuda_bn_eval_clip_quant_fwd(X, G, B, RM, RV, Q, s.N, s.C, s.HW, 1e-5f, U, BIN, nullptr), 0,
                 "bn eval + clip code" + at);
            close_levels(Qe.vec(), Q.vec(), 1e-6, d, flips, "bn eval + clip" + at);
            basq_lsq_fwd(Z, ST, Qe, s.N, s.C, s.HW, qn, qp);
            code(basq_cuda_bn_eval_lsq_fwd(X, G, B, RM, RV, Q, s.N, s.C, s.HW, 1e-5f, ST, qn, qp, nullptr), 0,
                 "bn eval + lsq code" + at);
            close_levels(Qe.vec(), Q.vec(), 1e-6, 0.6, flips, "bn eval + lsq" + at);  // steps < 0.6

            // training forward: the CPU's statistics, then z with the fused kernel's a
            const long long M = (long long)s.N * s.HW;
            const bool run = M >= 2;
            Buf SMe(s.C), SIe(s.C), RMe(RM.vec()), RVe(RV.vec()), Yb(n);
            basq_bn_train_fwd(X, G, B, Yb, SMe, SIe, run ? RMe.p : nullptr, run ? RVe.p : nullptr, s.N, s.C, s.HW,
                              1e-5f, 0.1f);
            std::vector<float> zref(n);
            for (long long i = 0; i < n; i++) {
                const int c = (int)((i / s.HW) % s.C);
                const float a = (float)((double)gamma[c] * (double)SIe.p[c]);
                zref[i] = (x[i] - SMe.p[c]) * a + beta[c];
            }
            Buf ZR(zref), YQe(n);
            for (int which = 0; which < 2; which++) {
                const char* qname = which == 0 ? "clip" : "lsq";
                Buf Yq(n, mis), SM(s.C), SI(s.C), RMq(RM.vec()), RVq(RV.vec());
                int rc;
                if (which == 0) {
                    basq_clip_quant_fwd(ZR, YQe, n, U, BIN);
                    rc = basq_cuda_bn_train_clip_quant_fwd(X, G, B, Yq, SM, SI, run ? RMq.p : nullptr,
                                                           run ? RVq.p : nullptr, s.N, s.C, s.HW, 1e-5f, 0.1f, U, BIN,
                                                           nullptr);
                } else {
                    basq_lsq_fwd(ZR, ST, YQe, s.N, s.C, s.HW, qn, qp);
                    rc = basq_cuda_bn_train_lsq_fwd(X, G, B, Yq, SM, SI, run ? RMq.p : nullptr, run ? RVq.p : nullptr,
                                                    s.N, s.C, s.HW, 1e-5f, 0.1f, ST, qn, qp, nullptr);
                }
                std::string w = std::string(" + ") + qname + at;
                code(rc, 0, "bn train" + w + " code");
                close(SMe.vec(), SM.vec(), 1e-6, "bn train" + w + " mean");
                close(SIe.vec(), SI.vec(), 1e-5, "bn train" + w + " invstd");
                close(RMe.vec(), RMq.vec(), 1e-6, "bn train" + w + " running mean");
                close(RVe.vec(), RVq.vec(), 1e-6, "bn train" + w + " running var");
                close_levels(YQe.vec(), Yq.vec(), 1e-6, which == 0 ? d : 0.6, flips, "bn train" + w + " y");
            }

            // backward: z recomputed from the same saved statistics; reference = CPU quantizer
            // backward on z, then CPU BN backward with dz
            Buf DZ(n), DUe(1), DXe(n), DGe(s.C), DBe(s.C), DSe(s.C);
            for (int which = 0; which < 2; which++) {
                const char* qname = which == 0 ? "clip" : "lsq";
                const float gs = (float)(1.0 / sqrt((double)n * qp));
                if (which == 0)
                    basq_clip_quant_bwd(ZR, DY, DZ, DUe, n, U);
                else
                    basq_lsq_bwd(ZR, ST, DY, DZ, DSe, s.N, s.C, s.HW, qn, qp, gs);
                basq_bn_bwd(X, DZ, G, SMe, SIe, DXe, DGe, DBe, s.N, s.C, s.HW);
                Buf DX(n, mis), DG(s.C), DB(s.C), DQ(which == 0 ? 1 : s.C);
                int rc = which == 0 ? basq_cuda_bn_clip_quant_bwd(X, DY, G, B, SMe, SIe, U, DX, DG, DB, DQ, s.N, s.C,
                                                                  s.HW, nullptr)
                                    : basq_cuda_bn_lsq_bwd(X, DY, G, B, SMe, SIe, ST, DX, DG, DB, DQ, s.N, s.C, s.HW,
                                                           qn, qp, gs, nullptr);
                std::string w = std::string(" + ") + qname + at;
                code(rc, 0, "bn" + w + " bwd code");
                close(DXe.vec(), DX.vec(), 1e-5, "bn" + w + " bwd dx");
                close(DGe.vec(), DG.vec(), 1e-5, "bn" + w + " bwd dgamma");
                close(DBe.vec(), DB.vec(), 1e-5, "bn" + w + " bwd dbeta");
                close(which == 0 ? DUe.vec() : DSe.vec(), DQ.vec(), 1e-5, "bn" + w + " bwd dq");
            }
        }
    }
}

// ---------------------------------------------------------------- element-wise, optimizers

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
            close(Y1e.vec(), Y1.vec(), 1e-6, "axpy" + at);
            basq_scale(Y1e, -1.5f, n);
            basq_cuda_scale(Y1, -1.5f, n, nullptr);
            close(Y1e.vec(), Y1.vec(), 1e-6, "scale" + at);
            basq_cuda_fill(Y, 2.5f, n, nullptr);
            exact(std::vector<float>(n, 2.5f), Y.vec(), "fill" + at);
            basq_cuda_copy(A, Y, n, nullptr);
            exact(a, Y.vec(), "copy" + at);
            Buf S(1), Se(1);
            basq_sum_squares(A, n, Se);
            basq_cuda_sum_squares(A, n, S, nullptr);
            close(Se.vec(), S.vec(), 1e-6, "sum squares" + at);
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
            close(Pe.vec(), P.vec(), 1e-6, "adam p" + at);
            close(Me.vec(), Mo.vec(), 1e-6, "adam m" + at);
            close(Vee.vec(), Ve.vec(), 1e-6, "adam v" + at);
            for (int nest : {0, 1}) {
                Buf P2(p, mis), B2(m, mis), P2e(p), B2e(m);
                basq_sgd_step(P2e, Gr, B2e, n, 0.05f, 0.9f, 4e-5f, nest);
                basq_cuda_sgd_step(P2, Gr, B2, n, 0.05f, 0.9f, 4e-5f, nest, nullptr);
                close(P2e.vec(), P2.vec(), 1e-6, "sgd p nesterov=" + std::to_string(nest) + at);
                close(B2e.vec(), B2.vec(), 1e-6, "sgd buf nesterov=" + std::to_string(nest) + at);
            }
        }
    }
    // linear helpers
    const int N = 5, OUT = 300;
    auto y = randn(N * OUT), b = randn(OUT);
    Buf Y(y), Bb(b), DB(OUT);
    basq_cuda_bias_add(Y, Bb, N, OUT, nullptr);
    std::vector<float> ye(y);
    for (int i = 0; i < N * OUT; i++) ye[i] += b[i % OUT];
    exact(ye, Y.vec(), "bias add");
    basq_cuda_col_sum(Y, DB, N, OUT, nullptr);
    std::vector<float> dbe(OUT);
    for (int o = 0; o < OUT; o++) {
        double acc = 0;
        for (int n = 0; n < N; n++) acc += ye[n * OUT + o];
        dbe[o] = (float)acc;
    }
    exact(dbe, DB.vec(), "column sums");
}

// ---------------------------------------------------------------- pooling, skip, losses

void check_pool() {
    struct P {
        int N, C, H, W, k, s, p;
    };
    for (P q : {P{2, 3, 8, 8, 2, 2, 0}, P{1, 2, 7, 9, 2, 2, 0}, P{2, 2, 9, 9, 3, 2, 1}, P{1, 3, 6, 6, 3, 1, 1},
                P{1, 1, 5, 7, 3, 3, 0}, P{2, 2, 10, 6, 3, 2, 0}}) {
        std::string at = " " + shape({q.N, q.C, q.H, q.W}) + " k" + std::to_string(q.k) + " s" + std::to_string(q.s) +
                         " p" + std::to_string(q.p);
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
        const int N = 3, C = 5;
        Buf X(randn(N * C * HW)), Y(N * C), Ye(N * C), G(randn(N * C)), DX(N * C * HW), DXe(N * C * HW);
        basq_global_avgpool_fwd(X, Ye, N, C, HW);
        basq_cuda_global_avgpool_fwd(X, Y, N, C, HW, nullptr);
        close(Ye.vec(), Y.vec(), 1e-6, "global avgpool HW=" + std::to_string(HW));
        basq_global_avgpool_bwd(G, DXe, N, C, HW);
        basq_cuda_global_avgpool_bwd(G, DX, N, C, HW, nullptr);
        exact(DXe.vec(), DX.vec(), "global avgpool bwd HW=" + std::to_string(HW));
    }
    for (auto io : std::vector<std::pair<int, int>>{{4, 4}, {3, 8}, {8, 3}, {7, 3}, {5, 16}}) {
        const int N = 2, Cin = io.first, Cout = io.second;
        const long long HW = 10;
        std::string at = " " + std::to_string(Cin) + "->" + std::to_string(Cout);
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

void check_loss() {
    for (auto nk : std::vector<std::pair<int, int>>{{1, 1}, {4, 10}, {37, 100}, {70, 1000}}) {
        const int N = nk.first, K = nk.second;
        std::string at = " " + shape({N, K});
        std::vector<int64_t> t(N);
        for (int i = 0; i < N; i++) t[i] = (int64_t)(rng() % K);
        Buf Z(randn(N * K, 3.0)), T(randn(N * K, 2.0)), P(N * K), Pe(N * K), L(1), Le(1), D(1);
        D.p[0] = 0.7f;
        basq_softmax_xent_fwd(Z, t.data(), Le, Pe, N, K);
        basq_cuda_softmax_xent_fwd(Z, t.data(), L, P, N, K, nullptr);
        close(Pe.vec(), P.vec(), 1e-6, "xent prob" + at);
        close(Le.vec(), L.vec(), 1e-6, "xent loss" + at);
        Buf G(N * K), Ge(N * K);
        basq_softmax_xent_bwd(Pe, t.data(), D, Ge, N, K);
        basq_cuda_softmax_xent_bwd(Pe, t.data(), D, G, N, K, nullptr);
        exact(Ge.vec(), G.vec(), "xent bwd" + at);
        Buf PT(N * K), PTe(N * K);
        basq_kd_loss_fwd(Z, T, Le, Pe, PTe, N, K);
        basq_cuda_kd_loss_fwd(Z, T, L, P, PT, N, K, nullptr);
        close(Pe.vec(), P.vec(), 1e-6, "kd p student" + at);
        close(PTe.vec(), PT.vec(), 1e-6, "kd p teacher" + at);
        close(Le.vec(), L.vec(), 1e-6, "kd loss" + at);
        basq_kd_loss_bwd(Pe, PTe, D, Ge, N, K);
        basq_cuda_kd_loss_bwd(Pe, PTe, D, G, N, K, nullptr);
        exact(Ge.vec(), G.vec(), "kd bwd" + at);
        t[0] = K;  // out of range
        basq_cuda_softmax_xent_fwd(Z, t.data(), L, P, N, K, nullptr);
        report(std::isnan(L.p[0]), "xent bad target gives NaN" + at);
    }
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
    timed("elementwise", check_elementwise);
    timed("pooling", check_pool);
    timed("losses", check_loss);
    printf("emu-check: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
