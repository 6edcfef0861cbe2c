#include "train/loop.h"

#include <chrono>
#include <cmath>

namespace tailor {

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

EpochStats train_epoch(Module& model, data::Loader& loader, SGD& opt, const LossFn& loss_fn, int64_t epoch,
                       const std::function<void(int64_t, int64_t, float)>& on_batch) {
  model.train();
  loader.start_epoch(epoch);
  int64_t total = loader.batches_per_epoch(), step = 0;
  EpochStats st;
  double loss_sum = 0, t0 = now_s();
  data::Batch b;
  const Device dev = model.device();
  while (loader.next(b)) {
    data::to_device(b, dev);
    Tensor loss = loss_fn(model.forward(b.images), b.labels);
    float v = loss.item();
    TAILOR_CHECK(std::isfinite(v), "non-finite loss ", v, " at epoch ", epoch, " step ", step,
                 " (lower the learning rate, or run with anomaly detection to find the op)");
    opt.zero_grad();
    loss.backward();
    opt.step();
    int64_t n = b.labels.numel();
    loss_sum += (double)v * n;
    st.images += n;
    ++step;
    if (on_batch) on_batch(step, total, v);
  }
  st.seconds = now_s() - t0;
  st.mean_loss = st.images ? loss_sum / st.images : 0;
  return st;
}

EvalMetrics evaluate(Module& model, data::Loader& loader, int64_t epoch, int num_classes,
                     const std::vector<int64_t>& train_counts) {
  bool was_training = model.is_training();
  model.eval();
  NoGradGuard ng;
  MetricsAccumulator acc(num_classes, train_counts);
  loader.start_epoch(epoch);
  data::Batch b;
  const Device dev = model.device();
  while (loader.next(b)) {
    data::to_device(b, dev);
    acc.add(model.forward(b.images), b.labels);
  }
  model.train(was_training);
  return acc.finish();
}

}  // namespace tailor
