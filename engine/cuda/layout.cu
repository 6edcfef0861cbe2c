// Weight layout permutes for cuDNN: tailor keeps conv weights as KCRS (PyTorch's OIHW); cuDNN's
// fast NHWC kernels want KRSC filters. Weights are small, so a permute per call is cheap.
#include "engine/cuda/bf16.cuh"
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

// bfloat16 casts: engine/cuda/bf16.cuh's rounding (float_to_bf16's, bit for bit).
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
