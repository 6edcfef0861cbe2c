#include "losses/gcl.h"

#include <algorithm>
#include <cmath>

#include "engine/step_inputs.h"
#include "losses/focal.h"

namespace tailor {

std::vector<double> gcl_cloud_sizes(const std::vector<int64_t>& counts) {
  std::vector<double> delta(counts.size());
  double log_max = std::log((double)*std::max_element(counts.begin(), counts.end()));
  for (size_t j = 0; j < counts.size(); ++j) delta[j] = log_max - std::log((double)counts[j]);
  double top = *std::max_element(delta.begin(), delta.end());
  for (auto& d : delta) d = top > 0 ? d / top : 0.0;  // all counts equal: no cloud (reference: 0/0)
  return delta;
}

Tensor sample_gcl_noise(int64_t rows, int64_t cols, Rng& rng) {
  Tensor t = Tensor::empty({rows, cols});
  float* p = t.f32();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = (float)(rng.normal() / 3.0);  // Normal(0, 1/3)
  return t;
}

std::vector<double> half_normal_from_noise(const Tensor& noise, int64_t rows, int64_t cols) {
  TAILOR_CHECK(noise.dim() == 2 && noise.size(0) == rows && noise.size(1) == cols, "gcl: noise must be [", rows, ", ",
               cols, "], got ", noise.shape());
  const Tensor h = noise.is_cuda() ? noise.cpu() : noise.contiguous();  // drawn on the host: no device read
  const float* raw = h.f32();
  std::vector<double> a((size_t)h.numel());
  for (size_t k = 0; k < a.size(); ++k) a[k] = std::fabs(std::clamp((double)raw[k], -1.0, 1.0));
  return a;
}

GCLLoss::GCLLoss(const std::vector<int64_t>& counts, const LossConfig& cfg, Rng& rng)
    : Loss(counts, cfg),
      dtilde_(gcl_cloud_sizes(counts)),
      s_(cfg.s),
      m_(cfg.m),
      noise_mul_(cfg.noise_mul),
      gamma_(cfg.gamma),
      train_cls_(cfg.train_cls),
      rng_(&rng) {}

Tensor GCLLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& cos = in.logits;
  check_inputs(cos, labels);
  const int64_t B = cos.size(0), C = cos.size(1);
  // drawn on the host every step: a step input (engine/step_inputs.h), redrawn before each graph replay
  Tensor cloud = step_input(cos.device(), [this, B, C] { return cloud_of(sample_gcl_noise(B, C, *rng_)); });
  return forward_with_cloud(cos, labels, cloud);
}

Tensor GCLLoss::forward_with_noise(const Tensor& cos, const Tensor& labels, const Tensor& noise) {
  check_inputs(cos, labels);
  TAILOR_CHECK(noise.dim() == 2 && noise.size(0) == cos.size(0) && noise.size(1) == cos.size(1), "gcl: noise must be [",
               cos.size(0), ", ", cos.size(1), "], got ", noise.shape());
  return forward_with_cloud(cos, labels, cloud_of(noise).to(cos.device()));
}

// the cloud nu |eps_ij| dtilde_j, on the host (in double, then f32)
Tensor GCLLoss::cloud_of(const Tensor& noise) const {
  const int64_t B = noise.size(0), C = noise.size(1);
  std::vector<double> abs_eps = half_normal_from_noise(noise, B, C);
  std::vector<float> cloud(B * C);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < C; ++j) cloud[i * C + j] = (float)(noise_mul_ * abs_eps[i * C + j] * dtilde_[j]);
  return Tensor::from_vector(cloud, {B, C});
}

Tensor GCLLoss::forward_with_cloud(const Tensor& cos, const Tensor& labels, const Tensor& cloud) {
  const int64_t C = cos.size(1);
  Tensor zhat = sub(cos, cloud);                                 // zhat = cos - nu |eps| dtilde (a constant)
  Tensor zbar = sub(zhat, scale(one_hot(labels, C), (float)m_));  // zbar = zhat - m [j = y]
  Tensor logits = scale(zbar, (float)s_);
  Tensor w = weight_on(cos.device());
  if (!train_cls_) return softmax_cross_entropy(logits, labels, w, "mean");
  return focal_reduce(softmax_cross_entropy(logits, labels, w, "none"), gamma_, /*detach_p=*/true);
}

}  // namespace tailor
