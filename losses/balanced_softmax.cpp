#include "losses/balanced_softmax.h"

#include <cmath>

namespace tailor {

BalancedSoftmaxLoss::BalancedSoftmaxLoss(const std::vector<int64_t>& counts, const LossConfig& cfg)
    : Loss(counts, cfg) {
  for (int64_t n : counts) log_n_.push_back(std::log((double)n));
  log_n_t_ = DeviceConstant(log_n_);
}

Tensor BalancedSoftmaxLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& z = in.logits;
  check_inputs(z, labels);
  Tensor adjusted = add(z, log_n_t_.on(z.device()));  // z_j + log n_j
  return softmax_ce(adjusted, labels, in);
}

}  // namespace tailor
