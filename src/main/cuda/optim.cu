// Optimizer updates on the GPU (optim.h): optim.cpp's float arithmetic, one thread per element.
#include "map.cuh"

namespace basq_cuda {
namespace {

struct Adam {
    float* p;
    const float* g;
    float* m;
    float* v;
    float step_size, beta1, beta2, eps, wd, bc2_sqrt, a1, a2;
    struct Glob {};
    __device__ Glob glob() const { return Glob{}; }
    template <int V>
    __device__ void run(const Glob&, int64_t e) const {
        float pp[V], gg[V], mm[V], vv[V];
        ldv<V>(p + e, pp);
        ldv<V>(g + e, gg);
        ldv<V>(m + e, mm);
        ldv<V>(v + e, vv);
        for (int k = 0; k < V; k++) {
            const float gi = wd != 0.0f ? gg[k] + wd * pp[k] : gg[k];
            const float mi = mm[k] * beta1 + a1 * gi;
            const float vi = vv[k] * beta2 + a2 * gi * gi;
            mm[k] = mi;
            vv[k] = vi;
            const float denom = sqrtf(vi) / bc2_sqrt + eps;
            pp[k] -= step_size * mi / denom;
        }
        stv<V>(m + e, mm);
        stv<V>(v + e, vv);
        stv<V>(p + e, pp);
    }
};

struct Sgd {
    float* p;
    const float* g;
    float* buf;
    float lr, momentum, wd;
    int nesterov;
    struct Glob {};
    __device__ Glob glob() const { return Glob{}; }
    template <int V>
    __device__ void run(const Glob&, int64_t e) const {
        float pp[V], gg[V], bb[V];
        ldv<V>(p + e, pp);
        ldv<V>(g + e, gg);
        ldv<V>(buf + e, bb);
        for (int k = 0; k < V; k++) {
            const float gi = wd != 0.0f ? gg[k] + wd * pp[k] : gg[k];
            const float b = momentum * bb[k] + gi;
            bb[k] = b;
            const float d = nesterov ? gi + momentum * b : b;
            pp[k] -= lr * d;
        }
        stv<V>(buf + e, bb);
        stv<V>(p + e, pp);
    }
};

}  // namespace
}  // namespace basq_cuda

using namespace basq_cuda;

BASQ_API int basq_cuda_adam_step(float* p, const float* g, float* m, float* v, int64_t n, double step_size,
                                 double beta1, double beta2, double eps, double wd, double bc2_sqrt, void* stream) {
    if (n < 0 || !(bc2_sqrt > 0.0)) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    if (!p || !g || !m || !v) return BASQ_EINVAL;
    // each scalar rounded to float on its own, 1 - beta taken in double (optim.cpp)
    Adam f{p, g, m, v, (float)step_size, (float)beta1, (float)beta2, (float)eps, (float)wd, (float)bc2_sqrt,
           (float)(1.0 - beta1), (float)(1.0 - beta2)};
    return launch_map(f, n, aligned16(p) && aligned16(g) && aligned16(m) && aligned16(v), as_stream(stream));
}

BASQ_API int basq_cuda_sgd_step(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float wd,
                                int nesterov, void* stream) {
    if (n < 0) return BASQ_EINVAL;
    if (n == 0) return BASQ_OK;
    if (!p || !g || !buf) return BASQ_EINVAL;
    Sgd f{p, g, buf, lr, momentum, wd, nesterov};
    return launch_map(f, n, aligned16(p) && aligned16(g) && aligned16(buf), as_stream(stream));
}
