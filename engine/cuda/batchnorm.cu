// Batch norm over x [M, C] (channels last), twins of engine/cpu/batchnorm.cpp; the math, the channel-sum
// functors and the element kernels are in batchnorm.cuh (shared with the bf16 twins of bf16_act.cu).
#include "engine/cuda/batchnorm.cuh"

namespace tailor::cuda {

void batch_norm_stats(float* mean, float* invstd, float* var_unbiased, const float* x, int64_t M, int64_t C,
                      float eps) {
  colsum(1, M, C, StatsF<float>{x, C}, StatsG{mean, invstd, var_unbiased, M, eps});
}

void batch_norm_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                      const float* beta, int64_t M, int64_t C, bool relu) {
  LAUNCH(bn_apply_k<float>, M * C, y, x, mean, invstd, gamma, beta, M * C, C, relu);
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* invstd, const float* gamma, const float* relu_out, int64_t M, int64_t C,
                         bool training) {
  colsum(1, M, C, BackF<float>{dy, x, mean, invstd, relu_out, C}, BackG{dgamma, dbeta});
  if (dx)
    LAUNCH(bn_dx_k<float>, M * C, dx, dy, x, mean, invstd, gamma, relu_out, dgamma, dbeta, M * C, M, C, training);
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

// ---- SyncBatchNorm's pieces (engine/ops/sync_batch_norm.cpp), twins of engine/cpu/batchnorm.cpp: the sums
// of N samples of R rows, per sample in float within 64-row blocks and in double across them, then the
// samples added in double in order, so that 2 ranks x 64 samples give the statistics of 1 x 128. One thread
// per (sample, channel), the channel fastest (coalesced rows); products and sums rounded one by one (_rn: no
// contraction). Then dx from the sums over every rank's M_total rows.
namespace {
struct ShiftedRow {  // a1 += x - shift, a2 += (x - shift)^2
  const float *x, *shift;
  int64_t C;
  __device__ void operator()(float& a1, float& a2, int64_t m, int64_t c) const {
    const float d = __fsub_rn(x[m * C + c], shift[c]);
    a1 = __fadd_rn(a1, d);
    a2 = __fadd_rn(a2, __fmul_rn(d, d));
  }
};
struct GradRow {  // g = dy masked by relu_out > 0; a1 += g, a2 += g (x - mean)
  const float *dy, *x, *mean, *relu_out;
  int64_t C;
  __device__ void operator()(float& a1, float& a2, int64_t m, int64_t c) const {
    const int64_t k = m * C + c;
    const float g = relu_out ? (relu_out[k] > 0.f ? dy[k] : 0.f) : dy[k];
    a1 = __fadd_rn(a1, g);
    a2 = __fadd_rn(a2, __fmul_rn(g, __fsub_rn(x[k], mean[c])));
  }
};
template <class F>
__global__ void per_sample_sums_k(double* part, int64_t N, int64_t R, int64_t C, F f) {
  GRID_LOOP(k, N * C) {
    const int64_t n = k / C, c = k % C;
    double p1 = 0, p2 = 0;
    for (int64_t m0 = 0; m0 < R; m0 += 64) {
      float f1 = 0.f, f2 = 0.f;
      const int64_t m1 = m0 + 64 < R ? m0 + 64 : R;
      for (int64_t m = m0; m < m1; ++m) f(f1, f2, n * R + m, c);
      p1 += f1;
      p2 += f2;
    }
    part[2 * n * C + c] = p1;
    part[2 * n * C + C + c] = p2;
  }
}
__global__ void sum_samples_k(double* r1, double* r2, const double* part, int64_t N, int64_t C) {
  GRID_LOOP(c, C) {
    double s1 = 0, s2 = 0;
    for (int64_t n = 0; n < N; ++n) {
      s1 += part[2 * n * C + c];
      s2 += part[2 * n * C + C + c];
    }
    r1[c] = s1;
    r2[c] = s2;
  }
}
template <class F>
void per_sample_sums(double* r1, double* r2, int64_t N, int64_t R, int64_t C, F f) {
  if (N * C == 0) {
    memset(r1, 0, (size_t)C * sizeof(double));
    memset(r2, 0, (size_t)C * sizeof(double));
    return;
  }
  const size_t bytes = (size_t)(2 * N * C) * sizeof(double);
  double* part = (double*)alloc(bytes);
  LAUNCH(per_sample_sums_k<F>, N * C, part, N, R, C, f);
  LAUNCH(sum_samples_k, C, r1, r2, part, N, C);
  free(part, bytes);  // one stream: reusable after these kernels
}
// dx = k1 g + k2 (x - mean) + k3 with k1 = gamma invstd, k2 = -k1 invstd dgamma / M_total, k3 = -k1 dbeta / M_total
__global__ void bn_input_grad_k(float* dx, const float* dgamma, const float* dbeta, const float* dy, const float* x,
                                const float* mean, const float* invstd, const float* gamma, const float* relu_out,
                                int64_t n, int64_t C, float Mt, bool training) {
  GRID_LOOP(k, n) {
    const int64_t c = k % C;
    const float k1 = __fmul_rn(gamma[c], invstd[c]);
    const float g = relu_out ? (relu_out[k] > 0.f ? dy[k] : 0.f) : dy[k];
    float v = __fmul_rn(k1, g);
    if (training) {
      const float k2 = __fdiv_rn(__fmul_rn(__fmul_rn(-k1, invstd[c]), dgamma[c]), Mt);
      const float k3 = __fdiv_rn(__fmul_rn(-k1, dbeta[c]), Mt);
      v = __fadd_rn(__fadd_rn(v, __fmul_rn(k2, __fsub_rn(x[k], mean[c]))), k3);
    }
    dx[k] = v;
  }
}
}  // namespace

void batch_norm_sample_sums(double* s1, double* s2, const float* x, const float* shift, int64_t N, int64_t R,
                            int64_t C) {
  per_sample_sums(s1, s2, N, R, C, ShiftedRow{x, shift, C});
}
void batch_norm_grad_sample_sums(double* sdy, double* sdyx, const float* dy, const float* x, const float* mean,
                                 const float* relu_out, int64_t N, int64_t R, int64_t C) {
  per_sample_sums(sdy, sdyx, N, R, C, GradRow{dy, x, mean, relu_out, C});
}
void batch_norm_input_grad(float* dx, const float* dgamma, const float* dbeta, const float* dy, const float* x,
                           const float* mean, const float* invstd, const float* gamma, const float* relu_out,
                           int64_t M, int64_t M_total, int64_t C, bool training) {
  LAUNCH(bn_input_grad_k, M * C, dx, dgamma, dbeta, dy, x, mean, invstd, gamma, relu_out, M * C, C, (float)M_total,
         training);
}

}  // namespace tailor::cuda
