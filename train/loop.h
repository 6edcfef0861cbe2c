// The epoch loops shared by every recipe: one training epoch (forward, loss, backward, SGD step per
// batch) and an evaluation pass that feeds MetricsAccumulator.
#pragma once
#include <functional>

#include "data/loader.h"
#include "layers/module.h"
#include "train/metrics.h"
#include "train/sgd.h"

namespace tailor {

using LossFn = std::function<Tensor(const Tensor& logits, const Tensor& labels)>;

struct EpochStats {
  double mean_loss = 0;
  int64_t images = 0;
  double seconds = 0;
  double img_per_s() const { return seconds > 0 ? images / seconds : 0; }
};

// Runs the loader's current epoch to its end. `on_batch(done, total, loss)` is called after each step.
// A non-finite loss stops the run with an error naming the epoch and step.
EpochStats train_epoch(Module& model, data::Loader& loader, SGD& opt, const LossFn& loss, int64_t epoch,
                       const std::function<void(int64_t, int64_t, float)>& on_batch = nullptr);

// Eval mode, no grad; restores the model's previous mode.
EvalMetrics evaluate(Module& model, data::Loader& loader, int64_t epoch, int num_classes,
                     const std::vector<int64_t>& train_counts);

}  // namespace tailor
