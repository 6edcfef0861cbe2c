// Pooling and the option-A shortcut, NHWC.
#include <cstring>
#include <limits>

#include "engine/cpu/element_io.h"
#include "engine/cpu/kernels.h"

namespace tailor::cpu {

// y[n,oh,ow,c] = max over the k×k window at (oh*stride-pad, ow*stride-pad); argmax holds the flat
// index (h*W+w)*C+c inside image n for the backward (first max wins on ties, like PyTorch).
// (T = float or bf16 bits: the comparisons on the widened values, the winner's bits copied.)
template <class T>
static void max_pool_impl(T* y, int32_t* argmax, const T* x, int64_t N, int64_t H, int64_t W, int64_t C, int k,
                          int stride, int pad, int64_t OH, int64_t OW) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        T* out = y + ((n * OH + oh) * OW + ow) * C;
        int32_t* am = argmax + ((n * OH + oh) * OW + ow) * C;
        for (int64_t c = 0; c < C; ++c) {
          out[c] = narrow<T>(-std::numeric_limits<float>::infinity());
          am[c] = -1;
        }
        for (int r = 0; r < k; ++r) {
          int64_t h = oh * stride - pad + r;
          if (h < 0 || h >= H) continue;
          for (int s = 0; s < k; ++s) {
            int64_t w = ow * stride - pad + s;
            if (w < 0 || w >= W) continue;
            const T* in = x + ((n * H + h) * W + w) * C;
            int32_t base = (int32_t)((h * W + w) * C);
            for (int64_t c = 0; c < C; ++c)
              if (widen(in[c]) > widen(out[c]) || am[c] < 0) {
                out[c] = in[c];
                am[c] = base + (int32_t)c;
              }
          }
        }
      }
}

void max_pool2d(float* y, int32_t* argmax, const float* x, int64_t N, int64_t H, int64_t W, int64_t C, int k,
                int stride, int pad, int64_t OH, int64_t OW) {
  max_pool_impl(y, argmax, x, N, H, W, C, k, stride, pad, OH, OW);
}
void max_pool2d_bf16(uint16_t* y, int32_t* argmax, const uint16_t* x, int64_t N, int64_t H, int64_t W, int64_t C,
                     int k, int stride, int pad, int64_t OH, int64_t OW) {
  max_pool_impl(y, argmax, x, N, H, W, C, k, stride, pad, OH, OW);
}

void max_pool2d_backward(float* dx, const float* dy, const int32_t* argmax, int64_t N, int64_t HWC, int64_t OHWC,
                         int64_t /*C*/) {
  std::memset(dx, 0, sizeof(float) * N * HWC);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < OHWC; ++i) dx[n * HWC + argmax[n * OHWC + i]] += dy[n * OHWC + i];
}

template <class T>
static void avg_pool_impl(float* y, const T* x, int64_t N, int64_t HW, int64_t C) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* out = y + n * C;
    for (int64_t c = 0; c < C; ++c) out[c] = 0.f;
    for (int64_t p = 0; p < HW; ++p) {
      const T* in = x + (n * HW + p) * C;
      for (int64_t c = 0; c < C; ++c) out[c] += widen(in[c]);
    }
    for (int64_t c = 0; c < C; ++c) out[c] /= (float)HW;
  }
}

void global_avg_pool(float* y, const float* x, int64_t N, int64_t HW, int64_t C) { avg_pool_impl(y, x, N, HW, C); }
void global_avg_pool_bf16(float* y, const uint16_t* x, int64_t N, int64_t HW, int64_t C) {
  avg_pool_impl(y, x, N, HW, C);
}

template <class T>
static void avg_pool_backward_impl(T* dx, const float* dy, int64_t N, int64_t HW, int64_t C) {
  float inv = 1.f / (float)HW;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < HW; ++p)
      for (int64_t c = 0; c < C; ++c) dx[(n * HW + p) * C + c] = narrow<T>(dy[n * C + c] * inv);
}

void global_avg_pool_backward(float* dx, const float* dy, int64_t N, int64_t HW, int64_t C) {
  avg_pool_backward_impl(dx, dy, N, HW, C);
}
void global_avg_pool_backward_bf16(uint16_t* dx, const float* dy, int64_t N, int64_t HW, int64_t C) {
  avg_pool_backward_impl(dx, dy, N, HW, C);
}

// y[n,oh,ow,pb+c] = x[n,oh*s,ow*s,c], other channels 0. OH = ceil(H/s) (x[:, ::s] semantics).
template <class T>
static void shortcut_pad_impl(T* y, const T* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb, int pa) {
  int64_t OH = (H + s - 1) / s, OW = (W + s - 1) / s, OC = C + pb + pa;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        T* out = y + ((n * OH + oh) * OW + ow) * OC;
        const T* in = x + ((n * H + oh * s) * W + ow * s) * C;
        std::memset(out, 0, sizeof(T) * pb);  // +0 in float and in bf16
        std::memcpy(out + pb, in, sizeof(T) * C);
        std::memset(out + pb + C, 0, sizeof(T) * pa);
      }
}

void shortcut_pad(float* y, const float* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb, int pa) {
  shortcut_pad_impl(y, x, N, H, W, C, s, pb, pa);
}
void shortcut_pad_bf16(uint16_t* y, const uint16_t* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                       int pa) {
  shortcut_pad_impl(y, x, N, H, W, C, s, pb, pa);
}

// dx[n,oh*s,ow*s,c] = dy[n,oh,ow,pb+c] (bits copied), the positions the stride skipped +0
template <class T>
static void shortcut_pad_backward_impl(T* dx, const T* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                                       int pa) {
  int64_t OH = (H + s - 1) / s, OW = (W + s - 1) / s, OC = C + pb + pa;
  if (s != 1) std::memset(dx, 0, sizeof(T) * N * H * W * C);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        std::memcpy(dx + ((n * H + oh * s) * W + ow * s) * C, dy + ((n * OH + oh) * OW + ow) * OC + pb,
                    sizeof(T) * C);
}

void shortcut_pad_backward(float* dx, const float* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                           int pa) {
  shortcut_pad_backward_impl(dx, dy, N, H, W, C, s, pb, pa);
}
void shortcut_pad_backward_bf16(uint16_t* dx, const uint16_t* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s,
                                int pb, int pa) {
  shortcut_pad_backward_impl(dx, dy, N, H, W, C, s, pb, pa);
}

}  // namespace tailor::cpu
