// Looking inside a loss for one sample: what it does to the logits, its value and its gradient.
//
// Teaching aid behind `tailor inspect-loss`. The value and the gradient come from the real loss of
// losses/ (make_loss) through the engine's autograd, never from a re-derived formula; only the
// "adjusted logits" shown beside them are restated here (the logits the softmax of each method sees),
// and inspect_loss checks that the softmax cross-entropy of those equals the loss value where it should.
//
// The gap sweep makes GCL Eq. 2-3 visible: for logits z = (g at the target, 0 elsewhere) the CE
// gradient of the target logit is dL/dz_y = p_y - 1 with p_y = e^g / (e^g + C - 1), which vanishes as
// the gap g grows (softmax saturation); margins (LDAM), log-prior shifts (Balanced Softmax) and the
// Gaussian cloud (GCL) move the rare target's curve to larger gaps.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "losses/loss.h"

namespace tailor {

struct LossInspection {
  std::string loss;
  std::vector<double> logits;    // the input z (raw cosines for ldam / gcl / gcl_ang)
  std::vector<double> adjusted;  // the logits the softmax sees (empty when the loss has no such form)
  std::string adjusted_formula;  // how `adjusted` is formed, or why there is none
  std::vector<double> probs;     // softmax(adjusted) (empty with `adjusted`)
  double value = 0;              // the loss
  std::vector<double> grad;      // dL/dz_j from autograd
  std::vector<double> noise;     // gcl: the half-normal draw |eps_j| used (empty otherwise)
  std::string randomness;        // "" for deterministic losses, else how the draw was seeded
  std::string weights_note;      // class weights given that divide out on one sample (a weighted mean): said
};

// One sample with logits z and label `target` through the loss `name` configured by `cfg`, for a
// training set with these class counts. Random losses (gcl, gcl_ang, eql) draw from Rng(seed); for gcl
// `raw_noise` (C values, N(0, sd 1/3) draws before clamp and abs) replaces the draw when non-empty.
LossInspection inspect_loss(const std::string& name, const LossConfig& cfg, const std::vector<int64_t>& counts,
                            const std::vector<double>& z, int target, uint64_t seed,
                            const std::vector<double>& raw_noise = {});

// The target-class gradient magnitude |dL/dg| along the logit gap g (target logit g, every other 0),
// expressed per unit of the logit the softmax sees: for the cosine losses (ldam, gcl) the cosine
// input is g / s, and the gradient is divided by s, so every curve shares the axis.
struct GapSweep {
  std::vector<double> gaps;
  std::vector<std::string> names;          // column names, e.g. "ce", "gcl", ...
  std::vector<std::vector<double>> grads;  // grads[k][i]: |dL/dz_y| of names[k] at gaps[i]
  std::vector<double> ce_closed_form;      // 1 - p_y, p_y = e^g / (e^g + C - 1)
  std::vector<std::string> descriptions;   // one line per column: its configuration
};

// Sweeps the gaps lo..hi in `steps` equal steps for the rarest class (the smallest count, last of equal
// ones) as target with: ce; gcl (stage-1 recipe s 30, m 0, nu 0.5; the mean gradient over `draws` cloud
// draws seeded from `seed`); ldam (s 30, max_m 0.5); balanced_softmax.
GapSweep sweep_target_gap(const std::vector<int64_t>& counts, double lo, double hi, int steps, int draws,
                          uint64_t seed);
// CSV text: "gap,<names...>,ce_closed_form" then one row per gap.
std::string gap_sweep_csv(const GapSweep& s);

}  // namespace tailor
