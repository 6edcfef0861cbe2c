// Device-resident augmentation, the CPU twin (engine/cpu/kernels.h): a plain gather through the
// normalisation table, the same arithmetic as data/augment.cpp's fast RandomCrop path.
#include <cstddef>

#include "engine/cpu/kernels.h"

// mix_rows: lambda * a + (1 - lambda) * b without FMA, as data/mixup.cpp (and PyTorch's two kernels) compute it.
#pragma GCC optimize("fp-contract=off")

namespace tailor::cpu {

void crop_flip_normalize(float* out, const uint8_t* images, const int32_t* plan, const float* lut, int64_t B,
                         int64_t H, int64_t W, int64_t C, int64_t S) {
#pragma omp parallel for schedule(static) if (B * S * S * C > (1 << 16))
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* p = plan + 4 * b;
    const uint8_t* img = images + (size_t)p[0] * H * W * C;
    for (int64_t y = 0; y < S; ++y)
      for (int64_t x = 0; x < S; ++x) {
        const int64_t sy = p[1] + y, sx = p[2] + (p[3] ? S - 1 - x : x);
        const bool in = sy >= 0 && sy < H && sx >= 0 && sx < W;
        float* o = out + ((b * S + y) * S + x) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = lut[c * 256 + (in ? img[(sy * W + sx) * C + c] : 0)];
      }
  }
}

// (this file is compiled without contraction, see the pragma: l * a + m * b stays two roundings and an add)
void mix_rows(float* out, const float* x, const int32_t* perm, float l, float m, int64_t n, int64_t row) {
#pragma omp parallel for schedule(static) if (n * row > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float* a = x + i * row;
    const float* b = x + (int64_t)perm[i] * row;
    float* d = out + i * row;
    for (int64_t k = 0; k < row; ++k) d[k] = l * a[k] + m * b[k];
  }
}

}  // namespace tailor::cpu
