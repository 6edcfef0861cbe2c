// GCLAng — the angular variant of GCL (Keke921/GCLLoss losses.py GCLAngLoss; Places-LT "NoiAng").
//
//   a_ij     = (pi/2) epsilon dtilde_j eps_ij        (eps ~ N(0, sd 1/3) clamped to [-1, 1];
//                                                     dtilde = GCL cloud size, gcl.h)
//   M_ij     = |a_ij| + m [j = y_i]                  (angular noise on every class, margin on the target)
//   phi_ij   = cos(theta_ij + M_ij) = cos_ij cos M_ij - sin_ij sin M_ij,   sin = sqrt(clamp(1 - cos^2, 0, 1))
//   easy_margin:   out = phi if cos > 0 else cos
//   otherwise:     out = phi if cos > cos(pi - M) else cos - sin(pi - M)
//   L = CE_w(s out, y)   (train_cls: (1/B) sum_i (1 - stopgrad(e^{-l_i}))^gamma l_i, as GCL)
//
// Why: the same Gaussian cloud as GCL, added to the angle between feature and class weight instead
// of to the cosine (ArcFace-style additive angular margin), so the perturbation is uniform on the
// hypersphere. Fallback branch: the reference uses cos - sin(pi - M), not ArcFace's
// cos - M sin(pi - M); kept as the reference. Defaults (class): m 0.5, epsilon 0.1, s 30,
// easy_margin false; the Places-LT scripts use epsilon 0.5, easy_margin true, m 0, s 30. As in the
// reference, a cosine of exactly +-1 has an infinite d sin / d cos: its gradient is NaN (the non-finite
// guard stops or skips that step, guard.nonfinite); normalised features and weights rarely reach it.
#pragma once
#include "losses/loss.h"

namespace tailor {

class GCLAngLoss : public Loss {
 public:
  GCLAngLoss(const std::vector<int64_t>& counts, const LossConfig& cfg, Rng& rng = global_rng());
  std::string name() const override { return "gcl_ang"; }
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  // Explicit raw noise draw f32 [B, C] (before clamp), as GCLLoss::forward_with_noise.
  Tensor forward_with_noise(const Tensor& cosines, const Tensor& labels, const Tensor& noise);

 private:
  // The margin tables of a raw draw on the host, f32 [2 kTables, B, C] (see forward_with_noise's comment).
  Tensor tables_of(const Tensor& noise) const;
  Tensor forward_with_tables(const Tensor& cosines, const Tensor& labels, const Tensor& tables);
  std::vector<double> dtilde_;
  double s_, m_, epsilon_, gamma_;
  bool easy_margin_, train_cls_;
  Rng* rng_;
};

}  // namespace tailor
