// tau sweeps of a post-hoc classifier, shared by the tau_norm and logit_adjust_posthoc methods
// (train/methods/tau_norm.cpp, logit_adjust_posthoc.cpp) and `tailor tau-sweep`.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "layers/resnet.h"
#include "train/config.h"
#include "train/metrics.h"

namespace tailor {

struct PosthocContext;  // train/method.h

// For each tau, net's head := tau_normalize(trained, tau) (layers/heads.h), then eval(net). Returns
// (tau, metrics) per tau; the head of the last tau stays installed.
using TauSweep = std::vector<std::pair<double, EvalMetrics>>;
TauSweep sweep_tau(ResNet& net, const Linear& trained, const std::vector<double>& taus,
                   const std::function<EvalMetrics(ResNet&)>& eval);
double best_tau(const TauSweep& sweep);  // highest top-1; the first on ties
// The same sweep from the split's features, computed once: each batch's features (eval mode, no grad) kept on
// the model's device, then every tau's classifier applied to them — the logits the whole network gives with
// that head, for one forward instead of one per tau. Used by `tailor tau-sweep`; ds's images left out
// (on_bad_image skip) are counted in each metrics' `skipped`.
TauSweep sweep_tau_on_features(ResNet& net, const Linear& trained, const std::vector<double>& taus,
                               const data::Dataset& ds, const data::TransformConfig& tf,
                               const std::vector<int64_t>& train_counts, const ShotRule& rule, int64_t batch,
                               int workers);
// The sweep as tau_sweep.json holds it: split, taus, and per tau top1, balanced, many, medium, few (percent,
// null for a group with no class tested).
Json tau_sweep_json(const TauSweep& sweep, const std::string& split, const std::vector<double>& taus);
std::vector<double> default_tau_grid();  // 0, 0.1, ..., 2.0 (21 values)

// The classifier a post-hoc method makes for one tau, on the device of the model.
using HeadOfTau = std::function<std::shared_ptr<Module>(double tau)>;
// The sweeps above for any such classifier.
TauSweep sweep_heads(ResNet& net, const std::vector<double>& taus, const HeadOfTau& head_of,
                     const std::function<EvalMetrics(ResNet&)>& eval);
TauSweep sweep_heads_on_features(ResNet& net, const std::vector<double>& taus, const HeadOfTau& head_of,
                                 const data::Dataset& ds, const data::TransformConfig& tf,
                                 const std::vector<int64_t>& train_counts, const ShotRule& rule, int64_t batch,
                                 int workers);
// A post-hoc stage's choice of tau: every tau of `taus` evaluated on the val split (on test when there is no
// val split and `on_test`), the best top-1 chosen; with neither split to select on, every tau is reported on
// test and `kept` is returned. Logs each tau's top-1 under `what` ("stage2 (tau_norm)") and writes the sweep
// to `file` in the run directory (tau_sweep_json, with "chosen" and "selected_on": the split or null).
double choose_posthoc_tau(PosthocContext& c, const std::string& what, const std::vector<double>& taus, bool on_test,
                          double kept, const HeadOfTau& head_of, const std::string& file);

}  // namespace tailor
