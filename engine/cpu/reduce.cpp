// Reductions. Sums accumulate in double so results do not depend on the thread count.
#include <cmath>
#include <vector>

#include "engine/cpu/kernels.h"

namespace tailor::cpu {

// out[o, i] = sum_l x[o, l, i]
void sum_dim(float* out, const float* x, int64_t outer, int64_t len, int64_t inner) {
  if (inner == 1) {
#pragma omp parallel for if (outer * len > (1 << 15)) schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      double s = 0;
      const float* p = x + o * len;
      for (int64_t l = 0; l < len; ++l) s += p[l];
      out[o] = (float)s;
    }
    return;
  }
#pragma omp parallel for if (outer * len * inner > (1 << 15)) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    std::vector<double> acc(inner, 0.0);
    for (int64_t l = 0; l < len; ++l) {
      const float* p = x + (o * len + l) * inner;
      for (int64_t i = 0; i < inner; ++i) acc[i] += p[i];
    }
    for (int64_t i = 0; i < inner; ++i) out[o * inner + i] = (float)acc[i];
  }
}

void sum_all(float* out, const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i];
  out[0] = (float)s;
}

void any_nonfinite(int32_t* flag, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) {
      flag[0] = 1;
      return;
    }
}

// out = 1 + the first k with a non-finite xs[k][i] (0: none); -others when others > 0 and xs[0] is finite
void nonfinite_index(int32_t* out, int32_t*, const float* const* xs, const int64_t* ns, int count,
                     const int32_t* others) {
  int32_t first = 0;
  for (int k = 0; k < count && first == 0; ++k) {
    int32_t flag = 0;
    if (xs[k]) any_nonfinite(&flag, xs[k], ns[k]);
    if (flag) first = k + 1;
  }
  if (others && first != 1 && others[0] > 0) first = -others[0];
  out[0] = first;
}

}  // namespace tailor::cpu
