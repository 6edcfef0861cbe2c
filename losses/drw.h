// DRW — Deferred Re-Weighting (Cao et al., NeurIPS 2019; kaidic/LDAM-DRW cifar_train.py).
//
//   epoch e (0-based):  beta_e = 0 if e < drw_epoch else beta
//   w_j = (1 - beta_e) / (1 - beta_e^{n_j}),  normalised so that sum_j w_j = C
//
// Why: train the representation with plain (instance-balanced) weights first, then switch on
// class-balanced re-weighting for the last epochs, when it helps the classifier without hurting
// the features. beta_e = 0 gives w_j = 1 exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tailor {

// The per-class CE weights of `rule` at `epoch`: "None" -> empty (no weight), "Reweight" ->
// effective-number weights from epoch 0, "DRW" -> ones before drw_epoch, effective-number weights
// from drw_epoch on. (The reference indexes [0, beta][epoch // drw_epoch], which fails past
// 2 * drw_epoch; here every epoch >= drw_epoch uses beta.)
std::vector<float> drw_class_weights(const std::string& rule, const std::vector<int64_t>& counts, int epoch,
                                     int drw_epoch = 160, double beta = 0.9999);

}  // namespace tailor
