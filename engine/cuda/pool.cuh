// Max pooling and the option-A shortcut, NHWC: the kernels templated on the activation's stored type T (float,
// or bf16 bits as uint16_t: engine/cuda/bf16.cuh), instantiated for float in pool.cu and for bf16 in bf16_act.cu.
#pragma once
#include "engine/cuda/bf16.cuh"
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

// y = max over the k×k window at (oh*stride-pad, ow*stride-pad), compared on the widened values, the winner
// stored exactly (its bits, as the CPU's copy); argmax = flat (h*W+w)*C+c inside image n, first max wins.
// One thread per output element.
template <class T>
__global__ void max_pool2d_k(T* y, int32_t* argmax, const T* x, int64_t N, int64_t H, int64_t W, int64_t C, int k,
                             int stride, int pad, int64_t OH, int64_t OW) {
  GRID_LOOP(q, N * OH * OW * C) {
    int64_t c = q % C, t = q / C, ow = t % OW, oh = (t / OW) % OH, n = t / (OW * OH);
    float best = -INFINITY;
    int32_t am = -1;
    for (int r = 0; r < k; ++r) {
      int64_t h = oh * stride - pad + r;
      if (h < 0 || h >= H) continue;
      for (int s = 0; s < k; ++s) {
        int64_t w = ow * stride - pad + s;
        if (w < 0 || w >= W) continue;
        float v = widen(x[((n * H + h) * W + w) * C + c]);
        if (v > best || am < 0) {
          best = v;
          am = (int32_t)((h * W + w) * C + c);
        }
      }
    }
    store_exact(y + q, best);
    argmax[q] = am;
  }
}

// y[n,oh,ow,pb+c] = x[n,oh*s,ow*s,c] (copied), other channels +0
template <class T>
__global__ void shortcut_pad_k(T* y, const T* x, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                               int64_t OH, int64_t OW, int64_t OC) {
  GRID_LOOP(q, N * OH * OW * OC) {
    int64_t oc = q % OC, t = q / OC, ow = t % OW, oh = (t / OW) % OH, n = t / (OW * OH);
    int64_t c = oc - pb;
    y[q] = (c >= 0 && c < C) ? x[((n * H + oh * s) * W + ow * s) * C + c] : T(0);
  }
}

// the shortcut's adjoint: dx at the sampled positions (copied), +0 elsewhere; one thread per input element
template <class T>
__global__ void shortcut_pad_backward_k(T* dx, const T* dy, int64_t N, int64_t H, int64_t W, int64_t C, int s, int pb,
                                        int64_t OH, int64_t OW, int64_t OC) {
  GRID_LOOP(q, N * H * W * C) {
    int64_t c = q % C, t = q / C, w = t % W, h = (t / W) % H, n = t / (W * H);
    dx[q] = (h % s == 0 && w % s == 0) ? dy[((n * OH + h / s) * OW + w / s) * OC + pb + c] : T(0);
  }
}

// global average pooling's adjoint: dx[n, p, c] = dy[n, c] / HW (float32 dy; a bf16 dx rounded once)
template <class T>
__global__ void gap_backward_k(T* dx, const float* dy, int64_t N, int64_t HW, int64_t C) {
  float inv = 1.f / (float)HW;
  GRID_LOOP(q, N * HW * C) store(dx + q, dy[(q / (HW * C)) * C + q % C] * inv);
}

}  // namespace tailor::cuda
