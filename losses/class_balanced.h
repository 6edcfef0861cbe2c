// Class-Balanced loss (Cui et al., CVPR 2019; richardaecn/class-balanced-loss, TensorFlow).
//
//   effective number  E_n = (1 - beta^n) / (1 - beta)
//   w_j = 1 / E_{n_j} = (1 - beta) / (1 - beta^{n_j}),   then w_j <- w_j * C / sum_k w_k
//   cb_softmax:  L = (1/B) sum_i w_{y_i} CE(z_i, y_i)
//   cb_sigmoid:  L = (1/B) sum_i sum_j w_{y_i} BCE(z_ij, t_ij)                    t = one-hot(y)
//   cb_focal:    L = (1/B) sum_i sum_j w_{y_i} (1 - p^t_ij)^gamma BCE(z_ij, t_ij)
//                with (1 - p^t)^gamma = exp(-gamma t z - gamma log(1 + e^{-z})), gradient not stopped
//
// Why: each extra image of a class adds less new information than the last (data overlap), so
// weight a class by the inverse of its "effective" number of images instead of 1/n.
// Normalisation is the TensorFlow reference's: divided by the batch size B (the number of non-zero
// weights / of positive labels), NOT by sum_i w_{y_i} as PyTorch's weighted cross-entropy would.
#pragma once
#include "losses/loss.h"

namespace tailor {

// w_j = (1 - beta) / (1 - beta^{n_j}) normalised to sum to C; beta = 0 gives all ones.
std::vector<float> effective_number_weights(const std::vector<int64_t>& counts, double beta);

class ClassBalancedLoss : public Loss {
 public:
  // loss_type: "softmax", "sigmoid" or "focal" (the reference's --loss_type).
  ClassBalancedLoss(const std::vector<int64_t>& counts, const LossConfig& cfg, const std::string& loss_type);
  std::string name() const override { return "cb_" + loss_type_; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  bool accepts_class_weight() const override { return false; }  // the CB weights are the method
  const std::vector<float>& cb_weights() const { return cb_w_; }

 private:
  std::string loss_type_;
  std::vector<float> cb_w_;
  DeviceConstant cb_w_t_;  // cb_w_ as f32 [C], on each device once
  double gamma_;
};

}  // namespace tailor
