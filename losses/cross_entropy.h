// Cross-entropy, the baseline every LT method modifies.
//
//   CE(z, y) = -log softmax(z)_y = -z_y + log sum_j e^{z_j}
//   with class weights w:  L = sum_i w_{y_i} CE_i / sum_i w_{y_i}      (PyTorch weighted mean)
//   mixup (Zhang et al. 2018; MiSLAS / GCL stage 1):  L = lam CE(z, y_a) + (1 - lam) CE(z, y_b)
//
// Why: the instance-balanced baseline; with weights it is the re-weighting baseline (and the DRW
// loss of LDAM-DRW when train_rule = DRW).
#pragma once
#include "losses/loss.h"

namespace tailor {

class CrossEntropyLoss : public Loss {
 public:
  CrossEntropyLoss(const std::vector<int64_t>& counts, const LossConfig& cfg) : Loss(counts, cfg) {}
  std::string name() const override { return "ce"; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  bool accepts_sample_weight() const override { return true; }
};

// Soft-target cross-entropy, mean_i -sum_j T_ij log softmax(z_i)_j, T f32 [N, C] (rows sum to 1).
// Unweighted mixup equals it with T = lam onehot(y_a) + (1 - lam) onehot(y_b).
Tensor soft_cross_entropy(const Tensor& logits, const Tensor& targets);

}  // namespace tailor
