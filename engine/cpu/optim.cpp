// Fused SGD step (PyTorch torch.optim.SGD semantics), one pass over each parameter.
#include "engine/cpu/kernels.h"

namespace tailor::cpu {

void sgd_step(float* w, float* v, const float* g, int64_t n, float lr, float momentum, float dampening, float wd,
              bool nesterov, bool first_step) {
#pragma omp parallel for simd if (n > (1 << 15)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i] + wd * w[i];
    if (momentum != 0.f) {
      float buf = first_step ? d : momentum * v[i] + (1.f - dampening) * d;
      v[i] = buf;
      d = nesterov ? d + momentum * buf : buf;
    }
    w[i] -= lr * d;
  }
}

}  // namespace tailor::cpu
