// SGD with momentum, dampening, Nesterov and weight decay, with torch.optim.SGD's exact semantics:
//   d = g + wd * w;  v = d on the first step, else v = momentum * v + (1 - dampening) * d
//   step = nesterov ? d + momentum * v : v;   w -= lr * step
// One fused pass per parameter on CPU (engine/cpu/optim.cpp); on CUDA one fused launch updates every
// parameter (engine/cuda/optim.cu). Parameters without a gradient are skipped.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace tailor {

struct SgdOptions {
  float lr = 0.1f;
  float momentum = 0.9f;
  float dampening = 0.f;
  float weight_decay = 5e-4f;
  bool nesterov = false;
};

class SGD {
 public:
  SGD(std::vector<Tensor> params, SgdOptions opt);
  void step();
  void zero_grad();
  void set_lr(float lr) { opt_.lr = lr; }
  float lr() const { return opt_.lr; }
  const SgdOptions& options() const { return opt_; }
  // momentum buffers (undefined before a parameter's first step), for checkpoints
  std::vector<Tensor>& momentum_buffers() { return bufs_; }
  const std::vector<Tensor>& params() const { return params_; }

 private:
  std::vector<Tensor> params_;
  std::vector<Tensor> bufs_;
  SgdOptions opt_;
};

}  // namespace tailor
