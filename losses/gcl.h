// GCL — Gaussian Clouded Logit adjustment (Li, Cheung, Lu, CVPR 2022; Keke921/GCLLoss losses.py GCLLoss).
//
//   cloud size   delta_j = log n_max - log n_j          (0 for the most frequent class)
//                dtilde_j = delta_j / max_k delta_k     (in [0, 1]; 1 for the rarest class)
//   noise        eps_ij ~ N(0, sd 1/3), clamped to [-1, 1]; |eps_ij| is a half-normal in [0, 1],
//                drawn afresh for every sample AND class at every call
//   cloud        zhat_ij = cos_ij - nu |eps_ij| dtilde_j          (all classes, target included)
//   margin       zbar_ij = zhat_ij - m [j = y_i]
//   stage 1      L = CE_w(s zbar_i, y_i)                           (PyTorch weighted mean)
//   stage 2      l_i = w_{y_i} CE(s zbar_i, y_i)
//   (train_cls)  L = (1/B) sum_i (1 - stopgrad(exp(-l_i)))^gamma l_i
//
// Why: a rare class's few training features cover a small region, and with softmax its logits
// soon stop receiving gradient (saturation) while the head classes keep pushing the boundary into
// it. Lowering every rare-class logit by a random amount that grows with rarity ("a Gaussian cloud"
// around its samples) keeps the rare classes looking hard, so the learnt margins and feature regions
// of rare classes grow. Input: raw cosines of a NormedLinear head; evaluation uses argmax cos, no noise.
//
// Gotchas kept from the reference: the noise is subtracted for target and non-target classes alike;
// noise and margin act before the scale s; mixup evaluates the loss twice (two noise draws).
// Guard added: when every class has the same count max delta = 0 and the reference divides by zero
// (NaN); here dtilde = 0 (no cloud), so the loss reduces to the margin loss.
#pragma once
#include "losses/loss.h"

namespace tailor {

// dtilde_j = (log n_max - log n_j) / max_k (log n_max - log n_k), 0 for all when all n are equal.
std::vector<double> gcl_cloud_sizes(const std::vector<int64_t>& counts);
// A raw noise draw [rows, cols], entries N(0, sd 1/3) = rng.normal() / 3 in row-major order (before
// the clamp and the absolute value, which the losses apply).
Tensor sample_gcl_noise(int64_t rows, int64_t cols, Rng& rng);
// |clamp(eps, -1, 1)| of a raw draw, as doubles (row-major).
std::vector<double> half_normal_from_noise(const Tensor& noise, int64_t rows, int64_t cols);

class GCLLoss : public Loss {
 public:
  GCLLoss(const std::vector<int64_t>& counts, const LossConfig& cfg, Rng& rng = global_rng());
  std::string name() const override { return "gcl"; }
  // Draws eps from the loss's Rng (a step input, engine/step_inputs.h), then as forward_with_noise.
  Tensor compute(const LossInput& in, const Tensor& labels) override;
  // The same loss with an explicit raw noise draw f32 [B, C] (tests, reproductions).
  Tensor forward_with_noise(const Tensor& cosines, const Tensor& labels, const Tensor& noise);
  const std::vector<double>& cloud_sizes() const { return dtilde_; }

 private:
  Tensor cloud_of(const Tensor& noise) const;  // nu |clamp(eps)| dtilde_j on the host, f32 [B, C]
  Tensor forward_with_cloud(const Tensor& cosines, const Tensor& labels, const Tensor& cloud);
  std::vector<double> dtilde_;
  double s_, m_, noise_mul_, gamma_;
  bool train_cls_;
  Rng* rng_;
};

}  // namespace tailor
