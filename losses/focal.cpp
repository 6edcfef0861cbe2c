#include "losses/focal.h"

namespace tailor {

Tensor focal_reduce(const Tensor& l, double gamma, bool detach_p) {
  TAILOR_CHECK(l.dim() == 1, "focal_reduce: per-sample loss must be [B], got ", l.shape());
  if (gamma == 0) return mean_all(l);
  Tensor p = exp(neg(detach_p ? l.detach() : l));
  Tensor one_minus_p = clamp(add_scalar(neg(p), 1.f), 0.f, 1.f);
  Tensor modulator = gamma == 1 ? one_minus_p : pow(one_minus_p, (float)gamma);
  return mean_all(mul(modulator, l));
}

FocalLoss::FocalLoss(const std::vector<int64_t>& counts, const LossConfig& cfg)
    : Loss(counts, cfg), gamma_(cfg.gamma), detach_p_(cfg.detach_p) {}

Tensor FocalLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& logits = in.logits;
  check_inputs(logits, labels);
  return focal_reduce(softmax_cross_entropy(logits, labels, weight_on(logits.device()), "none"), gamma_, detach_p_);
}

}  // namespace tailor
