// Pooling and the option-A shortcut, NHWC (twins of engine/cpu/pool.cpp); max_pool2d's and shortcut_pad's
// kernels are in pool.cuh (shared with the bf16 twins of bf16_act.cu).
#include <cfloat>

#include "engine/cuda/pool.cuh"
#include "engine/cuda/reduce.cuh"

namespace tailor::cuda {

void max_pool2d(float* y, int32_t* argmax, const float* x, int64_t N, int64_t H, int64_t W, int64_t C, int k,
                int stride, int pad, int64_t OH, int64_t OW) {
  LAUNCH(max_pool2d_k<float>, N * OH * OW * C, y, argmax, x, N, H, W, C, k, stride, pad, OH, OW);
}

// Overlapping windows send several gradients to one input: one thread per (image, channel) walks
// that channel's outputs in order, so the sums happen in the CPU's order without atomics.
__global__ void max_pool2d_backward_k(float* dx, const float* dy, const int32_t* argmax, int64_t N, int64_t HWC,
                                      int64_t OHWC, int64_t C) {
  GRID_LOOP(q, N * C) {
    int64_t n = q / C, c = q % C;
    for (int64_t i = c; i < OHWC; i += C) dx[n * HWC + argmax[n * OHWC + i]] += dy[n * OHWC + i];
  }
}
void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, int64_t N, int64_t HWC, int64_t OHWC,
                         int64_t C) {
  memset(dx, 0, sizeof(float) * N * HWC);
  LAUNCH(max_pool2d_backward_k, N * C, dx, dy, argmax, N, HWC, OHWC, C);
}

// y[n, c] = mean over the HW positions
void global_avg_pool(float* y, const float* x, int64_t N, int64_t HW, int64_t C) {
  colsum(N, HW, C, ReadX{x, HW, C}, WriteSum{y, C, 1.0 / HW});
}

void global_avg_pool_backward(float* dx, const float* dy, int64_t N, int64_t HW, int64_t C) {
  LAUNCH(gap_backward_k<float>, N * HW * C, dx, dy, N, HW, C);
}

void shortcut_pad(float* y, const float* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb, int pa) {
  int64_t OH = (H + s - 1) / s, OW = (W + s - 1) / s, OC = C + pb + pa;
  LAUNCH(shortcut_pad_k<float>, N * OH * OW * OC, y, x, N, H, W, C, s, pb, OH, OW, OC);
}

void shortcut_pad_backward(float* dx, const float* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                           int pa) {
  int64_t OH = (H + s - 1) / s, OW = (W + s - 1) / s, OC = C + pb + pa;
  LAUNCH(shortcut_pad_backward_k<float>, N * H * W * C, dx, dy, N, H, W, C, s, pb, OH, OW, OC);
}

}  // namespace tailor::cuda
