// Convolution, linear layer and a row-major sgemm on the CPU (conv.h).
//
// Paths, chosen by shape and shared by fwd, bwd_data and bwd_filter:
//  - depthwise (groups == Cin == Cout): direct loops, one (n, c) plane per task, no workspace.
//      * tiny planes (<= 16 outputs: 4x4, 2x2, 1x1): the valid (output, tap, input) triples are
//        listed once per call and each plane walks the list; per-plane setup would dominate.
//      * stride 1, plane fits kPlaneBuf once padded: copied into a zero-padded stack buffer,
//        then branch-free vector loops over output columns (3x3: nine taps in registers, one
//        store per output); rows narrower than kFlatRows run as one flat loop over the plane.
//        bwd_data is the same loop on dy with mirrored taps and padding K-1-p; bwd_filter is
//        one flat dot product per tap (nine at once for 3x3).
//      * larger strides: fwd and bwd_filter read x in place with bounds-checked borders
//        (faster than a padded copy for 3x3 stride 2); bwd_data scatters into a padded buffer.
//      * large planes: the same row loops with explicit border handling.
//    bwd_filter runs one task per channel over the whole batch: no reduction crosses threads.
//  - pointwise (1x1, stride 1, padding 0, groups 1): GEMMs on the NCHW tensors themselves,
//    y_n[Cout, HW] = W[Cout, Cin] * x_n[Cin, HW], no im2col; with HW == 1 the whole batch is
//    one GEMM with transposes (y[N, Cout] = x[N, Cin] * W^T).
//  - general (3x3, the 7x7 stem, grouped): im2col + GEMM per chunk and group, col2im for
//    bwd_data.
//
// Chunks: a chunk is nb consecutive images lowered side by side into one GEMM. nb = 1 unless
// the weights of a group exceed kPackWeights floats; then images are packed until the GEMM has
// kColsTarget columns (see make_plan for the measurements). bwd_filter accumulates chunk after
// chunk with beta = 1.
//
// Threading: one thread pool, OpenMP's. Chunks run in an OpenMP loop and every BLAS call is
// single-threaded (OpenBLAS's own threads are switched off for the call, see BlasSerial);
// one big GEMM (HW == 1, linear, sgemm, a batch with a single chunk) is split into column or
// row blocks over the OpenMP team. Measured on the 2-core build machine: handing the GEMMs to
// OpenBLAS's pthreads pool instead (one multi-threaded call per chunk, OpenMP only for the
// copy loops) made the same convs 2x to over 100x slower (ResNet 64ch 32x32 fwd: 38 vs 540 ms),
// because OpenBLAS's spinning workers and OpenMP's spinning workers take each other's two
// cores, and each small per-chunk GEMM (a 1x1 conv at 16x16 with 16..96 channels is under a
// MFLOP per image) pays a fork/join. With one OpenMP thread BLAS keeps the thread count the
// process configured.
//
// Workspace: slices * (lowered input + packed output of a chunk) + (slices - 1) private dW
// partials for bwd_filter, where slices = min(#chunks, omp_get_num_procs(), kMaxSlices). The
// processor count is fixed for a process, so the size asked for before a call and the size
// the call uses agree even if the OpenMP thread count changes in between; a call uses at
// most min(omp_get_max_threads(), slices) workers on chunks.
#include "basq4j/conv.h"

#include <cblas.h>
#include <limits.h>
#include <string.h>

#include <algorithm>
#include <mutex>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// ------------------------------------------------------------------ tunables

// A chunk packs images until its GEMM has at least this many columns...
constexpr int64_t kColsTarget = 256;
// ...when the weight matrix of a group has more than this many floats.
constexpr int64_t kPackWeights = 1 << 16;
// Upper bound on workspace slices (workers on chunks at once).
constexpr int kMaxSlices = 16;
// Below this many multiply-adds a loop runs on one thread.
constexpr int64_t kParallelMacs = 1 << 15;
// Below this many multiply-adds a GEMM is not split over threads.
constexpr double kParGemmMacs = 1 << 18;
// Floats of a padded depthwise plane kept on the stack (two such buffers per call frame).
constexpr int kPlaneBuf = 4096;
// Depthwise taps handled by the padded-plane path and accumulated at once by bwd_filter.
constexpr int kMaxTaps = 64;
// Stride-1 depthwise rows narrower than this are computed as one flat loop over the plane.
constexpr int kFlatRows = 8;

inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline int num_procs() {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

inline bool in_parallel() {
#ifdef _OPENMP
    return omp_in_parallel() != 0;
#else
    return false;
#endif
}

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// Output columns [lo, hi) of a row whose input column ow*s + off lies in [0, W).
inline void col_range(int W, int Wo, int s, int off, int& lo, int& hi) {
    int64_t l = ceil_div(-(int64_t)off, s);
    int64_t h = floor_div((int64_t)W - 1 - off, s) + 1;
    l = std::max<int64_t>(0, std::min<int64_t>(l, Wo));
    h = std::max<int64_t>(l, std::min<int64_t>(h, Wo));
    lo = (int)l;
    hi = (int)h;
}

// ------------------------------------------------------------------ BLAS

inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
                (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

// The same GEMM split over the OpenMP team into column blocks (or row blocks when C is tall),
// one single-threaded BLAS call per block. Callers hold BlasSerial when the team is > 1.
void par_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    const int T = max_threads();
    const bool by_cols = N >= M;
    const int64_t D = by_cols ? N : M;
    constexpr int64_t kAlign = 16;
    const int64_t blocks = std::min<int64_t>(T, ceil_div(D, kAlign));
    if (T <= 1 || blocks <= 1 || in_parallel() || (double)M * N * K < kParGemmMacs) {
        gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel num_threads((int)blocks)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int t = 0, nt = 1;
#endif
        const int64_t per = ceil_div(ceil_div(D, nt), kAlign) * kAlign;
        const int64_t d0 = std::min(D, t * per), d1 = std::min(D, d0 + per);
        if (d1 > d0) {
            if (by_cols)
                gemm(ta, tb, M, d1 - d0, K, alpha, A, lda, tb ? B + d0 * ldb : B + d0, ldb, beta, C + d0, ldc);
            else
                gemm(ta, tb, d1 - d0, N, K, alpha, ta ? A + d0 : A + d0 * lda, lda, B, ldb, beta, C + d0 * ldc, ldc);
        }
    }
}

inline void mm(bool par, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (par)
        par_gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
    else
        gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

// Switches OpenBLAS to one thread while OpenMP threads call it (a no-op with one OpenMP
// thread). The setting is process-wide, so concurrent callers share it: the first to enter
// saves the configured count, the last to leave restores it.
class BlasSerial {
  public:
    BlasSerial() : on_(max_threads() > 1) {
        if (!on_) return;
        std::lock_guard<std::mutex> lock(mu_);
        if (depth_++ == 0) {
            saved_ = openblas_get_num_threads();
            if (saved_ != 1) openblas_set_num_threads(1);
        }
    }
    ~BlasSerial() {
        if (!on_) return;
        std::lock_guard<std::mutex> lock(mu_);
        if (--depth_ == 0 && saved_ != 1) openblas_set_num_threads(saved_);
    }
    BlasSerial(const BlasSerial&) = delete;
    BlasSerial& operator=(const BlasSerial&) = delete;

  private:
    bool on_;
    static std::mutex mu_;
    static int depth_;
    static int saved_;
};
std::mutex BlasSerial::mu_;
int BlasSerial::depth_ = 0;
int BlasSerial::saved_ = 1;

// ------------------------------------------------------------------ geometry and plan

struct Geo {
    int N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, G;
    int Ho, Wo, Cig, Cog;
    int64_t HWi, HWo, K, KK;  // K = Cig*KH*KW (GEMM reduction length of fwd), KK = KH*KW
    bool depthwise, pointwise;
};

// Validates the arguments: BASQ_OK, BASQ_EINVAL, or BASQ_EUNSUPPORTED for sizes that int64
// products or BLAS's int dimensions cannot hold.
int geo_init(Geo& g, int N, int Cin, int H, int W, int Cout, int KH, int KW, int sh, int sw, int ph, int pw,
             int groups) {
    if (N < 1 || Cin < 1 || H < 1 || W < 1 || Cout < 1 || KH < 1 || KW < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 ||
        groups < 1)
        return BASQ_EINVAL;
    if (Cin % groups != 0 || Cout % groups != 0) return BASQ_EINVAL;
    const int64_t eh = (int64_t)H + 2 * (int64_t)ph, ew = (int64_t)W + 2 * (int64_t)pw;
    if (eh < KH || ew < KW) return BASQ_EINVAL;  // output size < 1
    if (eh > INT_MAX / 2 || ew > INT_MAX / 2) return BASQ_EUNSUPPORTED;
    g.N = N, g.Cin = Cin, g.H = H, g.W = W, g.Cout = Cout, g.KH = KH, g.KW = KW;
    g.sh = sh, g.sw = sw, g.ph = ph, g.pw = pw, g.G = groups;
    g.Ho = (int)((eh - KH) / sh + 1);
    g.Wo = (int)((ew - KW) / sw + 1);
    g.Cig = Cin / groups;
    g.Cog = Cout / groups;
    g.HWi = (int64_t)H * W;
    g.HWo = (int64_t)g.Ho * g.Wo;
    g.KK = (int64_t)KH * KW;
    g.K = g.Cig * g.KK;
    g.depthwise = groups == Cin && groups == Cout && groups > 1;
    g.pointwise = KH == 1 && KW == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && groups == 1;
    const double lim = 9.0e15;
    if ((double)N * Cin * g.HWi > lim || (double)N * Cout * g.HWo > lim || (double)Cout * g.K > lim)
        return BASQ_EUNSUPPORTED;
    if (!g.depthwise && (g.K > INT_MAX || g.HWo > INT_MAX / 2 || (double)g.K * g.HWo > lim))
        return BASQ_EUNSUPPORTED;
    return BASQ_OK;
}

struct Plan {
    int nb;         // images per chunk
    int nchunks;
    int slices;     // workspace slices = most chunks in flight at once
    int64_t col;    // floats per slice: lowered input (fwd, bwd_filter) or its gradient (bwd_data)
    int64_t pack;   // floats per slice: output / dy of one group packed [Cog, nb*HWo] (nb > 1 only)
    int64_t part;   // floats of one private dW partial (bwd_filter with slices > 1)
    bool batched1;  // pointwise with HW == 1: the batch is one transposed GEMM, no workspace
    int64_t total;  // workspace floats
};

Plan make_plan(const Geo& g) {
    Plan p{};
    if (g.depthwise) return p;  // direct loops, no workspace
    if (g.pointwise && g.HWo == 1) {
        p.batched1 = true;
        return p;
    }
    const int cap = std::max(1, std::min(num_procs(), kMaxSlices));
    // Images are packed side by side only when the weights of a group are too big to be re-read
    // for every narrow per-image GEMM (the 4x4 ResNet stage: 2x faster packed); small weights
    // stay in cache and packing costs more than it saves (MobileNet 1x1 at 2x2..8x8: 1.5-2x).
    int64_t nb = 1;
    if ((int64_t)g.Cog * g.K > kPackWeights) nb = std::max<int64_t>(1, ceil_div(kColsTarget, g.HWo));
    nb = std::min<int64_t>(nb, ceil_div(g.N, cap));  // at least one chunk per worker
    p.nb = (int)nb;
    p.nchunks = (int)ceil_div(g.N, nb);
    p.slices = std::min(p.nchunks, cap);
    const int64_t L = nb * g.HWo;
    p.col = (g.pointwise && nb == 1) ? 0 : g.K * L;
    p.pack = nb > 1 ? g.Cog * L : 0;
    p.part = p.slices > 1 ? (int64_t)g.Cout * g.K : 0;
    p.total = p.slices * (p.col + p.pack) + (p.slices - 1) * p.part;
    return p;
}

// Workers on chunks for this call: never more than the workspace has slices.
inline int chunk_threads(const Plan& p) {
    return in_parallel() ? 1 : std::max(1, std::min(max_threads(), p.slices));
}

// ------------------------------------------------------------------ im2col / col2im

// Rows (c, kh, 0..KW-1) of the lowered matrix for one channel plane xc; row stride ldc.
void im2col_rows(const Geo& g, const float* xc, int kh, float* dst, int64_t ldc) {
    const int Wo = g.Wo, W = g.W;
    for (int kw = 0; kw < g.KW; kw++) {
        float* row = dst + (int64_t)kw * ldc;
        const int off = kw - g.pw;
        int lo, hi;
        col_range(W, Wo, g.sw, off, lo, hi);
        for (int oh = 0; oh < g.Ho; oh++) {
            float* d = row + (int64_t)oh * Wo;
            const int ih = oh * g.sh - g.ph + kh;
            if (ih < 0 || ih >= g.H) {
                memset(d, 0, sizeof(float) * Wo);
                continue;
            }
            const float* xr = xc + (int64_t)ih * W + off;
            for (int ow = 0; ow < lo; ow++) d[ow] = 0.0f;
            if (g.sw == 1) {
                if (hi > lo) memcpy(d + lo, xr + lo, sizeof(float) * (hi - lo));
            } else {
                const int s = g.sw;
                for (int ow = lo; ow < hi; ow++) d[ow] = xr[(int64_t)ow * s];
            }
            for (int ow = hi; ow < Wo; ow++) d[ow] = 0.0f;
        }
    }
}

// Lowers group gi of images n0..n0+nb-1 into col [K, nb*HWo] (pointwise: a packed copy).
void lower(const Geo& g, const float* x, int n0, int nb, int gi, float* col, int64_t ldc, bool par) {
    if (g.pointwise) {
        const int64_t items = (int64_t)nb * g.Cig;
#pragma omp parallel for schedule(static) if (par && items * g.HWi > kParallelMacs)
        for (int64_t it = 0; it < items; it++) {
            const int b = (int)(it / g.Cig), c = (int)(it % g.Cig);
            memcpy(col + c * ldc + b * g.HWo, x + ((int64_t)(n0 + b) * g.Cin + gi * g.Cig + c) * g.HWi,
                   sizeof(float) * g.HWi);
        }
        return;
    }
    const int64_t items = (int64_t)nb * g.Cig * g.KH;
#pragma omp parallel for schedule(static) if (par && items * g.KW * g.HWo > kParallelMacs)
    for (int64_t it = 0; it < items; it++) {
        const int kh = (int)(it % g.KH);
        const int c = (int)(it / g.KH % g.Cig);
        const int b = (int)(it / ((int64_t)g.KH * g.Cig));
        const float* xc = x + ((int64_t)(n0 + b) * g.Cin + gi * g.Cig + c) * g.HWi;
        im2col_rows(g, xc, kh, col + ((int64_t)c * g.KK + (int64_t)kh * g.KW) * ldc + b * g.HWo, ldc);
    }
}

// Adds the lowered gradient dcol [K, nb*HWo] of group gi back into dx (zeroed here first).
void raise(const Geo& g, const float* dcol, int64_t ldc, int n0, int nb, int gi, float* dx, bool par) {
    const int64_t items = (int64_t)nb * g.Cig;
    if (g.pointwise) {
#pragma omp parallel for schedule(static) if (par && items * g.HWi > kParallelMacs)
        for (int64_t it = 0; it < items; it++) {
            const int b = (int)(it / g.Cig), c = (int)(it % g.Cig);
            memcpy(dx + ((int64_t)(n0 + b) * g.Cin + gi * g.Cig + c) * g.HWi, dcol + c * ldc + b * g.HWo,
                   sizeof(float) * g.HWi);
        }
        return;
    }
#pragma omp parallel for schedule(static) if (par && items * g.KK * g.HWo > kParallelMacs)
    for (int64_t it = 0; it < items; it++) {
        const int b = (int)(it / g.Cig), c = (int)(it % g.Cig);
        float* xc = dx + ((int64_t)(n0 + b) * g.Cin + gi * g.Cig + c) * g.HWi;
        memset(xc, 0, sizeof(float) * g.HWi);
        for (int kh = 0; kh < g.KH; kh++) {
            for (int kw = 0; kw < g.KW; kw++) {
                const float* src = dcol + ((int64_t)c * g.KK + (int64_t)kh * g.KW + kw) * ldc + b * g.HWo;
                const int off = kw - g.pw;
                int lo, hi;
                col_range(g.W, g.Wo, g.sw, off, lo, hi);
                for (int oh = 0; oh < g.Ho; oh++) {
                    const int ih = oh * g.sh - g.ph + kh;
                    if (ih < 0 || ih >= g.H) continue;
                    float* xr = xc + (int64_t)ih * g.W + off;
                    const float* s = src + (int64_t)oh * g.Wo;
                    if (g.sw == 1) {
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++) xr[ow] += s[ow];
                    } else {
                        const int st = g.sw;
                        for (int ow = lo; ow < hi; ow++) xr[(int64_t)ow * st] += s[ow];
                    }
                }
            }
        }
    }
}

// Output-shaped tensors (y, dy: [N, Cout, HWo]) of group gi and images n0..n0+nb-1 to and
// from the packed GEMM layout [Cog, nb*HWo] with row stride ldp.
void pack_out(const Geo& g, const float* t, int n0, int nb, int gi, float* packed, int64_t ldp, bool par) {
    const int64_t items = (int64_t)nb * g.Cog;
#pragma omp parallel for schedule(static) if (par && items * g.HWo > kParallelMacs)
    for (int64_t it = 0; it < items; it++) {
        const int b = (int)(it / g.Cog), c = (int)(it % g.Cog);
        memcpy(packed + c * ldp + b * g.HWo, t + ((int64_t)(n0 + b) * g.Cout + gi * g.Cog + c) * g.HWo,
               sizeof(float) * g.HWo);
    }
}

void unpack_out(const Geo& g, const float* packed, int64_t ldp, int n0, int nb, int gi, float* t, bool par) {
    const int64_t items = (int64_t)nb * g.Cog;
#pragma omp parallel for schedule(static) if (par && items * g.HWo > kParallelMacs)
    for (int64_t it = 0; it < items; it++) {
        const int b = (int)(it / g.Cog), c = (int)(it % g.Cog);
        memcpy(t + ((int64_t)(n0 + b) * g.Cout + gi * g.Cog + c) * g.HWo, packed + c * ldp + b * g.HWo,
               sizeof(float) * g.HWo);
    }
}

// ------------------------------------------------------------------ GEMM paths, one chunk

void fwd_chunk(const Geo& g, const Plan& p, const float* x, const float* w, float* y, float* ws, int n0, int nb,
               bool par) {
    const int64_t L = (int64_t)nb * g.HWo;
    float* col = ws;
    float* tmp = ws + p.col;
    for (int gi = 0; gi < g.G; gi++) {
        const float* B;
        if (p.col == 0) {
            B = x + (int64_t)n0 * g.Cin * g.HWi;  // pointwise, one image: x_n is [Cin, HW] already
        } else {
            lower(g, x, n0, nb, gi, col, L, par);
            B = col;
        }
        const float* A = w + (int64_t)gi * g.Cog * g.K;
        if (nb == 1) {
            float* yg = y + ((int64_t)n0 * g.Cout + gi * g.Cog) * g.HWo;
            mm(par, false, false, g.Cog, L, g.K, A, g.K, B, L, 0.0f, yg, L);
        } else {
            mm(par, false, false, g.Cog, L, g.K, A, g.K, B, L, 0.0f, tmp, L);
            unpack_out(g, tmp, L, n0, nb, gi, y, par);
        }
    }
}

void bwd_data_chunk(const Geo& g, const Plan& p, const float* dy, const float* w, float* dx, float* ws, int n0,
                    int nb, bool par) {
    const int64_t L = (int64_t)nb * g.HWo;
    float* dcol = ws;
    float* dyt = ws + p.col;
    for (int gi = 0; gi < g.G; gi++) {
        const float* B;
        if (nb == 1) {
            B = dy + ((int64_t)n0 * g.Cout + gi * g.Cog) * g.HWo;
        } else {
            pack_out(g, dy, n0, nb, gi, dyt, L, par);
            B = dyt;
        }
        const float* A = w + (int64_t)gi * g.Cog * g.K;
        if (p.col == 0) {  // pointwise, one image: dx_n = W^T dy_n directly
            mm(par, true, false, g.K, L, g.Cog, A, g.K, B, L, 0.0f, dx + (int64_t)n0 * g.Cin * g.HWi, L);
        } else {
            mm(par, true, false, g.K, L, g.Cog, A, g.K, B, L, 0.0f, dcol, L);
            raise(g, dcol, L, n0, nb, gi, dx, par);
        }
    }
}

// dW (all groups, [Cout, K]) = (first ? 0 : dW) + sum over the chunk.
void bwd_filter_chunk(const Geo& g, const Plan& p, const float* x, const float* dy, float* dw, float* ws, int n0,
                      int nb, bool first, bool par) {
    const int64_t L = (int64_t)nb * g.HWo;
    float* col = ws;
    float* dyt = ws + p.col;
    for (int gi = 0; gi < g.G; gi++) {
        const float* B;
        if (p.col == 0) {
            B = x + (int64_t)n0 * g.Cin * g.HWi;
        } else {
            lower(g, x, n0, nb, gi, col, L, par);
            B = col;
        }
        const float* A;
        if (nb == 1) {
            A = dy + ((int64_t)n0 * g.Cout + gi * g.Cog) * g.HWo;
        } else {
            pack_out(g, dy, n0, nb, gi, dyt, L, par);
            A = dyt;
        }
        mm(par, false, true, g.Cog, g.K, L, A, L, B, L, first ? 0.0f : 1.0f, dw + (int64_t)gi * g.Cog * g.K, g.K);
    }
}

// Runs op(chunk, slice of ws, whole_team) over all chunks: chunks spread over the OpenMP team
// (whole_team = false), or one after another with each GEMM and copy loop split over the team.
template <class F>
void for_chunks(const Plan& p, float* ws, F op) {
    const int T = chunk_threads(p);
    const int64_t slice = p.col + p.pack;
    BlasSerial serial;
    if (T <= 1) {
        const bool team = !in_parallel() && max_threads() > 1;
        for (int ci = 0; ci < p.nchunks; ci++) op(ci, ws, team);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(T)
    for (int ci = 0; ci < p.nchunks; ci++) {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        op(ci, ws + t * slice, false);
    }
}

// ------------------------------------------------------------------ depthwise, small planes (padded copy)

// Interior of one output row of a 3x3 depthwise conv: columns [a, b), all taps in range.
template <int S>
inline void dw3_row(const float* __restrict x0, const float* __restrict x1, const float* __restrict x2,
                    const float* t, float* __restrict yr, int a, int b, int pw) {
    const float t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6], t7 = t[7], t8 = t[8];
#pragma omp simd
    for (int ow = a; ow < b; ow++) {
        const int i = ow * S - pw;
        yr[ow] = t0 * x0[i] + t1 * x0[i + 1] + t2 * x0[i + 2] + t3 * x1[i] + t4 * x1[i + 1] + t5 * x1[i + 2] +
                 t6 * x2[i] + t7 * x2[i + 1] + t8 * x2[i + 2];
    }
}

// Padded extent of the input that a (Ho x Wo) output with stride s and a K-tap window reads.
inline int64_t padded(int Ho, int Wo, int KH, int KW, int sh, int sw) {
    return ((int64_t)(Ho - 1) * sh + KH) * ((int64_t)(Wo - 1) * sw + KW);
}

// p (Hp x Wp) = plane x (H x W) shifted by (ph, pw), zero outside; a negative shift crops.
void pad_plane(const float* x, int H, int W, int ph, int pw, float* p, int Hp, int Wp) {
    const int lo = std::min(Wp, std::max(0, pw));
    const int hi = std::max(lo, std::min(Wp, pw + W));  // padded columns [lo, hi) hold input
    for (int r = 0; r < Hp; r++) {
        float* pr = p + r * Wp;
        const int ih = r - ph;
        if (ih < 0 || ih >= H) {
            for (int c = 0; c < Wp; c++) pr[c] = 0.0f;
            continue;
        }
        const float* xr = x + (int64_t)ih * W - pw;  // xr[c] is padded column c
        for (int c = 0; c < lo; c++) pr[c] = 0.0f;
#pragma omp simd
        for (int c = lo; c < hi; c++) pr[c] = xr[c];
        for (int c = hi; c < Wp; c++) pr[c] = 0.0f;
    }
}

// y (Ho x Wo) = stride-1 correlation of plane x with taps t (KH*KW, already oriented), for
// planes whose padded input fits kPlaneBuf. Padding of either sign (negative crops).
void dw_small_fwd(const float* x, int H, int W, const float* t, int KH, int KW, int ph, int pw, float* y, int Ho,
                  int Wo) {
    const int Hp = Ho - 1 + KH, Wp = Wo - 1 + KW;
    const bool k3 = KH == 3 && KW == 3;
    alignas(64) float p[kPlaneBuf];
    pad_plane(x, H, W, ph, pw, p, Hp, Wp);
    if (Wo < kFlatRows && Ho > 1) {
        // Narrow rows: one flat loop over (rows x padded width), the columns ow >= Wo dropped.
        alignas(64) float o[kPlaneBuf];
        const int L = (Ho - 1) * Wp + Wo;
        if (k3) {
            dw3_row<1>(p, p + Wp, p + 2 * Wp, t, o, 0, L, 0);
        } else {
            for (int j = 0; j < L; j++) o[j] = 0.0f;
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    const float wv = t[kh * KW + kw];
                    const float* q = p + kh * Wp + kw;
#pragma omp simd
                    for (int j = 0; j < L; j++) o[j] += wv * q[j];
                }
        }
        for (int oh = 0; oh < Ho; oh++) {
            float* yr = y + (int64_t)oh * Wo;
            const float* orow = o + oh * Wp;
            for (int ow = 0; ow < Wo; ow++) yr[ow] = orow[ow];
        }
        return;
    }
    for (int oh = 0; oh < Ho; oh++) {
        const float* r0 = p + oh * Wp;
        float* yr = y + (int64_t)oh * Wo;
        if (k3) {
            dw3_row<1>(r0, r0 + Wp, r0 + 2 * Wp, t, yr, 0, Wo, 0);
            continue;
        }
        for (int ow = 0; ow < Wo; ow++) yr[ow] = 0.0f;
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                const float wv = t[kh * KW + kw];
                const float* q = r0 + kh * Wp + kw;
#pragma omp simd
                for (int ow = 0; ow < Wo; ow++) yr[ow] += wv * q[ow];
            }
    }
}

// dx (H x W) of one plane for stride > 1: dy scattered into the padded plane, then cropped.
void dw_small_bwd_scatter(const float* dy, int Ho, int Wo, const float* t, int KH, int KW, int sh, int sw, int ph,
                          int pw, float* dx, int H, int W) {
    const int Hp = (Ho - 1) * sh + KH, Wp = (Wo - 1) * sw + KW;
    alignas(64) float p[kPlaneBuf];
    for (int i = 0; i < Hp * Wp; i++) p[i] = 0.0f;
    for (int oh = 0; oh < Ho; oh++) {
        const float* dyr = dy + (int64_t)oh * Wo;
        for (int kh = 0; kh < KH; kh++) {
            float* pr = p + (oh * sh + kh) * Wp;
            for (int kw = 0; kw < KW; kw++) {
                const float wv = t[kh * KW + kw];
                float* q = pr + kw;
                for (int ow = 0; ow < Wo; ow++) q[ow * sw] += wv * dyr[ow];
            }
        }
    }
    const int n = std::max(0, std::min(W, Wp - pw));  // input columns covered by the padded plane
    for (int ih = 0; ih < H; ih++) {
        float* dxr = dx + (int64_t)ih * W;
        const int r = ih + ph;
        if (r >= Hp) {
            for (int iw = 0; iw < W; iw++) dxr[iw] = 0.0f;
            continue;
        }
        const float* pr = p + r * Wp + pw;
        for (int iw = 0; iw < n; iw++) dxr[iw] = pr[iw];
        for (int iw = n; iw < W; iw++) dxr[iw] = 0.0f;
    }
}

// acc[t] += sum over outputs of dy * x for every tap of one plane pair (stride 1, small planes).
void dw_small_filter(const float* x, const float* dy, const Geo& g, double* acc) {
    const int KH = g.KH, KW = g.KW, Ho = g.Ho, Wo = g.Wo;
    const int Hp = Ho - 1 + KH, Wp = Wo - 1 + KW;
    const bool k3 = KH == 3 && KW == 3;
    alignas(64) float p[kPlaneBuf];
    pad_plane(x, g.H, g.W, g.ph, g.pw, p, Hp, Wp);
    // dy laid out with the padded row stride (zeros in the extra columns): each tap is one
    // flat dot product.
    alignas(64) float q[kPlaneBuf];
    const int L = (Ho - 1) * Wp + Wo;
    for (int oh = 0; oh < Ho; oh++) {
        float* qr = q + oh * Wp;
        const float* dyr = dy + (int64_t)oh * Wo;
        for (int ow = 0; ow < Wo; ow++) qr[ow] = dyr[ow];
        if (oh + 1 < Ho)
            for (int c = Wo; c < Wp; c++) qr[c] = 0.0f;
    }
    if (k3) {
        const float* x0 = p;
        const float* x1 = p + Wp;
        const float* x2 = p + 2 * Wp;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s8 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7, s8)
        for (int j = 0; j < L; j++) {
            const float d = q[j];
            s0 += d * x0[j], s1 += d * x0[j + 1], s2 += d * x0[j + 2];
            s3 += d * x1[j], s4 += d * x1[j + 1], s5 += d * x1[j + 2];
            s6 += d * x2[j], s7 += d * x2[j + 1], s8 += d * x2[j + 2];
        }
        acc[0] += s0, acc[1] += s1, acc[2] += s2, acc[3] += s3, acc[4] += s4;
        acc[5] += s5, acc[6] += s6, acc[7] += s7, acc[8] += s8;
        return;
    }
    for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < KW; kw++) {
            const float* xo = p + kh * Wp + kw;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < L; j++) s += q[j] * xo[j];
            acc[kh * KW + kw] += s;
        }
}

// ------------------------------------------------------------------ depthwise, tiny planes (tap table)

// For planes of a few outputs (2x2, 1x1; 4x4 with stride 2) per-plane setup dominates, so the
// valid (output, tap, input offset) triples are listed once per call and every plane walks the
// list. With stride 1 the padded-copy path is as fast from 3x3 outputs up (4x4: 10% faster).
constexpr int kTinyOut = 16;
constexpr int kTinyOutStride1 = 8;
constexpr int kTinyEntries = 256;

struct TapTable {
    int start[kTinyOut + 1];  // entries of output o: [start[o], start[o+1])
    int tap[kTinyEntries];
    int in[kTinyEntries];     // input offset in the plane
};

bool tap_table(const Geo& g, TapTable& tt) {
    const int most = g.sh == 1 && g.sw == 1 ? kTinyOutStride1 : kTinyOut;
    if (g.HWo > most || g.HWo * g.KK > kTinyEntries || g.KK > kMaxTaps) return false;
    int n = 0;
    for (int oh = 0; oh < g.Ho; oh++)
        for (int ow = 0; ow < g.Wo; ow++) {
            tt.start[oh * g.Wo + ow] = n;
            for (int kh = 0; kh < g.KH; kh++) {
                const int ih = oh * g.sh - g.ph + kh;
                if (ih < 0 || ih >= g.H) continue;
                for (int kw = 0; kw < g.KW; kw++) {
                    const int iw = ow * g.sw - g.pw + kw;
                    if (iw < 0 || iw >= g.W) continue;
                    tt.tap[n] = kh * g.KW + kw;
                    tt.in[n] = ih * g.W + iw;
                    n++;
                }
            }
        }
    tt.start[g.HWo] = n;
    return true;
}

// ------------------------------------------------------------------ depthwise, large planes (borders checked)

// One output of a plane with bounds checks (border columns).
inline float dw_point(const float* x, int H, int W, const float* wk, int KH, int KW, int ih0, int iw0) {
    float acc = 0.0f;
    for (int kh = 0; kh < KH; kh++) {
        const int ih = ih0 + kh;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < KW; kw++) {
            const int iw = iw0 + kw;
            if (iw < 0 || iw >= W) continue;
            acc += wk[kh * KW + kw] * x[(int64_t)ih * W + iw];
        }
    }
    return acc;
}

// y (Ho x Wo) = correlation of one plane x (H x W) with the taps wk, stride (sh, sw), padding
// (ph, pw) of either sign (negative padding crops). flip mirrors the taps.
void dw_plane_fwd(const float* x, int H, int W, const float* wk, int KH, int KW, bool flip, int sh, int sw, int ph,
                  int pw, float* y, int Ho, int Wo) {
    // Interior columns: the first and the last tap are in range (so all are).
    int l0, h0, l1, h1;
    col_range(W, Wo, sw, -pw, l0, h0);
    col_range(W, Wo, sw, KW - 1 - pw, l1, h1);
    const int ia = std::max(l0, l1);
    const int ib = std::max(ia, std::min(h0, h1));
    const bool fast3 = KH == 3 && KW == 3 && (sw == 1 || sw == 2);
    float t9[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    if (fast3)
        for (int i = 0; i < 9; i++) t9[i] = flip ? wk[8 - i] : wk[i];
    for (int oh = 0; oh < Ho; oh++) {
        float* yr = y + (int64_t)oh * Wo;
        const int ih0 = oh * sh - ph;
        if (fast3 && ih0 >= 0 && ih0 + 3 <= H) {
            const float* x0 = x + (int64_t)ih0 * W;
            for (int ow = 0; ow < ia; ow++) yr[ow] = dw_point(x, H, W, t9, 3, 3, ih0, ow * sw - pw);
            if (sw == 1)
                dw3_row<1>(x0, x0 + W, x0 + 2 * W, t9, yr, ia, ib, pw);
            else
                dw3_row<2>(x0, x0 + W, x0 + 2 * W, t9, yr, ia, ib, pw);
            for (int ow = ib; ow < Wo; ow++) yr[ow] = dw_point(x, H, W, t9, 3, 3, ih0, ow * sw - pw);
            continue;
        }
        // Any kernel or a border row: accumulate one tap at a time over the row.
        for (int ow = 0; ow < Wo; ow++) yr[ow] = 0.0f;
        for (int kh = 0; kh < KH; kh++) {
            const int ih = ih0 + kh;
            if (ih < 0 || ih >= H) continue;
            const float* xr = x + (int64_t)ih * W;
            for (int kw = 0; kw < KW; kw++) {
                const float wv = flip ? wk[(KH - 1 - kh) * KW + (KW - 1 - kw)] : wk[kh * KW + kw];
                const int off = kw - pw;
                int lo, hi;
                col_range(W, Wo, sw, off, lo, hi);
                const float* xo = xr + off;
                if (sw == 1) {
#pragma omp simd
                    for (int ow = lo; ow < hi; ow++) yr[ow] += wv * xo[ow];
                } else {
                    for (int ow = lo; ow < hi; ow++) yr[ow] += wv * xo[(int64_t)ow * sw];
                }
            }
        }
    }
}

// dx (H x W) of one plane from dy (Ho x Wo) for any stride: rows scattered tap by tap.
void dw_plane_bwd_scatter(const float* dy, int Ho, int Wo, const float* wk, int KH, int KW, int sh, int sw, int ph,
                          int pw, float* dx, int H, int W) {
    memset(dx, 0, sizeof(float) * (int64_t)H * W);
    for (int oh = 0; oh < Ho; oh++) {
        const float* dyr = dy + (int64_t)oh * Wo;
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * sh - ph + kh;
            if (ih < 0 || ih >= H) continue;
            float* dxr = dx + (int64_t)ih * W;
            for (int kw = 0; kw < KW; kw++) {
                const float wv = wk[kh * KW + kw];
                const int off = kw - pw;
                int lo, hi;
                col_range(W, Wo, sw, off, lo, hi);
                float* xo = dxr + off;
                for (int ow = lo; ow < hi; ow++) xo[(int64_t)ow * sw] += wv * dyr[ow];
            }
        }
    }
}

// dW taps [t0, t1) of one plane pair, added to acc[t - t0]: sum over outputs of dy * x.
void dw_plane_filter(const float* x, const float* dy, const Geo& g, int t0, int t1, double* acc) {
    const int H = g.H, W = g.W, Ho = g.Ho, Wo = g.Wo, KW = g.KW, sw = g.sw;
    const bool fast3 = g.KH == 3 && KW == 3 && t0 == 0 && t1 == 9 && (sw == 1 || sw == 2);
    int ia = 0, ib = 0;
    if (fast3) {
        int l0, h0, l1, h1;
        col_range(W, Wo, sw, -g.pw, l0, h0);
        col_range(W, Wo, sw, KW - 1 - g.pw, l1, h1);
        ia = std::max(l0, l1);
        ib = std::max(ia, std::min(h0, h1));
    }
    for (int oh = 0; oh < Ho; oh++) {
        const float* dyr = dy + (int64_t)oh * Wo;
        const int ih0 = oh * g.sh - g.ph;
        if (fast3 && ih0 >= 0 && ih0 + 3 <= H && ib > ia) {
            const float* x0 = x + (int64_t)ih0 * W - g.pw;
            const float* x1 = x0 + W;
            const float* x2 = x1 + W;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0, s8 = 0;
            if (sw == 1) {
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7, s8)
                for (int ow = ia; ow < ib; ow++) {
                    const float d = dyr[ow];
                    s0 += d * x0[ow], s1 += d * x0[ow + 1], s2 += d * x0[ow + 2];
                    s3 += d * x1[ow], s4 += d * x1[ow + 1], s5 += d * x1[ow + 2];
                    s6 += d * x2[ow], s7 += d * x2[ow + 1], s8 += d * x2[ow + 2];
                }
            } else {
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7, s8)
                for (int ow = ia; ow < ib; ow++) {
                    const float d = dyr[ow];
                    const int i = 2 * ow;
                    s0 += d * x0[i], s1 += d * x0[i + 1], s2 += d * x0[i + 2];
                    s3 += d * x1[i], s4 += d * x1[i + 1], s5 += d * x1[i + 2];
                    s6 += d * x2[i], s7 += d * x2[i + 1], s8 += d * x2[i + 2];
                }
            }
            acc[0] += s0, acc[1] += s1, acc[2] += s2, acc[3] += s3, acc[4] += s4;
            acc[5] += s5, acc[6] += s6, acc[7] += s7, acc[8] += s8;
            // Border columns of this row.
            for (int ow = 0; ow < Wo; ow++) {
                if (ow == ia) ow = ib;
                if (ow >= Wo) break;
                const int iw0 = ow * sw - g.pw;
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 3; kw++) {
                        const int iw = iw0 + kw;
                        if (iw >= 0 && iw < W) acc[kh * 3 + kw] += dyr[ow] * x[(int64_t)(ih0 + kh) * W + iw];
                    }
            }
            continue;
        }
        for (int t = t0; t < t1; t++) {
            const int kh = t / KW, kw = t % KW;
            const int ih = ih0 + kh;
            if (ih < 0 || ih >= H) continue;
            const int off = kw - g.pw;
            int lo, hi;
            col_range(W, Wo, sw, off, lo, hi);
            const float* xo = x + (int64_t)ih * W + off;
            float s = 0.0f;
            if (sw == 1) {
#pragma omp simd reduction(+ : s)
                for (int ow = lo; ow < hi; ow++) s += dyr[ow] * xo[ow];
            } else {
                for (int ow = lo; ow < hi; ow++) s += dyr[ow] * xo[(int64_t)ow * sw];
            }
            acc[t - t0] += s;
        }
    }
}

// ------------------------------------------------------------------ depthwise drivers

// Taps of channel c, mirrored when flip, into t (KK <= kMaxTaps).
inline void taps(const float* wk, int KH, int KW, bool flip, float* t) {
    const int KK = KH * KW;
    for (int i = 0; i < KK; i++) t[i] = flip ? wk[KK - 1 - i] : wk[i];
}

int dw_fwd(const Geo& g, const float* x, const float* w, float* y) {
    const int64_t planes = (int64_t)g.N * g.Cin;
    TapTable tt;
    const bool tiny = tap_table(g, tt);
    // Stride 1: a padded copy per plane. Otherwise bounds-checked rows on x itself (measured
    // faster for 3x3 stride 2 than copying, as the stride-2 loads dominate either way).
    const bool small = g.sh == 1 && g.sw == 1 && g.KK <= kMaxTaps && padded(g.Ho, g.Wo, g.KH, g.KW, 1, 1) <= kPlaneBuf;
#pragma omp parallel for schedule(guided) if (planes * g.HWo * g.KK > kParallelMacs)
    for (int64_t p = 0; p < planes; p++) {
        const float* wk = w + (p % g.Cin) * g.KK;
        const float* xp = x + p * g.HWi;
        float* yp = y + p * g.HWo;
        if (tiny) {
            for (int o = 0; o < g.HWo; o++) {
                float acc = 0.0f;
                for (int e = tt.start[o]; e < tt.start[o + 1]; e++) acc += wk[tt.tap[e]] * xp[tt.in[e]];
                yp[o] = acc;
            }
        } else if (small) {
            float t[kMaxTaps];
            taps(wk, g.KH, g.KW, false, t);
            dw_small_fwd(xp, g.H, g.W, t, g.KH, g.KW, g.ph, g.pw, yp, g.Ho, g.Wo);
        } else {
            dw_plane_fwd(xp, g.H, g.W, wk, g.KH, g.KW, false, g.sh, g.sw, g.ph, g.pw, yp, g.Ho, g.Wo);
        }
    }
    return BASQ_OK;
}

int dw_bwd_data(const Geo& g, const float* dy, const float* w, float* dx) {
    const int64_t planes = (int64_t)g.N * g.Cin;
    TapTable tt;
    const bool tiny = tap_table(g, tt);
    const bool s1 = g.sh == 1 && g.sw == 1;
    // Stride 1: dx is the correlation of dy (Ho x Wo) with the mirrored taps, padding K-1-p,
    // whose padded extent is (H + KH - 1) x (W + KW - 1). Otherwise dy is scattered into the
    // padded plane (Hp x Wp) and cropped (measured faster than gathering by stride phase).
    const int64_t extent = s1 ? padded(g.H, g.W, g.KH, g.KW, 1, 1) : padded(g.Ho, g.Wo, g.KH, g.KW, g.sh, g.sw);
    const bool small = g.KK <= kMaxTaps && extent <= kPlaneBuf;
#pragma omp parallel for schedule(guided) if (planes * g.HWo * g.KK > kParallelMacs)
    for (int64_t p = 0; p < planes; p++) {
        const float* wk = w + (p % g.Cin) * g.KK;
        const float* dyp = dy + p * g.HWo;
        float* dxp = dx + p * g.HWi;
        if (tiny) {
            for (int64_t i = 0; i < g.HWi; i++) dxp[i] = 0.0f;
            for (int o = 0; o < g.HWo; o++) {
                const float d = dyp[o];
                for (int e = tt.start[o]; e < tt.start[o + 1]; e++) dxp[tt.in[e]] += wk[tt.tap[e]] * d;
            }
        } else if (small) {
            float t[kMaxTaps];
            taps(wk, g.KH, g.KW, s1, t);
            if (s1)
                dw_small_fwd(dyp, g.Ho, g.Wo, t, g.KH, g.KW, g.KH - 1 - g.ph, g.KW - 1 - g.pw, dxp, g.H, g.W);
            else
                dw_small_bwd_scatter(dyp, g.Ho, g.Wo, t, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, dxp, g.H, g.W);
        } else if (s1) {
            dw_plane_fwd(dyp, g.Ho, g.Wo, wk, g.KH, g.KW, true, 1, 1, g.KH - 1 - g.ph, g.KW - 1 - g.pw, dxp, g.H, g.W);
        } else {
            dw_plane_bwd_scatter(dyp, g.Ho, g.Wo, wk, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, dxp, g.H, g.W);
        }
    }
    return BASQ_OK;
}

int dw_bwd_filter(const Geo& g, const float* x, const float* dy, float* dw) {
    const int C = g.Cin;
    TapTable tt;
    const bool tiny = tap_table(g, tt);
    const bool small = g.sh == 1 && g.sw == 1 && g.KK <= kMaxTaps && padded(g.Ho, g.Wo, g.KH, g.KW, 1, 1) <= kPlaneBuf;
#pragma omp parallel for schedule(guided) if ((int64_t)g.N * C * g.HWo * g.KK > kParallelMacs)
    for (int c = 0; c < C; c++) {
        // Per plane sums in float, over the batch in double; taps in blocks of kMaxTaps.
        for (int t0 = 0; t0 < g.KK; t0 += kMaxTaps) {
            const int t1 = (int)std::min<int64_t>(g.KK, t0 + kMaxTaps);
            double acc[kMaxTaps];
            for (int t = 0; t < t1 - t0; t++) acc[t] = 0.0;
            for (int n = 0; n < g.N; n++) {
                const int64_t p = (int64_t)n * C + c;
                const float* xp = x + p * g.HWi;
                const float* dyp = dy + p * g.HWo;
                if (tiny) {
                    for (int o = 0; o < g.HWo; o++) {
                        const float d = dyp[o];
                        for (int e = tt.start[o]; e < tt.start[o + 1]; e++) acc[tt.tap[e]] += d * xp[tt.in[e]];
                    }
                } else if (small) {
                    dw_small_filter(xp, dyp, g, acc);
                } else {
                    dw_plane_filter(xp, dyp, g, t0, t1, acc);
                }
            }
            for (int t = t0; t < t1; t++) dw[(int64_t)c * g.KK + t] = (float)acc[t - t0];
        }
    }
    return BASQ_OK;
}

}  // namespace

// ------------------------------------------------------------------ API

// -1 for arguments the conv functions reject (the header leaves this case open).
BASQ_API int64_t basq_conv2d_workspace_floats(BASQ_CONV_ARGS) {
    Geo g;
    if (geo_init(g, N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, groups) != BASQ_OK) return -1;
    return make_plan(g).total;
}

BASQ_API int basq_conv2d_fwd(const float* x, const float* w, float* y, float* ws, BASQ_CONV_ARGS) {
    Geo g;
    const int rc = geo_init(g, N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, groups);
    if (rc != BASQ_OK) return rc;
    const Plan p = make_plan(g);
    if (!x || !w || !y || (p.total > 0 && !ws)) return BASQ_EINVAL;
    if (g.depthwise) return dw_fwd(g, x, w, y);
    if (p.batched1) {  // y[N, Cout] = x[N, Cin] * W^T
        BlasSerial serial;
        par_gemm(false, true, N, Cout, Cin, 1.0f, x, Cin, w, Cin, 0.0f, y, Cout);
        return BASQ_OK;
    }
    for_chunks(p, ws, [&](int ci, float* slice, bool team) {
        const int n0 = ci * p.nb;
        fwd_chunk(g, p, x, w, y, slice, n0, std::min(p.nb, N - n0), team);
    });
    return BASQ_OK;
}

BASQ_API int basq_conv2d_bwd_data(const float* dy, const float* w, float* dx, float* ws, BASQ_CONV_ARGS) {
    Geo g;
    const int rc = geo_init(g, N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, groups);
    if (rc != BASQ_OK) return rc;
    const Plan p = make_plan(g);
    if (!dy || !w || !dx || (p.total > 0 && !ws)) return BASQ_EINVAL;
    if (g.depthwise) return dw_bwd_data(g, dy, w, dx);
    if (p.batched1) {  // dx[N, Cin] = dy[N, Cout] * W
        BlasSerial serial;
        par_gemm(false, false, N, Cin, Cout, 1.0f, dy, Cout, w, Cin, 0.0f, dx, Cin);
        return BASQ_OK;
    }
    for_chunks(p, ws, [&](int ci, float* slice, bool team) {
        const int n0 = ci * p.nb;
        bwd_data_chunk(g, p, dy, w, dx, slice, n0, std::min(p.nb, N - n0), team);
    });
    return BASQ_OK;
}

BASQ_API int basq_conv2d_bwd_filter(const float* x, const float* dy, float* dw, float* ws, BASQ_CONV_ARGS) {
    Geo g;
    const int rc = geo_init(g, N, Cin, H, W, Cout, KH, KW, sh, sw, ph, pw, groups);
    if (rc != BASQ_OK) return rc;
    const Plan p = make_plan(g);
    if (!x || !dy || !dw || (p.total > 0 && !ws)) return BASQ_EINVAL;
    if (g.depthwise) return dw_bwd_filter(g, x, dy, dw);
    BlasSerial serial;
    if (p.batched1) {  // dW[Cout, Cin] = dy^T[Cout, N] * x[N, Cin]
        par_gemm(true, false, Cout, Cin, N, 1.0f, dy, Cout, x, Cin, 0.0f, dw, Cin);
        return BASQ_OK;
    }
    const int T = chunk_threads(p);
    if (T <= 1) {
        const bool team = !in_parallel() && max_threads() > 1;
        for (int ci = 0; ci < p.nchunks; ci++) {
            const int n0 = ci * p.nb;
            bwd_filter_chunk(g, p, x, dy, dw, ws, n0, std::min(p.nb, N - n0), ci == 0, team);
        }
        return BASQ_OK;
    }
    // Each thread sums a fixed contiguous range of chunks into its own dW (thread 0: dw
    // itself); the partials are then added into dw in thread order. The static split keeps
    // the result reproducible from run to run for a given thread count.
    const int64_t slice = p.col + p.pack;
    float* parts = ws + p.slices * slice;
    const int64_t wn = (int64_t)Cout * g.K;
    int team = 1;
#pragma omp parallel num_threads(T)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int t = 0, nt = 1;
#endif
#pragma omp single
        team = nt;
        float* mine = t == 0 ? dw : parts + (int64_t)(t - 1) * p.part;
        const int c0 = (int)((int64_t)p.nchunks * t / nt), c1 = (int)((int64_t)p.nchunks * (t + 1) / nt);
        for (int ci = c0; ci < c1; ci++) {
            const int n0 = ci * p.nb;
            bwd_filter_chunk(g, p, x, dy, mine, ws + t * slice, n0, std::min(p.nb, N - n0), ci == c0, false);
        }
        if (c1 == c0) memset(mine, 0, sizeof(float) * wn);
    }
#pragma omp parallel for schedule(static) num_threads(T) if (wn * (team - 1) > kParallelMacs)
    for (int64_t i = 0; i < wn; i++) {
        float s = dw[i];
        for (int t = 1; t < team; t++) s += parts[(int64_t)(t - 1) * p.part + i];
        dw[i] = s;
    }
    return BASQ_OK;
}

BASQ_API int basq_linear_fwd(const float* x, const float* w, const float* b, float* y, int N, int IN, int OUT) {
    if (N < 1 || IN < 1 || OUT < 1 || !x || !w || !y) return BASQ_EINVAL;
    if (b) {
        for (int n = 0; n < N; n++) memcpy(y + (int64_t)n * OUT, b, sizeof(float) * OUT);
    }
    BlasSerial serial;
    par_gemm(false, true, N, OUT, IN, 1.0f, x, IN, w, IN, b ? 1.0f : 0.0f, y, OUT);
    return BASQ_OK;
}

BASQ_API int basq_linear_bwd(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                             int N, int IN, int OUT) {
    if (N < 1 || IN < 1 || OUT < 1 || !x || !w || !dy || !dw) return BASQ_EINVAL;
    {
        BlasSerial serial;
        if (dx) par_gemm(false, false, N, IN, OUT, 1.0f, dy, OUT, w, IN, 0.0f, dx, IN);
        par_gemm(true, false, OUT, IN, N, 1.0f, dy, OUT, x, IN, 0.0f, dw, IN);
    }
    if (db) {
        // Column sums: rows added in blocks of 64 in float (vectorized over outputs), blocks in double.
        for (int o0 = 0; o0 < OUT; o0 += 256) {
            const int o1 = std::min(OUT, o0 + 256);
            double acc[256];
            float part[256];
            for (int o = o0; o < o1; o++) acc[o - o0] = 0.0;
            for (int n0 = 0; n0 < N; n0 += 64) {
                const int n1 = std::min(N, n0 + 64);
                for (int o = o0; o < o1; o++) part[o - o0] = 0.0f;
                for (int n = n0; n < n1; n++) {
                    const float* r = dy + (int64_t)n * OUT;
#pragma omp simd
                    for (int o = o0; o < o1; o++) part[o - o0] += r[o];
                }
                for (int o = o0; o < o1; o++) acc[o - o0] += part[o - o0];
            }
            for (int o = o0; o < o1; o++) db[o] = (float)acc[o - o0];
        }
    }
    return BASQ_OK;
}

BASQ_API int basq_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                        const float* B, int ldb, float beta, float* C, int ldc) {
    if ((transA != 0 && transA != 1) || (transB != 0 && transB != 1) || M < 0 || N < 0 || K < 0) return BASQ_EINVAL;
    // Row-major storage: op(A) is [M, K], stored [M, K] or [K, M]; likewise B; C is [M, N].
    if (lda < std::max(1, transA ? M : K) || ldb < std::max(1, transB ? K : N) || ldc < std::max(1, N))
        return BASQ_EINVAL;
    if (M == 0 || N == 0) return BASQ_OK;
    if (!C || (K > 0 && (!A || !B))) return BASQ_EINVAL;
    BlasSerial serial;
    par_gemm(transA != 0, transB != 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return BASQ_OK;
}
