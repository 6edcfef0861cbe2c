#include "data/imbalance.h"
#include "data/idx.h"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "data/rng.h"

namespace tailor::data {

LtProfile parse_lt_profile(const std::string& s) {
  if (s == "exp") return LtProfile::Exp;
  if (s == "step") return LtProfile::Step;
  throw std::runtime_error("unknown long-tail profile '" + s + "' (expected exp or step)");
}

const char* lt_profile_name(LtProfile p) { return p == LtProfile::Exp ? "exp" : "step"; }

static void check_ratio(double rho) {
  if (!(rho >= 1.0) || !std::isfinite(rho))
    throw std::runtime_error("imbalance_ratio must be n_max / n_min >= 1 (e.g. 100), got " + std::to_string(rho) +
                             (rho > 0 && rho < 1 ? " (this looks like imb_factor = 1/ratio; pass the ratio)" : ""));
}

std::vector<int64_t> lt_class_counts(double n_max, int num_classes, double imbalance_ratio, LtProfile profile) {
  check_ratio(imbalance_ratio);
  if (num_classes < 2) throw std::runtime_error("a long-tailed profile needs at least 2 classes");
  if (!(n_max >= 1)) throw std::runtime_error("n_max must be >= 1");
  const double r = 1.0 / imbalance_ratio;  // the references' imb_factor (0.01 for ratio 100, same double)
  std::vector<int64_t> n((size_t)num_classes);
  for (int c = 0; c < num_classes; ++c) {
    double v;
    if (profile == LtProfile::Exp)
      v = n_max * std::pow(r, (double)c / ((double)num_classes - 1.0));
    else
      v = c < num_classes / 2 ? n_max : n_max * r;
    n[(size_t)c] = (int64_t)v;  // truncation toward zero, as Python int()
  }
  return n;
}

LtSubset make_lt_subset(const std::vector<int32_t>& labels, int num_classes, double imbalance_ratio,
                        LtProfile profile, uint32_t seed, double n_max) {
  std::vector<std::vector<int64_t>> pos((size_t)std::max(num_classes, 0));
  for (size_t i = 0; i < labels.size(); ++i) {
    int32_t y = labels[i];
    if (y < 0 || y >= num_classes)
      throw std::runtime_error("make_lt_subset: label " + std::to_string(y) + " of sample " + std::to_string(i) +
                               " out of range [0, " + std::to_string(num_classes) + ")");
    pos[(size_t)y].push_back((int64_t)i);
  }
  if (n_max < 0) {
    int64_t m = INT64_MAX;
    for (auto& p : pos) m = std::min<int64_t>(m, (int64_t)p.size());
    n_max = (double)m;
  }
  LtSubset s;
  s.counts = lt_class_counts(n_max, num_classes, imbalance_ratio, profile);
  NumpyLegacyRng rng(seed);
  for (int c = 0; c < num_classes; ++c) {
    auto& idx = pos[(size_t)c];
    int64_t keep = s.counts[(size_t)c];
    if (keep > (int64_t)idx.size())
      throw std::runtime_error("make_lt_subset: class " + std::to_string(c) + " has " + std::to_string(idx.size()) +
                               " samples, the profile asks for " + std::to_string(keep));
    rng.shuffle(idx);
    s.indices.insert(s.indices.end(), idx.begin(), idx.begin() + keep);
    s.total += keep;
  }
  return s;
}

std::string describe_lt_subset(const LtSubset& s, double imbalance_ratio, LtProfile profile, uint32_t seed) {
  std::ostringstream o;
  o << "LT subset (" << lt_profile_name(profile) << ", imbalance_ratio " << imbalance_ratio << ", seed " << seed
    << "): " << counted(s.total, "image") << ", counts " << counts_list(s.counts);
  return o.str();
}

void log_lt_subset(std::ostream& os, const LtSubset& s, double imbalance_ratio, LtProfile profile, uint32_t seed) {
  os << describe_lt_subset(s, imbalance_ratio, profile, seed) << "\n";
}

LtIdxData load_idx_lt(const std::string& root, double imbalance_ratio, LtProfile profile, uint32_t seed,
                      std::ostream& log) {
  LtIdxData d;
  Dataset full = load_idx_dataset(root, "train");
  d.test = load_idx_dataset(root, "test");
  d.subset = make_lt_subset(full.labels, full.num_classes, imbalance_ratio, profile, seed);
  d.train = subset(full, d.subset.indices);
  log << (root.find("fashion") != std::string::npos ? "Fashion-MNIST-LT: " : "IDX-LT: ");
  log_lt_subset(log, d.subset, imbalance_ratio, profile, seed);
  return d;
}

}  // namespace tailor::data
