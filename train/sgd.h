// SGD with momentum, dampening, Nesterov and weight decay, with torch.optim.SGD's exact semantics:
//   d = g + wd * w;  v = d on the first step, else v = momentum * v + (1 - dampening) * d
//   step = nesterov ? d + momentum * v : v;   w -= lr * step
// One fused pass per parameter on CPU (engine/cpu/optim.cpp); on CUDA one fused launch updates every
// parameter (engine/cuda/optim.cu). Parameters without a gradient are skipped.
#pragma once
#include <string>
#include <utility>
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

// Tensors the optimiser updates at lr = lr_scale * the schedule's lr (PyTorch's param_groups).
struct ParamGroup {
  std::vector<std::pair<std::string, Tensor>> params;  // names key the optimiser state in checkpoints
  float lr_scale = 1.f;
};

// SGD over parameter groups: one SGD per group, all with the same options but the learning rate.
class GroupedSGD {
 public:
  GroupedSGD(const std::vector<ParamGroup>& groups, SgdOptions opt);
  void set_lr(float lr);              // the schedule's lr; group g steps at groups[g].lr_scale * lr
  float lr() const { return lr_; }
  void step();
  void zero_grad();
  // Every parameter with its momentum buffer (undefined before its first step), in group order.
  struct Slot {
    std::string name;
    Tensor param;
    Tensor* momentum;
  };
  std::vector<Slot> slots();
  size_t num_params() const;

 private:
  std::vector<ParamGroup> groups_;
  std::vector<SGD> sgd_;
  float lr_ = 0;
};

}  // namespace tailor
