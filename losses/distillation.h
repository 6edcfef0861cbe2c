// Knowledge distillation's soft-target term (Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural
// Network", 2015):
//
//   KD(z_s, z_t) = T^2 (1/N) sum_i KL( p_i || q_i ),   p_i = softmax(z_t,i / T) (the teacher, a constant),
//                                                     q_i = softmax(z_s,i / T) (the student)
//                = T^2 (1/N) sum_i sum_j p_ij (log p_ij - log q_ij)
//
// T softens both distributions so the teacher's "dark knowledge" (the relative sizes of the wrong classes)
// carries gradient; T^2 keeps the gradient's scale independent of T. PyTorch:
// F.kl_div(F.log_softmax(z_s / T, 1), F.softmax(z_t / T, 1), reduction="batchmean") * T * T.
// The gradient flows into z_s only.
#pragma once
#include "engine/ops.h"

namespace tailor {

Tensor kd_soft_target_loss(const Tensor& student_logits, const Tensor& teacher_logits, double temperature);

}  // namespace tailor
