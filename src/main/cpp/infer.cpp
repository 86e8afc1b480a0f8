// Inference kernels of a deployed BASQ network (infer.h).
//
// Each unit is one call that walks its output in work items (a tile of rows, or a band of
// output rows of one image) spread over the OpenMP threads. An item does everything in cache:
// the prologue (folded batch norm + quantizer) turns its input rows into levels (clip) or
// quantized values (LSQ) in the thread's workspace, the convolution runs on them with the
// integer weight codes, and the epilogue (folded weight step + BN_b, ReLU, the skip, BN_c, the
// residual) writes the unit's output once. Per unit the activations therefore cross memory
// twice (read x, write y) instead of the seven passes of the training library's evaluation.
//
// Arithmetic by unit kind:
//  - 3x3 units (clip quantizer, one step for the whole tensor): the levels (8-bit) times the
//    codes are summed in integers, exactly; the step and the weight steps scale the sum once in
//    the epilogue. Depthwise: 16-bit lanes (2-bit codes: sign-and-add, no multiplication);
//    full 3x3: u8 x s8 products summed in int32 (AVX2 vpmaddubsw/vpmaddwd, AVX-512 VNNI).
//  - 1x1 units (LSQ, one step per input channel): the quantized values level * step[c] differ
//    per input channel inside the sum, so they stay float; the codes are decoded per panel
//    (int8 -> float, in L1) for a register-blocked float GEMM, the weight step applied after
//    the sum.
// The float sums run in another order than the training library's convolutions (which use
// BLAS), so results agree with it to float rounding, not bit for bit.
#pragma GCC optimize("no-trapping-math")
#include "basq4j/infer.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "basq4j/quant_math.h"
#include "bn_engine.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define BASQ_INFER_AVX2 1
#endif
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#include <immintrin.h>
#define BASQ_INFER_AVX512 1
#endif

using basq_cpu::relu1;

namespace {

// ------------------------------------------------------------------ instruction set, threads

int detect_isa() {
    int level = 0;
#ifdef BASQ_INFER_AVX2
    level = 1;
#ifdef BASQ_INFER_AVX512
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        level = 2;
#endif
#endif
    return level;
}

const int kIsaAvailable = detect_isa();
int g_isa = kIsaAvailable;

inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

constexpr int64_t kAlign = 64;
inline int64_t align_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }
inline int ceil_div(int a, int b) { return (a + b - 1) / b; }
inline int round_up(int a, int m) { return (a + m - 1) / m * m; }
constexpr int kRowQuantum = 24;  // row counts of A tiles: a multiple of every micro tile's rows

// A workspace cut into one slab per thread; threads() says how many the caller's bytes hold.
struct Slabs {
    char* base;
    int64_t slab;
    int count;
    char* get(int t) const { return base + (int64_t)t * slab; }
};

bool slabs(void* ws, int64_t ws_bytes, int64_t slab, int want, Slabs* s) {
    slab = align_up(slab, kAlign);
    const uintptr_t p = (uintptr_t)ws;
    const int64_t skip = (int64_t)(align_up((int64_t)p, kAlign) - (int64_t)p);
    if (!ws || ws_bytes - skip < slab) return false;
    const int64_t fit = (ws_bytes - skip) / slab;
    s->base = (char*)ws + skip;
    s->slab = slab;
    s->count = (int)std::min<int64_t>(fit, std::max(1, want));
    return true;
}

inline int64_t workspace_for(int64_t slab, int threads) {
    return align_up(slab, kAlign) * std::max(1, threads) + kAlign;
}

// Items of work spread over threads; small calls stay on one thread.
template <class F>
inline void parallel_items(int items, int threads, int64_t work, F f) {
    const int t = work < (1 << 15) ? 1 : std::min(threads, items);
#pragma omp parallel for schedule(dynamic, 1) num_threads(t) if (t > 1)
    for (int i = 0; i < items; i++) f(i, thread_id());
}

// ------------------------------------------------------------------ quantizers (folded BN)

// clamp(v, 0, hi) with NaN to 0, written so that g++ emits maxps/minps (whose result on an
// unordered compare is the second operand: 0 here, then 0 again).
inline float clamp0(float v, float hi) {
    v = v > 0.0f ? v : 0.0f;
    return v < hi ? v : hi;
}

inline float lsq_value(float x, float a, float b, float qa, float step) {
    return rintf(clamp0(x * a + b, qa)) * step;
}

inline float clip_level(float x, float a, float b, float top) {
    return rintf(clamp0(x * a + b, top));
}

// The epilogue of one output row: y = (relu(acc*ea + eb) + skip) * es + et (+ res), for the
// outputs [o0, o0 + n) of a unit with C outputs.
inline void epilogue_row(int isa, const float* __restrict acc, const float* __restrict skip,
                         const float* __restrict epi, int C, int o0, int n, const float* __restrict res,
                         float* __restrict y) {
    const float* ea = epi + o0;
    const float* eb = epi + C + o0;
    const float* es = epi + 2 * C + o0;
    const float* et = epi + 3 * C + o0;
    int j = 0;
#ifdef BASQ_INFER_AVX2
    if (isa >= 1) {
        // explicit 8-wide loop: rows are short (16 to a few hundred), g++'s vector prologues cost more
        const __m256 zero = _mm256_setzero_ps();
        for (; j + 8 <= n; j += 8) {
            __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(acc + j), _mm256_loadu_ps(ea + j), _mm256_loadu_ps(eb + j));
            v = _mm256_add_ps(_mm256_max_ps(v, zero), _mm256_loadu_ps(skip + j));  // max(NaN, 0) is 0, as relu1
            v = _mm256_fmadd_ps(v, _mm256_loadu_ps(es + j), _mm256_loadu_ps(et + j));
            if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + j));
            _mm256_storeu_ps(y + j, v);
        }
    }
#endif
    (void)isa;
    for (; j < n; j++) {
        const float v = (relu1(acc[j] * ea[j] + eb[j]) + skip[j]) * es[j] + et[j];
        y[j] = res ? v + res[j] : v;
    }
}

// LSQ prologue of one row: out[c] = rint(clamp(x*a + b, 0, qa)) * s for c < n.
inline void lsq_row(int isa, const float* __restrict x, const float* __restrict a, const float* __restrict b,
                    const float* __restrict s, float qa, int n, float* __restrict out) {
    int c = 0;
#ifdef BASQ_INFER_AVX2
    if (isa >= 1) {
        const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(qa);
        for (; c + 8 <= n; c += 8) {
            __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + c), _mm256_loadu_ps(a + c), _mm256_loadu_ps(b + c));
            v = _mm256_min_ps(_mm256_max_ps(v, zero), top);  // NaN -> 0, as clamp0
            v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm256_storeu_ps(out + c, _mm256_mul_ps(v, _mm256_loadu_ps(s + c)));
        }
    }
#endif
    (void)isa;
    for (; c < n; c++) out[c] = lsq_value(x[c], a[c], b[c], qa, s[c]);
}

// Clip prologue of one pixel: levels[c] = rint(clamp(x*a + b, 0, top)) for c < n.
inline void clip_row(int isa, const float* __restrict x, const float* __restrict a, const float* __restrict b,
                     float top, int n, uint8_t* __restrict out) {
    int c = 0;
#ifdef BASQ_INFER_AVX2
    if (isa >= 1) {
        const __m256 zero = _mm256_setzero_ps(), hi = _mm256_set1_ps(top);
        for (; c + 8 <= n; c += 8) {
            __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + c), _mm256_loadu_ps(a + c), _mm256_loadu_ps(b + c));
            v = _mm256_min_ps(_mm256_max_ps(v, zero), hi);
            const __m256i q = _mm256_cvtps_epi32(v);  // round to nearest even: the level
            const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            _mm_storel_epi64((__m128i*)(out + c), _mm_packus_epi16(w, w));
        }
    }
#endif
    (void)isa;
    for (; c < n; c++) out[c] = (uint8_t)(int)clip_level(x[c], a[c], b[c], top);
}

// F(cin -> cout) of one row x (cin floats) for outputs [o0, o0 + n): into buf, or x itself.
inline const float* flex_row(const float* x, int cin, int cout, int o0, int n, float* buf) {
    if (cin == cout) return x + o0;
    if (cin < cout) {
        int j = 0;
        while (j < n) {
            const int c = (o0 + j) % cin;
            const int run = std::min(cin - c, n - j);
            memcpy(buf + j, x + c, sizeof(float) * (size_t)run);
            j += run;
        }
        return buf;
    }
    // folding: x[o] + x[o + cout] (+ x[o + 2 cout] ...), in that order
    for (int j = 0; j < n; j++) buf[j] = x[o0 + j];
    for (int g = cout; g < cin; g += cout) {
        const int hi = std::min(n, cin - g - o0);
#pragma omp simd
        for (int j = 0; j < hi; j++) buf[j] += x[g + o0 + j];
    }
    return buf;
}

// The 2x2 window of output position i along a dimension of size h (stride-2 skip): first
// index and whether the second one lies inside. Size 3: every output takes window 0.
inline void pool_window(int i, int h, int* first, bool* second) {
    const int a = h == 3 ? 0 : 2 * i;
    *first = a;
    *second = a + 1 < h;
}

// The pooled skip of one output pixel (oh, ow) for channels [0, C) from an image x [H, W, C]
// whose values at (ih, iw) are src(ih, iw) (a row of C floats): into out.
template <class Src>
inline void pool_pixel(int oh, int ow, int H, int W, int C, Src src, float* __restrict out) {
    int h0, w0;
    bool h1, w1;
    pool_window(oh, H, &h0, &h1);
    pool_window(ow, W, &w0, &w1);
    const float* a = src(h0, w0);
    if (h1 && w1 && ((H % 2 == 0 && W % 2 == 0) || (H == 3 && W == 3))) {
        const float* b = src(h0, w0 + 1);
        const float* c = src(h0 + 1, w0);
        const float* d = src(h0 + 1, w0 + 1);
#pragma omp simd
        for (int k = 0; k < C; k++) out[k] = ((a[k] + b[k]) + (c[k] + d[k])) * 0.25f;
        return;
    }
    // zero-padded window: the terms inside, in row-major order
    for (int k = 0; k < C; k++) out[k] = a[k];
    if (w1) {
        const float* b = src(h0, w0 + 1);
        for (int k = 0; k < C; k++) out[k] += b[k];
    }
    if (h1) {
        const float* c = src(h0 + 1, w0);
        for (int k = 0; k < C; k++) out[k] += c[k];
        if (w1) {
            const float* d = src(h0 + 1, w0 + 1);
            for (int k = 0; k < C; k++) out[k] += d[k];
        }
    }
    for (int k = 0; k < C; k++) out[k] *= 0.25f;
}

// ------------------------------------------------------------------ float GEMM (register blocked)

constexpr int KC = 256;  // depth of a panel (the decoded panel stays in L1)
constexpr int MT = 96;   // rows of a work item (a multiple of every micro tile's rows)

// Micro tiles: C[mr x w] (= or +=) A[mr x kc] (rows lda apart) . B[kc x w] (rows ldb apart),
// w = 8 or 16 (portable, AVX2: 6 rows), 16 or 32 (AVX-512: 8 rows). The accumulators are
// named registers: an array of vectors is spilled to the stack at every step by g++ 12.
inline int micro_rows(int isa) { return isa >= 2 ? 8 : 6; }
inline int panel_width(int isa) { return isa >= 2 ? 32 : 16; }

template <int W>
inline void micro_portable(int kc, const float* A, int lda, const float* B, int ldb, float* C, int ldc, bool add) {
    float c[6][W];
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < W; j++) c[r][j] = add ? C[r * ldc + j] : 0.0f;
    for (int k = 0; k < kc; k++) {
        const float* b = B + (int64_t)k * ldb;
        for (int r = 0; r < 6; r++) {
            const float a = A[r * lda + k];
            for (int j = 0; j < W; j++) c[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < W; j++) C[r * ldc + j] = c[r][j];
}

#ifdef BASQ_INFER_AVX2
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
inline void micro_avx2_16(int kc, const float* A, int lda, const float* B, int ldb, float* C, int ldc, bool add) {
#define DECL(r)                                                                        \
    const float* a##r = A + r * lda;                                                   \
    __m256 c##r##0 = add ? _mm256_loadu_ps(C + r * ldc) : _mm256_setzero_ps();         \
    __m256 c##r##1 = add ? _mm256_loadu_ps(C + r * ldc + 8) : _mm256_setzero_ps();
    ROWS6(DECL)
#undef DECL
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + 8);
        B += ldb;
#define STEP(r)                                       \
    {                                                 \
        const __m256 a = _mm256_broadcast_ss(a##r + k); \
        c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);    \
        c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);    \
    }
        ROWS6(STEP)
#undef STEP
    }
#define STORE(r)                               \
    _mm256_storeu_ps(C + r * ldc, c##r##0);    \
    _mm256_storeu_ps(C + r * ldc + 8, c##r##1);
    ROWS6(STORE)
#undef STORE
}

inline void micro_avx2_8(int kc, const float* A, int lda, const float* B, int ldb, float* C, int ldc, bool add) {
#define DECL(r)                              \
    const float* a##r = A + r * lda;         \
    __m256 c##r = add ? _mm256_loadu_ps(C + r * ldc) : _mm256_setzero_ps();
    ROWS6(DECL)
#undef DECL
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_loadu_ps(B);
        B += ldb;
#define STEP(r) c##r = _mm256_fmadd_ps(_mm256_broadcast_ss(a##r + k), b0, c##r);
        ROWS6(STEP)
#undef STEP
    }
#define STORE(r) _mm256_storeu_ps(C + r * ldc, c##r);
    ROWS6(STORE)
#undef STORE
}
#undef ROWS6
#endif

#ifdef BASQ_INFER_AVX512
#define ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
__attribute__((target("avx512f"))) void micro_avx512_32(int kc, const float* A, int lda, const float* B, int ldb,
                                                         float* C, int ldc, bool add) {
#define DECL(r)                                                                \
    const float* a##r = A + r * lda;                                           \
    __m512 c##r##0 = add ? _mm512_loadu_ps(C + r * ldc) : _mm512_setzero_ps(); \
    __m512 c##r##1 = add ? _mm512_loadu_ps(C + r * ldc + 16) : _mm512_setzero_ps();
    ROWS8(DECL)
#undef DECL
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_loadu_ps(B), b1 = _mm512_loadu_ps(B + 16);
        B += ldb;
#define STEP(r)                                    \
    {                                              \
        const __m512 a = _mm512_set1_ps(a##r[k]);  \
        c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0); \
        c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1); \
    }
        ROWS8(STEP)
#undef STEP
    }
#define STORE(r)                               \
    _mm512_storeu_ps(C + r * ldc, c##r##0);    \
    _mm512_storeu_ps(C + r * ldc + 16, c##r##1);
    ROWS8(STORE)
#undef STORE
}

__attribute__((target("avx512f"))) void micro_avx512_16(int kc, const float* A, int lda, const float* B, int ldb,
                                                         float* C, int ldc, bool add) {
#define DECL(r)                      \
    const float* a##r = A + r * lda; \
    __m512 c##r = add ? _mm512_loadu_ps(C + r * ldc) : _mm512_setzero_ps();
    ROWS8(DECL)
#undef DECL
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_loadu_ps(B);
        B += ldb;
#define STEP(r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(a##r[k]), b0, c##r);
        ROWS8(STEP)
#undef STEP
    }
#define STORE(r) _mm512_storeu_ps(C + r * ldc, c##r);
    ROWS8(STORE)
#undef STORE
}
#undef ROWS8
#endif

// One micro tile of width w (a panel: at most panel_width(isa) columns, zero beyond w).
inline void micro(int isa, int w, int kc, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
                  bool add) {
#ifdef BASQ_INFER_AVX512
    if (isa >= 2) {
        if (w > 16)
            micro_avx512_32(kc, A, lda, B, ldb, C, ldc, add);
        else
            micro_avx512_16(kc, A, lda, B, ldb, C, ldc, add);
        return;
    }
#endif
#ifdef BASQ_INFER_AVX2
    if (isa >= 1) {
        if (w > 8)
            micro_avx2_16(kc, A, lda, B, ldb, C, ldc, add);
        else
            micro_avx2_8(kc, A, lda, B, ldb, C, ldc, add);
        return;
    }
#endif
    (void)isa;
    if (w > 8)
        micro_portable<16>(kc, A, lda, B, ldb, C, ldc, add);
    else
        micro_portable<8>(kc, A, lda, B, ldb, C, ldc, add);
}

/*
 * C[rows x ncols] = A[rows x K] . B[K x ncols], rows a multiple of micro_rows(isa); C has
 * ldc >= ncols rounded up to panel_width(isa). getB(kb, kc, j, w, &ldb) returns the panel
 * B[kb .. kb+kc, j .. j+pw) with its columns from w on zero (pw = panel_width(isa)).
 */
template <class GetB>
inline void gemm_f32(int isa, int rows, int K, const float* A, int lda, int ncols, GetB getB, float* C, int ldc) {
    const int mr = micro_rows(isa), pw = panel_width(isa);
    for (int kb = 0; kb < K; kb += KC) {
        const int kc = std::min(KC, K - kb);
        for (int j = 0; j < ncols; j += pw) {
            const int w = std::min(pw, ncols - j);
            int ldb = pw;
            const float* B = getB(kb, kc, j, w, &ldb);
            for (int r = 0; r < rows; r += mr)
                micro(isa, w, kc, A + (int64_t)r * lda + kb, lda, B, ldb, C + (int64_t)r * ldc + j, ldc, kb > 0);
        }
    }
}

// Rows and columns of the work items of a GEMM-shaped unit over M rows and N columns.
struct Items {
    int mt;      // rows per item (a multiple of kRowQuantum)
    int mtiles;  // items along the rows
    int nc;      // columns per item (multiple of 16, at most ncMax)
    int nchunks; // items along the columns
    int ncMax;   // the widest item any thread count gives (what a workspace slab holds)
    int count() const { return mtiles * nchunks; }
};

constexpr int NC = 256;  // widest item

// Items of an M x N unit for `threads` threads; the slab size (mt, ncMax) does not depend on it.
Items items_for(int M, int N, int threads) {
    Items it;
    it.mt = std::min(MT, round_up(M, kRowQuantum));
    it.mtiles = ceil_div(M, it.mt);
    it.ncMax = std::min(NC, (N + 15) / 16 * 16);
    int chunks = ceil_div(N, it.ncMax);
    const int want = 2 * std::max(1, threads);
    if (it.mtiles * chunks < want) chunks = std::max(chunks, std::min(ceil_div(N, 16), ceil_div(want, it.mtiles)));
    it.nc = (ceil_div(N, chunks) + 15) / 16 * 16;
    it.nchunks = ceil_div(N, it.nc);
    return it;
}

// ------------------------------------------------------------------ int8 GEMM (levels x codes)

constexpr int MRI = 4;  // rows of an int8 micro tile

// C[MRI x 8*NV] (int32) = A[MRI x 4*k4] (u8, rows lda apart) . B (s8, [k4][ldn][4] from column j)
template <int NV>
inline void micro_i8_portable(int k4n, const uint8_t* A, int lda, const int8_t* B, int ldn, int32_t* C, int ldc) {
    int32_t c[MRI][8 * NV] = {};
    for (int k4 = 0; k4 < k4n; k4++) {
        const int8_t* b = B + (int64_t)k4 * ldn * 4;
        for (int r = 0; r < MRI; r++) {
            const uint8_t* a = A + (int64_t)r * lda + 4 * k4;
            for (int j = 0; j < 8 * NV; j++)
                c[r][j] += a[0] * b[4 * j] + a[1] * b[4 * j + 1] + a[2] * b[4 * j + 2] + a[3] * b[4 * j + 3];
        }
    }
    for (int r = 0; r < MRI; r++)
        for (int j = 0; j < 8 * NV; j++) C[r * ldc + j] = c[r][j];
}

#ifdef BASQ_INFER_AVX2
template <int NV>
inline void micro_i8_avx2(int k4n, const uint8_t* A, int lda, const int8_t* B, int ldn, int32_t* C, int ldc) {
    __m256i c[MRI][NV];
    for (int r = 0; r < MRI; r++)
        for (int v = 0; v < NV; v++) c[r][v] = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int k4 = 0; k4 < k4n; k4++) {
        __m256i b[NV];
        for (int v = 0; v < NV; v++) b[v] = _mm256_loadu_si256((const __m256i*)(B + ((int64_t)k4 * ldn + 8 * v) * 4));
        for (int r = 0; r < MRI; r++) {
            int32_t q;
            memcpy(&q, A + (int64_t)r * lda + 4 * k4, 4);
            const __m256i a = _mm256_set1_epi32(q);
            // u8 levels x s8 codes: pairs in 16 bits (|2 * 255 * 7| < 2^15, no saturation), quads in 32
            for (int v = 0; v < NV; v++)
                c[r][v] = _mm256_add_epi32(c[r][v], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b[v]), ones));
        }
    }
    for (int r = 0; r < MRI; r++)
        for (int v = 0; v < NV; v++) _mm256_storeu_si256((__m256i*)(C + r * ldc + 8 * v), c[r][v]);
}
#endif

#ifdef BASQ_INFER_AVX512
// AVX-512 VNNI: vpdpbusd sums the four u8 x s8 products of a lane into int32 in one instruction.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void micro_i8_vnni(int k4n, const uint8_t* A,
                                                                                     int lda, const int8_t* B,
                                                                                     int ldn, int32_t* C, int ldc,
                                                                                     int nv) {
    __m256i c[MRI][2];
    for (int r = 0; r < MRI; r++) c[r][0] = c[r][1] = _mm256_setzero_si256();
    for (int k4 = 0; k4 < k4n; k4++) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i*)(B + (int64_t)k4 * ldn * 4));
        const __m256i b1 = nv > 1 ? _mm256_loadu_si256((const __m256i*)(B + ((int64_t)k4 * ldn + 8) * 4)) : b0;
        for (int r = 0; r < MRI; r++) {
            int32_t q;
            memcpy(&q, A + (int64_t)r * lda + 4 * k4, 4);
            const __m256i a = _mm256_set1_epi32(q);
            c[r][0] = _mm256_dpbusd_epi32(c[r][0], a, b0);
            if (nv > 1) c[r][1] = _mm256_dpbusd_epi32(c[r][1], a, b1);
        }
    }
    for (int r = 0; r < MRI; r++) {
        _mm256_storeu_si256((__m256i*)(C + r * ldc), c[r][0]);
        if (nv > 1) _mm256_storeu_si256((__m256i*)(C + r * ldc + 8), c[r][1]);
    }
}
#endif

inline void micro_i8(int isa, int nv, int k4n, const uint8_t* A, int lda, const int8_t* B, int ldn, int32_t* C,
                     int ldc) {
#ifdef BASQ_INFER_AVX512
    if (isa >= 2) {
        micro_i8_vnni(k4n, A, lda, B, ldn, C, ldc, nv);
        return;
    }
#endif
#ifdef BASQ_INFER_AVX2
    if (isa >= 1) {
        if (nv == 2)
            micro_i8_avx2<2>(k4n, A, lda, B, ldn, C, ldc);
        else
            micro_i8_avx2<1>(k4n, A, lda, B, ldn, C, ldc);
        return;
    }
#endif
    (void)isa;
    if (nv == 2)
        micro_i8_portable<2>(k4n, A, lda, B, ldn, C, ldc);
    else
        micro_i8_portable<1>(k4n, A, lda, B, ldn, C, ldc);
}

// ------------------------------------------------------------------ packed layouts

inline int pad16(int c) { return (c + 15) / 16 * 16; }
inline int pad32(int c) { return (c + 31) / 32 * 32; }
inline int pad8(int c) { return (c + 7) / 8 * 8; }
inline int conv_k4(int Cin) { return ceil_div(9 * Cin, 4); }

struct Bands {
    int bh;     // output rows per band
    int bands;  // bands per image
    int bhMax;  // the highest band any thread count gives (what a workspace slab holds)
};

// Bands of output rows per image: items = N * bands, at least 2 per thread when possible, and
// at most about `cap` output pixels per band.
Bands bands_for(int N, int Ho, int Wo, int threads, int cap) {
    const int bhMax = std::max(1, std::min(Ho, cap / std::max(1, Wo)));
    int bands = ceil_div(Ho, bhMax);
    const int want = 2 * std::max(1, threads);
    if (N * bands < want) bands = std::max(bands, std::min(Ho, ceil_div(want, N)));
    const int bh = ceil_div(Ho, bands);
    return {bh, ceil_div(Ho, bh), bhMax};
}

// Levels of the input rows a band reads, zero-padded by one pixel on each side: rows
// [ih0, ih0 + rows) of image xn (H x W x C floats) into L [rows][W + 2][Cp] (u8).
inline void band_levels(int isa, const float* xn, int H, int W, int C, int Cp, int ih0, int rows, const float* pro,
                        float top, uint8_t* L) {
    const float* pa = pro;
    const float* pb = pro + C;
    const int64_t rs = (int64_t)(W + 2) * Cp;
    for (int i = 0; i < rows; i++) {
        const int ih = ih0 + i;
        uint8_t* Lr = L + i * rs;
        if (ih < 0 || ih >= H) {
            memset(Lr, 0, (size_t)rs);
            continue;
        }
        memset(Lr, 0, (size_t)Cp);
        memset(Lr + (int64_t)(W + 1) * Cp, 0, (size_t)Cp);
        for (int w = 0; w < W; w++) {
            uint8_t* lp = Lr + (int64_t)(w + 1) * Cp;
            clip_row(isa, xn + ((int64_t)ih * W + w) * C, pa, pb, top, C, lp);
            for (int c = C; c < Cp; c++) lp[c] = 0;
        }
    }
}

}  // namespace

// ---------------------------------------------------------------- ISA

BASQ_API int basq_infer_isa(void) { return g_isa; }

BASQ_API int basq_infer_set_isa(int level) {
    g_isa = std::max(0, std::min(level, kIsaAvailable));
    return g_isa;
}

// ---------------------------------------------------------------- packing

BASQ_API int64_t basq_infer_packed_bytes_pw(int Cin, int Cout) {
    return Cin > 0 && Cout > 0 ? (int64_t)Cin * Cout : 0;
}

BASQ_API int basq_infer_pack_pw(const int8_t* codes, int Cin, int Cout, void* packed) {
    if (Cin <= 0 || Cout <= 0 || !codes || !packed) return BASQ_EINVAL;
    int8_t* p = (int8_t*)packed;  // [Cin][Cout]: the codes of one input channel contiguous
    for (int o = 0; o < Cout; o++)
        for (int c = 0; c < Cin; c++) p[(int64_t)c * Cout + o] = codes[(int64_t)o * Cin + c];
    return BASQ_OK;
}

BASQ_API int64_t basq_infer_packed_bytes_dw(int C) { return C > 0 ? (int64_t)9 * pad16(C) * 2 : 0; }

BASQ_API int basq_infer_pack_dw(const int8_t* codes, int C, void* packed) {
    if (C <= 0 || !codes || !packed) return BASQ_EINVAL;
    const int Cp = pad16(C);
    int16_t* p = (int16_t*)packed;  // [9][Cp] 16-bit, zero-padded channels
    for (int t = 0; t < 9; t++)
        for (int c = 0; c < Cp; c++) p[t * Cp + c] = c < C ? codes[c * 9 + t] : 0;
    return BASQ_OK;
}

BASQ_API int64_t basq_infer_packed_bytes_conv(int Cin, int Cout) {
    return Cin > 0 && Cout > 0 ? (int64_t)conv_k4(Cin) * pad8(Cout) * 4 : 0;
}

BASQ_API int basq_infer_pack_conv(const int8_t* codes, int Cin, int Cout, void* packed) {
    if (Cin <= 0 || Cout <= 0 || !codes || !packed) return BASQ_EINVAL;
    const int Np = pad8(Cout);
    const int K4 = conv_k4(Cin);
    int8_t* p = (int8_t*)packed;  // [K4][Np][4], k = (kh * 3 + kw) * Cin + c (the im2col order of NHWC)
    memset(p, 0, (size_t)K4 * Np * 4);
    for (int o = 0; o < Cout; o++)
        for (int c = 0; c < Cin; c++)
            for (int t = 0; t < 9; t++) {
                const int k = t * Cin + c;
                p[((int64_t)(k / 4) * Np + o) * 4 + k % 4] = codes[((int64_t)o * Cin + c) * 9 + t];
            }
    return BASQ_OK;
}

BASQ_API int64_t basq_infer_packed_bytes_stem(int Cin, int Cout, int k) {
    return Cin > 0 && Cout > 0 && k > 0 ? (int64_t)Cin * k * k * pad32(Cout) * 4 : 0;
}

BASQ_API int basq_infer_pack_stem(const float* w, int Cin, int Cout, int k, void* packed) {
    if (Cin <= 0 || Cout <= 0 || k <= 0 || !w || !packed) return BASQ_EINVAL;
    const int K = Cin * k * k;
    const int Np = pad32(Cout);
    float* p = (float*)packed;  // [K][Np], K in (c, kh, kw) order, zero-padded columns
    for (int i = 0; i < K; i++)
        for (int o = 0; o < Np; o++) p[(int64_t)i * Np + o] = o < Cout ? w[(int64_t)o * K + i] : 0.0f;
    return BASQ_OK;
}

// ---------------------------------------------------------------- stem

namespace {

struct StemGeo {
    int Ho, Wo, K, Np;
    Bands b;
    int64_t slab;  // bytes per thread: A [rows][K], C [rows][Np]
};

StemGeo stem_geo(int N, int Cin, int H, int W, int Cout, int k, int stride, int pad, int threads) {
    StemGeo g;
    g.Ho = (H + 2 * pad - k) / stride + 1;
    g.Wo = (W + 2 * pad - k) / stride + 1;
    g.K = Cin * k * k;
    g.Np = pad32(Cout);
    g.b = bands_for(N, g.Ho, g.Wo, threads, MT);
    const int rows = round_up(g.b.bhMax * g.Wo, kRowQuantum);
    g.slab = align_up((int64_t)rows * g.K * 4, kAlign) + (int64_t)rows * g.Np * 4;
    return g;
}

bool stem_ok(int N, int Cin, int H, int W, int Cout, int k, int stride, int pad) {
    return N > 0 && Cin > 0 && Cout > 0 && k > 0 && stride > 0 && pad >= 0 && H + 2 * pad >= k && W + 2 * pad >= k;
}

}  // namespace

BASQ_API int64_t basq_infer_stem_workspace(int N, int Cin, int H, int W, int Cout, int k, int stride, int pad,
                                           int threads) {
    if (!stem_ok(N, Cin, H, W, Cout, k, stride, pad)) return 0;
    return workspace_for(stem_geo(N, Cin, H, W, Cout, k, stride, pad, threads).slab, threads);
}

BASQ_API int basq_infer_stem(const float* x, int N, int Cin, int H, int W, const void* packed, int Cout, int k,
                             int stride, int pad, const float* bn, float* y, void* ws, int64_t ws_bytes) {
    if (!stem_ok(N, Cin, H, W, Cout, k, stride, pad) || !x || !packed || !bn || !y) return BASQ_EINVAL;
    const int T = max_threads();
    const StemGeo g = stem_geo(N, Cin, H, W, Cout, k, stride, pad, T);
    Slabs sl;
    if (!slabs(ws, ws_bytes, g.slab, T, &sl)) return BASQ_EINVAL;
    const int isa = g_isa;
    const float* Bp = (const float*)packed;
    const int items = N * g.b.bands;
    parallel_items(items, sl.count, (int64_t)N * g.Ho * g.Wo * g.K * Cout, [&](int item, int t) {
        const int n = item / g.b.bands;
        const int oh0 = (item % g.b.bands) * g.b.bh;
        const int oh1 = std::min(g.Ho, oh0 + g.b.bh);
        const int rows = (oh1 - oh0) * g.Wo;
        const int rows_pad = round_up(rows, micro_rows(isa));
        float* A = (float*)sl.get(t);
        float* Ct = (float*)(sl.get(t) + align_up((int64_t)round_up(g.b.bhMax * g.Wo, kRowQuantum) * g.K * 4, kAlign));
        // im2col of the band, (c, kh, kw) order
        const float* xn = x + (int64_t)n * Cin * H * W;
        for (int r = 0; r < rows; r++) {
            const int oh = oh0 + r / g.Wo, ow = r % g.Wo;
            float* a = A + (int64_t)r * g.K;
            const int iw0 = ow * stride - pad;
            const int kw0 = std::max(0, -iw0), kw1 = std::min(k, W - iw0);  // taps inside the row
            for (int c = 0; c < Cin; c++)
                for (int kh = 0; kh < k; kh++, a += k) {
                    const int ih = oh * stride - pad + kh;
                    if (ih < 0 || ih >= H || kw0 >= kw1) {
                        for (int kw = 0; kw < k; kw++) a[kw] = 0.0f;
                        continue;
                    }
                    const float* xr = xn + ((int64_t)c * H + ih) * W + iw0;
                    for (int kw = 0; kw < kw0; kw++) a[kw] = 0.0f;
                    for (int kw = kw0; kw < kw1; kw++) a[kw] = xr[kw];
                    for (int kw = kw1; kw < k; kw++) a[kw] = 0.0f;
                }
        }
        memset(A + (int64_t)rows * g.K, 0, sizeof(float) * (size_t)(rows_pad - rows) * g.K);
        gemm_f32(
            isa, rows_pad, g.K, A, g.K, Cout,
            [&](int kb, int, int j, int, int* ldb) {
                *ldb = g.Np;
                return Bp + (int64_t)kb * g.Np + j;
            },
            Ct, g.Np);
        float* yb = y + ((int64_t)n * g.Ho + oh0) * g.Wo * Cout;
        const float* sc = bn;
        const float* sh = bn + Cout;
        for (int r = 0; r < rows; r++) {
            const float* cr = Ct + (int64_t)r * g.Np;
            float* yr = yb + (int64_t)r * Cout;
#pragma omp simd
            for (int o = 0; o < Cout; o++) yr[o] = relu1(cr[o] * sc[o] + sh[o]);
        }
    });
    return BASQ_OK;
}

BASQ_API int basq_infer_maxpool(const float* x, int N, int H, int W, int C, int k, int s, int p, float* y) {
    if (N <= 0 || H <= 0 || W <= 0 || C <= 0 || k <= 0 || s <= 0 || p < 0 || 2 * p > k || H + 2 * p < k ||
        W + 2 * p < k || !x || !y)
        return BASQ_EINVAL;
    const int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    const int64_t rows = (int64_t)N * Ho;
#pragma omp parallel for schedule(static) if (rows * Wo * C > (1 << 15))
    for (int64_t r = 0; r < rows; r++) {
        const int n = (int)(r / Ho), oh = (int)(r % Ho);
        for (int ow = 0; ow < Wo; ow++) {
            float* yp = y + ((r * Wo) + ow) * C;
            for (int c = 0; c < C; c++) yp[c] = -INFINITY;
            for (int kh = 0; kh < k; kh++) {
                const int ih = oh * s - p + kh;
                if (ih < 0 || ih >= H) continue;
                for (int kw = 0; kw < k; kw++) {
                    const int iw = ow * s - p + kw;
                    if (iw < 0 || iw >= W) continue;
                    const float* xp = x + (((int64_t)n * H + ih) * W + iw) * C;
#pragma omp simd
                    for (int c = 0; c < C; c++) {
                        const float v = xp[c];
                        yp[c] = (v > yp[c] || v != v) ? v : yp[c];
                    }
                }
            }
        }
    }
    return BASQ_OK;
}

// ---------------------------------------------------------------- 1x1 unit

namespace {

struct PwGeo {
    Items it;
    int64_t a_bytes, b_bytes, c_bytes, s_bytes;
    int64_t slab() const { return a_bytes + b_bytes + c_bytes + s_bytes; }
};

PwGeo pw_geo(int M, int Cin, int Cout, int threads) {
    PwGeo g;
    g.it = items_for(M, Cout, threads);
    g.a_bytes = align_up((int64_t)g.it.mt * Cin * 4, kAlign);
    g.b_bytes = align_up((int64_t)KC * 32 * 4, kAlign);
    g.c_bytes = align_up((int64_t)g.it.mt * g.it.ncMax * 4, kAlign);
    g.s_bytes = align_up((int64_t)g.it.ncMax * 4, kAlign);
    return g;
}

}  // namespace

BASQ_API int64_t basq_infer_pw_workspace(int M, int Cin, int Cout, int threads) {
    if (M <= 0 || Cin <= 0 || Cout <= 0) return 0;
    return workspace_for(pw_geo(M, Cin, Cout, threads).slab(), threads);
}

BASQ_API int basq_infer_pw_unit(const float* x, int M, int Cin, int Cout, const float* pro, int qa,
                                const void* packed, const float* epi, const float* res, float* y, void* ws,
                                int64_t ws_bytes) {
    if (M <= 0 || Cin <= 0 || Cout <= 0 || qa < 1 || !x || !pro || !packed || !epi || !y) return BASQ_EINVAL;
    const int T = max_threads();
    const PwGeo g = pw_geo(M, Cin, Cout, T);
    Slabs sl;
    if (!slabs(ws, ws_bytes, g.slab(), T, &sl)) return BASQ_EINVAL;
    const int isa = g_isa;
    const int8_t* codes = (const int8_t*)packed;
    const float fqa = (float)qa;
    const Items it = g.it;
    parallel_items(it.count(), sl.count, (int64_t)M * Cin * Cout, [&](int item, int t) {
        const int mi = item / it.nchunks, ni = item % it.nchunks;
        const int m0 = mi * it.mt, rows = std::min(it.mt, M - m0);
        const int rows_pad = round_up(rows, micro_rows(isa));
        const int n0 = ni * it.nc, ncols = std::min(it.nc, Cout - n0);
        char* s = sl.get(t);
        float* A = (float*)s;
        float* Bb = (float*)(s + g.a_bytes);
        float* Ct = (float*)(s + g.a_bytes + g.b_bytes);
        float* sk = (float*)(s + g.a_bytes + g.b_bytes + g.c_bytes);
        // prologue: the quantized values of the item's rows (BN_a folded into LSQ)
        const float* pa = pro;
        const float* pb = pro + Cin;
        const float* ps = pro + 2 * Cin;
        for (int r = 0; r < rows; r++)
            lsq_row(isa, x + (int64_t)(m0 + r) * Cin, pa, pb, ps, fqa, Cin, A + (int64_t)r * Cin);
        memset(A + (int64_t)rows * Cin, 0, sizeof(float) * (size_t)(rows_pad - rows) * Cin);
        // the convolution: codes decoded per panel into L1
        gemm_f32(
            isa, rows_pad, Cin, A, Cin, ncols,
            [&](int kb, int kc, int j, int w, int* ldb) {
                const int pw = panel_width(isa);
                *ldb = pw;
                const int8_t* src = codes + (int64_t)kb * Cout + n0 + j;
                for (int k = 0; k < kc; k++) {
                    const int8_t* q = src + (int64_t)k * Cout;
                    float* b = Bb + k * pw;
                    if (w == pw) {
#pragma omp simd
                        for (int jj = 0; jj < pw; jj++) b[jj] = (float)q[jj];
                    } else {
                        for (int jj = 0; jj < pw; jj++) b[jj] = jj < w ? (float)q[jj] : 0.0f;
                    }
                }
                return (const float*)Bb;
            },
            Ct, it.nc);
        // epilogue: weight step + BN_b, ReLU, skip, BN_c, residual
        for (int r = 0; r < rows; r++) {
            const int64_t m = m0 + r;
            const float* xr = x + m * Cin;
            const float* cr = Ct + (int64_t)r * it.nc;
            const float* rr = res ? res + m * Cout + n0 : nullptr;
            float* yr = y + m * Cout + n0;
            if (Cin < Cout) {
                // tiling: output k takes input k mod cin, read in place run by run
                int j = 0;
                while (j < ncols) {
                    const int c = (n0 + j) % Cin;
                    const int run = std::min(Cin - c, ncols - j);
                    epilogue_row(isa, cr + j, xr + c, epi, Cout, n0 + j, run, rr ? rr + j : nullptr, yr + j);
                    j += run;
                }
            } else {
                epilogue_row(isa, cr, flex_row(xr, Cin, Cout, n0, ncols, sk), epi, Cout, n0, ncols, rr, yr);
            }
        }
    });
    return BASQ_OK;
}

// ---------------------------------------------------------------- depthwise 3x3 unit

namespace {

struct DwGeo {
    int Ho, Wo, Cp;
    Bands b;
    int64_t l_bytes, a_bytes, s_bytes;
    int64_t slab() const { return l_bytes + a_bytes + s_bytes; }
};

DwGeo dw_geo(int N, int H, int W, int C, int stride, int threads) {
    DwGeo g;
    g.Ho = (H - 1) / stride + 1;
    g.Wo = (W - 1) / stride + 1;
    g.Cp = pad16(C);
    g.b = bands_for(N, g.Ho, g.Wo, threads, 1 << 14);
    const int rows_in = (g.b.bhMax - 1) * stride + 3;
    g.l_bytes = align_up((int64_t)rows_in * (W + 2) * g.Cp, kAlign);
    g.a_bytes = align_up((int64_t)g.Cp * 4, kAlign);        // one pixel's sums (float)
    g.s_bytes = align_up((int64_t)g.Cp * 4, kAlign);        // one pixel's pooled skip
    return g;
}

// acc[c] = sum over the 9 taps of L (rows rs bytes apart, pixels Cp apart) times the codes q.
inline void dw_pixel_portable(const uint8_t* L, int64_t rs, int Cp, const int16_t* q, float* acc) {
    for (int c = 0; c < Cp; c++) {
        int s = 0;
        for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) s += (int)L[kh * rs + kw * Cp + c] * q[(kh * 3 + kw) * Cp + c];
        acc[c] = (float)s;
    }
}

#ifdef BASQ_INFER_AVX2
template <bool Ternary>
inline void dw_pixel_avx2(const uint8_t* L, int64_t rs, int Cp, const int16_t* q, float* acc) {
    for (int c = 0; c < Cp; c += 16) {
        __m256i s = _mm256_setzero_si256();
        for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
                const __m256i l = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)(L + kh * rs + kw * Cp + c)));
                const __m256i w = _mm256_loadu_si256((const __m256i*)(q + (kh * 3 + kw) * Cp + c));
                // 2-bit codes are -1, 0, +1: the level's sign flipped or zeroed, then added
                s = _mm256_add_epi16(s, Ternary ? _mm256_sign_epi16(l, w) : _mm256_mullo_epi16(l, w));
            }
        _mm256_storeu_ps(acc + c, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(s))));
        _mm256_storeu_ps(acc + c + 8, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(s, 1))));
    }
}
#endif

}  // namespace

BASQ_API int64_t basq_infer_dw_workspace(int N, int H, int W, int C, int stride, int threads) {
    if (N <= 0 || H <= 0 || W <= 0 || C <= 0 || (stride != 1 && stride != 2)) return 0;
    return workspace_for(dw_geo(N, H, W, C, stride, threads).slab(), threads);
}

BASQ_API int basq_infer_dw_unit(const float* x, int N, int H, int W, int C, int stride, const float* pro, float top,
                                int bits, const void* packed, const float* epi, const float* res, float* y, void* ws,
                                int64_t ws_bytes) {
    if (N <= 0 || H <= 0 || W <= 0 || C <= 0 || (stride != 1 && stride != 2) || !(top >= 0.0f && top <= 255.0f) ||
        bits < 2 || bits > 4 || !x || !pro || !packed || !epi || !y)
        return BASQ_EINVAL;
    const int T = max_threads();
    const DwGeo g = dw_geo(N, H, W, C, stride, T);
    Slabs sl;
    if (!slabs(ws, ws_bytes, g.slab(), T, &sl)) return BASQ_EINVAL;
    const int isa = g_isa;
    const int16_t* q = (const int16_t*)packed;
    const int Cp = g.Cp;
    const int64_t rs = (int64_t)(W + 2) * Cp;
    const int items = N * g.b.bands;
    parallel_items(items, sl.count, (int64_t)N * g.Ho * g.Wo * C * 9, [&](int item, int t) {
        const int n = item / g.b.bands;
        const int oh0 = (item % g.b.bands) * g.b.bh;
        const int oh1 = std::min(g.Ho, oh0 + g.b.bh);
        char* s = sl.get(t);
        uint8_t* L = (uint8_t*)s;
        float* acc = (float*)(s + g.l_bytes);
        float* pool = (float*)(s + g.l_bytes + g.a_bytes);
        const float* xn = x + (int64_t)n * H * W * C;
        const int ih0 = oh0 * stride - 1;
        band_levels(isa, xn, H, W, C, Cp, ih0, (oh1 - oh0 - 1) * stride + 3, pro, top, L);
        for (int oh = oh0; oh < oh1; oh++) {
            const uint8_t* Lr = L + (int64_t)(oh - oh0) * stride * rs;
            for (int ow = 0; ow < g.Wo; ow++) {
                const uint8_t* Lp = Lr + (int64_t)ow * stride * Cp;
#ifdef BASQ_INFER_AVX2
                if (isa >= 1) {
                    if (bits == 2)
                        dw_pixel_avx2<true>(Lp, rs, Cp, q, acc);
                    else
                        dw_pixel_avx2<false>(Lp, rs, Cp, q, acc);
                } else
#endif
                    dw_pixel_portable(Lp, rs, Cp, q, acc);
                (void)isa;
                const int64_t o = (((int64_t)n * g.Ho + oh) * g.Wo + ow) * C;
                const float* skip;
                if (stride == 1) {
                    skip = x + o;
                } else {
                    pool_pixel(oh, ow, H, W, C,
                               [&](int ih, int iw) { return xn + ((int64_t)ih * W + iw) * C; }, pool);
                    skip = pool;
                }
                epilogue_row(isa, acc, skip, epi, C, 0, C, res ? res + o : nullptr, y + o);
            }
        }
    });
    return BASQ_OK;
}

// ---------------------------------------------------------------- full 3x3 unit

namespace {

struct ConvGeo {
    int Ho, Wo, Cp, K4, Np;
    Bands b;
    int64_t l_bytes, a_bytes, c_bytes, s_bytes;
    int64_t slab() const { return l_bytes + a_bytes + c_bytes + s_bytes; }
};

ConvGeo conv_geo(int N, int H, int W, int Cin, int Cout, int stride, int threads) {
    ConvGeo g;
    g.Ho = (H - 1) / stride + 1;
    g.Wo = (W - 1) / stride + 1;
    g.Cp = Cin;
    g.K4 = conv_k4(Cin);
    g.Np = pad8(Cout);
    g.b = bands_for(N, g.Ho, g.Wo, threads, 128);
    const int rows_in = (g.b.bhMax - 1) * stride + 3;
    const int rows = (g.b.bhMax * g.Wo + MRI - 1) / MRI * MRI;
    g.l_bytes = align_up((int64_t)rows_in * (W + 2) * Cin, kAlign);
    g.a_bytes = align_up((int64_t)rows * g.K4 * 4, kAlign);
    g.c_bytes = align_up((int64_t)rows * g.Np * 4, kAlign);
    // the skip: pooled inputs (Cin) or up to four folded pixels (Cout), then the row (Cout)
    g.s_bytes = align_up((int64_t)(4 * std::max(Cin, Cout) + 2 * Cout) * 4, kAlign);
    return g;
}

}  // namespace

BASQ_API int64_t basq_infer_conv_workspace(int N, int H, int W, int Cin, int Cout, int stride, int threads) {
    if (N <= 0 || H <= 0 || W <= 0 || Cin <= 0 || Cout <= 0 || (stride != 1 && stride != 2)) return 0;
    return workspace_for(conv_geo(N, H, W, Cin, Cout, stride, threads).slab(), threads);
}

BASQ_API int basq_infer_conv_unit(const float* x, int N, int H, int W, int Cin, int Cout, int stride,
                                  const float* pro, float top, const void* packed, const float* epi,
                                  const float* res, float* y, void* ws, int64_t ws_bytes) {
    if (N <= 0 || H <= 0 || W <= 0 || Cin <= 0 || Cout <= 0 || (stride != 1 && stride != 2) ||
        !(top >= 0.0f && top <= 255.0f) || !x || !pro || !packed || !epi || !y)
        return BASQ_EINVAL;
    const int T = max_threads();
    const ConvGeo g = conv_geo(N, H, W, Cin, Cout, stride, T);
    Slabs sl;
    if (!slabs(ws, ws_bytes, g.slab(), T, &sl)) return BASQ_EINVAL;
    const int isa = g_isa;
    const int8_t* B = (const int8_t*)packed;
    const int64_t rs = (int64_t)(W + 2) * Cin;
    const int items = N * g.b.bands;
    const int Kb = g.K4 * 4;
    parallel_items(items, sl.count, (int64_t)N * g.Ho * g.Wo * Cin * Cout * 9, [&](int item, int t) {
        const int n = item / g.b.bands;
        const int oh0 = (item % g.b.bands) * g.b.bh;
        const int oh1 = std::min(g.Ho, oh0 + g.b.bh);
        const int rows = (oh1 - oh0) * g.Wo;
        const int rows_pad = (rows + MRI - 1) / MRI * MRI;
        char* s = sl.get(t);
        uint8_t* L = (uint8_t*)s;
        uint8_t* A = (uint8_t*)(s + g.l_bytes);
        int32_t* Ct = (int32_t*)(s + g.l_bytes + g.a_bytes);
        float* sk = (float*)(s + g.l_bytes + g.a_bytes + g.c_bytes);
        const float* xn = x + (int64_t)n * H * W * Cin;
        band_levels(isa, xn, H, W, Cin, Cin, oh0 * stride - 1, (oh1 - oh0 - 1) * stride + 3, pro, top, L);
        // im2col of the levels: row r = output pixel, k = (kh * 3 + kw) * Cin + c
        for (int r = 0; r < rows; r++) {
            const int oh = oh0 + r / g.Wo, ow = r % g.Wo;
            uint8_t* a = A + (int64_t)r * Kb;
            for (int kh = 0; kh < 3; kh++) {
                const uint8_t* lr = L + (int64_t)((oh - oh0) * stride + kh) * rs + (int64_t)ow * stride * Cin;
                memcpy(a + kh * 3 * Cin, lr, (size_t)3 * Cin);
            }
            memset(a + 9 * Cin, 0, (size_t)(Kb - 9 * Cin));
        }
        memset(A + (int64_t)rows * Kb, 0, (size_t)(rows_pad - rows) * Kb);
        for (int j = 0; j < Cout; j += 16) {
            const int nv = Cout - j > 8 ? 2 : 1;
            for (int r = 0; r < rows_pad; r += MRI)
                micro_i8(isa, nv, g.K4, A + (int64_t)r * Kb, Kb, B + (int64_t)j * 4, g.Np, Ct + (int64_t)r * g.Np + j,
                         g.Np);
        }
        // epilogue with the skip F(cin -> cout), pooled by the stride
        float* pooled = sk;                               // up to 4 * max(Cin, Cout)
        float* row = sk + 4 * std::max(Cin, Cout);        // Cout
        float* accf = row + Cout;                         // Cout
        for (int r = 0; r < rows; r++) {
            const int oh = oh0 + r / g.Wo, ow = r % g.Wo;
            const float* skip;
            if (stride == 1) {
                skip = flex_row(xn + ((int64_t)oh * W + ow) * Cin, Cin, Cout, 0, Cout, row);
            } else if (Cout > Cin) {
                pool_pixel(oh, ow, H, W, Cin, [&](int ih, int iw) { return xn + ((int64_t)ih * W + iw) * Cin; },
                           pooled);
                skip = flex_row(pooled, Cin, Cout, 0, Cout, row);
            } else {
                // fold each pixel of the window first (a pixel is folded at most once per call)
                int h0, w0;
                bool h1, w1;
                pool_window(oh, H, &h0, &h1);
                pool_window(ow, W, &w0, &w1);
                const float* f[4];
                for (int i = 0; i < 4; i++) {
                    const int ih = h0 + i / 2, iw = w0 + i % 2;
                    f[i] = nullptr;
                    if ((i / 2 == 0 || h1) && (i % 2 == 0 || w1))
                        f[i] = flex_row(xn + ((int64_t)ih * W + iw) * Cin, Cin, Cout, 0, Cout, pooled + i * Cout);
                }
                pool_pixel(oh, ow, H, W, Cout,
                           [&](int ih, int iw) { return f[(ih - h0) * 2 + (iw - w0)]; }, row);
                skip = row;
            }
            const int32_t* cr = Ct + (int64_t)r * g.Np;
            for (int o = 0; o < Cout; o++) accf[o] = (float)cr[o];
            const int64_t o = (((int64_t)n * g.Ho + oh) * g.Wo + ow) * Cout;
            epilogue_row(isa, accf, skip, epi, Cout, 0, Cout, res ? res + o : nullptr, y + o);
        }
    });
    return BASQ_OK;
}

// ---------------------------------------------------------------- head

BASQ_API int basq_infer_head(const float* x, int N, int64_t HW, int C, const float* w, const float* b, int classes,
                             float* logits, float* ws) {
    if (N <= 0 || HW <= 0 || C <= 0 || classes <= 0 || !x || !w || !b || !logits || !ws) return BASQ_EINVAL;
    const double inv = 1.0 / (double)HW;
    for (int n = 0; n < N; n++) {
        const float* xn = x + (int64_t)n * HW * C;
        float* p = ws + (int64_t)n * C;
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int64_t i = 0; i < HW; i++) s += xn[i * C + c];
            p[c] = (float)(s * inv);
        }
        for (int k = 0; k < classes; k++) {
            const float* wk = w + (int64_t)k * C;
            float d = 0.0f;
#pragma omp simd reduction(+ : d)
            for (int c = 0; c < C; c++) d += p[c] * wk[c];
            logits[(int64_t)n * classes + k] = d + b[k];
        }
    }
    return BASQ_OK;
}
