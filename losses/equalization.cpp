#include "losses/equalization.h"

namespace tailor {

SoftmaxEQLLoss::SoftmaxEQLLoss(const std::vector<int64_t>& counts, const LossConfig& cfg, Rng& rng)
    : Loss(counts, cfg), gamma_(cfg.eql_gamma), rng_(&rng) {
  double total = 0;
  for (int64_t n : counts) total += (double)n;
  for (int64_t n : counts) rare_.push_back((double)n / total < cfg.eql_lambda);
}

Tensor SoftmaxEQLLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& z = in.logits;
  check_inputs(z, labels);
  const int64_t B = z.size(0);
  std::vector<float> beta(B);
  for (auto& b : beta) b = rng_->uniform() < gamma_ ? 1.f : 0.f;
  return forward_with_gate(z, labels, Tensor::from_vector(beta, {B}));
}

Tensor SoftmaxEQLLoss::forward_with_gate(const Tensor& z, const Tensor& labels, const Tensor& beta) {
  check_inputs(z, labels);
  const int64_t B = z.size(0), C = z.size(1);
  TAILOR_CHECK(beta.dim() == 1 && beta.size(0) == B, "eql: gate must be [", B, "], got ", beta.shape());
  std::vector<float> g = beta.contiguous().cpu().to_vector();
  std::vector<int32_t> y = labels.contiguous().cpu().to_vector_i32();
  // wt_ij = 0 -> the logit leaves the denominator: add -1e30 (log 0, kept finite)
  std::vector<float> drop(B * C, 0.f);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < C; ++j)
      if (g[i] != 0.f && rare_[j] && j != y[i]) drop[i * C + j] = -1e30f;
  Tensor masked = add(z, Tensor::from_vector(drop, {B, C}, z.device()));
  return softmax_cross_entropy(masked, labels, weight_on(z.device()), "mean");
}

}  // namespace tailor
