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

}  // namespace tailor
