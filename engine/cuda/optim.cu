// Fused SGD step (twin of engine/cpu/optim.cpp), PyTorch torch.optim.SGD semantics:
//   d = g + wd*w;  v = d on the first step, else v = mom*v + (1-dampening)*d
//   step = nesterov ? d + mom*v : v;   w -= lr * step
// sgd_step_multi passes up to kSgdMaxTensors parameter descriptors by value in the kernel's
// arguments: blockIdx.y picks the tensor, a grid-stride loop over blockIdx.x covers its elements.
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

struct SgdBatch {
  SgdTensor t[kSgdMaxTensors];
};
struct SgdHyper {
  float lr, momentum, dampening, wd;
  bool nesterov;
};

__device__ __forceinline__ void sgd_one(float* w, float* v, const float* g, int64_t i, const SgdHyper& h, bool first) {
  float d = g[i] + h.wd * w[i];
  if (h.momentum != 0.f) {
    float buf = first ? d : h.momentum * v[i] + (1.f - h.dampening) * d;
    v[i] = buf;
    d = h.nesterov ? d + h.momentum * buf : buf;
  }
  w[i] -= h.lr * d;
}

__global__ void sgd_multi_k(SgdBatch b, SgdHyper h) {
  const SgdTensor& t = b.t[blockIdx.y];
  GRID_LOOP(i, t.n) sgd_one(t.w, t.v, t.g, i, h, t.first_step != 0);
}

void sgd_step_multi(const SgdTensor* list, int count, float lr, float momentum, float dampening, float wd,
                    bool nesterov) {
  SgdHyper h{lr, momentum, dampening, wd, nesterov};
  for (int start = 0; start < count; start += kSgdMaxTensors) {
    int k = std::min(kSgdMaxTensors, count - start);
    SgdBatch b{};
    int64_t most = 1;
    for (int j = 0; j < k; ++j) {
      b.t[j] = list[start + j];
      most = std::max(most, list[start + j].n);
    }
    dim3 grid(std::min<unsigned>(grid_for(most), 1024), (unsigned)k);
    sgd_multi_k<<<grid, 256, 0, stream()>>>(b, h);
    TAILOR_CUDA_LAUNCH_CHECK();
  }
}

void sgd_step(float* w, float* v, const float* g, int64_t n, float lr, float momentum, float dampening, float wd,
              bool nesterov, bool first_step) {
  SgdTensor t{w, v, g, n, first_step ? 1 : 0};
  sgd_step_multi(&t, 1, lr, momentum, dampening, wd, nesterov);
}

}  // namespace tailor::cuda
