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

// Class-Balanced Distillation's feature term (Iscen, Araujo, Gong, Schmid, BMVC 2021; google-research
// class_balanced_distillation/train.py, compute_feat_distillation): the cosine distance between the
// student's feature and the teachers' features concatenated (each teacher's already L2-normalised), both
// re-normalised:
//
//   D(f_s, f_t) = (1/N) sum_i ( 1 - < f_s,i / ||f_s,i||, f_t,i / ||f_t,i|| > )
//
// f_s [N, d] (the student's projection, d = the teachers' total width), f_t [N, d] constant. The gradient
// flows into f_s only.
Tensor cosine_feature_distillation(const Tensor& student_features, const Tensor& teacher_features);

}  // namespace tailor
