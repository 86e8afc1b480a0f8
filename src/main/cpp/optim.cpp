// Optimizer updates on the CPU (optim.h), in float as torch.optim (1.13, single-tensor
// path) does them, fused into one pass over p, g and the state.
#include "basq4j/optim.h"

#include <math.h>

namespace {

constexpr int64_t kParMin = 1 << 15;  // elements below which a kernel stays on one thread

}  // namespace

BASQ_API int basq_adam_step(float* p, const float* g, float* m, float* v, int64_t n, float step_size,
                            float beta1, float beta2, float eps, float wd, float bc2_sqrt) {
    if (n < 0 || !(bc2_sqrt > 0.0f)) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    if (!p || !g || !m || !v) return BASQ_EINVAL;
    // 1 - beta is exact in float for beta in [0.5, 1]. Note: torch rounds 1 - 0.999 (a double)
    // to float, whereas here beta2 arrives already rounded (0.999f = 0.99900001287), so the
    // (1 - beta2) factor differs from torch's by 1.3e-5 relative; it cannot be recovered.
    const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) {
        const float gi = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        const float mi = m[i] * beta1 + a1 * gi;
        const float vi = v[i] * beta2 + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;  // torch: (sqrt(v) / bc2_sqrt) + eps
        p[i] -= step_size * mi / denom;
    }
    return BASQ_OK;
}

BASQ_API int basq_sgd_step(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float wd,
                           int nesterov) {
    if (n < 0) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    if (!p || !g || !buf) return BASQ_EINVAL;
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) {
        const float gi = wd != 0.0f ? g[i] + wd * p[i] : g[i];
        const float b = momentum * buf[i] + gi;
        buf[i] = b;
        const float d = nesterov ? gi + momentum * b : b;
        p[i] -= lr * d;
    }
    return BASQ_OK;
}
