// Balanced Softmax (Ren et al., NeurIPS 2020; jiawei-ren/BalancedMetaSoftmax loss/BalancedSoftmaxLoss.py).
//
//   L = CE(z + log n, y)        (add the log of the raw training count of class j to logit j)
//
// Why: the softmax trained on a skewed set estimates p_train(y|x) ∝ n_y p_bal(y|x); training
// through z + log n makes exp(z) itself model the balanced posterior, so argmax z (no adjustment
// at test time) is the balanced-error prediction. Equal to logit_adjust with tau = 1 (log n and
// log pi differ by a constant per row, which the softmax ignores).
#pragma once
#include "losses/loss.h"

namespace tailor {

class BalancedSoftmaxLoss : public Loss {
 public:
  BalancedSoftmaxLoss(const std::vector<int64_t>& counts, const LossConfig& cfg);
  std::string name() const override { return "balanced_softmax"; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  bool accepts_sample_weight() const override { return true; }

 private:
  std::vector<double> log_n_;
  DeviceConstant log_n_t_;  // log_n_ as f32 [C], on each device once
};

}  // namespace tailor
