#include "train/sgd.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/cpu/kernels.h"
#include "train/optimizer.h"
#ifdef TAILOR_CUDA
#include "engine/cuda/kernels.h"
#endif

namespace tailor {

SGD::SGD(std::vector<Tensor> params, SgdOptions opt) : params_(std::move(params)), bufs_(params_.size()), opt_(opt) {
  TAILOR_CHECK(opt.lr >= 0 && opt.momentum >= 0 && opt.weight_decay >= 0, "SGD: lr, momentum and weight_decay must be "
               ">= 0");
  TAILOR_CHECK(!opt.nesterov || (opt.momentum > 0 && opt.dampening == 0),
               "SGD: Nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  NoGradGuard ng;
#ifdef TAILOR_CUDA
  std::vector<cuda::SgdTensor> on_gpu;  // every CUDA parameter in one fused launch
#endif
  std::vector<StepGrad> grads = gradients_to_apply(params_, "SGD");
  for (auto& [i, g] : grads) {
    Tensor& p = params_[i];
    bool first = !bufs_[i].defined();
    if (first && opt_.momentum != 0.f) bufs_[i] = Tensor::empty(p.shape(), DType::F32, p.device());
    float* v = bufs_[i].defined() ? bufs_[i].f32() : nullptr;
    if (p.is_cuda()) {
#ifdef TAILOR_CUDA
      on_gpu.push_back({p.f32(), v, g.f32(), p.numel(), first ? 1 : 0});
#endif
      continue;
    }
    cpu::sgd_step(p.f32(), v, g.f32(), p.numel(), opt_.lr, opt_.momentum, opt_.dampening, opt_.weight_decay,
                  opt_.nesterov, first);
  }
#ifdef TAILOR_CUDA
  if (!on_gpu.empty())
    cuda::sgd_step_multi(on_gpu.data(), (int)on_gpu.size(), opt_.lr, opt_.momentum, opt_.dampening,
                         opt_.weight_decay, opt_.nesterov);
#endif
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
    sgd_.emplace_back(ps, opt);
  }
  set_lr(opt.lr);
}

void GroupedSGD::set_lr(float lr) {
  lr_ = lr;
  for (size_t g = 0; g < sgd_.size(); ++g) sgd_[g].set_lr(lr * groups_[g].lr_scale);
}

void GroupedSGD::step() {
  for (auto& s : sgd_) s.step();
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
