#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tailor {

MetricsAccumulator::MetricsAccumulator(int num_classes, std::vector<int64_t> train_counts, int many_above,
                                       int few_below, int calibration_bins)
    : C_(num_classes),
      many_above_(many_above),
      few_below_(few_below),
      bins_(calibration_bins),
      train_counts_(std::move(train_counts)),
      confusion_((size_t)num_classes * num_classes, 0),
      bin_conf_(calibration_bins, 0.0),
      bin_correct_(calibration_bins, 0.0),
      bin_count_(calibration_bins, 0) {
  TAILOR_CHECK((int)train_counts_.size() == C_, "metrics: ", train_counts_.size(), " training counts for ", C_,
               " classes");
}

void MetricsAccumulator::add(const Tensor& logits_in, const Tensor& labels_in) {
  Tensor logits = logits_in.contiguous().cpu(), labels = labels_in.contiguous().cpu();
  TAILOR_CHECK(logits.dim() == 2 && logits.shape()[1] == C_, "metrics: logits must be [N, ", C_, "], got ",
               logits.shape());
  int64_t N = logits.shape()[0];
  TAILOR_CHECK(labels.dim() == 1 && labels.shape()[0] == N, "metrics: labels shape ", labels.shape(),
               " does not match logits ", logits.shape());
  const float* L = logits.f32();
  const int32_t* y = labels.i32();
  for (int64_t i = 0; i < N; ++i) {
    const float* row = L + i * C_;
    int yi = y[i];
    TAILOR_CHECK(yi >= 0 && yi < C_, "metrics: label ", yi, " at row ", i, " out of range [0, ", C_, ")");
    // prediction = first index of the maximum (numpy argmax semantics)
    int pred = (int)(std::max_element(row, row + C_) - row);
    // rank of the true class: number of classes strictly better, plus equal ones before it
    int better = 0;
    for (int c = 0; c < C_; ++c)
      if (row[c] > row[yi] || (row[c] == row[yi] && c < yi)) ++better;
    top1_ += pred == yi;
    top5_ += better < 5;
    confusion_[(size_t)yi * C_ + pred] += 1;
    // softmax confidence of the prediction, and the CE loss, in double
    double m = row[pred], s = 0;
    for (int c = 0; c < C_; ++c) s += std::exp((double)row[c] - m);
    double conf = 1.0 / s;
    loss_sum_ += -((double)row[yi] - m - std::log(s));
    int b = std::min(bins_ - 1, (int)std::ceil(conf * bins_) - 1);  // bins (lo, hi]: (0,1/15], ...
    b = std::max(b, 0);
    bin_conf_[b] += conf;
    bin_correct_[b] += pred == yi;
    bin_count_[b] += 1;
  }
  n_ += N;
}

EvalMetrics MetricsAccumulator::finish() const {
  EvalMetrics m;
  m.samples = n_;
  m.top1 = n_ ? (double)top1_ / n_ : 0;
  m.top5 = n_ ? (double)top5_ / n_ : 0;
  m.mean_loss = n_ ? loss_sum_ / n_ : 0;
  m.confusion = confusion_;
  m.per_class_acc.assign(C_, std::numeric_limits<double>::quiet_NaN());
  m.per_class_count.assign(C_, 0);
  for (int c = 0; c < C_; ++c) {
    int64_t row = 0;
    for (int p = 0; p < C_; ++p) row += confusion_[(size_t)c * C_ + p];
    m.per_class_count[c] = row;
    if (row) m.per_class_acc[c] = (double)confusion_[(size_t)c * C_ + c] / row;
  }
  auto group = [&](auto in_group) {
    ShotGroup g;
    double s = 0;
    for (int c = 0; c < C_; ++c)
      if (in_group(train_counts_[c]) && !std::isnan(m.per_class_acc[c])) {
        s += m.per_class_acc[c];
        g.classes++;
      }
    g.acc = g.classes ? s / g.classes : 0;
    return g;
  };
  m.many = group([&](int64_t n) { return n > many_above_; });
  m.medium = group([&](int64_t n) { return n <= many_above_ && n >= few_below_; });
  m.few = group([&](int64_t n) { return n < few_below_; });
  const double nan = std::numeric_limits<double>::quiet_NaN();
  m.bin_count = bin_count_;
  m.bin_confidence.assign(bins_, nan);
  m.bin_accuracy.assign(bins_, nan);
  for (int b = 0; b < bins_; ++b) {
    if (!bin_count_[b]) continue;
    m.bin_confidence[b] = bin_conf_[b] / bin_count_[b];
    m.bin_accuracy[b] = bin_correct_[b] / bin_count_[b];
    double gap = std::fabs(bin_correct_[b] / bin_count_[b] - bin_conf_[b] / bin_count_[b]);
    m.ece += (double)bin_count_[b] / n_ * gap;
    m.mce = std::max(m.mce, gap);
  }
  return m;
}

std::string format_shot_table(const EvalMetrics& m) {
  auto cell = [](const ShotGroup& g) {
    char buf[64];
    if (g.empty())
      std::snprintf(buf, sizeof buf, "%8s %4s", "n/a", "0");
    else
      std::snprintf(buf, sizeof buf, "%7.2f%% %4d", 100 * g.acc, g.classes);
    return std::string(buf);
  };
  char head[256];
  std::snprintf(head, sizeof head, "%-8s %9s %4s\n", "group", "top-1", "cls");
  std::string r = head;
  r += "many     " + cell(m.many) + "\n";
  r += "medium   " + cell(m.medium) + "\n";
  r += "few      " + cell(m.few) + "\n";
  char tail[128];
  std::snprintf(tail, sizeof tail, "overall  %7.2f%%      (top-5 %.2f%%, ECE %.2f%%, %lld test images)\n", 100 * m.top1,
                100 * m.top5, 100 * m.ece, (long long)m.samples);
  return r + tail;
}

}  // namespace tailor
