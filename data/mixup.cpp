#include "data/mixup.h"

#include <cstring>
#include <stdexcept>

#include "data/rng.h"

// lambda * a + (1 - lambda) * b without FMA, as PyTorch's two separate kernels compute it.
#pragma GCC optimize("fp-contract=off")

namespace tailor::data {

MixupResult draw_mixup(const std::vector<int32_t>& labels, double alpha, uint64_t seed, int64_t epoch,
                       int64_t batch_index) {
  const int64_t n = (int64_t)labels.size();
  CounterRng rng = make_rng(seed, epoch, batch_index, 0x6d69787570ull /* "mixup" */);
  MixupResult r;
  r.lambda = alpha > 0 ? (float)rng.beta(alpha, alpha) : 1.f;
  r.perm.resize((size_t)n);
  for (int64_t i = 0; i < n; ++i) r.perm[(size_t)i] = i;
  shuffle_in_place(r.perm, rng);
  r.labels_a = labels;
  r.labels_b.resize((size_t)n);
  for (int64_t i = 0; i < n; ++i) r.labels_b[(size_t)i] = labels[(size_t)r.perm[(size_t)i]];
  return r;
}

void apply_mixup(float* x, int64_t n, int64_t row, float lambda, const std::vector<int64_t>& perm) {
  if ((int64_t)perm.size() != n) throw std::runtime_error("mixup: permutation length does not match the batch");
  if (lambda == 1.f) return;
  std::vector<float> orig(x, x + n * row);
  const float l = lambda, m = 1.f - lambda;
  for (int64_t i = 0; i < n; ++i) {
    float* d = x + i * row;
    const float* a = orig.data() + i * row;
    const float* b = orig.data() + perm[(size_t)i] * row;
    for (int64_t k = 0; k < row; ++k) d[k] = l * a[k] + m * b[k];
  }
}

MixupResult mixup_rows(float* x, int64_t n, int64_t row, const std::vector<int32_t>& labels, double alpha,
                       uint64_t seed, int64_t epoch, int64_t batch_index) {
  if ((int64_t)labels.size() != n) throw std::runtime_error("mixup: label count does not match the batch");
  MixupResult r = draw_mixup(labels, alpha, seed, epoch, batch_index);
  apply_mixup(x, n, row, r.lambda, r.perm);
  return r;
}

MixupResult mixup_batch(Batch& batch, double alpha, uint64_t seed, int64_t epoch, int64_t batch_index) {
  const int64_t n = batch.images.size(0);
  const int64_t row = n > 0 ? batch.images.numel() / n : 0;
  const Tensor y = batch.labels.is_cuda() ? batch.labels.cpu() : batch.labels.contiguous();  // a host batch
  const std::vector<int32_t> labels(y.i32(), y.i32() + y.numel());
  return mixup_rows(batch.images.f32(), n, row, labels, alpha, seed, epoch, batch_index);
}

}  // namespace tailor::data
