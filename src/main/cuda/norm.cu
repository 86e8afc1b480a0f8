// Batch normalization on the GPU (norm.h): deterministic per-channel sums (chan_reduce.cuh).
#include "bn_ops.cuh"

using namespace basq_cuda;

BASQ_API int basq_cuda_bn_train_fwd(const float* x, const float* gamma, const float* beta, float* y,
                                    float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                    int N, int C, int64_t HW, float eps, float momentum, void* stream) {
    if (N <= 0 || C < 0 || HW <= 0 || !(eps >= 0.0f)) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !y) return BASQ_EINVAL;
    if ((running_mean == nullptr) != (running_var == nullptr)) return BASQ_EINVAL;
    const int64_t M = (int64_t)N * HW;
    if (running_mean && M < 2) return BASQ_EINVAL;
    const int64_t n = M * C;
    if (overlaps(x, y, n * 4)) return BASQ_EINVAL;
    const ChanPlan p = make_plan(N, C, HW, aligned16(x) && aligned16(y));
    BnTrainOp<QNone> op{x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var, HW, M, eps,
                               momentum, QNone{}};
    return run_chan(op, p, as_stream(stream));
}

BASQ_API int basq_cuda_bn_eval_fwd(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                   const float* running_var, float* y, int N, int C, int64_t HW, float eps,
                                   void* stream) {
    if (N < 0 || C < 0 || HW < 0 || !(eps >= 0.0f)) return BASQ_EINVAL;
    if ((int64_t)N * C == 0 || HW == 0) return BASQ_OK;
    if (!x || !gamma || !beta || !running_mean || !running_var || !y) return BASQ_EINVAL;
    BnEvalMap<QNone> f{x, gamma, beta, running_mean, running_var, y, eps, QNone{}};
    return launch_chan_map(f, N, C, HW, aligned16(x) && aligned16(y), true, as_stream(stream));
}

BASQ_API int basq_cuda_bn_bwd(const float* x, const float* dy, const float* gamma, const float* save_mean,
                              const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C,
                              int64_t HW, void* stream) {
    if (N <= 0 || C < 0 || HW <= 0) return BASQ_EINVAL;
    if (C == 0) return BASQ_OK;
    if (!x || !dy || !gamma || !save_mean || !save_invstd || !dx) return BASQ_EINVAL;
    const int64_t M = (int64_t)N * HW;
    const int64_t n = M * C;
    if (overlaps(dx, x, n * 4) || overlaps(dx, dy, n * 4)) return BASQ_EINVAL;
    const ChanPlan p = make_plan(N, C, HW, aligned16(x) && aligned16(dy) && aligned16(dx));
    BnBwdOp<QNone> op{x, dy, gamma, nullptr, save_mean, save_invstd, dx, dgamma, dbeta, nullptr, M, 0.0f, QNone{}};
    return run_chan(op, p, as_stream(stream));
}
