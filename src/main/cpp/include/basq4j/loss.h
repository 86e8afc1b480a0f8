/* Losses on logits [N, K]. The loss is a mean over the batch; dloss points to its incoming gradient. */
#ifndef BASQ4J_LOSS_H
#define BASQ4J_LOSS_H
#include "common.h"

/* Cross-entropy: *loss = mean_n -log softmax(logits_n)[target_n]; prob keeps the softmax. */
BASQ_API int basq_softmax_xent_fwd(const float* logits, const int64_t* target, float* loss, float* prob, int N,
                                   int K);
BASQ_API int basq_softmax_xent_bwd(const float* prob, const int64_t* target, const float* dloss, float* dlogits,
                                   int N, int K);
/*
 * Distillation (SPEC 5): *loss = mean_n -sum_k softmax(teacher)_k * log_softmax(student)_k.
 * p_student and p_teacher keep both softmaxes for the backward.
 */
BASQ_API int basq_kd_loss_fwd(const float* student, const float* teacher, float* loss, float* p_student,
                              float* p_teacher, int N, int K);
/* dstudent = dloss * (p_student - p_teacher) / N */
BASQ_API int basq_kd_loss_bwd(const float* p_student, const float* p_teacher, const float* dloss,
                              float* dstudent, int N, int K);

#endif
