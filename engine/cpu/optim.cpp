// Fused optimiser steps, one pass over each parameter, with torch.optim's semantics: SGD, Adam / AdamW.
#include <cmath>

#include "engine/cpu/kernels.h"

namespace tailor::cpu {

// d = g + wd*w;  v = d on the first step, else v = momentum*v + (1-dampening)*d;  w -= lr * (nesterov ?
// d + momentum*v : v); nothing when skip[0] != 0; the first step is started[0] == 0 when started is given.
void sgd_step(float* w, float* v, const float* g, int64_t n, float lr, float momentum, float dampening, float wd,
              bool nesterov, bool first_step, const int32_t* skip, int32_t* started) {
  if (skip && skip[0] != 0) return;
  if (started) first_step = started[0] == 0;
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
  if (started) started[0] = 1;
}

// As torch: Python floats (double) rounded to float where a kernel takes them as a scalar argument.
AdamHyper adam_hyper(float lr, float beta1, float beta2, float eps, float wd, bool decoupled) {
  return {beta1,
          (float)(1.0 - beta1),
          beta2,
          (float)(1.0 - beta2),
          eps,
          decoupled ? 0.f : wd,
          decoupled ? (float)(1.0 - (double)lr * wd) : 1.f};
}

AdamBias adam_bias(float lr, float beta1, float beta2, int64_t step) {
  double bc1 = 1.0 - std::pow((double)beta1, (double)step), bc2 = 1.0 - std::pow((double)beta2, (double)step);
  return {(float)-(lr / bc1), (float)std::sqrt(bc2)};
}

// Adam / AdamW (torch 1.13 single-tensor path); step counts this update, m and v start at zeros:
//   Adam: g = g + wd*w;  AdamW: w = w * (1 - lr*wd)
//   m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g
//   w = w - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// Roundings as torch's float32 CPU kernels (1.13, AVX2: their compiler contracts `a + alpha*b` in add and
// `a + value*b*c` in addcmul to fused multiply-adds), everything else rounded per op; contraction is off
// here and the fused multiply-adds are explicit, so that w*decay + update stays two roundings.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off", "no-math-errno")
void adam_step(float* w, float* m, float* v, const float* g, int64_t n, float lr, float beta1, float beta2, float eps,
               float wd, bool decoupled, int64_t step) {
  const AdamHyper h = adam_hyper(lr, beta1, beta2, eps, wd, decoupled);
  const AdamBias b = adam_bias(lr, beta1, beta2, step);
#pragma omp parallel for simd if (n > (1 << 15)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float gi = h.wd != 0.f ? std::fma(w[i], h.wd, g[i]) : g[i];
    float mi = std::fma(gi, h.one_minus_beta1, m[i] * h.beta1);
    float vi = std::fma(h.one_minus_beta2 * gi, gi, v[i] * h.beta2);
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * h.decay + b.neg_step_size * mi / (std::sqrt(vi) / b.bc2_sqrt + h.eps);
  }
}
#pragma GCC pop_options

}  // namespace tailor::cpu
