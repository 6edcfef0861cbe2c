// Row-wise (log-)softmax with the max subtracted for stability:
// log_softmax(x)_j = x_j - m - log sum_k exp(x_k - m), m = max_k x_k
#include <algorithm>
#include <cmath>

#include "engine/cpu/kernels.h"

namespace tailor::cpu {

void log_softmax(float* out, const float* x, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x + r * cols;
    float* o = out + r * cols;
    float m = *std::max_element(p, p + cols);
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) s += std::exp((double)p[j] - m);
    double log_s = std::log(s);  // kept in double: rounding m + log s to float costs ~1e-6 at s = 30 logits
    for (int64_t j = 0; j < cols; ++j) o[j] = (float)(((double)p[j] - m) - log_s);
  }
}

void softmax(float* out, const float* x, int64_t rows, int64_t cols) {
  log_softmax(out, x, rows, cols);
  for (int64_t i = 0; i < rows * cols; ++i) out[i] = std::exp(out[i]);
}

}  // namespace tailor::cpu
