#include "losses/inspect.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "losses/balanced_softmax.h"
#include "losses/drw.h"
#include "losses/gcl.h"
#include "losses/ldam.h"
#include "losses/logit_adjust.h"

namespace tailor {

// softmax of a vector (max-shifted), in doubles
static std::vector<double> softmax_of(const std::vector<double>& a) {
  double top = *std::max_element(a.begin(), a.end()), total = 0;
  std::vector<double> p(a.size());
  for (size_t j = 0; j < a.size(); ++j) total += (p[j] = std::exp(a[j] - top));
  for (auto& v : p) v /= total;
  return p;
}

// The logits each softmax-based method feeds to its cross-entropy (docs/losses.md):
//   ce, focal, cb_softmax:  a = z                               (they change the weighting, not the logits)
//   ldam:                   a = s (z - Delta_y [j = y]),         Delta_j = max_m n_j^{-1/4} / max_k n_k^{-1/4}
//   logit_adjust:           a = z + log(pi_j^tau + 1e-12)
//   balanced_softmax:       a = z + log n_j
//   gcl:                    a = s (z - nu |eps_j| dtilde_j - m [j = y])
// Empty for the sigmoid / smoothing / angular / dropping losses, whose softmax input is not one vector.
static std::vector<double> adjusted_logits(const std::string& name, const LossConfig& c,
                                           const std::vector<int64_t>& counts, const std::vector<double>& z,
                                           int y, const std::vector<double>& abs_eps, std::string& formula) {
  const size_t C = z.size();
  std::vector<double> a = z;
  if (name == "ce" || name == "focal" || name == "cb_softmax") {
    formula = "z (this loss changes the weighting of the cross-entropy, not the logits)";
  } else if (name == "ldam") {
    std::vector<double> d = ldam_margins(counts, c.max_m);
    for (size_t j = 0; j < C; ++j) a[j] = c.s * (z[j] - ((int)j == y ? d[j] : 0.0));
    formula = "s * (z - Delta_y [j = y]),  Delta_j = max_m * n_j^-1/4 / max_k n_k^-1/4";
  } else if (name == "logit_adjust") {
    std::vector<double> off = log_prior_offsets(counts, c.tau);
    for (size_t j = 0; j < C; ++j) a[j] = z[j] + off[j];
    formula = "z + log(pi_j^tau + 1e-12)";
  } else if (name == "balanced_softmax") {
    for (size_t j = 0; j < C; ++j) a[j] = z[j] + std::log((double)counts[j]);
    formula = "z + log n_j";
  } else if (name == "gcl") {
    std::vector<double> dt = gcl_cloud_sizes(counts);
    for (size_t j = 0; j < C; ++j)
      a[j] = c.s * (z[j] - c.noise_mul * abs_eps[j] * dt[j] - ((int)j == y ? c.m : 0.0));
    formula = "s * (z - nu |eps_j| dtilde_j - m [j = y]),  dtilde_j = log(n_max/n_j) / max_k log(n_max/n_k)";
  } else {
    formula = "none: " + name + " is not a softmax cross-entropy of one shifted logit vector (see docs/losses.md)";
    return {};
  }
  return a;
}

// One sample through the loss: its value, dL/dz and (gcl) the noise drawn, into r. Random losses draw from
// Rng(seed); for gcl `raw_noise` replaces the draw when non-empty.
static void run_loss(const std::string& name, const LossConfig& cfg, const std::vector<int64_t>& counts,
                     const std::vector<double>& z, int target, uint64_t seed, const std::vector<double>& raw_noise,
                     LossInspection& r) {
  const int64_t C = (int64_t)counts.size();
  Rng rng(seed);
  std::unique_ptr<Loss> loss = make_loss(name, cfg, counts, &rng);
  Tensor logits = Tensor::from_vector(std::vector<float>(z.begin(), z.end()), {1, C});
  logits.set_requires_grad(true);
  Tensor labels = Tensor::from_vector_i32({target}, {1});
  Tensor value;
  if (name == "gcl") {
    // the draw GCLLoss::compute makes from Rng(seed), or the given one, kept to show it
    Tensor noise = raw_noise.empty() ? sample_gcl_noise(1, C, rng)
                                     : Tensor::from_vector(std::vector<float>(raw_noise.begin(), raw_noise.end()), {1, C});
    r.noise = half_normal_from_noise(noise, 1, C);
    value = dynamic_cast<GCLLoss&>(*loss).forward_with_noise(logits, labels, noise);
    r.randomness = raw_noise.empty() ? "gcl cloud |eps| drawn from seed " + std::to_string(seed) : "gcl cloud |eps| given";
  } else {
    value = loss->forward(logits, labels);
    if (name == "gcl_ang" || name == "eql") r.randomness = name + " noise drawn from seed " + std::to_string(seed);
  }
  value.backward();
  r.value = value.item();
  std::vector<float> g = logits.grad().to_vector();
  r.grad.assign(g.begin(), g.end());
}

LossInspection inspect_loss(const std::string& name, const LossConfig& cfg, const std::vector<int64_t>& counts,
                            const std::vector<double>& z, int target, uint64_t seed,
                            const std::vector<double>& raw_noise) {
  const int64_t C = (int64_t)counts.size();
  TAILOR_CHECK((int64_t)z.size() == C, "inspect_loss: ", z.size(), " logits for ", C, " class counts");
  TAILOR_CHECK(target >= 0 && target < C, "inspect_loss: target ", target, " is not a class in 0..", C - 1);
  for (double v : z) TAILOR_CHECK(std::isfinite(v), "inspect_loss: logits must be finite, got ", v);
  TAILOR_CHECK(raw_noise.empty() || name == "gcl", "inspect_loss: an explicit noise draw is for gcl only, not ",
               name);
  TAILOR_CHECK(raw_noise.empty() || (int64_t)raw_noise.size() == C, "inspect_loss: ", raw_noise.size(),
               " noise values for ", C, " classes");
  LossInspection r;
  r.loss = name;
  r.logits = z;
  run_loss(name, cfg, counts, z, target, seed, raw_noise, r);
  // class weights given (loss.weight, train_rule Reweight) that divide out of one sample's loss: a weighted
  // mean over the batch, sum_i w_i l_i / sum_i w_i, is unchanged when every weight doubles (a plain mean of
  // w_i l_i doubles)
  if (!cfg.weight.empty() || cfg.train_rule == "Reweight") {
    LossConfig weighted = cfg;
    weighted.weight = cfg.weight.empty() ? drw_class_weights("Reweight", counts, 0, cfg.drw_epoch, cfg.beta) : cfg.weight;
    weighted.train_rule = "None";
    LossInspection once, twice;
    run_loss(name, weighted, counts, z, target, seed, raw_noise, once);
    for (float& w : weighted.weight) w *= 2;
    run_loss(name, weighted, counts, z, target, seed, raw_noise, twice);
    const double v = once.value;
    if (v != 0 && std::isfinite(v) && std::fabs(twice.value - v) <= 1e-6 * std::max(1.0, std::fabs(v)))
      r.weights_note = "the class weights divide out on one sample: " + name + " averages a batch as sum_i w_i l_i / "
                       "sum_i w_i (as PyTorch's cross_entropy with weight=), so they change only batches of several "
                       "classes";
  }
  r.adjusted = adjusted_logits(name, cfg, counts, z, target, r.noise, r.adjusted_formula);
  if (!r.adjusted.empty()) {
    r.probs = softmax_of(r.adjusted);
    // the restated logits must reproduce the loss itself (unweighted plain-CE forms only)
    bool plain_ce = cfg.weight.empty() && cfg.train_rule == "None" && name != "focal" && name != "cb_softmax" &&
                    !(name == "gcl" && cfg.train_cls);
    if (plain_ce) {  // CE = logsumexp(a) - a_y, exact where the softmax underflows (a gap of 700: CE 699)
      const double top = *std::max_element(r.adjusted.begin(), r.adjusted.end());
      double sum = 0;
      for (double a : r.adjusted) sum += std::exp(a - top);
      const double ce = top + std::log(sum) - r.adjusted[target];
      TAILOR_CHECK(std::fabs(ce - r.value) <= 1e-4 * std::max(1.0, std::fabs(ce)), "inspect_loss: the adjusted logits of ",
                   name, " give CE ", ce, " but the loss is ", r.value);
    }
  }
  return r;
}

// The target-gradient magnitude of one loss along the gaps; for the cosine losses the input is g / s
// and the gradient w.r.t. the scaled logit is dL/dcos / s. GCL averages over `draws` seeded clouds.
static std::vector<double> sweep_one(const std::string& name, const LossConfig& cfg,
                                     const std::vector<int64_t>& counts, int y, const std::vector<double>& gaps,
                                     int draws, uint64_t seed) {
  const bool cosine = name == "ldam" || name == "gcl";
  const double s = cosine ? cfg.s : 1.0;
  std::vector<double> out;
  for (size_t i = 0; i < gaps.size(); ++i) {
    std::vector<double> z(counts.size(), 0.0);
    z[y] = gaps[i] / s;
    int n = name == "gcl" ? draws : 1;
    double total = 0;
    for (int d = 0; d < n; ++d)
      total += inspect_loss(name, cfg, counts, z, y, seed + (uint64_t)d).grad[y] / s;  // same draws at every gap
    out.push_back(std::fabs(total / n));
  }
  return out;
}

GapSweep sweep_target_gap(const std::vector<int64_t>& counts, double lo, double hi, int steps, int draws,
                          uint64_t seed) {
  TAILOR_CHECK(counts.size() >= 2, "sweep_target_gap: need at least 2 classes, got ", counts.size());
  TAILOR_CHECK(steps >= 2 && hi > lo, "sweep_target_gap: need steps >= 2 and hi > lo, got ", steps, " steps over [",
               lo, ", ", hi, "]");
  TAILOR_CHECK(draws >= 1, "sweep_target_gap: draws must be >= 1, got ", draws);
  int y = 0;
  for (size_t j = 0; j < counts.size(); ++j)
    if (counts[j] <= counts[y]) y = (int)j;
  GapSweep s;
  for (int i = 0; i < steps; ++i) s.gaps.push_back(lo + (hi - lo) * i / (steps - 1));
  const double C = (double)counts.size();
  for (double g : s.gaps) s.ce_closed_form.push_back(1.0 - 1.0 / (1.0 + (C - 1) * std::exp(-g)));  // 1 - p_y

  LossConfig ldam;
  ldam.s = 30, ldam.max_m = 0.5;
  const std::string tgt = "target = rarest class " + std::to_string(y) + " (n = " + std::to_string(counts[y]) + ")";
  s.names = {"ce", "gcl", "ldam", "balanced_softmax"};
  s.descriptions = {"ce: plain softmax cross-entropy",
                    "gcl: s 30, m 0, nu 0.5 (stage-1 recipe); mean over " + std::to_string(draws) +
                        " cloud draws seeded from " + std::to_string(seed) + "; input cosine g/s, gradient / s",
                    "ldam: s 30, max_m 0.5; input cosine g/s, gradient / s",
                    "balanced_softmax: z + log n_j"};
  for (auto& d : s.descriptions) d += "; " + tgt;
  s.grads.push_back(sweep_one("ce", LossConfig(), counts, y, s.gaps, 1, seed));
  s.grads.push_back(sweep_one("gcl", gcl_cifar_stage1(), counts, y, s.gaps, draws, seed));
  s.grads.push_back(sweep_one("ldam", ldam, counts, y, s.gaps, 1, seed));
  s.grads.push_back(sweep_one("balanced_softmax", LossConfig(), counts, y, s.gaps, 1, seed));
  return s;
}

std::string gap_sweep_csv(const GapSweep& s) {
  std::ostringstream o;
  o.precision(9);
  o << "gap";
  for (auto& n : s.names) o << "," << n;
  o << ",ce_closed_form\n";
  for (size_t i = 0; i < s.gaps.size(); ++i) {
    o << s.gaps[i];
    for (auto& col : s.grads) o << "," << col[i];
    o << "," << s.ce_closed_form[i] << "\n";
  }
  return o.str();
}

}  // namespace tailor
