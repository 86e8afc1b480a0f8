// Element-wise kernels, reductions and dropout on the CPU (elementwise.h).
//
// All loops are contiguous and branch-free where possible so that g++ -O3 vectorizes them;
// OpenMP only starts threads for tensors large enough to pay for the fork (kParMin).
// Reductions accumulate in double over a fixed number of blocks whose boundaries depend on
// n only, so a result is bitwise the same for any number of threads.
#include "basq4j/elementwise.h"

#include <math.h>
#include <string.h>

namespace {

constexpr int64_t kParMin = 1 << 16;  // elements below which a kernel stays on one thread

inline bool bad(int64_t n, const void* a, const void* b = (const void*)1, const void* c = (const void*)1) {
    return n < 0 || (n > 0 && (!a || !b || !c));
}

// splitmix64 finalizer: a bijective 64-bit mix with good avalanche.
inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

}  // namespace

BASQ_API int basq_relu_fwd(const float* x, float* y, int64_t n) {
    if (bad(n, x, y)) return BASQ_EINVAL;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return BASQ_OK;
}

BASQ_API int basq_relu_bwd(const float* y, const float* dy, float* dx, int64_t n) {
    if (bad(n, y, dy, dx)) return BASQ_EINVAL;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    return BASQ_OK;
}

BASQ_API int basq_add(const float* a, const float* b, float* y, int64_t n) {
    if (bad(n, a, b, y)) return BASQ_EINVAL;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
    return BASQ_OK;
}

BASQ_API int basq_axpy(float alpha, const float* x, float* y, int64_t n) {
    if (bad(n, x, y)) return BASQ_EINVAL;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
    return BASQ_OK;
}

BASQ_API int basq_scale(float* x, float alpha, int64_t n) {
    if (bad(n, x)) return BASQ_EINVAL;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) x[i] *= alpha;
    return BASQ_OK;
}

BASQ_API int basq_fill(float* x, float value, int64_t n) {
    if (bad(n, x)) return BASQ_EINVAL;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) x[i] = value;
    return BASQ_OK;
}

BASQ_API int basq_copy(const float* x, float* y, int64_t n) {
    if (bad(n, x, y)) return BASQ_EINVAL;
    if (n == 0 || x == y) return BASQ_OK;
    if (n <= kParMin) {
        memmove(y, x, (size_t)n * sizeof(float));
        return BASQ_OK;
    }
    // Large copies in parallel blocks; overlapping ranges other than x == y are not supported
    // in parallel, so they fall back to memmove.
    if ((y < x + n) && (x < y + n)) {
        memmove(y, x, (size_t)n * sizeof(float));
        return BASQ_OK;
    }
    constexpr int64_t kBlock = 1 << 15;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t lo = b * kBlock;
        const int64_t len = (n - lo < kBlock) ? n - lo : kBlock;
        memcpy(y + lo, x + lo, (size_t)len * sizeof(float));
    }
    return BASQ_OK;
}

BASQ_API int basq_sum_squares(const float* x, int64_t n, float* out) {
    if (bad(n, x) || !out) return BASQ_EINVAL;
    // Fixed block partition (independent of the thread count) for a reproducible sum.
    constexpr int kParts = 64;
    double part[kParts];
    const int64_t chunk = (n + kParts - 1) / kParts;
#pragma omp parallel for schedule(static) if (n > kParMin)
    for (int b = 0; b < kParts; b++) {
        const int64_t lo = (int64_t)b * chunk;
        const int64_t hi = (lo + chunk < n) ? lo + chunk : n;
        double acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = lo; i < hi; i++) acc += (double)x[i] * (double)x[i];
        part[b] = acc;
    }
    double total = 0.0;
    for (int b = 0; b < kParts; b++) total += part[b];
    *out = (float)total;
    return BASQ_OK;
}

/*
 * Dropout random stream: element i keeps when u >= p, where u is the top 24 bits of
 * mix64(mix64(seed) + (offset + i) * 0x9E3779B97F4A7C15) scaled to [0, 1) — splitmix64's
 * output for counter offset + i of a generator seeded by mix64(seed). Stateless: the same
 * (seed, offset + i) gives the same decision whatever the split of a tensor into calls.
 * A CUDA port must use exactly this hash to reproduce the CPU masks.
 */
BASQ_API int basq_dropout_fwd(const float* x, float* y, uint8_t* mask, int64_t n, float p, uint64_t seed,
                              uint64_t offset) {
    if (bad(n, x, y, mask) || !(p >= 0.0f && p <= 1.0f)) return BASQ_EINVAL;
    if (p == 0.0f) {  // keep everything: y = x exactly
#pragma omp parallel for simd schedule(static) if (n > kParMin)
        for (int64_t i = 0; i < n; i++) {
            y[i] = x[i];
            mask[i] = 1;
        }
        return BASQ_OK;
    }
    // Threshold on 24-bit integers: keep when (h >> 40) >= ceil(p * 2^24). For p == 1 nothing is kept.
    const uint64_t thresh = (uint64_t)ceil((double)p * 16777216.0);
    const float scale = p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f;
    const uint64_t key = mix64(seed);
    const uint64_t base = offset;
#pragma omp parallel for simd schedule(static) if (n > kParMin / 4)
    for (int64_t i = 0; i < n; i++) {
        const uint64_t h = mix64(key + (base + (uint64_t)i) * 0x9E3779B97F4A7C15ULL);
        const uint8_t keep = (h >> 40) >= thresh ? 1 : 0;
        mask[i] = keep;
        y[i] = x[i] * (float)keep * scale;  // as torch: x * mask * scale (NaN stays NaN)
    }
    return BASQ_OK;
}

BASQ_API int basq_dropout_bwd(const float* dy, const uint8_t* mask, float* dx, int64_t n, float p) {
    if (bad(n, dy, mask, dx) || !(p >= 0.0f && p <= 1.0f)) return BASQ_EINVAL;
    const float scale = p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (float)mask[i] * scale;
    return BASQ_OK;
}
