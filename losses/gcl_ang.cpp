#include "losses/gcl_ang.h"

#include <cmath>

#include "engine/step_inputs.h"
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
  const int64_t B = cos.size(0), C = cos.size(1);
  // drawn on the host every step: a step input (engine/step_inputs.h), redrawn before each graph replay
  Tensor tables = step_input(cos.device(), [this, B, C] { return tables_of(sample_gcl_noise(B, C, *rng_)); });
  return forward_with_tables(cos, labels, tables);
}

Tensor GCLAngLoss::forward_with_noise(const Tensor& cos, const Tensor& labels, const Tensor& noise) {
  check_inputs(cos, labels);
  TAILOR_CHECK(noise.dim() == 2 && noise.size(0) == cos.size(0) && noise.size(1) == cos.size(1),
               "gcl_ang: noise must be [", cos.size(0), ", ", cos.size(1), "], got ", noise.shape());
  return forward_with_tables(cos, labels, tables_of(noise).to(cos.device()));
}

Tensor GCLAngLoss::tables_of(const Tensor& noise) const {
  const int64_t B = noise.size(0), C = noise.size(1);
  const double kPi = 3.14159265358979323846;
  // The noise is drawn on the host, so every function of it is computed there (in double, as the reference's
  // numpy / math calls) and uploaded (host -> device: no read). What depends on the labels or the cosines is
  // decided on the device, with no host read (train/loop.h):
  //   M_ij = A_ij + m [j = y_i],  A_ij = (pi/2) epsilon dtilde_j |eps_ij|
  // each table f of M is made for both cases, f(A) and f(A + m), and the target's picked by t = one_hot(y):
  //   f(M) = t f(A + m) + (1 - t) f(A)   (exact: t is 0 or 1 and f finite)
  // and the branch mask [cos > cos(pi - M)] (easy margin: [cos > 0]) is a device comparison.
  std::vector<double> abs_eps = half_normal_from_noise(noise, B, C);
  const int kTables = easy_margin_ ? 2 : 4;  // cos M, sin M (+ cos(pi - M), sin(pi - M))
  const int64_t BC = B * C;
  // tables[(2 f + target) BC + k]: f(A) for target 0, f(A + m) for target 1
  std::vector<float> tables((size_t)(2 * kTables * BC));
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < C; ++j) {
      const int64_t k = i * C + j;
      const double a = kPi / 2 * epsilon_ * dtilde_[j] * abs_eps[k];
      for (int target = 0; target < 2; ++target) {
        const double M = a + (target ? m_ : 0.0);  // |a_ij| + m [j = y]
        float* f = tables.data() + target * BC + k;
        f[0 * 2 * BC] = (float)std::cos(M);
        f[1 * 2 * BC] = (float)std::sin(M);
        if (!easy_margin_) {
          f[2 * 2 * BC] = (float)std::cos(kPi - M);  // the branch threshold
          f[3 * 2 * BC] = (float)std::sin(kPi - M);  // the fallback offset: out = cos - sin(pi - M)
        }
      }
    }
  return Tensor::from_vector(tables, {2 * kTables, B, C});
}

Tensor GCLAngLoss::forward_with_tables(const Tensor& cos, const Tensor& labels, const Tensor& all) {
  const int64_t B = cos.size(0), C = cos.size(1);
  const Device d = cos.device();
  Tensor t = one_hot(labels, C), not_t = add_scalar(neg(t), 1.f);
  auto table = [&](int f) { return add(mul(t, all.select(2 * f + 1)), mul(not_t, all.select(2 * f))); };
  Tensor cos_m = table(0), sin_m = table(1);
  Tensor sine = pow(clamp(add_scalar(neg(mul(cos, cos)), 1.f), 0.f, 1.f), 0.5f);  // sqrt(clamp(1 - cos^2))
  Tensor phi = sub(mul(cos, cos_m), mul(sine, sin_m));                            // cos(theta + M)
  // mask 1 = phi, 0 = fallback, with the fallback's offset
  Tensor keep, fallback_shift;
  if (easy_margin_) {
    keep = greater(cos, Tensor::zeros({}, DType::F32, d));  // phi if cos > 0
    fallback_shift = Tensor::zeros({B, C}, DType::F32, d);  // else out = cos
  } else {
    keep = greater(cos, table(2));  // phi if cos > cos(pi - M)
    fallback_shift = table(3);      // else out = cos - sin(pi - M)
  }
  Tensor fallback = sub(cos, fallback_shift);
  Tensor out = add(mul(keep, phi), mul(add_scalar(neg(keep), 1.f), fallback));  // where(mask, phi, fallback)
  Tensor logits = scale(out, (float)s_);
  Tensor w = weight_on(d);
  if (!train_cls_) return softmax_cross_entropy(logits, labels, w, "mean");
  return focal_reduce(softmax_cross_entropy(logits, labels, w, "none"), gamma_, /*detach_p=*/true);
}

}  // namespace tailor
