#include "losses/class_balanced.h"

#include <cmath>

namespace tailor {

std::vector<float> effective_number_weights(const std::vector<int64_t>& counts, double beta) {
  TAILOR_CHECK(beta >= 0 && beta < 1, "effective_number_weights: beta must be in [0, 1), got ", beta);
  std::vector<double> w(counts.size());
  double sum = 0;
  for (size_t j = 0; j < counts.size(); ++j) {
    TAILOR_CHECK(counts[j] > 0, "effective_number_weights: class ", j, " has ", counts[j], " images");
    w[j] = (1.0 - beta) / (1.0 - std::pow(beta, (double)counts[j]));  // 1 / effective number
    sum += w[j];
  }
  std::vector<float> out(counts.size());
  for (size_t j = 0; j < w.size(); ++j) out[j] = (float)(w[j] * (double)counts.size() / sum);
  return out;
}

ClassBalancedLoss::ClassBalancedLoss(const std::vector<int64_t>& counts, const LossConfig& cfg,
                                     const std::string& loss_type)
    : Loss(counts, cfg),
      loss_type_(loss_type),
      cb_w_(effective_number_weights(counts, cfg.beta)),
      cb_w_t_(Tensor::from_vector(cb_w_, {(int64_t)cb_w_.size()})),
      gamma_(cfg.gamma) {
  reject_class_weight(cfg, ("cb_" + loss_type).c_str());
  TAILOR_CHECK(loss_type == "softmax" || loss_type == "sigmoid" || loss_type == "focal",
               "ClassBalancedLoss: loss_type must be softmax, sigmoid or focal, got '", loss_type, "'");
}

Tensor ClassBalancedLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& z = in.logits;
  check_inputs(z, labels);
  const int64_t B = z.size(0), C = z.size(1);
  const float inv_b = 1.f / (float)B;
  if (loss_type_ == "softmax") {
    // (1/B) sum_i w_{y_i} CE_i: reduction "none" already multiplies each row by w_{y_i}
    return scale(sum_all(softmax_cross_entropy(z, labels, cb_w_t_.on(z.device()), "none")), inv_b);
  }
  // everything on the logits' device: no host read of the labels or the logits (train/loop.h)
  Tensor t = one_hot(labels, C);
  Tensor w_row = take(cb_w_t_.on(z.device()), labels).reshape({B, 1});  // w_{y_i}, [B,1]
  Tensor bce = bce_with_logits(z, t);                                    // [B,C]
  if (loss_type_ == "focal" && gamma_ != 0) {
    // modulator (1 - p_t)^gamma = exp(-gamma * t * z - gamma * log(1 + e^{-z}))
    Tensor log_mod = scale(add(mul(t, z), softplus(neg(z))), (float)-gamma_);
    bce = mul(exp(log_mod), bce);
  }
  return scale(sum_all(mul(w_row, bce)), inv_b);
}

}  // namespace tailor
