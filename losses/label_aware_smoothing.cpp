#include "losses/label_aware_smoothing.h"

#include <algorithm>
#include <cmath>

namespace tailor {

std::vector<double> las_smoothing(const std::vector<int64_t>& counts, double head, double tail,
                                  const std::string& shape, double power) {
  TAILOR_CHECK(shape == "concave" || shape == "linear" || shape == "convex" || shape == "exp",
               "las: shape must be concave, linear, convex or exp, got '", shape, "'");
  const double kPi = 3.14159265358979323846;
  double n_max = (double)*std::max_element(counts.begin(), counts.end());
  double n_min = (double)*std::min_element(counts.begin(), counts.end());
  std::vector<double> eps(counts.size());
  for (size_t j = 0; j < counts.size(); ++j) {
    double x = n_max > n_min ? ((double)counts[j] - n_min) / (n_max - n_min) : 1.0;
    if (shape == "concave")
      eps[j] = tail + (head - tail) * std::sin(kPi * x / 2);
    else if (shape == "linear")
      eps[j] = tail + (head - tail) * x;
    else if (shape == "convex")
      eps[j] = head + (head - tail) * std::sin(1.5 * kPi + kPi * x / 2);
    else
      eps[j] = tail + (head - tail) * std::pow(x, power);
  }
  return eps;
}

LabelAwareSmoothingLoss::LabelAwareSmoothingLoss(const std::vector<int64_t>& counts, const LossConfig& cfg)
    : Loss(counts, cfg), eps_(las_smoothing(counts, cfg.smooth_head, cfg.smooth_tail, cfg.shape, cfg.power)) {
  reject_class_weight(cfg, "las");
  std::vector<double> keep(eps_.size());
  for (size_t j = 0; j < eps_.size(); ++j) keep[j] = 1.0 - eps_[j];
  eps_t_ = DeviceConstant(eps_);
  keep_t_ = DeviceConstant(keep);
}

Tensor LabelAwareSmoothingLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& z = in.logits;
  check_inputs(z, labels);
  Tensor logp = log_softmax(z);
  Tensor nll = neg(gather(logp, labels));  // -log p_{i,y_i}, [B]
  Tensor uniform = neg(mean(logp, 1));     // -(1/C) sum_j log p_ij, [B]
  // eps_{y_i} and 1 - eps_{y_i} looked up on the labels' device: no host read
  const Device d = z.device();
  Tensor e = take(eps_t_.on(d), labels), keep = take(keep_t_.on(d), labels);
  Tensor l = add(mul(keep, nll), mul(e, uniform));
  return mean_all(l);
}

}  // namespace tailor
