// Batch norm over x [M, C], channels last (M = N*H*W), optionally fused with the ReLU that follows
// it in every ResNet block. Statistics in one pass of shifted sums; partial sums per fixed chunk of
// rows (float within 64-row blocks, double across), so results do not depend on the thread count.
//   mean_c = 1/M sum_m x[m,c];  var_c = 1/M sum_m (x[m,c] - mean_c)^2;  invstd_c = 1/sqrt(var_c + eps)
//   y = (x - mean) * invstd * gamma + beta
// Backward (training, statistics depend on x):
//   dbeta_c = sum_m dy;  dgamma_c = sum_m dy * xhat;  dx = gamma*invstd * (dy - dbeta/M - xhat*dgamma/M)
#include <omp.h>

#include <cmath>
#include <vector>

#include "engine/cpu/element_io.h"
#include "engine/cpu/kernels.h"

namespace tailor::cpu {

// Rows are split into a fixed number of chunks (independent of the thread count) so the summation
// order, and therefore the bits of the result, are the same with 1 or 16 threads.
static constexpr int64_t kChunks = 16;

// Two channel sums in one pass over the rows: f(acc1, acc2, m) adds row m's terms. Float partial sums
// over blocks of 64 rows (vectorised), double across blocks and across the fixed chunks.
template <class F>
static void channel_sums2(double* r1, double* r2, int64_t M, int64_t C, F f) {
  std::vector<double> partial(2 * kChunks * C, 0.0);
  int64_t rows_per = (M + kChunks - 1) / kChunks;
#pragma omp parallel for schedule(static) if (M * C > (1 << 14))
  for (int64_t k = 0; k < kChunks; ++k) {
    double* acc1 = partial.data() + 2 * k * C;
    double* acc2 = acc1 + C;
    std::vector<float> f1(C), f2(C);
    int64_t end = std::min(M, (k + 1) * rows_per);
    for (int64_t m0 = k * rows_per; m0 < end; m0 += 64) {
      std::fill(f1.begin(), f1.end(), 0.f);
      std::fill(f2.begin(), f2.end(), 0.f);
      for (int64_t m = m0; m < std::min(end, m0 + 64); ++m) f(f1.data(), f2.data(), m);
      for (int64_t c = 0; c < C; ++c) {
        acc1[c] += f1[c];
        acc2[c] += f2[c];
      }
    }
  }
  for (int64_t c = 0; c < C; ++c) r1[c] = r2[c] = 0;
  for (int64_t k = 0; k < kChunks; ++k)
    for (int64_t c = 0; c < C; ++c) {
      r1[c] += partial[2 * k * C + c];
      r2[c] += partial[2 * k * C + C + c];
    }
}

// Row m's terms of the statistics' two channel sums: x - shift and (x - shift)^2.
template <class T>
static inline void add_shifted_row(float* a1, float* a2, const T* x, const float* shift, int64_t m, int64_t C) {
  const T* row = x + m * C;
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    float d = widen(row[c]) - shift[c];
    a1[c] += d;
    a2[c] += d * d;
  }
}

template <class T>
static void stats_impl(float* mean, float* invstd, float* var_unbiased, const T* x, int64_t M, int64_t C, float eps) {
  // One pass of shifted sums in double: var = E[(x-s)^2] - E[x-s]^2 with s = the mean of the first
  // (up to) 64 rows, close enough to the true mean that the subtraction loses nothing measurable.
  std::vector<double> head_sum(C, 0.0), s1(C), s2(C);
  std::vector<float> shift(C);
  int64_t head = std::min<int64_t>(M, 64);
  for (int64_t m = 0; m < head; ++m)
    for (int64_t c = 0; c < C; ++c) head_sum[c] += widen(x[m * C + c]);
  for (int64_t c = 0; c < C; ++c) shift[c] = (float)(head_sum[c] / (double)head);
  const float* sh = shift.data();
  channel_sums2(s1.data(), s2.data(), M, C,
                [&](float* a1, float* a2, int64_t m) { add_shifted_row(a1, a2, x, sh, m, C); });
  for (int64_t c = 0; c < C; ++c) {
    double m1 = s1[c] / M;
    double q = std::max(0.0, s2[c] - s1[c] * m1);  // sum of squared deviations
    double var = q / M;
    mean[c] = (float)(shift[c] + m1);
    invstd[c] = (float)(1.0 / std::sqrt(var + eps));
    if (var_unbiased) var_unbiased[c] = (float)(M > 1 ? q / (M - 1) : var);
  }
}

void batch_norm_stats(float* mean, float* invstd, float* var_unbiased, const float* x, int64_t M, int64_t C,
                      float eps) {
  stats_impl(mean, invstd, var_unbiased, x, M, C, eps);
}
void batch_norm_stats_bf16(float* mean, float* invstd, float* var_unbiased, const uint16_t* x, int64_t M, int64_t C,
                           float eps) {
  stats_impl(mean, invstd, var_unbiased, x, M, C, eps);
}

template <class T>
static void apply_impl(T* y, const T* x, const float* mean, const float* invstd, const float* gamma,
                       const float* beta, int64_t M, int64_t C, bool relu) {
  // bf16: rows in blocks of k, so that each inner loop is at least 64 elements long: a vector holds 32 bf16,
  // and a loop over C = 16 channels alone would never fill one (it ran scalar, 10x slower). The coefficients
  // repeat k times. float: one row at a time (k = 1; 16 floats fill a vector).
  const int64_t k = sizeof(T) == 2 && C < 64 ? (64 + C - 1) / C : 1, L = k * C;
  std::vector<float> a(L), b(L);  // y = a*x + b
  for (int64_t c = 0; c < C; ++c) {
    a[c] = invstd[c] * gamma[c];
    b[c] = beta[c] - mean[c] * a[c];
  }
  for (int64_t i = C; i < L; ++i) a[i] = a[i % C], b[i] = b[i % C];
  const float* pa = a.data();
  const float* pb = b.data();
  const int64_t blocks = (M + k - 1) / k;
#pragma omp parallel for schedule(static) if (M * C > (1 << 15))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const T* in = x + blk * L;
    T* out = y + blk * L;
    const int64_t len = std::min(k, M - blk * k) * C;
    if (relu) {
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) out[i] = narrow<T>(std::max(pa[i] * widen(in[i]) + pb[i], 0.f));
    } else {
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) out[i] = narrow<T>(pa[i] * widen(in[i]) + pb[i]);
    }
  }
}

void batch_norm_apply(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                      const float* beta, int64_t M, int64_t C, bool relu) {
  apply_impl(y, x, mean, invstd, gamma, beta, M, C, relu);
}
void batch_norm_apply_bf16(uint16_t* y, const uint16_t* x, const float* mean, const float* invstd,
                           const float* gamma, const float* beta, int64_t M, int64_t C, bool relu) {
  apply_impl(y, x, mean, invstd, gamma, beta, M, C, relu);
}

// Row m's terms of backward's two channel sums: g and g * (x - mean) (g = dy, masked by relu_out > 0 when fused).
template <class T>
static inline void add_grad_row(float* a1, float* a2, const T* dy, const T* x, const float* mean,
                                const T* relu_out, int64_t m, int64_t C) {
    const T* row = x + m * C;
    const T* g = dy + m * C;
    if (relu_out) {
      const T* y = relu_out + m * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        float gm = widen(y[c]) > 0.f ? widen(g[c]) : 0.f;
        a1[c] += gm;
        a2[c] += gm * (widen(row[c]) - mean[c]);
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        a1[c] += widen(g[c]);
        a2[c] += widen(g[c]) * (widen(row[c]) - mean[c]);
      }
    }
}

// The two channel sums of backward: sdy_c = sum_m g, sdyx_c = sum_m g * (x - mean).
template <class T>
static void batch_norm_grad_sums(double* sdy, double* sdyx, const T* dy, const T* x, const float* mean,
                                 const T* relu_out, int64_t M, int64_t C) {
  channel_sums2(sdy, sdyx, M, C,
                [&](float* a1, float* a2, int64_t m) { add_grad_row(a1, a2, dy, x, mean, relu_out, m, C); });
}

// dx of M rows from the sums over all M_total rows the statistics came from (M_total = M on one process):
// dgamma_c = sdyx_c * invstd_c, dbeta_c = sdy_c;  dx = gamma*invstd * (dy - dbeta/M_total - xhat*dgamma/M_total)
template <class T>
static void input_grad_impl(T* dx, const float* dgamma, const float* dbeta, const T* dy, const T* x,
                            const float* mean, const float* invstd, const float* gamma, const T* relu_out, int64_t M,
                            int64_t M_total, int64_t C, bool training) {
  // bf16: rows in blocks of k, as in apply_impl (a loop over 16 bf16 channels alone would run scalar); the
  // coefficients and the means repeat k times. float: k = 1.
  const int64_t k = sizeof(T) == 2 && C < 64 ? (64 + C - 1) / C : 1, L = k * C;
  std::vector<float> k1(L), k2(L), k3(L), mu(L);  // dx = k1*dy + k2*(x-mean) + k3
  for (int64_t c = 0; c < C; ++c) {
    float gi = gamma[c] * invstd[c];
    k1[c] = gi;
    mu[c] = mean[c];
    if (training) {
      k2[c] = -gi * invstd[c] * dgamma[c] / (float)M_total;  // -gamma*invstd * xhat*dgamma/M with xhat=(x-mean)*invstd
      k3[c] = -gi * dbeta[c] / (float)M_total;
    } else {
      k2[c] = 0.f;
      k3[c] = 0.f;
    }
  }
  for (int64_t i = C; i < L; ++i) k1[i] = k1[i % C], k2[i] = k2[i % C], k3[i] = k3[i % C], mu[i] = mu[i % C];
  const float *p1 = k1.data(), *p2 = k2.data(), *p3 = k3.data(), *pm = mu.data();
  const int64_t blocks = (M + k - 1) / k;
#pragma omp parallel for schedule(static) if (M * C > (1 << 15))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const T* row = x + blk * L;
    const T* g = dy + blk * L;
    T* out = dx + blk * L;
    const int64_t len = std::min(k, M - blk * k) * C;
    if (relu_out) {
      const T* y = relu_out + blk * L;
#pragma omp simd
      for (int64_t i = 0; i < len; ++i)
        out[i] = narrow<T>(p1[i] * (widen(y[i]) > 0.f ? widen(g[i]) : 0.f) + p2[i] * (widen(row[i]) - pm[i]) + p3[i]);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < len; ++i)
        out[i] = narrow<T>(p1[i] * widen(g[i]) + p2[i] * (widen(row[i]) - pm[i]) + p3[i]);
    }
  }
}

void batch_norm_input_grad(float* dx, const float* dgamma, const float* dbeta, const float* dy, const float* x,
                           const float* mean, const float* invstd, const float* gamma, const float* relu_out,
                           int64_t M, int64_t M_total, int64_t C, bool training) {
  input_grad_impl(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, relu_out, M, M_total, C, training);
}

template <class T>
static void backward_impl(T* dx, float* dgamma, float* dbeta, const T* dy, const T* x, const float* mean,
                          const float* invstd, const float* gamma, const T* relu_out, int64_t M, int64_t C,
                          bool training) {
  std::vector<double> sdy(C), sdyx(C);
  batch_norm_grad_sums(sdy.data(), sdyx.data(), dy, x, mean, relu_out, M, C);
  std::vector<float> dg(C), db(C);
  for (int64_t c = 0; c < C; ++c) {
    dg[c] = (float)(sdyx[c] * invstd[c]);
    db[c] = (float)sdy[c];
    if (dgamma) dgamma[c] = dg[c];
    if (dbeta) dbeta[c] = db[c];
  }
  if (dx) input_grad_impl(dx, dg.data(), db.data(), dy, x, mean, invstd, gamma, relu_out, M, M, C, training);
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* invstd, const float* gamma, const float* relu_out, int64_t M, int64_t C,
                         bool training) {
  backward_impl(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, relu_out, M, C, training);
}
void batch_norm_backward_bf16(uint16_t* dx, float* dgamma, float* dbeta, const uint16_t* dy, const uint16_t* x,
                              const float* mean, const float* invstd, const float* gamma, const uint16_t* relu_out,
                              int64_t M, int64_t C, bool training) {
  backward_impl(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, relu_out, M, C, training);
}

// SyncBatchNorm's sums are taken sample by sample: float within a sample's 64-row blocks, double across
// them, then the samples added in double in order. Splitting a batch's samples over ranks then changes only
// the order of double additions: the float statistics of 2 ranks x 64 samples are those of 1 x 128 (up to
// double rounding). Parallel over samples, so the thread count changes nothing.
template <class F>
static void per_sample_sums(double* r1, double* r2, int64_t N, int64_t R, int64_t C, F f) {
  std::vector<double> part((size_t)(2 * N * C), 0.0);  // per sample: float within 64-row blocks, double across
#pragma omp parallel for schedule(static) if (N * R * C > (1 << 14))
  for (int64_t n = 0; n < N; ++n) {
    double* p1 = part.data() + 2 * n * C;
    double* p2 = p1 + C;
    std::vector<float> f1(C), f2(C);
    for (int64_t m0 = 0; m0 < R; m0 += 64) {
      std::fill(f1.begin(), f1.end(), 0.f);
      std::fill(f2.begin(), f2.end(), 0.f);
      for (int64_t m = m0; m < std::min(R, m0 + 64); ++m) f(f1.data(), f2.data(), n * R + m);
      for (int64_t c = 0; c < C; ++c) {
        p1[c] += f1[c];
        p2[c] += f2[c];
      }
    }
  }
  for (int64_t c = 0; c < C; ++c) r1[c] = r2[c] = 0;
  for (int64_t n = 0; n < N; ++n)  // the samples in order: the same additions however the batch was split
    for (int64_t c = 0; c < C; ++c) {
      r1[c] += part[2 * n * C + c];
      r2[c] += part[2 * n * C + C + c];
    }
}

// SyncBatchNorm's forward sums over this rank's N samples of R rows: s1 = sum (x - shift), s2 = sum (x - shift)^2.
void batch_norm_sample_sums(double* s1, double* s2, const float* x, const float* shift, int64_t N, int64_t R,
                            int64_t C) {
  per_sample_sums(s1, s2, N, R, C,
                  [&](float* a1, float* a2, int64_t m) { add_shifted_row(a1, a2, x, shift, m, C); });
}

// SyncBatchNorm's backward sums, sample by sample: sdy = sum g, sdyx = sum g * (x - mean) (g masked by relu).
void batch_norm_grad_sample_sums(double* sdy, double* sdyx, const float* dy, const float* x, const float* mean,
                                 const float* relu_out, int64_t N, int64_t R, int64_t C) {
  per_sample_sums(sdy, sdyx, N, R, C,
                  [&](float* a1, float* a2, int64_t m) { add_grad_row(a1, a2, dy, x, mean, relu_out, m, C); });
}

}  // namespace tailor::cpu

namespace tailor::cpu {

void bn_update_running(float* running_mean, float* running_var, const float* mean, const float* var_unbiased,
                       int64_t C, float momentum) {
  for (int64_t c = 0; c < C; ++c) {
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * var_unbiased[c];
  }
}

void bn_eval_stats(float* mean, float* invstd, const float* running_mean, const float* running_var, int64_t C,
                   float eps) {
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = running_mean[c];
    invstd[c] = 1.f / std::sqrt(running_var[c] + eps);
  }
}

}  // namespace tailor::cpu
