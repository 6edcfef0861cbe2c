// Balanced Sigmoid / "Balanced Activation" (Ren et al., LVIS challenge 2020), classification form.
//
//   pi_j  = n_j / N
//   z'_ij = z_ij + log pi_j - log(1 - pi_j)             (add the log prior odds of class j)
//   L     = (1/B) sum_i sum_j BCE(z'_ij, [j = y_i])
//
// Why: the one-vs-rest analogue of Balanced Softmax: a sigmoid trained on skewed data learns the
// prior odds of each class into its bias; training through the shifted logit removes them, and at
// test time the plain sigmoid(z) (argmax z) is used. The detection code applies the shift to
// foreground RoIs only and drops a constant log(1/(k-1)); here every sample is "foreground".
#pragma once
#include "losses/loss.h"

namespace tailor {

class BalancedSigmoidLoss : public Loss {
 public:
  BalancedSigmoidLoss(const std::vector<int64_t>& counts, const LossConfig& cfg);
  std::string name() const override { return "balanced_sigmoid"; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  bool accepts_class_weight() const override { return false; }

 private:
  std::vector<double> log_odds_;
  DeviceConstant log_odds_t_;  // f32 [C], on each device once
};

}  // namespace tailor
