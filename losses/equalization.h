// Softmax equalization loss, EQL (Tan et al., CVPR 2020), the image-classification form.
//
//   f_j     = n_j / N                                 (class frequency)
//   T(f_j)  = 1 if f_j < lambda else 0                ("rare" classes)
//   beta_i  ~ Bernoulli(gamma), one draw per sample
//   wt_ij   = 1 - beta_i T(f_j) (1 - [j = y_i])
//   L       = mean_i -log( e^{z_{i,y_i}} / sum_j wt_ij e^{z_ij} )
//
// Why: every sample of a head class is a negative for every rare class, so the rare classifiers
// are flooded with discouraging gradient. With probability gamma a sample simply leaves the rare
// non-target classes out of its softmax denominator, so they receive no such gradient from it.
// The classification lambda / gamma of the paper were not re-verified (the paper's numbers are for detection): the
// defaults are lambda = 1.77e-3 (the LVIS detection value) and gamma = 0.9; tune them on val.
// A dropped class is given the logit -1e30 (exp underflows to exactly 0).
#pragma once
#include "losses/loss.h"

namespace tailor {

// T_j = [n_j / N < lambda]: the classes EQL calls rare (the loss, and the check before training,
// train/stage_plan.cpp, use this one definition).
std::vector<bool> eql_rare_classes(const std::vector<int64_t>& counts, double lambda);

class SoftmaxEQLLoss : public Loss {
 public:
  SoftmaxEQLLoss(const std::vector<int64_t>& counts, const LossConfig& cfg, Rng& rng = global_rng());
  std::string name() const override { return "eql"; }
  // Draws beta_i ~ Bernoulli(gamma) from the loss's Rng (uniform() < gamma; a step input,
  // engine/step_inputs.h), then as forward_with_gate.
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  // Explicit gate beta f32 [B] of 0 / 1 (tests).
  Tensor forward_with_gate(const Tensor& logits, const Tensor& labels, const Tensor& beta);
  const std::vector<bool>& rare() const { return rare_; }

 private:
  Tensor forward_with_on(const Tensor& logits, const Tensor& labels, const Tensor& on);  // on_i = [beta_i != 0], [B, 1]
  std::vector<bool> rare_;  // T(f_j)
  DeviceConstant rare_t_;   // T(f_j) as f32 [C] of 0 / 1, on each device once
  double gamma_;
  Rng* rng_;
};

}  // namespace tailor
