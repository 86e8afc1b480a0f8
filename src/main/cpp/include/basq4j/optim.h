/* Optimizer updates over one parameter, as torch.optim does them (L2 decay added to the gradient). */
#ifndef BASQ4J_OPTIM_H
#define BASQ4J_OPTIM_H
#include "common.h"

/*
 * Adam: g' = g + wd*p; m = b1*m + (1-b1)*g'; v = b2*v + (1-b2)*g'^2;
 * p -= step_size * m / (sqrt(v) / bc2_sqrt + eps), with step_size = lr / (1 - b1^t) and
 * bc2_sqrt = sqrt(1 - b2^t) computed by the caller.
 */
BASQ_API int basq_adam_step(float* p, const float* g, float* m, float* v, int64_t n, float step_size,
                            float beta1, float beta2, float eps, float wd, float bc2_sqrt);
/*
 * SGD with momentum: g' = g + wd*p; buf = momentum*buf + g' (buf starts at zero);
 * nesterov: p -= lr * (g' + momentum*buf), else p -= lr * buf.
 */
BASQ_API int basq_sgd_step(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float wd,
                           int nesterov);

#endif
