// Evaluation metrics for long-tailed recognition, computed from logits and labels:
//  top-1 / top-5, per-class accuracy, many / medium / few-shot accuracy by TRAINING count (many > 100,
//  medium 20..100, few < 20 images; a group with no class reports n/a, never 0 %), the confusion
//  matrix, and expected / maximum calibration error with 15 equal-width confidence bins (MiSLAS):
//    ECE = sum_b |B_b|/N * |acc(B_b) - conf(B_b)|,  MCE = max_b |acc(B_b) - conf(B_b)|.
// Group accuracy is the mean of its classes' accuracies (the references' shot_acc), not a pooled ratio.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace tailor {

struct ShotGroup {
  int classes = 0;   // number of classes in the group
  double acc = 0;    // mean per-class accuracy; meaningful only when classes > 0
  bool empty() const { return classes == 0; }
};

struct EvalMetrics {
  int64_t samples = 0;
  double top1 = 0, top5 = 0;               // fractions in [0, 1]
  std::vector<double> per_class_acc;        // NaN for a class with no test sample
  std::vector<int64_t> per_class_count;     // test samples per class
  std::vector<int64_t> confusion;           // [true][pred], row-major C x C
  ShotGroup many, medium, few;
  double ece = 0, mce = 0;
  // reliability diagram: per confidence bin, mean confidence and accuracy (NaN when empty) and count
  std::vector<double> bin_confidence, bin_accuracy;
  std::vector<int64_t> bin_count;
  double mean_loss = 0;                     // mean cross-entropy of the logits, if computed
};

// Accumulates logits batch by batch; finish() returns the metrics.
class MetricsAccumulator {
 public:
  MetricsAccumulator(int num_classes, std::vector<int64_t> train_counts, int many_above = 100, int few_below = 20,
                     int calibration_bins = 15);
  void add(const Tensor& logits, const Tensor& labels);  // logits f32 [N, C], labels i32 [N]
  EvalMetrics finish() const;

 private:
  int C_, many_above_, few_below_, bins_;
  std::vector<int64_t> train_counts_;
  int64_t n_ = 0, top1_ = 0, top5_ = 0;
  double loss_sum_ = 0;
  std::vector<int64_t> confusion_;
  std::vector<double> bin_conf_, bin_correct_;
  std::vector<int64_t> bin_count_;
};

// "many 87.1 % (3 classes) | medium 60.2 % (4) | few n/a (0 classes)"-style table, fixed width.
std::string format_shot_table(const EvalMetrics& m);

}  // namespace tailor
