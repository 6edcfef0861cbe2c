// tau-normalisation sweeps, shared by the tau_norm method (train/methods/tau_norm.cpp) and `tailor
// tau-sweep`.
#pragma once
#include <functional>
#include <utility>
#include <vector>

#include "layers/resnet.h"
#include "train/metrics.h"

namespace tailor {

// For each tau, net's head := tau_normalize(trained, tau) (layers/heads.h), then eval(net). Returns
// (tau, metrics) per tau; the head of the last tau stays installed.
using TauSweep = std::vector<std::pair<double, EvalMetrics>>;
TauSweep sweep_tau(ResNet& net, const Linear& trained, const std::vector<double>& taus,
                   const std::function<EvalMetrics(ResNet&)>& eval);
double best_tau(const TauSweep& sweep);  // highest top-1; the first on ties
std::vector<double> default_tau_grid();  // 0, 0.1, ..., 2.0 (21 values)

}  // namespace tailor
