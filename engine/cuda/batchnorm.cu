// Batch norm over x [M, C] (channels last), twins of engine/cpu/batchnorm.cpp.
//   stats:    mean_c = sum_m x / M,  var_c = sum_m x^2 / M - mean^2 (double sums),  invstd = 1/sqrt(var+eps)
//   apply:    y = (x - mean) * invstd * gamma + beta   (then max(y, 0) when fused with ReLU)
//   backward: dbeta = sum dy,  dgamma = sum dy * xhat,
//             dx = gamma * invstd * (dy - dbeta/M - xhat * dgamma/M)   (training; eval: gamma*invstd*dy)
// with dy masked by relu_out > 0 for the fused op. Channel sums use reduce.cuh (deterministic).
#include "engine/cuda/reduce.cuh"

namespace tailor::cuda {

namespace {
struct StatsF {
  const float* x;
  int64_t C;
  __device__ double2 operator()(int64_t, int64_t m, int64_t c) const {
    double v = x[m * C + c];
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
struct BackF {
  const float *dy, *x, *mean, *invstd, *relu_out;
  int64_t C;
  __device__ double2 operator()(int64_t, int64_t m, int64_t c) const {
    int64_t k = m * C + c;
    float g = (relu_out && relu_out[k] <= 0.f) ? 0.f : dy[k];
    float xhat = (x[k] - mean[c]) * invstd[c];
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
}  // namespace

void batch_norm_stats(float* mean, float* invstd, float* var_unbiased, const float* x, int64_t M, int64_t C,
                      float eps) {
  colsum(1, M, C, StatsF{x, C}, StatsG{mean, invstd, var_unbiased, M, eps});
}

__global__ void bn_apply_k(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                           const float* beta, int64_t n, int64_t C, bool relu) {
  GRID_LOOP(k, n) {
    int64_t c = k % C;
    float v = (x[k] - mean[c]) * invstd[c] * gamma[c] + beta[c];
    y[k] = relu ? fmaxf(v, 0.f) : v;
  }
}
void batch_norm_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                      const float* beta, int64_t M, int64_t C, bool relu) {
  LAUNCH(bn_apply_k, M * C, y, x, mean, invstd, gamma, beta, M * C, C, relu);
}

__global__ void bn_dx_k(float* dx, const float* dy, const float* x, const float* mean, const float* invstd,
                        const float* gamma, const float* relu_out, const float* dgamma, const float* dbeta, int64_t n,
                        int64_t M, int64_t C, bool training) {
  GRID_LOOP(k, n) {
    int64_t c = k % C;
    float g = (relu_out && relu_out[k] <= 0.f) ? 0.f : dy[k];
    float s = gamma[c] * invstd[c];
    if (training) {
      float xhat = (x[k] - mean[c]) * invstd[c];
      dx[k] = s * (g - dbeta[c] / M - xhat * dgamma[c] / M);
    } else {
      dx[k] = s * g;
    }
  }
}
void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* invstd, const float* gamma, const float* relu_out, int64_t M, int64_t C,
                         bool training) {
  colsum(1, M, C, BackF{dy, x, mean, invstd, relu_out, C}, BackG{dgamma, dbeta});
  if (dx) LAUNCH(bn_dx_k, M * C, dx, dy, x, mean, invstd, gamma, relu_out, dgamma, dbeta, M * C, M, C, training);
}

__global__ void bn_update_running_k(float* rm, float* rv, const float* mean, const float* var_unbiased, int64_t C,
                                    float momentum) {
  GRID_LOOP(c, C) {
    rm[c] = (1.f - momentum) * rm[c] + momentum * mean[c];
    rv[c] = (1.f - momentum) * rv[c] + momentum * var_unbiased[c];
  }
}
void bn_update_running(float* running_mean, float* running_var, const float* mean, const float* var_unbiased,
                       int64_t C, float momentum) {
  LAUNCH(bn_update_running_k, C, running_mean, running_var, mean, var_unbiased, C, momentum);
}

__global__ void bn_eval_stats_k(float* mean, float* invstd, const float* rm, const float* rv, int64_t C, float eps) {
  GRID_LOOP(c, C) {
    mean[c] = rm[c];
    invstd[c] = 1.f / sqrtf(rv[c] + eps);
  }
}
void bn_eval_stats(float* mean, float* invstd, const float* running_mean, const float* running_var, int64_t C,
                   float eps) {
  LAUNCH(bn_eval_stats_k, C, mean, invstd, running_mean, running_var, C, eps);
}

}  // namespace tailor::cuda
