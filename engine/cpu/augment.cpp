// Device-resident augmentation, the CPU twin (engine/cpu/kernels.h): a plain gather through the
// normalisation table, the same arithmetic as data/augment.cpp's fast RandomCrop path.
#include <cstddef>

#include "engine/cpu/kernels.h"

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

}  // namespace tailor::cpu
