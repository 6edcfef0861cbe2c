// Exact t-SNE (van der Maaten & Hinton, JMLR 2008), seeded: a 2-D map of high-dimensional points that
// keeps each point's near neighbours near. Used for the report's feature maps (GCL Fig. 1 / 3).
//
//   input affinities   p_{j|i} = exp(-beta_i |x_i - x_j|^2) / sum_{k != i} exp(-beta_i |x_i - x_k|^2),
//                      beta_i found by binary search so that the entropy H(P_i) = log(perplexity) (nats)
//                      p_ij = (p_{j|i} + p_{i|j}) / (2n)
//   map affinities     q_ij = (1 + |y_i - y_j|^2)^-1 / sum_{k != l} (1 + |y_k - y_l|^2)^-1   (Student-t)
//   objective          KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij)
//   gradient           dKL/dy_i = 4 sum_j (p_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j)
//   optimisation       gradient descent with momentum (0.5, then 0.8 after the exaggeration phase),
//                      per-coordinate gains (+0.2 when the step changes sign, x0.8 otherwise, >= 0.01),
//                      early exaggeration: P x `exaggeration` for the first `exaggeration_iters` iterations.
// O(n^2) memory and time per iteration: meant for a few thousand points (the report samples <= 3000).
#pragma once
#include <cstdint>
#include <vector>

namespace tailor {

struct TsneOptions {
  double perplexity = 30;
  int iterations = 1000;
  int exaggeration_iters = 250;
  double exaggeration = 12;
  double learning_rate = 200;
  uint64_t seed = 0;
};

struct TsneResult {
  std::vector<double> y;   // [n, 2] row-major
  std::vector<double> kl;  // KL(P || Q) of the un-exaggerated P at each iteration (before its step)
};

// x: [n, dim] row-major, n >= 2. Throws when the perplexity is not in (0, n - 1) or x is not finite.
TsneResult tsne_2d(const std::vector<float>& x, int64_t n, int64_t dim, const TsneOptions& opt);

// Up to `max_points` indices of `labels`, stratified by class with an equal cap: class c keeps
// min(n_c, q) points, q the largest cap with sum_c min(n_c, q) <= max_points (so rare classes keep every
// point and head classes are thinned alike), chosen by a seeded shuffle; returned sorted.
std::vector<int64_t> stratified_sample(const std::vector<int32_t>& labels, int64_t max_points, uint64_t seed);

}  // namespace tailor
