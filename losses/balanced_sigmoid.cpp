#include "losses/balanced_sigmoid.h"

#include <cmath>

namespace tailor {

BalancedSigmoidLoss::BalancedSigmoidLoss(const std::vector<int64_t>& counts, const LossConfig& cfg)
    : Loss(counts, cfg) {
  reject_class_weight(cfg, "balanced_sigmoid");
  TAILOR_CHECK(counts.size() >= 2, "balanced_sigmoid: needs at least 2 classes (pi = 1 has no log odds)");
  double total = 0;
  for (int64_t n : counts) total += (double)n;
  for (int64_t n : counts) {
    double pi = (double)n / total;
    log_odds_.push_back(std::log(pi) - std::log(1.0 - pi));
  }
  log_odds_t_ = DeviceConstant(log_odds_);
}

Tensor BalancedSigmoidLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& z = in.logits;
  check_inputs(z, labels);
  // on the logits' device throughout (softplus's masks included): no host read
  Tensor shifted = add(z, log_odds_t_.on(z.device()));  // z_j + log pi_j - log(1 - pi_j)
  Tensor bce = bce_with_logits(shifted, one_hot(labels, num_classes()));
  return scale(sum_all(bce), 1.f / (float)z.size(0));
}

}  // namespace tailor
