#include "losses/logit_adjust.h"

#include <cmath>

namespace tailor {

std::vector<double> log_prior_offsets(const std::vector<int64_t>& counts, double tau) {
  double total = 0;
  for (int64_t n : counts) total += (double)n;
  std::vector<double> off(counts.size());
  for (size_t j = 0; j < counts.size(); ++j) off[j] = std::log(std::pow((double)counts[j] / total, tau) + 1e-12);
  return off;
}

LogitAdjustedLoss::LogitAdjustedLoss(const std::vector<int64_t>& counts, const LossConfig& cfg)
    : Loss(counts, cfg), offset_(log_prior_offsets(counts, cfg.tau)), offset_t_(offset_) {}

Tensor LogitAdjustedLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& z = in.logits;
  check_inputs(z, labels);
  Tensor adjusted = add(z, offset_t_.on(z.device()));  // z_j + log(pi_j^tau + 1e-12)
  return softmax_ce(adjusted, labels, in);
}

Tensor posthoc_logit_adjust(const Tensor& logits, const std::vector<int64_t>& counts, double tau) {
  check_dim("posthoc_logit_adjust", logits, 2, "logits");
  TAILOR_CHECK(logits.size(1) == (int64_t)counts.size(), "posthoc_logit_adjust: logits ", logits.shape(), " for ",
               counts.size(), " class counts");
  for (size_t j = 0; j < counts.size(); ++j)
    TAILOR_CHECK(counts[j] > 0, "posthoc_logit_adjust: class ", j, " has ", counts[j], " images");
  return sub(logits, f32_vector(log_prior_offsets(counts, tau), logits.device()));
}

}  // namespace tailor
