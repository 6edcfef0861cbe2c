// Twins of engine/cpu/join.cpp: block copies (cudaMemcpy2DAsync), the label mismatch mask, and the EMA
// update with explicit roundings (__fmul_rn, __fadd_rn: nvcc contracts nothing).
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

void copy_block(float* dst, int64_t dst_ld, const float* src, int64_t src_ld, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  TAILOR_CUDA_CHECK(cudaMemcpy2DAsync(dst, sizeof(float) * dst_ld, src, sizeof(float) * src_ld, sizeof(float) * cols,
                                      rows, cudaMemcpyDeviceToDevice, stream()));
}

__global__ void not_equal_outer_k(float* out, const int32_t* a, const int32_t* b, int64_t N, int64_t K) {
  GRID_LOOP(k, N * K) out[k] = a[k / K] != b[k % K] ? 1.f : 0.f;
}
void not_equal_outer(float* out, const int32_t* a, const int32_t* b, int64_t N, int64_t K) {
  LAUNCH(not_equal_outer_k, N * K, out, a, b, N, K);
}

__global__ void ema_k(float* y, const float* x, float m, float one_minus_m, int64_t n) {
  GRID_LOOP(i, n) y[i] = __fadd_rn(__fmul_rn(y[i], m), __fmul_rn(x[i], one_minus_m));
}
void ema(float* y, const float* x, float m, float one_minus_m, int64_t n) {
  LAUNCH(ema_k, n, y, x, m, one_minus_m, n);
}

// dst = flag ? src : dst (32-bit words); every thread reads the flag, nothing goes to the host
__global__ void copy_if_flag_k(int32_t* dst, const int32_t* src, const int32_t* flag, int64_t n) {
  if (flag[0] == 0) return;
  GRID_LOOP(i, n) dst[i] = src[i];
}
void copy_if_flag(int32_t* dst, const int32_t* src, const int32_t* flag, int64_t n) {
  LAUNCH(copy_if_flag_k, n, dst, src, flag, n);
}

}  // namespace tailor::cuda
