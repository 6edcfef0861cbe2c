// The ReLU kernels templated on the activation's stored type T (float, or bf16 bits as uint16_t:
// engine/cuda/bf16.cuh), instantiated for float in elementwise.cu and for bf16 in bf16_act.cu.
#pragma once
#include "engine/cuda/bf16.cuh"
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

// out = max(a + b, 0), one element per thread (float's aligned tensors take elementwise.cu's float4 path)
template <class T>
__global__ void add_relu_scalar_k(T* out, const T* a, const T* b, int64_t n) {
  GRID_LOOP(i, n) {
    float v = widen(a[i]) + widen(b[i]);
    store(out + i, v > 0.f ? v : 0.f);
  }
}

// din = dout where y > 0 else 0 (y: the ReLU's output; for bf16 dout's bits are copied, or +0)
template <class T>
__global__ void relu_backward_k(T* din, const T* dout, const T* y, int64_t n) {
  GRID_LOOP(i, n) din[i] = widen(y[i]) > 0.f ? dout[i] : T(0);
}

}  // namespace tailor::cuda
