// Long-tailed subsets of a balanced training set (LDAM-DRW / GCL / MiSLAS `imbalance_cifar.py`, §3.5).
//
// The imbalance is given as a ratio rho = n_max / n_min >= 1 (write `imbalance_ratio: 100`, never the
// inverse "imb_factor 0.01"); internally r = 1 / rho, exactly like the references.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tailor::data {

enum class LtProfile { Exp, Step };
LtProfile parse_lt_profile(const std::string& s);  // "exp" | "step"
const char* lt_profile_name(LtProfile p);

// exp:  n_c = int(n_max * r^(c / (C - 1)))          c = 0..C-1 (class 0 is the head), truncation toward zero
// step: n_c = int(n_max) for c < floor(C/2), int(n_max * r) for the rest (an odd C gives its middle class
//       the tail count; LDAM-DRW's imbalance_cifar.py builds only 2 floor(C/2) counts and fails there)
// (std::pow in double then a truncating cast, as Python's float ** and int()).
std::vector<int64_t> lt_class_counts(double n_max, int num_classes, double imbalance_ratio, LtProfile profile);

struct LtSubset {
  std::vector<int64_t> indices;  // into the source array: class 0's kept samples first, each class in shuffled order
  std::vector<int64_t> counts;   // per class
  int64_t total = 0;
};

// Draws the subset exactly like numpy: np.random.seed(seed) once; for each class c in order, the ascending
// positions of class c are shuffled with np.random.shuffle (the stream continues across classes) and the
// first n_c are kept. n_max < 0 means: the smallest class count of `labels` (= N / C on a balanced set,
// which is the references' `len(data) / cls_num`). Throws if a class has fewer than n_c samples.
LtSubset make_lt_subset(const std::vector<int32_t>& labels, int num_classes, double imbalance_ratio,
                        LtProfile profile, uint32_t seed = 0, double n_max = -1);

// "exp imbalance_ratio 100 seed 0: 12406 images, counts [5000, 2997, ...]"
std::string describe_lt_subset(const LtSubset& s, double imbalance_ratio, LtProfile profile, uint32_t seed);
// Writes describe_lt_subset(...) and a newline to `os` (the resolved counts are always logged).
void log_lt_subset(std::ostream& os, const LtSubset& s, double imbalance_ratio, LtProfile profile, uint32_t seed);

// An IDX dataset (MNIST / Fashion-MNIST layout under `root`) with its training split cut to an LT
// subset (logged to `log` as "<name>-LT: ...") and the balanced test split.
struct LtIdxData {
  Dataset train, test;
  LtSubset subset;
};
LtIdxData load_idx_lt(const std::string& root, double imbalance_ratio, LtProfile profile, uint32_t seed,
                      std::ostream& log);

}  // namespace tailor::data
