// Weight layout permutes for cuDNN: tailor keeps conv weights as KCRS (PyTorch's OIHW); cuDNN's
// fast NHWC kernels want KRSC filters. Weights are small, so a permute per call is cheap.
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

__global__ void kcrs_to_krsc_k(float* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  GRID_LOOP(q, K * C * RS) {  // q indexes out [K, RS, C]
    int64_t c = q % C, rs = (q / C) % RS, k = q / (C * RS);
    out[q] = in[(k * C + c) * RS + rs];
  }
}
__global__ void krsc_to_kcrs_k(float* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  GRID_LOOP(q, K * C * RS) {  // q indexes out [K, C, RS]
    int64_t rs = q % RS, c = (q / RS) % C, k = q / (C * RS);
    out[q] = in[(k * RS + rs) * C + c];
  }
}
void kcrs_to_krsc(float* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  LAUNCH(kcrs_to_krsc_k, K * C * RS, out, in, K, C, RS);
}
void krsc_to_kcrs(float* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  LAUNCH(krsc_to_kcrs_k, K * C * RS, out, in, K, C, RS);
}

// bfloat16 (engine/precision.h): the upper 16 bits of a float, rounded to nearest even; a NaN stays a quiet
// NaN. The integer arithmetic of float_to_bf16, so a cast on the GPU equals the CPU's bit for bit.
__device__ __forceinline__ uint16_t to_bf16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
__device__ __forceinline__ float from_bf16_bits(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

__global__ void cast_to_bf16_k(uint16_t* out, const float* x, int64_t n) {
  GRID_LOOP(i, n) out[i] = to_bf16_bits(x[i]);
}
__global__ void bf16_to_f32_k(float* out, const uint16_t* x, int64_t n) {
  GRID_LOOP(i, n) out[i] = from_bf16_bits(x[i]);
}
__global__ void kcrs_to_krsc_bf16_k(uint16_t* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  GRID_LOOP(q, K * C * RS) {
    int64_t c = q % C, rs = (q / C) % RS, k = q / (C * RS);
    out[q] = to_bf16_bits(in[(k * C + c) * RS + rs]);
  }
}
__global__ void krsc_bf16_to_kcrs_k(float* out, const uint16_t* in, int64_t K, int64_t C, int64_t RS) {
  GRID_LOOP(q, K * C * RS) {
    int64_t rs = q % RS, c = (q / RS) % C, k = q / (C * RS);
    out[q] = from_bf16_bits(in[(k * RS + rs) * C + c]);
  }
}
void cast_to_bf16(uint16_t* out, const float* x, int64_t n) {
  if (n > 0) LAUNCH(cast_to_bf16_k, n, out, x, n);
}
void bf16_to_f32(float* out, const uint16_t* x, int64_t n) {
  if (n > 0) LAUNCH(bf16_to_f32_k, n, out, x, n);
}
void kcrs_to_krsc_bf16(uint16_t* out, const float* in, int64_t K, int64_t C, int64_t RS) {
  LAUNCH(kcrs_to_krsc_bf16_k, K * C * RS, out, in, K, C, RS);
}
void krsc_bf16_to_kcrs(float* out, const uint16_t* in, int64_t K, int64_t C, int64_t RS) {
  LAUNCH(krsc_bf16_to_kcrs_k, K * C * RS, out, in, K, C, RS);
}

}  // namespace tailor::cuda
