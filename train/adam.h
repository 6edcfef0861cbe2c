// Adam and AdamW with torch.optim.Adam / AdamW's exact semantics (torch 1.13, amsgrad and maximize off):
//   Adam: g = g + wd * w;  AdamW (decoupled): w = w * (1 - lr * wd)
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g  (zeros before the first step)
//   w = w - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// step counts a parameter's own updates: parameters without a gradient are skipped, their state and
// step count untouched. One fused pass per parameter on CPU (engine/cpu/optim.cpp); on CUDA one fused
// launch updates every parameter (engine/cuda/optim.cu). Float32 results match torch's CPU ones bit
// for bit (tests/test_optim.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace tailor {

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  bool decoupled = false;  // AdamW: weight decay applied to the weights, not added to the gradient
};

class Adam {
 public:
  Adam(std::vector<Tensor> params, AdamOptions opt);
  void step();
  void zero_grad();
  void set_lr(float lr);
  float lr() const { return opt_.lr; }
  const AdamOptions& options() const { return opt_; }
  const std::vector<Tensor>& params() const { return params_; }
  // State for checkpoints, per parameter: the moments (undefined before its first step) and step count.
  std::vector<Tensor>& exp_avg() { return m_; }
  std::vector<Tensor>& exp_avg_sq() { return v_; }
  std::vector<int64_t>& steps() { return steps_; }

 private:
  std::vector<Tensor> params_;
  std::vector<Tensor> m_, v_;
  std::vector<int64_t> steps_;
  AdamOptions opt_;
};

}  // namespace tailor
