// Batch norm over x [M, C] (channels last): the channel-sum functors and element kernels, templated on the
// activation's stored type T (float, or bf16 bits as uint16_t: engine/cuda/bf16.cuh). batchnorm.cu instantiates
// them for float, bf16_act.cu for bf16; the arithmetic and its order are the same for both (widen is exact).
//   stats:    mean_c = sum_m x / M,  var_c = sum_m x^2 / M - mean^2 (double sums),  invstd = 1/sqrt(var+eps)
//   apply:    y = (x - mean) * invstd * gamma + beta   (then max(y, 0) when fused with ReLU)
//   backward: dbeta = sum dy,  dgamma = sum dy * xhat,
//             dx = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M)   (training; eval: gamma*invstd*dy)
// with dy masked by relu_out > 0 for the fused op (a NaN relu_out masks, as on the CPU). Channel sums use
// reduce.cuh (deterministic).
#pragma once
#include "engine/cuda/bf16.cuh"
#include "engine/cuda/reduce.cuh"

namespace tailor::cuda {

template <class T>
struct StatsF {
  const T* x;
  int64_t C;
  __device__ double2 operator()(int64_t, int64_t m, int64_t c) const {
    double v = widen(x[m * C + c]);
    return make_double2(v, v * v);
  }
};
struct StatsG {
  float *mean, *invstd, *var_unbiased;
  int64_t M;
  float eps;
  __device__ void operator()(int64_t, int64_t c, double2 s) const {
    double mu = s.x / M, var = fmax(s.y / M - mu * mu, 0.0);
    mean[c] = (float)mu;
    invstd[c] = (float)(1.0 / sqrt(var + eps));
    var_unbiased[c] = (float)(M > 1 ? var * M / (M - 1) : var);
  }
};
template <class T>
struct BackF {
  const T* dy;
  const T* x;
  const float *mean, *invstd;
  const T* relu_out;
  int64_t C;
  __device__ double2 operator()(int64_t, int64_t m, int64_t c) const {
    int64_t k = m * C + c;
    float g = (relu_out && !(widen(relu_out[k]) > 0.f)) ? 0.f : widen(dy[k]);
    float xhat = (widen(x[k]) - mean[c]) * invstd[c];
    return make_double2(g, (double)g * xhat);
  }
};
struct BackG {
  float *dgamma, *dbeta;
  __device__ void operator()(int64_t, int64_t c, double2 s) const {
    dbeta[c] = (float)s.x;
    dgamma[c] = (float)s.y;
  }
};

template <class T>
__global__ void bn_apply_k(T* y, const T* x, const float* mean, const float* invstd, const float* gamma,
                           const float* beta, int64_t n, int64_t C, bool relu) {
  GRID_LOOP(k, n) {
    int64_t c = k % C;
    float v = (widen(x[k]) - mean[c]) * invstd[c] * gamma[c] + beta[c];
    v = relu && v < 0.f ? 0.f : v;  // std::max(v, 0.f) as the CPU: a NaN stays NaN
    store(y + k, v);
  }
}

template <class T>
__global__ void bn_dx_k(T* dx, const T* dy, const T* x, const float* mean, const float* invstd,
                        const float* gamma, const T* relu_out, const float* dgamma, const float* dbeta, int64_t n,
                        int64_t M, int64_t C, bool training) {
  GRID_LOOP(k, n) {
    int64_t c = k % C;
    float g = (relu_out && !(widen(relu_out[k]) > 0.f)) ? 0.f : widen(dy[k]);
    float s = gamma[c] * invstd[c];
    if (training) {
      float xhat = (widen(x[k]) - mean[c]) * invstd[c];
      store(dx + k, s * (g - dbeta[c] / M - xhat * dgamma[c] / M));
    } else {
      store(dx + k, s * g);
    }
  }
}

}  // namespace tailor::cuda
