// Focal loss in the form of the LDAM-DRW and GCL repositories (multi-class, on the CE value).
//
//   l_i = CE(z_i, y_i)   (times w_{y_i} when class weights are given)
//   p_i = exp(-l_i)
//   L   = (1/B) sum_i (1 - p_i)^gamma l_i
//
// Why: down-weight the easy, well-classified samples (mostly from head classes) so the gradient
// is dominated by the hard ones. gamma = 0 is plain CE (an unweighted mean).
// Reference differences: kaidic/LDAM-DRW lets the gradient flow through (1 - p)^gamma
// (detach_p = false, the default here); Keke921/GCLLoss detaches p (detach_p = true, always used
// by gcl / gcl_ang with train_cls). With class weights p = exp(-w l) is not a probability: a quirk of
// both references, kept. Note the mean is over B, not the weighted mean of plain CE.
// The sigmoid focal loss of Lin et al. is close to cb_focal with beta = 0 (class_balanced.h), without their
// alpha_t balancing factor (0.25) and with this project's default gamma 1 (theirs 2: set loss.gamma).
#pragma once
#include "losses/loss.h"

namespace tailor {

// (1/B) sum_i (1 - p_i)^gamma l_i with p_i = exp(-l_i); per_sample_loss f32 [B] (CE, reduction none).
// 1 - p is clamped to [0, 1] (guards a rounding-negative CE).
Tensor focal_reduce(const Tensor& per_sample_loss, double gamma, bool detach_p);

class FocalLoss : public Loss {
 public:
  FocalLoss(const std::vector<int64_t>& counts, const LossConfig& cfg);
  std::string name() const override { return "focal"; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;

 private:
  double gamma_;
  bool detach_p_;
};

}  // namespace tailor
