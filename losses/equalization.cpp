#include "losses/equalization.h"

#include "engine/step_inputs.h"

namespace tailor {

std::vector<bool> eql_rare_classes(const std::vector<int64_t>& counts, double lambda) {
  double total = 0;
  for (int64_t n : counts) total += (double)n;
  std::vector<bool> rare;
  for (int64_t n : counts) rare.push_back((double)n / total < lambda);
  return rare;
}

SoftmaxEQLLoss::SoftmaxEQLLoss(const std::vector<int64_t>& counts, const LossConfig& cfg, Rng& rng)
    : Loss(counts, cfg), rare_(eql_rare_classes(counts, cfg.eql_lambda)), gamma_(cfg.eql_gamma), rng_(&rng) {
  std::vector<double> r(rare_.begin(), rare_.end());
  rare_t_ = DeviceConstant(r);
}

Tensor SoftmaxEQLLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& z = in.logits;
  check_inputs(z, labels);
  const int64_t B = z.size(0);
  // drawn on the host every step: a step input (engine/step_inputs.h), redrawn before each graph replay
  Tensor on = step_input(z.device(), [this, B] {
    std::vector<float> beta(B);
    for (auto& b : beta) b = rng_->uniform() < gamma_ ? 1.f : 0.f;
    return Tensor::from_vector(beta, {B, 1});
  });
  return forward_with_on(z, labels, on);
}

Tensor SoftmaxEQLLoss::forward_with_gate(const Tensor& z, const Tensor& labels, const Tensor& beta) {
  check_inputs(z, labels);
  const int64_t B = z.size(0);
  TAILOR_CHECK(beta.dim() == 1 && beta.size(0) == B, "eql: gate must be [", B, "], got ", beta.shape());
  const Device d = z.device();
  // on_i = [beta_i != 0], as a column [B, 1] on the logits' device. A gate on the host (compute() draws it
  // there from the loss's Rng) is read there and uploaded: host data, no device read. A gate already on a
  // device is compared there: [beta > 0] + [0 > beta] (a NaN entry counts as 0 there).
  Tensor on;
  if (beta.device().is_cpu()) {
    const Tensor g = beta.contiguous();
    std::vector<float> v((size_t)B);
    for (int64_t i = 0; i < B; ++i) v[(size_t)i] = g.f32()[i] != 0.f ? 1.f : 0.f;
    on = Tensor::from_vector(v, {B, 1}, d);
  } else {
    TAILOR_CHECK(beta.device() == d, "eql: gate on ", beta.device().str(), ", logits on ", d.str());
    const Tensor zero = Tensor::zeros({}, DType::F32, d);
    on = add(greater(beta, zero), greater(zero, beta)).reshape({B, 1});
  }
  return forward_with_on(z, labels, on);
}

Tensor SoftmaxEQLLoss::forward_with_on(const Tensor& z, const Tensor& labels, const Tensor& on) {
  const int64_t C = z.size(1);
  const Device d = z.device();
  // wt_ij = 0 -> the logit leaves the denominator: add -1e30 (log 0, kept finite) where
  //   drop_ij = on_i rare_j (1 - [j = y_i])   (0 or 1, all factors 0 or 1)
  // -1e30 * drop is -1e30 or +0 (scale's s x + 0 turns -0 into +0), as the host-built mask was.
  Tensor not_target = add_scalar(neg(one_hot(labels, C)), 1.f);
  Tensor drop = mul(mul(on, rare_t_.on(d)), not_target);
  Tensor masked = add(z, scale(drop, -1e30f));
  return softmax_cross_entropy(masked, labels, weight_on(d), "mean");
}

}  // namespace tailor
