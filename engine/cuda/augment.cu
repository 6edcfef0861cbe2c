// Device-resident augmentation (engine/cuda/kernels.h): one thread per output value, a gather through the
// normalisation table, bit for bit the CPU twin (engine/cpu/augment.cpp): no arithmetic on the values.
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

__global__ void crop_flip_normalize_k(float* out, const uint8_t* images, const int32_t* plan, const float* lut,
                                      int64_t B, int64_t H, int64_t W, int64_t C, int64_t S) {
  GRID_LOOP(i, B * S * S * C) {
    const int64_t c = i % C, x = (i / C) % S, y = (i / (C * S)) % S, b = i / (C * S * S);
    const int32_t* p = plan + 4 * b;
    const int64_t sy = p[1] + y, sx = p[2] + (p[3] ? S - 1 - x : x);
    const bool in = sy >= 0 && sy < H && sx >= 0 && sx < W;
    out[i] = lut[c * 256 + (in ? images[(((int64_t)p[0] * H + sy) * W + sx) * C + c] : 0)];
  }
}

void crop_flip_normalize(float* out, const uint8_t* images, const int32_t* plan, const float* lut, int64_t B,
                         int64_t H, int64_t W, int64_t C, int64_t S) {
  if (B <= 0) return;
  LAUNCH(crop_flip_normalize_k, B * S * S * C, out, images, plan, lut, B, H, W, C, S);
}

// mixup: explicit round-to-nearest multiplies and add, so nvcc never fuses them into an FMA (the CPU twin
// and data::apply_mixup round each product).
__global__ void mix_rows_k(float* out, const float* x, const int32_t* perm, float l, float m, int64_t n, int64_t row) {
  GRID_LOOP(i, n * row) {
    const int64_t r = i / row, k = i % row;
    out[i] = __fadd_rn(__fmul_rn(l, x[i]), __fmul_rn(m, x[(int64_t)perm[r] * row + k]));
  }
}

void mix_rows(float* out, const float* x, const int32_t* perm, float l, float m, int64_t n, int64_t row) {
  if (n <= 0 || row <= 0) return;
  LAUNCH(mix_rows_k, n * row, out, x, perm, l, m, n, row);
}

}  // namespace tailor::cuda
