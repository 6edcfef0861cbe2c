// bfloat16 activations (precision bf16, docs/precision.md): the float32 kernels of batchnorm.cu, elementwise.cu and
// pool.cu instantiated for bf16 bits (T = uint16_t; the templates are in batchnorm.cuh, elementwise.cuh, pool.cuh).
// Each reads the widened values and does its float32 twin's arithmetic in the same order (double channel sums
// included); a bf16 output is rounded to nearest even once, when stored (bf16.cuh, float_to_bf16's bits), and
// max_pool2d and shortcut_pad copy the input's bits. Activation gradients (dx, dy, din) are bf16 like the
// activations; dgamma and dbeta stay float32.
#include "engine/cuda/batchnorm.cuh"
#include "engine/cuda/elementwise.cuh"
#include "engine/cuda/pool.cuh"

namespace tailor::cuda {

// mean_c = sum_m x / M, var_c = sum_m x^2 / M - mean^2 (double sums of the widened x), invstd = 1/sqrt(var+eps)
void batch_norm_stats_bf16(float* mean, float* invstd, float* var_unbiased, const uint16_t* x, int64_t M, int64_t C,
                           float eps) {
  colsum(1, M, C, StatsF<uint16_t>{x, C}, StatsG{mean, invstd, var_unbiased, M, eps});
}

// y = bf16((x - mean) * invstd * gamma + beta), max(., 0) first when fused with ReLU
void batch_norm_apply_bf16(uint16_t* y, const uint16_t* x, const float* mean, const float* invstd,
                           const float* gamma, const float* beta, int64_t M, int64_t C, bool relu) {
  LAUNCH(bn_apply_k<uint16_t>, M * C, y, x, mean, invstd, gamma, beta, M * C, C, relu);
}

// dbeta = sum dy, dgamma = sum dy * xhat (dy masked by relu_out > 0; float32); dx = bf16(gamma * invstd * (dy -
// dbeta/M - xhat * dgamma/M)) in training, bf16(gamma * invstd * dy) in eval
void batch_norm_backward_bf16(uint16_t* dx, float* dgamma, float* dbeta, const uint16_t* dy, const uint16_t* x,
                              const float* mean, const float* invstd, const float* gamma, const uint16_t* relu_out,
                              int64_t M, int64_t C, bool training) {
  colsum(1, M, C, BackF<uint16_t>{dy, x, mean, invstd, relu_out, C}, BackG{dgamma, dbeta});
  if (dx)
    LAUNCH(bn_dx_k<uint16_t>, M * C, dx, dy, x, mean, invstd, gamma, relu_out, dgamma, dbeta, M * C, M, C,
           training);
}

// out = bf16(max(a + b, 0))
void add_relu_bf16(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n) {
  LAUNCH(add_relu_scalar_k<uint16_t>, n, out, a, b, n);
}

// din = dout where y > 0 else +0 (dout's bits copied)
void relu_backward_bf16(uint16_t* din, const uint16_t* dout, const uint16_t* y, int64_t n) {
  LAUNCH(relu_backward_k<uint16_t>, n, din, dout, y, n);
}

// out = bf16(a + b): backward's sum of two bf16 gradients of one tensor
namespace {
__global__ void add_bf16_k(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n) {
  GRID_LOOP(i, n) store(out + i, widen(a[i]) + widen(b[i]));
}
}  // namespace
void add_bf16(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n) {
  LAUNCH(add_bf16_k, n, out, a, b, n);
}

// y = the window's max (bits copied), argmax its flat index (h*W+w)*C+c inside the image, first max wins
void max_pool2d_bf16(uint16_t* y, int32_t* argmax, const uint16_t* x, int64_t N, int64_t H, int64_t W, int64_t C,
                     int k, int stride, int pad, int64_t OH, int64_t OW) {
  LAUNCH(max_pool2d_k<uint16_t>, N * OH * OW * C, y, argmax, x, N, H, W, C, k, stride, pad, OH, OW);
}

// y[n, c] = mean over the HW positions of the widened x (a double sum, as reduce.cuh's ReadX), float32
namespace {
struct ReadBf16 {
  const uint16_t* x;
  int64_t len, inner;
  __device__ double2 operator()(int64_t o, int64_t l, int64_t i) const {
    return make_double2(widen(x[(o * len + l) * inner + i]), 0.0);
  }
};
}  // namespace
void global_avg_pool_bf16(float* y, const uint16_t* x, int64_t N, int64_t HW, int64_t C) {
  colsum(N, HW, C, ReadBf16{x, HW, C}, WriteSum{y, C, 1.0 / HW});
}

// y[n,oh,ow,pb+c] = x[n,oh*s,ow*s,c] (bits copied), other channels +0
void shortcut_pad_bf16(uint16_t* y, const uint16_t* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                       int pa) {
  int64_t OH = (H + s - 1) / s, OW = (W + s - 1) / s, OC = C + pb + pa;
  LAUNCH(shortcut_pad_k<uint16_t>, N * OH * OW * OC, y, x, N, H, W, C, s, pb, OH, OW, OC);
}

// dx[n,oh*s,ow*s,c] = dy[n,oh,ow,pb+c] (bits copied), +0 elsewhere
void shortcut_pad_backward_bf16(uint16_t* dx, const uint16_t* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s,
                                int pb, int pa) {
  int64_t OH = (H + s - 1) / s, OW = (W + s - 1) / s, OC = C + pb + pa;
  LAUNCH(shortcut_pad_backward_k<uint16_t>, N * H * W * C, dx, dy, N, H, W, C, s, pb, OH, OW, OC);
}

// dx[n, p, c] = bf16(dy[n, c] / HW)
void global_avg_pool_backward_bf16(uint16_t* dx, const float* dy, int64_t N, int64_t HW, int64_t C) {
  LAUNCH(gap_backward_k<uint16_t>, N * HW * C, dx, dy, N, HW, C);
}

}  // namespace tailor::cuda
