#include "losses/ldam.h"

#include <algorithm>
#include <cmath>

namespace tailor {

std::vector<double> ldam_margins(const std::vector<int64_t>& counts, double max_m) {
  std::vector<double> d(counts.size());
  for (size_t j = 0; j < counts.size(); ++j) d[j] = 1.0 / std::sqrt(std::sqrt((double)counts[j]));  // n^{-1/4}
  double top = *std::max_element(d.begin(), d.end());
  for (auto& v : d) v *= max_m / top;
  return d;
}

LDAMLoss::LDAMLoss(const std::vector<int64_t>& counts, const LossConfig& cfg)
    : Loss(counts, cfg), delta_(ldam_margins(counts, cfg.max_m)), delta_t_(delta_), s_(cfg.s) {}

Tensor LDAMLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& cos = in.logits;
  check_inputs(cos, labels);
  // target margin Delta_{y_i} at (i, y_i), zero elsewhere: one_hot(y) * Delta (broadcast over rows)
  Tensor margin = mul(one_hot(labels, num_classes()), delta_t_.on(cos.device()));
  Tensor logits = scale(sub(cos, margin), (float)s_);
  return softmax_ce(logits, labels, in);
}

}  // namespace tailor
