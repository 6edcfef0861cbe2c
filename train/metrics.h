// Evaluation metrics for long-tailed recognition, computed from logits and labels:
//  top-1 / top-5 (per image), balanced accuracy (per class: the mean of the per-class accuracies over the
//  classes with test samples), per-class accuracy, many / medium / few-shot accuracy by TRAINING count
//  (the groups of data/shots.h: many > 100, medium 20..100, few < 20 images by default, or thirds of the
//  classes; a group with no class reports n/a, never 0 %), the confusion matrix, and expected / maximum
//  calibration error with 15 equal-width confidence bins (MiSLAS):
//    ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)|,  MCE = max_b |acc(B_b) - conf(B_b)|.
// Group accuracy is the mean of its classes' accuracies (the references' shot_acc), not a pooled ratio.
// On a balanced test set (CIFAR-LT, ImageNet-LT, Places-LT) top-1 equals the balanced accuracy; on an
// imbalanced one they differ, and the balanced accuracy is the one comparable with the papers' numbers.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/shots.h"
#include "engine/tensor.h"

namespace tailor {

using data::ShotRule;

struct ShotGroup {
  int classes = 0;   // number of classes in the group that have test samples
  double acc = 0;    // mean per-class accuracy; meaningful only when classes > 0
  bool empty() const { return classes == 0; }
};

// A group's (and the balanced) accuracy: the mean of per_class_acc over `classes`, leaving out the classes
// without test samples (NaN entries). Also regroups a finished run from its eval.json (report/table.h).
ShotGroup mean_class_accuracy(const std::vector<double>& per_class_acc, const std::vector<int>& classes);

constexpr int kDenseConfusionMax = 1000;

struct EvalMetrics {
  int64_t samples = 0;
  int64_t skipped = 0;                      // images left out: not decodable (data.on_bad_image skip)
  double top1 = 0, top5 = 0;               // fractions in [0, 1], per image
  double balanced_acc = 0;                  // per class: mean per_class_acc over the classes with test samples
  std::vector<double> per_class_acc;        // NaN for a class with no test sample
  std::vector<int64_t> per_class_count;     // test samples per class
  // The confusion matrix: its non-zero cells {true, predicted, count} sorted by (true, predicted), and the
  // dense [true][pred] row-major C x C matrix up to kDenseConfusionMax classes (empty above: 8,142 classes
  // would be 66M cells, 530 MB, for at most one non-zero cell per test image)
  std::vector<std::array<int64_t, 3>> confusion_cells;
  std::vector<int64_t> confusion;
  ShotGroup many, medium, few;
  ShotRule shot_rule;                       // what decides the groups
  data::ShotSplit shot_split;               // the class ids of each group (by training count)
  std::string shot_rule_text;               // the rule in one line (data::describe_shot_rule)
  double ece = 0, mce = 0;
  // reliability diagram: per confidence bin, mean confidence and accuracy (NaN when empty) and count
  std::vector<double> bin_confidence, bin_accuracy;
  std::vector<int64_t> bin_count;
  double mean_loss = 0;                     // mean cross-entropy of the logits, if computed
};

// Accumulates logits batch by batch; finish() returns the metrics.
class MetricsAccumulator {
 public:
  MetricsAccumulator(int num_classes, std::vector<int64_t> train_counts, ShotRule rule = {},
                     int calibration_bins = 15);
  void add(const Tensor& logits, const Tensor& labels);  // logits f32 [N, C], labels i32 [N]
  EvalMetrics finish() const;

 private:
  int C_, bins_;
  std::vector<int64_t> train_counts_;
  ShotRule rule_;
  int64_t n_ = 0, top1_ = 0, top5_ = 0;
  double loss_sum_ = 0;
  std::map<int64_t, int64_t> confusion_;  // true * C + predicted -> count (non-zero cells only)
  std::vector<int64_t> class_count_, class_correct_;
  std::vector<double> bin_conf_, bin_correct_;
  std::vector<int64_t> bin_count_;
};

// The accuracy table: the group rule as its header line, one row per group (accuracy, classes), the
// balanced (per-class) and overall (per-image) accuracy, and a note on the two. Fixed width:
//   groups: many > 100, medium 20-100, few < 20 training images
//   group        top-1  cls
//   many       87.10%    3
//   medium     60.20%    4
//   few           n/a    0
//   balanced   75.00%    7   (per class: mean of the class accuracies)
//   overall    80.00%        (per image; top-5 98.00%, ECE 3.00%, 10000 test images)
//   + the note of kTop1VsBalanced
std::string format_shot_table(const EvalMetrics& m, const std::string& split = "test");  // split: named in the last row

// A group's accuracy in percent with two decimals ("87.10"), "n/a" for an empty group.
std::string group_pct(const ShotGroup& g);

// The last evaluated stage whose best top-1 is more than 0.5 points below an earlier stage's best: a sentence
// naming both (the run's log and its report say it), or "" when none fell. best_top1_pct[k] is stage k + 1's
// best evaluated top-1 in percent (metrics.jsonl), negative for a stage that was not evaluated (post-hoc
// stages log no epoch).
std::string stage_drop_note(const std::vector<double>& best_top1_pct);

// Top-1 against balanced accuracy, in one sentence (the table and the report say it).
extern const char* const kTop1VsBalanced;

}  // namespace tailor
