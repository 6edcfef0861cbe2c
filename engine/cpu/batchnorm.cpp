// Batch norm over x [M, C], channels last (M = N*H*W). Statistics in two passes (mean, then the
// centred second moment) with per-thread double partial sums, so the result is accurate and does
// not depend on how rows are split between threads... up to the fixed thread chunking.
//   mean_c = 1/M sum_m x[m,c];  var_c = 1/M sum_m (x[m,c] - mean_c)^2;  invstd_c = 1/sqrt(var_c + eps)
//   y = (x - mean) * invstd * gamma + beta
// Backward (training, statistics depend on x):
//   dbeta_c = sum_m dy;  dgamma_c = sum_m dy * xhat;  dx = gamma*invstd * (dy - dbeta/M - xhat*dgamma/M)
#include <omp.h>

#include <cmath>
#include <vector>

#include "engine/cpu/kernels.h"

namespace tailor::cpu {

// Rows are split into a fixed number of chunks (independent of the thread count) so the summation
// order, and therefore the bits of the result, are the same with 1 or 16 threads.
static constexpr int64_t kChunks = 16;

// partial[chunk][c] = sum over the chunk's rows of f(row, c); result = sum over chunks in order.
template <class F>
static void channel_sums(double* result, int64_t M, int64_t C, F f) {
  std::vector<double> partial(kChunks * C, 0.0);
  int64_t rows_per = (M + kChunks - 1) / kChunks;
#pragma omp parallel for schedule(static) if (M * C > (1 << 14))
  for (int64_t k = 0; k < kChunks; ++k) {
    double* acc = partial.data() + k * C;
    std::vector<float> facc(C);  // float accumulation within blocks of 64 rows, double across
    for (int64_t m0 = k * rows_per; m0 < std::min(M, (k + 1) * rows_per); m0 += 64) {
      std::fill(facc.begin(), facc.end(), 0.f);
      int64_t m1 = std::min(std::min(M, (k + 1) * rows_per), m0 + 64);
      for (int64_t m = m0; m < m1; ++m) f(facc.data(), m);
      for (int64_t c = 0; c < C; ++c) acc[c] += facc[c];
    }
  }
  for (int64_t c = 0; c < C; ++c) result[c] = 0;
  for (int64_t k = 0; k < kChunks; ++k)
    for (int64_t c = 0; c < C; ++c) result[c] += partial[k * C + c];
}

void batch_norm_stats(float* mean, float* invstd, float* var_unbiased, const float* x, int64_t M, int64_t C,
                      float eps) {
  std::vector<double> s(C), q(C);
  channel_sums(s.data(), M, C, [&](float* acc, int64_t m) {
    const float* row = x + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) acc[c] += row[c];
  });
  std::vector<float> mu(C);
  for (int64_t c = 0; c < C; ++c) mu[c] = (float)(s[c] / M);
  channel_sums(q.data(), M, C, [&](float* acc, int64_t m) {
    const float* row = x + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      float d = row[c] - mu[c];
      acc[c] += d * d;
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double var = q[c] / M;
    mean[c] = mu[c];
    invstd[c] = (float)(1.0 / std::sqrt(var + eps));
    if (var_unbiased) var_unbiased[c] = (float)(M > 1 ? q[c] / (M - 1) : var);
  }
}

void batch_norm_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                      const float* beta, int64_t M, int64_t C) {
  std::vector<float> a(C), b(C);  // y = a*x + b
  for (int64_t c = 0; c < C; ++c) {
    a[c] = invstd[c] * gamma[c];
    b[c] = beta[c] - mean[c] * a[c];
  }
  const float* pa = a.data();
  const float* pb = b.data();
#pragma omp parallel for schedule(static) if (M * C > (1 << 15))
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x + m * C;
    float* out = y + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] = pa[c] * row[c] + pb[c];
  }
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* invstd, const float* gamma, int64_t M, int64_t C, bool training) {
  std::vector<double> sdy(C), sdyx(C);
  // sum dy and sum dy*(x - mean); dgamma = invstd * sum dy*(x-mean)
  channel_sums(sdy.data(), M, C, [&](float* acc, int64_t m) {
    const float* g = dy + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) acc[c] += g[c];
  });
  channel_sums(sdyx.data(), M, C, [&](float* acc, int64_t m) {
    const float* g = dy + m * C;
    const float* row = x + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) acc[c] += g[c] * (row[c] - mean[c]);
  });
  std::vector<float> k1(C), k2(C), k3(C);  // dx = k1*dy + k2*(x-mean) + k3
  for (int64_t c = 0; c < C; ++c) {
    float dg = (float)(sdyx[c] * invstd[c]);
    float db = (float)sdy[c];
    if (dgamma) dgamma[c] = dg;
    if (dbeta) dbeta[c] = db;
    float gi = gamma[c] * invstd[c];
    k1[c] = gi;
    if (training) {
      k2[c] = -gi * invstd[c] * dg / (float)M;  // -gamma*invstd * xhat*dgamma/M with xhat=(x-mean)*invstd
      k3[c] = -gi * db / (float)M;
    } else {
      k2[c] = 0.f;
      k3[c] = 0.f;
    }
  }
  if (!dx) return;
  const float *p1 = k1.data(), *p2 = k2.data(), *p3 = k3.data();
#pragma omp parallel for schedule(static) if (M * C > (1 << 15))
  for (int64_t m = 0; m < M; ++m) {
    const float* g = dy + m * C;
    const float* row = x + m * C;
    float* out = dx + m * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] = p1[c] * g[c] + p2[c] * (row[c] - mean[c]) + p3[c];
  }
}

}  // namespace tailor::cpu
