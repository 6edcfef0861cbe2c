#include "losses/cross_entropy.h"

namespace tailor {

Tensor CrossEntropyLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& logits = in.logits;
  check_inputs(logits, labels);
  return softmax_ce(logits, labels, in);
}

Tensor soft_cross_entropy(const Tensor& logits, const Tensor& targets) {
  check_same_shape("soft_cross_entropy", logits, targets);
  check_dim("soft_cross_entropy", logits, 2, "logits");
  // -(1/N) sum_ij T_ij log p_ij
  return scale(sum_all(mul(targets, log_softmax(logits))), -1.f / (float)logits.size(0));
}

}  // namespace tailor
