/* Optimizer updates over one parameter, as torch.optim does them (L2 decay added to the gradient). */
#ifndef BASQ4J_OPTIM_H
#define BASQ4J_OPTIM_H
#include "common.h"

/*
 * Adam: g' = g + wd*p; m = b1*m + (1-b1)*g'; v = b2*v + (1-b2)*g'^2;
 * p -= step_size * m / (sqrt(v) / bc2_sqrt + eps), with step_size = lr / (1 - b1^t) and
 * bc2_sqrt = sqrt(1 - b2^t) computed by the caller in double. The hyper-parameters arrive in
 * double and are rounded to float where torch.optim.Adam rounds its Python floats: each of
 * b1, 1-b1, b2, 1-b2 (the differences taken in double), eps, wd, step_size and bc2_sqrt on
 * its own; the arithmetic on the tensors is float. (1 - (float)0.999 would differ from torch's
 * (float)(1 - 0.999) by 1.3e-5 relative.)
 */
BASQ_API int basq_adam_step(float* p, const float* g, float* m, float* v, int64_t n, double step_size,
                            double beta1, double beta2, double eps, double wd, double bc2_sqrt);
/*
 * SGD with momentum: g' = g + wd*p; buf = momentum*buf + g' (buf starts at zero);
 * nesterov: p -= lr * (g' + momentum*buf), else p -= lr * buf.
 */
BASQ_API int basq_sgd_step(float* p, const float* g, float* buf, int64_t n, float lr, float momentum, float wd,
                           int nesterov);

#endif
