#include "losses/gcl_ang.h"

#include <cmath>

#include "losses/focal.h"
#include "losses/gcl.h"

namespace tailor {

GCLAngLoss::GCLAngLoss(const std::vector<int64_t>& counts, const LossConfig& cfg, Rng& rng)
    : Loss(counts, cfg),
      dtilde_(gcl_cloud_sizes(counts)),
      s_(cfg.s),
      m_(cfg.m),
      epsilon_(cfg.epsilon),
      gamma_(cfg.gamma),
      easy_margin_(cfg.easy_margin),
      train_cls_(cfg.train_cls),
      rng_(&rng) {}

Tensor GCLAngLoss::compute(const LossInput& in, const Tensor& labels) {
  const Tensor& cos = in.logits;
  check_inputs(cos, labels);
  return forward_with_noise(cos, labels, sample_gcl_noise(cos.size(0), cos.size(1), *rng_));
}

Tensor GCLAngLoss::forward_with_noise(const Tensor& cos, const Tensor& labels, const Tensor& noise) {
  check_inputs(cos, labels);
  const int64_t B = cos.size(0), C = cos.size(1);
  const double kPi = 3.14159265358979323846;
  std::vector<double> abs_eps = half_normal_from_noise(noise, B, C);
  std::vector<int32_t> y = labels.contiguous().cpu().to_vector_i32();
  std::vector<float> c = cos.contiguous().cpu().to_vector();  // only to pick the branch
  // per element: cos M, sin M, and the branch (mask 1 = phi, 0 = fallback) with its fallback offset
  std::vector<float> cos_m(B * C), sin_m(B * C), mask(B * C), fallback_shift(B * C);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < C; ++j) {
      int64_t k = i * C + j;
      double M = kPi / 2 * epsilon_ * dtilde_[j] * abs_eps[k] + (j == y[i] ? m_ : 0.0);  // |a_ij| + m [j = y]
      cos_m[k] = (float)std::cos(M);
      sin_m[k] = (float)std::sin(M);
      if (easy_margin_) {
        mask[k] = c[k] > 0 ? 1.f : 0.f;
        fallback_shift[k] = 0.f;  // out = cos
      } else {
        mask[k] = c[k] > (float)std::cos(kPi - M) ? 1.f : 0.f;
        fallback_shift[k] = (float)std::sin(kPi - M);  // out = cos - sin(pi - M)
      }
    }
  Device d = cos.device();
  auto constant = [&](const std::vector<float>& v) { return Tensor::from_vector(v, {B, C}, d); };
  Tensor sine = pow(clamp(add_scalar(neg(mul(cos, cos)), 1.f), 0.f, 1.f), 0.5f);  // sqrt(clamp(1 - cos^2))
  Tensor phi = sub(mul(cos, constant(cos_m)), mul(sine, constant(sin_m)));        // cos(theta + M)
  Tensor fallback = sub(cos, constant(fallback_shift));
  Tensor keep = constant(mask);
  Tensor out = add(mul(keep, phi), mul(add_scalar(neg(keep), 1.f), fallback));  // where(mask, phi, fallback)
  Tensor logits = scale(out, (float)s_);
  Tensor w = weight_on(d);
  if (!train_cls_) return softmax_cross_entropy(logits, labels, w, "mean");
  return focal_reduce(softmax_cross_entropy(logits, labels, w, "none"), gamma_, /*detach_p=*/true);
}

}  // namespace tailor
