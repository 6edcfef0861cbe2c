// Breadcrumb's per-class feature FIFOs and the EMANATE construction (train/methods/breadcrumb.h), as
// BoLiu-SVCL/Breadcrumbs train.py builds them at each epoch's end and start.
#include "train/methods/breadcrumb.h"

#include <algorithm>

#include "engine/ops.h"

namespace tailor {

int64_t breadcrumb_nb(int64_t steps_per_epoch, int64_t batch, int64_t num_classes) {
  return (steps_per_epoch * batch + num_classes - 1) / num_classes;  // math.ceil(len(loader) * B / C)
}

FeatureFifos::FeatureFifos(const std::vector<int64_t>& counts, int64_t nb, int64_t dim)
    : fifos_(counts.size()), lengths_(counts.size()), nb_(nb), dim_(dim) {
  for (size_t c = 0; c < counts.size(); ++c)
    lengths_[c] = counts[c] > 0 ? std::max<int64_t>(1, (nb + counts[c] - 1) / counts[c]) : 1;  // ceil(nb / n_c)
}

bool FeatureFifos::ready() const {
  for (size_t c = 0; c < fifos_.size(); ++c)
    if ((int64_t)fifos_[c].size() < lengths_[c]) return false;
  return true;
}

void FeatureFifos::push_epoch(const std::vector<float>& feats, const std::vector<int32_t>& labels) {
  TAILOR_CHECK(feats.size() == labels.size() * (size_t)dim_, "breadcrumb: ", feats.size(), " feature values for ",
               labels.size(), " labels of dimension ", dim_);
  const size_t C = fifos_.size(), d = (size_t)dim_;
  std::vector<Entry> now(C);
  for (size_t i = 0; i < labels.size(); ++i) {
    const size_t c = (size_t)labels[i];
    TAILOR_CHECK(c < C, "breadcrumb: label ", labels[i], " outside the ", C, " classes");
    now[c].rows.insert(now[c].rows.end(), feats.begin() + i * d, feats.begin() + (i + 1) * d);
  }
  for (size_t c = 0; c < C; ++c) {
    Entry& e = now[c];
    const size_t k = e.rows.size() / d;
    if (k == 0) continue;
    std::vector<double> sum(d, 0.0);  // the centroid, accumulated in double, rounded once
    for (size_t r = 0; r < k; ++r)
      for (size_t j = 0; j < d; ++j) sum[j] += e.rows[r * d + j];
    e.mean.resize(d);
    for (size_t j = 0; j < d; ++j) e.mean[j] = (float)(sum[j] / (double)k);
    if ((int64_t)fifos_[c].size() >= lengths_[c]) fifos_[c].pop_front();  // the oldest epoch leaves
    fifos_[c].push_back(std::move(e));
  }
}

void FeatureFifos::emanate(std::vector<float>* feats, std::vector<int32_t>* labels) const {
  feats->clear();
  labels->clear();
  const size_t d = (size_t)dim_;
  for (size_t c = 0; c < fifos_.size(); ++c) {
    if (fifos_[c].empty()) continue;
    const std::vector<float>& latest = fifos_[c].back().mean;
    int64_t taken = 0;
    for (auto it = fifos_[c].rbegin(); it != fifos_[c].rend() && taken < nb_; ++it) {  // newest first
      const size_t k = it->rows.size() / d;
      for (size_t r = 0; r < k && taken < nb_; ++r, ++taken) {
        for (size_t j = 0; j < d; ++j) feats->push_back((it->rows[r * d + j] - it->mean[j]) + latest[j]);
        labels->push_back((int32_t)c);
      }
    }
  }
}

void FeatureFifos::save(Json& j, std::map<std::string, Tensor>& t, const std::string& prefix) const {
  std::vector<float> rows, means;
  Json sizes = Json::array();  // per class, the row count of each stored epoch, oldest first
  for (const auto& q : fifos_) {
    Json s = Json::array();
    for (const Entry& e : q) {
      rows.insert(rows.end(), e.rows.begin(), e.rows.end());
      means.insert(means.end(), e.mean.begin(), e.mean.end());
      s.push_back(e.rows.size() / (size_t)dim_);
    }
    sizes.push_back(s);
  }
  j[prefix + "rows"] = sizes;
  t[prefix + "feats"] = Tensor::from_vector(rows, {(int64_t)(rows.size() / (size_t)dim_), dim_});
  t[prefix + "means"] = Tensor::from_vector(means, {(int64_t)(means.size() / (size_t)dim_), dim_});
}

void FeatureFifos::load(const Json& j, const std::map<std::string, Tensor>& t, const std::string& prefix) {
  const Json& sizes = j.at(prefix + "rows");
  TAILOR_CHECK(sizes.size() == fifos_.size(), "breadcrumb: the state has FIFOs for ", sizes.size(), " classes, not ",
               fifos_.size());
  const std::vector<float> rows = t.at(prefix + "feats").to_vector(), means = t.at(prefix + "means").to_vector();
  const size_t d = (size_t)dim_;
  size_t r = 0, m = 0;
  for (size_t c = 0; c < fifos_.size(); ++c) {
    fifos_[c].clear();
    for (const Json& k : sizes[c]) {
      Entry e;
      const size_t n = k.get<size_t>() * d;
      TAILOR_CHECK(r + n <= rows.size() && m + d <= means.size(), "breadcrumb: the state's FIFO tensors are short");
      e.rows.assign(rows.begin() + r, rows.begin() + r + n);
      e.mean.assign(means.begin() + m, means.begin() + m + d);
      r += n;
      m += d;
      fifos_[c].push_back(std::move(e));
    }
  }
}

}  // namespace tailor
