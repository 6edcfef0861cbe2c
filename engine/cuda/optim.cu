// Fused optimiser steps (twins of engine/cpu/optim.cpp), PyTorch torch.optim semantics.
// SGD:  d = g + wd*w;  v = d on the first step, else v = mom*v + (1-dampening)*d
//       step = nesterov ? d + mom*v : v;   w -= lr * step
//       masked: nothing when skip[0] != 0; a tensor with a `started` flag takes its first step from
//       started == 0, and a second launch sets started = 1 once every block has read it
// Adam: g = g + wd*w (AdamW instead: w = w * (1 - lr*wd));  m = beta1*m + (1-beta1)*g;
//       v = beta2*v + (1-beta2)*g*g;  w = w - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
//       with cpu::adam_step's roundings, spelled out with _rn intrinsics so that nvcc contracts nothing.
// The *_multi launches pass up to 128 parameter descriptors by value in the kernel's arguments:
// blockIdx.y picks the tensor, a grid-stride loop over blockIdx.x covers its elements.
#include <vector>

#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

template <class Desc, int Max>
struct Batch {
  Desc t[Max];
};

// Launches kernel(batch, hyper) over `list` in batches of Max descriptors (each has a size n);
// grid.x covers the largest tensor of the batch (at most 1024 blocks), grid.y the tensors.
template <int Max, class Desc, class Hyper>
void launch_batches(void (*kernel)(Batch<Desc, Max>, Hyper), const Desc* list, int count, const Hyper& h) {
  for (int start = 0; start < count; start += Max) {
    int k = std::min(Max, count - start);
    Batch<Desc, Max> b{};
    int64_t most = 1;
    for (int j = 0; j < k; ++j) {
      b.t[j] = list[start + j];
      most = std::max(most, list[start + j].n);
    }
    dim3 grid(std::min<unsigned>(grid_for(most), 1024), (unsigned)k);
    kernel<<<grid, 256, 0, stream()>>>(b, h);
    TAILOR_CUDA_LAUNCH_CHECK();
  }
}

// ---- SGD

struct SgdHyper {
  float lr, momentum, dampening, wd;
  bool nesterov;
  const int32_t* skip;  // device flag: != 0 leaves every tensor untouched (null: never)
  const float* lr_device;  // the learning rate on the device (null: lr)
};

__device__ __forceinline__ void sgd_one(float* w, float* v, const float* g, int64_t i, const SgdHyper& h, float lr,
                                        bool first) {
  float d = g[i] + h.wd * w[i];
  if (h.momentum != 0.f) {
    float buf = first ? d : h.momentum * v[i] + (1.f - h.dampening) * d;
    v[i] = buf;
    d = h.nesterov ? d + h.momentum * buf : buf;
  }
  w[i] -= lr * d;
}

__global__ void sgd_multi_k(Batch<SgdTensor, kSgdMaxTensors> b, SgdHyper h) {
  if (h.skip && h.skip[0] != 0) return;
  const SgdTensor& t = b.t[blockIdx.y];
  const bool first = t.started ? t.started[0] == 0 : t.first_step != 0;
  const float lr = h.lr_device ? h.lr_device[0] : h.lr;
  GRID_LOOP(i, t.n) sgd_one(t.w, t.v, t.g, i, h, lr, first);
}

// started = 1 for every tensor with a flag, unless the step was skipped (after sgd_multi_k has read them)
__global__ void sgd_mark_started_k(Batch<SgdTensor, kSgdMaxTensors> b, SgdHyper h) {
  if (blockIdx.x != 0 || threadIdx.x != 0 || (h.skip && h.skip[0] != 0)) return;
  if (b.t[blockIdx.y].started) b.t[blockIdx.y].started[0] = 1;
}

void sgd_step_multi(const SgdTensor* list, int count, float lr, float momentum, float dampening, float wd,
                    bool nesterov, const int32_t* skip, const float* lr_device) {
  const SgdHyper h{lr, momentum, dampening, wd, nesterov, skip, lr_device};
  launch_batches(sgd_multi_k, list, count, h);
  for (int start = 0; start < count; start += kSgdMaxTensors) {
    const int k = std::min(kSgdMaxTensors, count - start);
    Batch<SgdTensor, kSgdMaxTensors> b{};
    bool any = false;
    for (int j = 0; j < k; ++j) {
      b.t[j] = list[start + j];
      any = any || b.t[j].started != nullptr;
    }
    if (!any) continue;
    sgd_mark_started_k<<<dim3(1, (unsigned)k), 1, 0, stream()>>>(b, h);
    TAILOR_CUDA_LAUNCH_CHECK();
  }
}

// ---- Adam / AdamW

struct AdamSlot {  // an AdamTensor with its step count's scalars
  float* w;
  float* m;
  float* v;
  const float* g;
  int64_t n;
  cpu::AdamBias bias;
};

__device__ __forceinline__ void adam_one(const AdamSlot& t, int64_t i, const cpu::AdamHyper& h) {
  float w = t.w[i], g = t.g[i];
  if (h.wd != 0.f) g = __fmaf_rn(w, h.wd, g);
  float m = __fmaf_rn(g, h.one_minus_beta1, __fmul_rn(t.m[i], h.beta1));
  float v = __fmaf_rn(__fmul_rn(h.one_minus_beta2, g), g, __fmul_rn(t.v[i], h.beta2));
  t.m[i] = m;
  t.v[i] = v;
  float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), t.bias.bc2_sqrt), h.eps);
  t.w[i] = __fadd_rn(__fmul_rn(w, h.decay), __fdiv_rn(__fmul_rn(t.bias.neg_step_size, m), denom));
}

__global__ void adam_multi_k(Batch<AdamSlot, kAdamMaxTensors> b, cpu::AdamHyper h) {
  const AdamSlot& t = b.t[blockIdx.y];
  GRID_LOOP(i, t.n) adam_one(t, i, h);
}

void adam_step_multi(const AdamTensor* list, int count, float lr, float beta1, float beta2, float eps, float wd,
                     bool decoupled) {
  std::vector<AdamSlot> slots;
  slots.reserve(count);
  for (int j = 0; j < count; ++j) {
    const AdamTensor& t = list[j];
    slots.push_back({t.w, t.m, t.v, t.g, t.n, cpu::adam_bias(lr, beta1, beta2, t.step)});
  }
  launch_batches(adam_multi_k, slots.data(), count, cpu::adam_hyper(lr, beta1, beta2, eps, wd, decoupled));
}

}  // namespace tailor::cuda
