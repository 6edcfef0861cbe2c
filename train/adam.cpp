#include "train/adam.h"

#include <utility>

#include "engine/autograd.h"
#include "engine/cpu/kernels.h"
#include "engine/profiler.h"
#include "train/optimizer.h"
#ifdef TAILOR_CUDA
#include "engine/cuda/kernels.h"
#endif

namespace tailor {

static void check_lr(float lr) { TAILOR_CHECK(lr >= 0, "Adam: lr must be >= 0, got ", lr); }

Adam::Adam(std::vector<Tensor> params, AdamOptions opt)
    : params_(std::move(params)), m_(params_.size()), v_(params_.size()), steps_(params_.size(), 0), opt_(opt) {
  check_lr(opt.lr);
  TAILOR_CHECK(opt.beta1 >= 0 && opt.beta1 < 1, "Adam: beta1 must be in [0, 1), got ", opt.beta1);
  TAILOR_CHECK(opt.beta2 >= 0 && opt.beta2 < 1, "Adam: beta2 must be in [0, 1), got ", opt.beta2);
  TAILOR_CHECK(opt.eps > 0, "Adam: eps must be > 0, got ", opt.eps);
  TAILOR_CHECK(opt.weight_decay >= 0, "Adam: weight_decay must be >= 0, got ", opt.weight_decay);
}

void Adam::set_lr(float lr) {
  check_lr(lr);
  opt_.lr = lr;
}

// The state of parameter i, zeros before its first step; state restored from a checkpoint must fit.
static void ensure_state(const Tensor& p, Tensor& m, Tensor& v, int64_t steps, size_t i) {
  if (steps == 0 && !m.defined() && !v.defined()) {
    m = Tensor::zeros(p.shape(), DType::F32, p.device());
    v = Tensor::zeros(p.shape(), DType::F32, p.device());
    return;
  }
  TAILOR_CHECK(steps > 0 && m.defined() && v.defined(), "Adam: parameter ", i, " has step count ", steps,
               " but exp_avg ", m.defined() ? "set" : "undefined", " and exp_avg_sq ",
               v.defined() ? "set" : "undefined", " (all three come from one checkpoint)");
  for (const Tensor* s : {&m, &v})
    TAILOR_CHECK(s->shape() == p.shape() && s->device() == p.device() && s->dtype() == DType::F32 &&
                     s->is_contiguous(),
                 "Adam: the state of parameter ", i, " is ", s->desc(), ", expected contiguous ", p.desc());
}

void Adam::step() {
  NoGradGuard ng;
  profile::PhaseScope phase("optimizer");
  TAILOR_CHECK(m_.size() == params_.size() && v_.size() == params_.size() && steps_.size() == params_.size(),
               "Adam: state for ", m_.size(), " / ", v_.size(), " / ", steps_.size(),
               " parameters (exp_avg / exp_avg_sq / steps), expected ", params_.size());
#ifdef TAILOR_CUDA
  std::vector<cuda::AdamTensor> on_gpu;  // every CUDA parameter in one fused launch
#endif
  std::vector<StepGrad> grads = gradients_to_apply(params_, "Adam");
  for (auto& [i, g] : grads) {
    Tensor& p = params_[i];
    ensure_state(p, m_[i], v_[i], steps_[i], i);
    int64_t step = ++steps_[i];
    if (p.is_cuda()) {
#ifdef TAILOR_CUDA
      on_gpu.push_back({p.f32(), m_[i].f32(), v_[i].f32(), g.f32(), p.numel(), step});
#endif
      continue;
    }
    profile::KernelRange timed("adam_step", false);
    cpu::adam_step(p.f32(), m_[i].f32(), v_[i].f32(), g.f32(), p.numel(), opt_.lr, opt_.beta1, opt_.beta2, opt_.eps,
                   opt_.weight_decay, opt_.decoupled, step);
  }
#ifdef TAILOR_CUDA
  if (!on_gpu.empty()) {
    profile::KernelRange timed("adam_step_multi", true);
    cuda::adam_step_multi(on_gpu.data(), (int)on_gpu.size(), opt_.lr, opt_.beta1, opt_.beta2, opt_.eps,
                          opt_.weight_decay, opt_.decoupled);
  }
#endif
}

void Adam::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

}  // namespace tailor
