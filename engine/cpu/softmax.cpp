// Row-wise (log-)softmax with the max subtracted for stability:
// log_softmax(x)_j = x_j - m - log sum_k exp(x_k - m), m = max_k x_k
#include <algorithm>
#include <cmath>

#include "engine/cpu/kernels.h"

namespace tailor::cpu {

void log_softmax(float* out, const float* x, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x + r * cols;
    float* o = out + r * cols;
    float m = *std::max_element(p, p + cols);
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) s += std::exp((double)p[j] - m);
    double log_s = std::log(s);  // kept in double: rounding m + log s to float costs ~1e-6 at s = 30 logits
    for (int64_t j = 0; j < cols; ++j) o[j] = (float)(((double)p[j] - m) - log_s);
  }
}

void softmax(float* out, const float* x, int64_t rows, int64_t cols) {
  log_softmax(out, x, rows, cols);
  for (int64_t i = 0; i < rows * cols; ++i) out[i] = std::exp(out[i]);
}

}  // namespace tailor::cpu

namespace tailor::cpu {

void log_softmax_backward(float* dx, const float* dy, const float* logp, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * cols;
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) s += g[j];
    for (int64_t j = 0; j < cols; ++j) dx[r * cols + j] = g[j] - std::exp(logp[r * cols + j]) * (float)s;
  }
}

void softmax_backward(float* dx, const float* dy, const float* s, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * cols;
    const float* sr = s + r * cols;
    double dot = 0;
    for (int64_t j = 0; j < cols; ++j) dot += (double)g[j] * sr[j];
    for (int64_t j = 0; j < cols; ++j) dx[r * cols + j] = sr[j] * (g[j] - (float)dot);
  }
}

void label_weights(float* wrow, const float* w, const int32_t* y, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) wrow[i] = w && y[i] >= 0 && y[i] < C ? w[y[i]] : 1.f;
}

void nll_rows(float* out, const float* logp, const int32_t* y, const float* wrow, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i)
    out[i] = (y[i] >= 0 && y[i] < C) ? -wrow[i] * logp[i * C + y[i]] : std::nanf("");
}

void ce_reduce(float* out, float* norm, const float* rows, const float* wrow, int64_t N, bool mean) {
  double s = 0, ws = 0;
  for (int64_t i = 0; i < N; ++i) {
    s += rows[i];
    ws += wrow[i];
  }
  double k = mean ? 1.0 / ws : 1.0;
  out[0] = (float)(s * k);
  norm[0] = (float)k;
}

void cross_entropy_backward(float* dx, const float* logp, const int32_t* y, const float* wrow, const float* g,
                            const float* norm, bool per_row, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    float k = wrow[i] * norm[0] * (per_row ? g[i] : g[0]);
    const float* lp = logp + i * C;
    float* o = dx + i * C;
    for (int64_t j = 0; j < C; ++j) o[j] = k * std::exp(lp[j]);
    o[y[i]] -= k;
  }
}

void gather_rows(float* out, const float* x, const int32_t* idx, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) out[i] = x[i * C + idx[i]];
}

// out[i] = argmax_j x[i, j], the lowest j on ties; NaN is never the maximum, a row without a number gives 0
void argmax_rows(int32_t* out, const float* x, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) {
    const float* row = x + i * C;
    int64_t best = -1;
    for (int64_t j = 0; j < C; ++j)
      if (!std::isnan(row[j]) && (best < 0 || row[j] > row[best])) best = j;
    out[i] = (int32_t)std::max<int64_t>(best, 0);
  }
}

// out[i] = table[idx_i]: a per-class constant per sample (NaN for an index outside [0, C))
void take(float* out, const float* table, const int32_t* idx, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; ++i) out[i] = (idx[i] >= 0 && idx[i] < C) ? table[idx[i]] : std::nanf("");
}

void scatter_rows(float* dx, const float* g, const int32_t* idx, int64_t N, int64_t C) {
  std::fill(dx, dx + N * C, 0.f);
  for (int64_t i = 0; i < N; ++i) {
    if (idx[i] >= 0 && idx[i] < C)
      dx[i * C + idx[i]] = g[i];
    else
      std::fill(dx + i * C, dx + (i + 1) * C, std::nanf(""));  // a bad index: a NaN row (the CUDA twin's)
  }
}

void l2_normalize(float* y, float* norms, const float* x, int64_t outer, int64_t len, int64_t inner, float eps) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (int64_t l = 0; l < len; ++l) {
        float v = x[(o * len + l) * inner + i];
        s += (double)v * v;
      }
      float nrm = std::max((float)std::sqrt(s), eps);
      norms[o * inner + i] = nrm;
      for (int64_t l = 0; l < len; ++l) y[(o * len + l) * inner + i] = x[(o * len + l) * inner + i] / nrm;
    }
}

void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* norms, int64_t outer,
                           int64_t len, int64_t inner, float eps) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      float nrm = norms[o * inner + i];
      double dot = 0;
      for (int64_t l = 0; l < len; ++l) {
        int64_t k = (o * len + l) * inner + i;
        dot += (double)dy[k] * y[k];
      }
      bool clamped = nrm <= eps;
      for (int64_t l = 0; l < len; ++l) {
        int64_t k = (o * len + l) * inner + i;
        dx[k] = clamped ? dy[k] / eps : (dy[k] - y[k] * (float)dot) / nrm;
      }
    }
}

}  // namespace tailor::cpu
