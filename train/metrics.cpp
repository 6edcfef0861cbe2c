#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "data/dataset.h"  // counted

namespace tailor {

ShotGroup mean_class_accuracy(const std::vector<double>& per_class_acc, const std::vector<int>& classes) {
  ShotGroup g;
  double s = 0;
  for (int c : classes)
    if (!std::isnan(per_class_acc[(size_t)c])) {
      s += per_class_acc[(size_t)c];
      g.classes++;
    }
  g.acc = g.classes ? s / g.classes : 0;
  return g;
}

MetricsAccumulator::MetricsAccumulator(int num_classes, std::vector<int64_t> train_counts, ShotRule rule,
                                       int calibration_bins)
    : C_(num_classes),
      bins_(calibration_bins),
      train_counts_(std::move(train_counts)),
      rule_(rule),
      class_count_(num_classes, 0),
      class_correct_(num_classes, 0),
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
    // a NaN / Inf logit has no argmax, softmax or calibration bin (its bin index would be undefined): the model's
    // outputs are broken, which no metric can hide
    for (int c = 0; c < C_; ++c)
      TAILOR_CHECK(std::isfinite(row[c]), "evaluation: the model's logit for class ", c, " of sample ", n_ + i,
                   " is ", row[c], ": its outputs are not finite (diverged weights or batch statistics; a lower "
                   "learning rate, or debug.anomaly to find the op)");
    // prediction = first index of the maximum (numpy argmax semantics)
    int pred = (int)(std::max_element(row, row + C_) - row);
    // rank of the true class: number of classes strictly better, plus equal ones before it
    int better = 0;
    for (int c = 0; c < C_; ++c)
      if (row[c] > row[yi] || (row[c] == row[yi] && c < yi)) ++better;
    top1_ += pred == yi;
    top5_ += better < 5;
    confusion_[(int64_t)yi * C_ + pred] += 1;
    class_count_[yi] += 1;
    class_correct_[yi] += pred == yi;
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
  for (auto [cell, n] : confusion_) m.confusion_cells.push_back({cell / C_, cell % C_, n});
  if (C_ <= kDenseConfusionMax) {
    m.confusion.assign((size_t)C_ * C_, 0);
    for (auto [cell, n] : confusion_) m.confusion[(size_t)cell] = n;
  }
  m.per_class_acc.assign(C_, std::numeric_limits<double>::quiet_NaN());
  m.per_class_count = class_count_;
  for (int c = 0; c < C_; ++c)
    if (class_count_[c]) m.per_class_acc[c] = (double)class_correct_[c] / class_count_[c];
  auto mean_acc = [&](const std::vector<int>& classes) { return mean_class_accuracy(m.per_class_acc, classes); };
  std::vector<int> all(C_);
  for (int c = 0; c < C_; ++c) all[c] = c;
  m.balanced_acc = mean_acc(all).acc;
  m.shot_rule = rule_;
  m.shot_split = data::shot_split(train_counts_, rule_);
  m.shot_rule_text = data::describe_shot_rule(rule_, train_counts_);
  m.many = mean_acc(m.shot_split.many);
  m.medium = mean_acc(m.shot_split.medium);
  m.few = mean_acc(m.shot_split.few);
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

std::string group_pct(const ShotGroup& g) {
  char b[16];
  std::snprintf(b, sizeof b, "%.2f", 100 * g.acc);
  return g.empty() ? std::string("n/a") : std::string(b);
}

const char* const kTop1VsBalanced =
    "top-1 counts images, balanced counts classes: on a balanced test set (the CIFAR-LT, ImageNet-LT and\n"
    "Places-LT test sets the papers use) the two coincide; on an imbalanced one they differ, and balanced is the\n"
    "one comparable with the papers' numbers.";

std::string stage_drop_note(const std::vector<double>& best_top1_pct) {
  int best_k = -1, last_k = -1;  // the earlier stage with the highest top-1; the last evaluated stage
  for (int k = 0; k < (int)best_top1_pct.size(); ++k) {
    if (best_top1_pct[k] < 0) continue;
    if (last_k >= 0 && (best_k < 0 || best_top1_pct[last_k] > best_top1_pct[best_k])) best_k = last_k;
    last_k = k;
  }
  if (best_k < 0 || best_top1_pct[last_k] >= best_top1_pct[best_k] - 0.5) return "";
  char buf[768];
  std::snprintf(buf, sizeof buf,
                "stage %d's best evaluated top-1 (%.2f %%) is below stage %d's (%.2f %%). On a balanced test set "
                "the later stage lowered accuracy: usually its schedule is too short, its learning rate too high "
                "(or too low for a re-initialised classifier), or the backbone it starts from too weak for it; on "
                "an imbalanced one, re-balancing can trade top-1 for the tail: compare many / medium / few and "
                "balanced accuracy.",
                last_k + 1, best_top1_pct[last_k], best_k + 1, best_top1_pct[best_k]);
  return buf;
}

std::string format_shot_table(const EvalMetrics& m, const std::string& split) {
  auto row = [](const char* name, bool empty, double acc, int classes, const std::string& note = "") {
    char buf[96];
    if (empty)
      std::snprintf(buf, sizeof buf, "%-8s %8s %4s", name, "n/a", "0");
    else
      std::snprintf(buf, sizeof buf, "%-8s %7.2f%% %4d", name, 100 * acc, classes);
    return std::string(buf) + note + "\n";
  };
  std::string r = "groups: " + m.shot_rule_text + "\n";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-8s %8s %4s\n", "group", "top-1", "cls");
  r += buf;
  const ShotGroup* groups[3] = {&m.many, &m.medium, &m.few};
  const std::vector<int>* members[3] = {&m.shot_split.many, &m.shot_split.medium, &m.shot_split.few};
  for (int g = 0; g < 3; ++g) {  // cls counts the classes with test images; the group's others are said
    const int in_group = (int)members[g]->size(), tested = groups[g]->classes;
    const std::string note = tested < in_group ? "   (of " + std::to_string(in_group) + " in the group: " +
                                                     data::counted(in_group - tested, "class", "classes") +
                                                     " without " + split + " images)"
                                               : "";
    r += row(data::kShotGroupName[g], groups[g]->empty(), groups[g]->acc, tested, note);
  }
  int tested = 0;
  for (int64_t n : m.per_class_count) tested += n > 0;
  r += row("balanced", tested == 0, m.balanced_acc, tested, "   (per class: mean of the class accuracies)");
  std::snprintf(buf, sizeof buf, "%-8s %7.2f%%        (per image; top-5 %.2f%%, ECE %.2f%%, %lld %s images)\n",
                "overall", 100 * m.top1, 100 * m.top5, 100 * m.ece, (long long)m.samples, split.c_str());
  r += buf;
  if (m.skipped > 0)
    r += "         " + data::counted(m.skipped, split + " image") + " could not be decoded and " +
         (m.skipped == 1 ? "was" : "were") + " left out (data.on_bad_image skip; tailor verify-data names them)\n";
  return r + kTop1VsBalanced + "\n";
}

}  // namespace tailor
