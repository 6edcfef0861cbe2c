#include "train/sgd.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/cuda_graph.h"
#include "engine/cpu/kernels.h"
#include "engine/profiler.h"
#include "train/optimizer.h"
#ifdef TAILOR_CUDA
#include "engine/cuda/kernels.h"
#endif

namespace tailor {

SGD::SGD(std::vector<Tensor> params, SgdOptions opt)
    : params_(std::move(params)), bufs_(params_.size()), opt_(opt), pending_(params_.size(), 0) {
  TAILOR_CHECK(opt.lr >= 0 && opt.momentum >= 0 && opt.weight_decay >= 0, "SGD: lr, momentum and weight_decay must be "
               ">= 0");
  TAILOR_CHECK(!opt.nesterov || (opt.momentum > 0 && opt.dampening == 0),
               "SGD: Nesterov momentum requires a momentum and zero dampening");
  set_lr(opt.lr);
}

void SGD::set_lr(float lr) {
  opt_.lr = lr;
  if (params_.empty() || !params_[0].is_cuda() || (lr_device_.defined() && lr_device_value_ == lr)) return;
  if (!lr_device_.defined()) lr_device_ = Tensor::empty({1}, DType::F32, params_[0].device());
  lr_device_.copy_from(Tensor::from_vector({lr}, {1}));  // host -> device: no wait
  lr_device_value_ = lr;
}

void SGD::step(const Tensor& skip) {
  NoGradGuard ng;
  profile::PhaseScope phase("optimizer");
#ifdef TAILOR_CUDA
  std::vector<cuda::SgdTensor> on_gpu;  // every CUDA parameter in one fused launch
#endif
  std::vector<StepGrad> grads = gradients_to_apply(params_, "SGD");
  const int32_t* sk = nullptr;
  if (skip.defined() && !grads.empty()) {
    check_same_device("SGD (skip flag)", params_[grads[0].index], skip);
    TAILOR_CHECK(skip.dtype() == DType::I32 && skip.numel() == 1, "SGD: the skip flag must be one i32, got ",
                 skip.desc());
    sk = skip.i32();
  }
  for (auto& [i, g] : grads) {
    Tensor& p = params_[i];
    bool first = !bufs_[i].defined();
    if (first && opt_.momentum != 0.f) {
      // a CUDA graph would zero it again at every replay (train/step_graph.h takes a step after its creation)
      TAILOR_CHECK(!cuda_capturing(), "SGD: a momentum buffer created inside a captured CUDA graph");
      ++created_;
      if (sk) {  // a masked first step: the device decides whether it happened (started_[i] stays 0 if not)
        if (!started_.defined()) started_ = Tensor::zeros({(int64_t)params_.size()}, DType::I32, p.device());
        bufs_[i] = Tensor::zeros(p.shape(), DType::F32, p.device());
        pending_[i] = 1;
      } else {
        bufs_[i] = Tensor::empty(p.shape(), DType::F32, p.device());
      }
    }
    int32_t* started = pending_[i] ? started_.i32() + i : nullptr;  // pending: the first step is the device's
    float* v = bufs_[i].defined() ? bufs_[i].f32() : nullptr;
    if (p.is_cuda()) {
#ifdef TAILOR_CUDA
      on_gpu.push_back({p.f32(), v, g.f32(), p.numel(), first ? 1 : 0, started});
#endif
      continue;
    }
    profile::KernelRange timed("sgd_step", false);
    cpu::sgd_step(p.f32(), v, g.f32(), p.numel(), opt_.lr, opt_.momentum, opt_.dampening, opt_.weight_decay,
                  opt_.nesterov, first, sk, started);
  }
#ifdef TAILOR_CUDA
  if (!on_gpu.empty()) {
    profile::KernelRange timed("sgd_step_multi", true);
    cuda::sgd_step_multi(on_gpu.data(), (int)on_gpu.size(), opt_.lr, opt_.momentum, opt_.dampening,
                         opt_.weight_decay, opt_.nesterov, sk, lr_device_.defined() ? lr_device_.f32() : nullptr);
  }
#endif
}

void SGD::resolve_first_steps(bool all_applied) {
  if (std::find(pending_.begin(), pending_.end(), 1) == pending_.end()) return;
  std::vector<int32_t> started;
  if (!all_applied) started = started_.to_vector_i32();  // a host read, at a read point, only in this case
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (!pending_[i]) continue;
    if (!all_applied && started[i] == 0) {  // every step since its creation was skipped
      bufs_[i] = Tensor();
      ++dropped_;
    }
    pending_[i] = 0;
  }
}

void SGD::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

GroupedSGD::GroupedSGD(const std::vector<ParamGroup>& groups, SgdOptions opt) : groups_(groups), lr_(opt.lr) {
  std::vector<std::string> seen;
  for (auto& g : groups_) {
    TAILOR_CHECK(g.lr_scale >= 0, "optimiser: a parameter group's lr_scale must be >= 0, got ", g.lr_scale);
    std::vector<Tensor> ps;
    for (auto& [name, p] : g.params) {
      TAILOR_CHECK(std::find(seen.begin(), seen.end(), name) == seen.end(), "optimiser: parameter ", name,
                   " is in two groups");
      seen.push_back(name);
      ps.push_back(p);
    }
    SgdOptions o = opt;
    if (!g.weight_decay) o.weight_decay = 0;
    sgd_.emplace_back(ps, o);
  }
  set_lr(opt.lr);
}

std::vector<ParamGroup> without_weight_decay(std::vector<ParamGroup> groups, const Tensor& param,
                                             const std::string& what) {
  for (auto& g : groups)
    for (size_t i = 0; i < g.params.size(); ++i)
      if (g.params[i].second.impl() == param.impl()) {
        ParamGroup alone{{g.params[i]}, g.lr_scale, false};
        g.params.erase(g.params.begin() + (std::ptrdiff_t)i);
        if (g.params.empty()) g = alone;  // it was alone in its group already
        else groups.push_back(alone);
        return groups;
      }
  fail(what + ": the stage does not train it");
}

void GroupedSGD::set_lr(float lr) {
  lr_ = lr;
  for (size_t g = 0; g < sgd_.size(); ++g) sgd_[g].set_lr(lr * groups_[g].lr_scale);
}

void GroupedSGD::step(const Tensor& skip) {
  for (auto& s : sgd_) s.step(skip);
}

int64_t GroupedSGD::buffers_dropped() const {
  int64_t n = 0;
  for (auto& s : sgd_) n += s.buffers_dropped();
  return n;
}

int64_t GroupedSGD::buffers_created() const {
  int64_t n = 0;
  for (auto& s : sgd_) n += s.buffers_created();
  return n;
}

void GroupedSGD::resolve_first_steps(bool all_applied) {
  for (auto& s : sgd_) s.resolve_first_steps(all_applied);
}

void GroupedSGD::zero_grad() {
  for (auto& s : sgd_) s.zero_grad();
}

std::vector<GroupedSGD::Slot> GroupedSGD::slots() {
  std::vector<Slot> out;
  for (size_t g = 0; g < sgd_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i)
      out.push_back({groups_[g].params[i].first, groups_[g].params[i].second, &sgd_[g].momentum_buffers()[i]});
  return out;
}

size_t GroupedSGD::num_params() const {
  size_t n = 0;
  for (auto& g : groups_) n += g.params.size();
  return n;
}

}  // namespace tailor
