// Softmax family and cross-entropy pieces (twins of engine/cpu/softmax.cpp).
// Row kernels use one warp per row: lanes stride over the columns, then a butterfly shuffle gives
// every lane the same total (fixed order: deterministic).
//   log_softmax(x)_j = x_j - m - log sum_k exp(x_k - m),  m = max_k x_k
#include <cfloat>

#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

namespace {
constexpr int kRowsPerBlock = 8;  // 8 warps = 256 threads

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
unsigned row_blocks(int64_t rows) { return (unsigned)std::max<int64_t>(1, (rows + kRowsPerBlock - 1) / kRowsPerBlock); }
}  // namespace

#define ROW_LOOP(r, rows) \
  for (int64_t r = blockIdx.x * (int64_t)kRowsPerBlock + threadIdx.y; r < (rows); r += (int64_t)gridDim.x * kRowsPerBlock)
#define LAUNCH_ROWS(kernel, rows, ...)                                                            \
  do {                                                                                            \
    if ((rows) > 0) {                                                                             \
      kernel<<<std::min(row_blocks(rows), 65535u * 4), dim3(32, kRowsPerBlock), 0, stream()>>>(__VA_ARGS__); \
      TAILOR_CUDA_LAUNCH_CHECK();                                                                 \
    }                                                                                             \
  } while (0)

__global__ void log_softmax_k(float* out, const float* x, int64_t rows, int64_t cols, bool exp_out) {
  ROW_LOOP(r, rows) {
    const float* p = x + r * cols;
    float* o = out + r * cols;
    float m = -FLT_MAX;
    for (int64_t j = threadIdx.x; j < cols; j += 32) m = fmaxf(m, p[j]);
    m = warp_max(m);
    double s = 0;
    for (int64_t j = threadIdx.x; j < cols; j += 32) s += exp((double)p[j] - m);
    double log_s = log(warp_sum(s));
    for (int64_t j = threadIdx.x; j < cols; j += 32) {
      double v = ((double)p[j] - m) - log_s;
      o[j] = exp_out ? (float)exp(v) : (float)v;
    }
  }
}
void log_softmax(float* out, const float* x, int64_t rows, int64_t cols) {
  LAUNCH_ROWS(log_softmax_k, rows, out, x, rows, cols, false);
}
void softmax(float* out, const float* x, int64_t rows, int64_t cols) {
  LAUNCH_ROWS(log_softmax_k, rows, out, x, rows, cols, true);
}

// dx = dy - exp(logp) * sum_j dy_j
__global__ void log_softmax_backward_k(float* dx, const float* dy, const float* logp, int64_t rows, int64_t cols) {
  ROW_LOOP(r, rows) {
    double s = 0;
    for (int64_t j = threadIdx.x; j < cols; j += 32) s += dy[r * cols + j];
    float fs = (float)warp_sum(s);
    for (int64_t j = threadIdx.x; j < cols; j += 32) dx[r * cols + j] = dy[r * cols + j] - expf(logp[r * cols + j]) * fs;
  }
}
void log_softmax_backward(float* dx, const float* dy, const float* logp, int64_t rows, int64_t cols) {
  LAUNCH_ROWS(log_softmax_backward_k, rows, dx, dy, logp, rows, cols);
}

// dx = s * (dy - sum_j dy_j s_j)
__global__ void softmax_backward_k(float* dx, const float* dy, const float* sm, int64_t rows, int64_t cols) {
  ROW_LOOP(r, rows) {
    double d = 0;
    for (int64_t j = threadIdx.x; j < cols; j += 32) d += (double)dy[r * cols + j] * sm[r * cols + j];
    float fd = (float)warp_sum(d);
    for (int64_t j = threadIdx.x; j < cols; j += 32) dx[r * cols + j] = sm[r * cols + j] * (dy[r * cols + j] - fd);
  }
}
void softmax_backward(float* dx, const float* dy, const float* s, int64_t rows, int64_t cols) {
  LAUNCH_ROWS(softmax_backward_k, rows, dx, dy, s, rows, cols);
}

// (a label outside [0, C) reads no weight: its row's loss is NaN from nll_rows)
__global__ void label_weights_k(float* wrow, const float* w, const int32_t* y, int64_t N, int64_t C) {
  GRID_LOOP(i, N) wrow[i] = w && y[i] >= 0 && y[i] < C ? w[y[i]] : 1.f;
}
void label_weights(float* wrow, const float* w, const int32_t* y, int64_t N, int64_t C) {
  LAUNCH(label_weights_k, N, wrow, w, y, N, C);
}

// A label outside [0, C) cannot throw on the device: its row's loss becomes NaN, which the
// trainer's non-finite guard reports.
__global__ void nll_rows_k(float* out, const float* logp, const int32_t* y, const float* wrow, int64_t N, int64_t C) {
  GRID_LOOP(i, N) out[i] = (y[i] >= 0 && y[i] < C) ? -wrow[i] * logp[i * C + y[i]] : __int_as_float(0x7fc00000);
}
void nll_rows(float* out, const float* logp, const int32_t* y, const float* wrow, int64_t N, int64_t C) {
  LAUNCH(nll_rows_k, N, out, logp, y, wrow, N, C);
}

// One block: fixed-order tree sums of rows and weights (N is a batch: small).
__global__ void ce_reduce_k(float* out, float* norm, const float* rows, const float* wrow, int64_t N, bool mean) {
  __shared__ double s[256], w[256];
  double a = 0, b = 0;
  for (int64_t i = threadIdx.x; i < N; i += 256) {
    a += rows[i];
    b += wrow[i];
  }
  s[threadIdx.x] = a;
  w[threadIdx.x] = b;
  __syncthreads();
  for (int k = 128; k > 0; k >>= 1) {
    if (threadIdx.x < k) {
      s[threadIdx.x] += s[threadIdx.x + k];
      w[threadIdx.x] += w[threadIdx.x + k];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    double k = mean ? 1.0 / w[0] : 1.0;
    out[0] = (float)(s[0] * k);
    norm[0] = (float)k;
  }
}
void ce_reduce(float* out, float* norm, const float* rows, const float* wrow, int64_t N, bool mean) {
  ce_reduce_k<<<1, 256, 0, stream()>>>(out, norm, rows, wrow, N, mean);
  TAILOR_CUDA_LAUNCH_CHECK();
}

// dx[i, j] = k_i (exp(logp[i, j]) - [j == y_i]),  k_i = wrow[i] * norm * (per_row ? g[i] : g[0])
__global__ void ce_backward_k(float* dx, const float* logp, const int32_t* y, const float* wrow, const float* g,
                              const float* norm, bool per_row, int64_t N, int64_t C) {
  GRID_LOOP(k, N * C) {
    int64_t i = k / C, j = k % C;
    float kk = wrow[i] * norm[0] * (per_row ? g[i] : g[0]);
    float v = kk * expf(logp[k]);
    dx[k] = j == y[i] ? v - kk : v;
  }
}
void cross_entropy_backward(float* dx, const float* logp, const int32_t* y, const float* wrow, const float* g,
                            const float* norm, bool per_row, int64_t N, int64_t C) {
  LAUNCH(ce_backward_k, N * C, dx, logp, y, wrow, g, norm, per_row, N, C);
}

__global__ void gather_rows_k(float* out, const float* x, const int32_t* idx, int64_t N, int64_t C) {
  GRID_LOOP(i, N) out[i] = (idx[i] >= 0 && idx[i] < C) ? x[i * C + idx[i]] : __int_as_float(0x7fc00000);
}
void gather_rows(float* out, const float* x, const int32_t* idx, int64_t N, int64_t C) {
  LAUNCH(gather_rows_k, N, out, x, idx, N, C);
}

// out[i] = argmax_j x[i, j], the lowest j on ties (the CPU's order); NaN never wins, a row without a number
// gives 0. One warp per row: each lane keeps the best of its columns, then a butterfly keeps the larger value,
// the lower index on ties, so every lane ends with the row's answer.
__global__ void argmax_rows_k(int32_t* out, const float* x, int64_t rows, int64_t cols) {
  ROW_LOOP(r, rows) {
    const float* p = x + r * cols;
    float best = -FLT_MAX;
    int64_t at = INT64_MAX;
    for (int64_t j = threadIdx.x; j < cols; j += 32) {
      const float v = p[j];
      if (!isnan(v) && (at == INT64_MAX || v > best)) { best = v; at = j; }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ob = __shfl_xor_sync(0xffffffffu, best, o);
      const int64_t oat = __shfl_xor_sync(0xffffffffu, at, o);
      if (oat != INT64_MAX && (at == INT64_MAX || ob > best || (ob == best && oat < at))) { best = ob; at = oat; }
    }
    if (threadIdx.x == 0) out[r] = at == INT64_MAX ? 0 : (int32_t)at;
  }
}
void argmax_rows(int32_t* out, const float* x, int64_t N, int64_t C) { LAUNCH_ROWS(argmax_rows_k, N, out, x, N, C); }

// out[i] = table[idx_i]: a per-class constant per sample (NaN for an index outside [0, C): no throw on the device)
__global__ void take_k(float* out, const float* table, const int32_t* idx, int64_t N, int64_t C) {
  GRID_LOOP(i, N) out[i] = (idx[i] >= 0 && idx[i] < C) ? table[idx[i]] : __int_as_float(0x7fc00000);
}
void take(float* out, const float* table, const int32_t* idx, int64_t N, int64_t C) {
  LAUNCH(take_k, N, out, table, idx, N, C);
}

// dx[i, j] = g[i] where j = idx[i], else 0; a row whose index is outside [0, C) is NaN (a bad label: the host
// cannot check it without a read, and a row of zeros would pass for a valid one-hot or gradient row)
__global__ void scatter_rows_k(float* dx, const float* g, const int32_t* idx, int64_t N, int64_t C) {
  GRID_LOOP(k, N * C) {
    int64_t i = k / C, j = k % C;
    const int32_t c = idx[i];
    dx[k] = c < 0 || c >= C ? __int_as_float(0x7fc00000) : j == c ? g[i] : 0.f;
  }
}
void scatter_rows(float* dx, const float* g, const int32_t* idx, int64_t N, int64_t C) {
  LAUNCH(scatter_rows_k, N * C, dx, g, idx, N, C);
}

// x viewed as [outer, len, inner], one thread per (o, i): n = max(||x||, eps), y = x / n
__global__ void l2_normalize_k(float* y, float* norms, const float* x, int64_t outer, int64_t len, int64_t inner,
                               float eps) {
  GRID_LOOP(k, outer * inner) {
    int64_t o = k / inner, i = k % inner;
    const float* p = x + o * len * inner + i;
    double s = 0;
    for (int64_t l = 0; l < len; ++l) s += (double)p[l * inner] * p[l * inner];
    float nrm = fmaxf((float)sqrt(s), eps);
    norms[k] = nrm;
    for (int64_t l = 0; l < len; ++l) y[o * len * inner + l * inner + i] = p[l * inner] / nrm;
  }
}
void l2_normalize(float* y, float* norms, const float* x, int64_t outer, int64_t len, int64_t inner, float eps) {
  LAUNCH(l2_normalize_k, outer * inner, y, norms, x, outer, len, inner, eps);
}

// dx = (dy - y <dy, y>) / n, or dy / eps where the norm was clamped
__global__ void l2_normalize_backward_k(float* dx, const float* dy, const float* y, const float* norms, int64_t outer,
                                        int64_t len, int64_t inner, float eps) {
  GRID_LOOP(k, outer * inner) {
    int64_t o = k / inner, i = k % inner, base = o * len * inner + i;
    float nrm = norms[k];
    double dot = 0;
    for (int64_t l = 0; l < len; ++l) dot += (double)dy[base + l * inner] * y[base + l * inner];
    bool clamped = nrm <= eps;
    for (int64_t l = 0; l < len; ++l) {
      int64_t q = base + l * inner;
      dx[q] = clamped ? dy[q] / eps : (dy[q] - y[q] * (float)dot) / nrm;
    }
  }
}
void l2_normalize_backward(float* dx, const float* dy, const float* y, const float* norms, int64_t outer,
                           int64_t len, int64_t inner, float eps) {
  LAUNCH(l2_normalize_backward_k, outer * inner, dx, dy, y, norms, outer, len, inner, eps);
}

}  // namespace tailor::cuda
