// LDAM — Label-Distribution-Aware Margin loss (Cao et al., NeurIPS 2019; kaidic/LDAM-DRW losses.py).
//
//   Delta_j = max_m * n_j^{-1/4} / max_k n_k^{-1/4}          (the rarest class gets exactly max_m)
//   zbar_ij = cos_ij - Delta_{y_i} [j = y_i]                  (margin on the target cosine only)
//   L       = CE_w(s * zbar_i, y_i)                           (weighted mean; w = DRW weights)
//
// Why: the generalisation bound of a class improves with its margin, and the optimal trade-off
// between classes gives margins proportional to n^{-1/4}: rare classes get larger margins.
// Input is the raw cosine of a NormedLinear head; evaluation uses argmax cos (no margin, no s).
// Usually trained with train_rule = DRW (losses/drw.h): ldam_drw_cifar() in losses/loss.h.
#pragma once
#include "losses/loss.h"

namespace tailor {

std::vector<double> ldam_margins(const std::vector<int64_t>& counts, double max_m);

class LDAMLoss : public Loss {
 public:
  LDAMLoss(const std::vector<int64_t>& counts, const LossConfig& cfg);
  std::string name() const override { return "ldam"; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  bool accepts_sample_weight() const override { return true; }
  const std::vector<double>& margins() const { return delta_; }

 private:
  std::vector<double> delta_;
  DeviceConstant delta_t_;  // delta_ as f32 [C], on each device once
  double s_;
};

}  // namespace tailor
