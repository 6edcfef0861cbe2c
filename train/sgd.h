// SGD with momentum, dampening, Nesterov and weight decay, with torch.optim.SGD's exact semantics:
//   d = g + wd * w;  v = d on the first step, else v = momentum * v + (1 - dampening) * d
//   step = nesterov ? d + momentum * v : v;   w -= lr * step
// One fused pass per parameter on CPU (engine/cpu/optim.cpp); on CUDA one fused launch updates every
// parameter (engine/cuda/optim.cu). Parameters without a gradient are skipped.
//
// Masked steps (the training loop's guard, train/loop.h): step(skip) takes an i32 [1] flag on the device
// and the kernels leave weights and momentum untouched when it is != 0, so the host never reads whether a
// step was applied. A masked step cannot tell on the host whether a parameter's first step (v = d) really
// happened: a parameter whose buffer it creates keeps a device flag `started` that the kernels read (first
// step = started == 0) and set when they apply the step; resolve_first_steps() at the loop's next read point
// drops the buffers whose first step was skipped, so that a momentum buffer is defined exactly when its
// parameter has taken a step, as without masks (checkpoints save the defined ones).
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
  // skip: undefined (always applied) or an i32 [1] on the parameters' device, != 0 = leave everything as is.
  void step(const Tensor& skip = Tensor());
  // At a read point, after masked steps: all_applied = none of them was skipped (no host read then);
  // otherwise reads the `started` flags once, only when a buffer created since the last call is pending.
  void resolve_first_steps(bool all_applied);
  int64_t buffers_dropped() const { return dropped_; }  // by resolve_first_steps, so far
  int64_t buffers_created() const { return created_; }  // momentum buffers created by step(), so far
  void zero_grad();
  // For parameters on a GPU also the device copy the fused kernel reads (uploaded when it changes: a captured
  // step, train/step_graph.h, sees every new value).
  void set_lr(float lr);
  float lr() const { return opt_.lr; }
  const SgdOptions& options() const { return opt_; }
  // momentum buffers (undefined before a parameter's first step), for checkpoints
  std::vector<Tensor>& momentum_buffers() { return bufs_; }
  const std::vector<Tensor>& params() const { return params_; }

 private:
  std::vector<Tensor> params_;
  std::vector<Tensor> bufs_;
  SgdOptions opt_;
  std::vector<char> pending_;  // the buffer was created by a masked step not yet resolved
  Tensor started_;             // i32 [params] on the device: the pending buffers' first step was applied
  Tensor lr_device_;           // f32 [1] on the parameters' GPU (undefined on the CPU)
  int64_t dropped_ = 0, created_ = 0;
  float lr_device_value_ = 0;
};

// Tensors the optimiser updates at lr = lr_scale * the schedule's lr (PyTorch's param_groups).
struct ParamGroup {
  std::vector<std::pair<std::string, Tensor>> params;  // names key the optimiser state in checkpoints
  float lr_scale = 1.f;
  bool weight_decay = true;  // false: this group takes no weight decay
};

// The groups with `param` moved into a group of its own (its lr_scale kept) that takes no weight decay;
// an error naming `what` when no group holds it.
std::vector<ParamGroup> without_weight_decay(std::vector<ParamGroup> groups, const Tensor& param,
                                             const std::string& what);

// SGD over parameter groups: one SGD per group, all with the same options but the learning rate.
class GroupedSGD {
 public:
  GroupedSGD(const std::vector<ParamGroup>& groups, SgdOptions opt);
  void set_lr(float lr);              // the schedule's lr; group g steps at groups[g].lr_scale * lr
  float lr() const { return lr_; }
  void step(const Tensor& skip = Tensor());  // as SGD::step, every group masked by the same flag
  void resolve_first_steps(bool all_applied);
  int64_t buffers_dropped() const;  // momentum buffers resolve_first_steps dropped so far, all groups
  int64_t buffers_created() const;  // momentum buffers step() created so far, all groups
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
