// mixup (Zhang et al. 2018) as a batch transform, as in the GCL / MiSLAS training scripts:
//   lambda ~ Beta(alpha, alpha) once per batch (lambda = 1 when alpha <= 0), perm = a random permutation,
//   x_i <- lambda x_i + (1 - lambda) x_perm(i); the loss is lambda CE(z, y_a) + (1 - lambda) CE(z, y_b)
//   with y_a = y, y_b = y[perm].
// The randomness is a pure function of (seed, epoch, batch index).
#pragma once
#include <cstdint>
#include <vector>

#include "data/loader.h"

namespace tailor::data {

struct MixupResult {
  std::vector<int32_t> labels_a, labels_b;
  std::vector<int64_t> perm;
  float lambda = 1.f;
};

// The batch's draw: lambda, perm and both label vectors, without touching the images.
MixupResult draw_mixup(const std::vector<int32_t>& labels, double alpha, uint64_t seed, int64_t epoch,
                       int64_t batch_index);
// x_i <- lambda x_i + (1 - lambda) x_perm(i) on n rows of `row` floats, in place (a no-op when lambda = 1).
void apply_mixup(float* images, int64_t n, int64_t row, float lambda, const std::vector<int64_t>& perm);
// draw_mixup, then apply_mixup on `images` (n rows of `row` floats).
MixupResult mixup_rows(float* images, int64_t n, int64_t row, const std::vector<int32_t>& labels, double alpha,
                       uint64_t seed, int64_t epoch, int64_t batch_index);
// Mixes batch.images (f32 [N,H,W,C], CPU) in place.
MixupResult mixup_batch(Batch& batch, double alpha, uint64_t seed, int64_t epoch, int64_t batch_index);

}  // namespace tailor::data
