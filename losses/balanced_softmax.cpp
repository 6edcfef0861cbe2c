#include "losses/balanced_softmax.h"

#include <cmath>

namespace tailor {

BalancedSoftmaxLoss::BalancedSoftmaxLoss(const std::vector<int64_t>& counts, const LossConfig& cfg)
    : Loss(counts, cfg) {
  for (int64_t n : counts) log_n_.push_back(std::log((double)n));
}

Tensor BalancedSoftmaxLoss::forward(const Tensor& z, const Tensor& labels) {
  check_inputs(z, labels);
  Tensor adjusted = add(z, f32_vector(log_n_, z.device()));  // z_j + log n_j
  return softmax_cross_entropy(adjusted, labels, weight_on(z.device()), "mean");
}

}  // namespace tailor
