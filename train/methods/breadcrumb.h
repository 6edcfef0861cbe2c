// The feature memory of Breadcrumb / EMANATE (train/methods/breadcrumb.cpp), exposed for the tests that
// check it against a direct construction of the official code's loop (tests/make_breadcrumb_fixtures.py).
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "train/config.h"  // Json

namespace tailor {

// Per class c a FIFO of the last L_c epochs' features of that class (train mode, augmented, detached) with
// each epoch's centroid mu_c^e; L_c = ceil(n_b / n_c), n_b = ceil(steps_per_epoch * batch / C) (about N / C
// features per class per epoch). Host memory: at most sum_c (L_c n_c) rows of d floats, below
// sum_c (n_b + n_c) ~ 2N rows (CIFAR-10-LT rho 100, ResNet-32: 2 x 12,406 x 64 floats = 6.4 MB; ImageNet-LT,
// ResNet-10: 2 x 115,846 x 512 floats = 0.47 GB).
class FeatureFifos {
 public:
  FeatureFifos() = default;
  FeatureFifos(const std::vector<int64_t>& class_counts, int64_t nb, int64_t dim);
  int64_t num_classes() const { return (int64_t)fifos_.size(); }
  int64_t nb() const { return nb_; }
  int64_t dim() const { return dim_; }
  const std::vector<int64_t>& lengths() const { return lengths_; }  // L_c
  int64_t filled(int64_t c) const { return (int64_t)fifos_[(size_t)c].size(); }
  // Ready when every class's FIFO holds L_c epochs (then it stays so).
  bool ready() const;
  // The end of an epoch: the epoch's features [M, d] (row-major) and labels; per class, the oldest entry
  // leaves when the FIFO is full and (that epoch's features, their mean) enters. A class without a feature
  // this epoch gets no entry.
  void push_epoch(const std::vector<float>& feats, const std::vector<int32_t>& labels);
  // EMANATE: per class c, the stored epochs newest first, each row h - mu_c^e, the first n_b rows, plus the
  // newest centroid mu_c^latest; classes in order, [sum_c min(n_b, rows_c), d], with their labels.
  void emanate(std::vector<float>* feats, std::vector<int32_t>* labels) const;
  // The training state: all entries packed (rows, means) with the per-entry row counts in the JSON.
  void save(Json& j, std::map<std::string, Tensor>& t, const std::string& prefix) const;
  void load(const Json& j, const std::map<std::string, Tensor>& t, const std::string& prefix);

 private:
  struct Entry {
    std::vector<float> rows;  // [k, d]
    std::vector<float> mean;  // [d]
  };
  std::vector<std::deque<Entry>> fifos_;
  std::vector<int64_t> lengths_;
  int64_t nb_ = 0, dim_ = 0;
};

// n_b = ceil(steps * batch / C) and L_c = ceil(n_b / n_c) (a class with no image: 1).
int64_t breadcrumb_nb(int64_t steps_per_epoch, int64_t batch, int64_t num_classes);

}  // namespace tailor
