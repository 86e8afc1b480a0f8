// Optimizer updates on the CPU (optim.h), in float as torch.optim (1.13, single-tensor
// path) does them, fused into one pass over p, g and the state.
#include "basq4j/optim.h"

#include <math.h>

namespace {

constexpr int64_t kParMin = 1 << 15;  // elements below which a kernel stays on one thread

}  // namespace

BASQ_API int basq_adam_step(float* p, const float* g, float* m, float* v, int64_t n, double step_size,
                            double beta1, double beta2, double eps, double wd, double bc2_sqrt) {
    if (n < 0 || !(bc2_sqrt > 0.0)) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    if (!p || !g || !m || !v) return BASQ_EINVAL;
    // Every scalar rounded to float on its own, as torch converts each Python float it passes
    // to a float tensor operation; 1 - beta is taken in double first, as in Python.
    const float b1 = static_cast<float>(beta1), a1 = static_cast<float>(1.0 - beta1);
    const float b2 = static_cast<float>(beta2), a2 = static_cast<float>(1.0 - beta2);
    const float st = static_cast<float>(step_size), bc2 = static_cast<float>(bc2_sqrt);
    const float ep = static_cast<float>(eps), dec = static_cast<float>(wd);
#pragma omp parallel for simd schedule(static) if (n > kParMin)
    for (int64_t i = 0; i < n; i++) {
        const float gi = dec != 0.0f ? g[i] + dec * p[i] : g[i];
        const float mi = m[i] * b1 + a1 * gi;
        const float vi = v[i] * b2 + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / bc2 + ep;  // torch: (sqrt(v) / bc2_sqrt) + eps
        p[i] -= st * mi / denom;
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
