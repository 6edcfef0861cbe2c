// Block copies (concatenation), the label mismatch mask of a contrastive queue, and the momentum (EMA)
// update of one tensor from another. See engine/cpu/kernels.h for the contracts.
#include <cstring>

#include "engine/cpu/kernels.h"

namespace tailor::cpu {

void copy_block(float* dst, int64_t dst_ld, const float* src, int64_t src_ld, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols > (1 << 16)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_ld, src + r * src_ld, sizeof(float) * cols);
}

void not_equal_outer(float* out, const int32_t* a, const int32_t* b, int64_t N, int64_t K) {
#pragma omp parallel for if (N * K > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < K; ++j) out[i * K + j] = a[i] != b[j] ? 1.f : 0.f;
}

// y = m*y + (1-m)*x with each product rounded to float before the sum (contraction off).
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
void ema(float* y, const float* x, float m, float one_minus_m, int64_t n) {
#pragma omp parallel for simd if (n > (1 << 15)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float a = y[i] * m, b = x[i] * one_minus_m;
    y[i] = a + b;
  }
}
#pragma GCC pop_options

// dst = flag ? src : dst (32-bit words)
void copy_if_flag(int32_t* dst, const int32_t* src, const int32_t* flag, int64_t n) {
  if (flag[0] != 0) std::memcpy(dst, src, sizeof(int32_t) * (size_t)n);
}

}  // namespace tailor::cpu
