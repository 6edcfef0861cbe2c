#include "losses/distillation.h"

#include "engine/autograd.h"

namespace tailor {

Tensor kd_soft_target_loss(const Tensor& zs, const Tensor& zt, double T) {
  check_dim("kd_soft_target_loss", zs, 2, "student logits");
  check_same_shape("kd_soft_target_loss", zs, zt);
  TAILOR_CHECK(T > 0, "kd_soft_target_loss: temperature must be > 0, got ", T);
  const float inv_t = (float)(1.0 / T);
  Tensor p, log_p;
  {
    NoGradGuard ng;  // the teacher's distribution is a target
    Tensor t = scale(zt.detach(), inv_t);
    p = softmax(t);
    log_p = log_softmax(t);
  }
  Tensor log_q = log_softmax(scale(zs, inv_t));
  const float k = (float)(T * T / (double)zs.size(0));
  return scale(sum_all(mul(p, sub(log_p, log_q))), k);
}

Tensor cosine_feature_distillation(const Tensor& fs, const Tensor& ft) {
  check_dim("cosine_feature_distillation", fs, 2, "student features");
  check_same_shape("cosine_feature_distillation", fs, ft);
  Tensor t;
  {
    NoGradGuard ng;
    t = l2_normalize(ft.detach(), 1);
  }
  Tensor cos = sum(mul(l2_normalize(fs, 1), t), 1);  // [N]
  return add_scalar(neg(mean_all(cos)), 1.f);          // mean(1 - cos) = 1 - mean(cos)
}

}  // namespace tailor
