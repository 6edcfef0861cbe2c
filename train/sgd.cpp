#include "train/sgd.h"

#include "engine/autograd.h"
#include "engine/cpu/kernels.h"

namespace tailor {

SGD::SGD(std::vector<Tensor> params, SgdOptions opt) : params_(std::move(params)), bufs_(params_.size()), opt_(opt) {
  TAILOR_CHECK(opt.lr >= 0 && opt.momentum >= 0 && opt.weight_decay >= 0, "SGD: lr, momentum and weight_decay must be "
               ">= 0");
  TAILOR_CHECK(!opt.nesterov || (opt.momentum > 0 && opt.dampening == 0),
               "SGD: Nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    TAILOR_CHECK(p.device().is_cpu(), "SGD: no kernel for device ", p.device().str(), " in this build");
    g = g.contiguous();
    bool first = !bufs_[i].defined();
    if (first && opt_.momentum != 0.f) bufs_[i] = Tensor::empty(p.shape(), DType::F32, p.device());
    cpu::sgd_step(p.f32(), bufs_[i].defined() ? bufs_[i].f32() : nullptr, g.f32(), p.numel(), opt_.lr, opt_.momentum,
                  opt_.dampening, opt_.weight_decay, opt_.nesterov, first);
  }
}

void SGD::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

}  // namespace tailor
