#include "train/sgd.h"

#include "engine/autograd.h"
#include "engine/cpu/kernels.h"
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
  std::vector<Tensor> keep;
#endif
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    check_same_device("SGD", p, g);
    g = g.contiguous();
    bool first = !bufs_[i].defined();
    if (first && opt_.momentum != 0.f) bufs_[i] = Tensor::empty(p.shape(), DType::F32, p.device());
    float* v = bufs_[i].defined() ? bufs_[i].f32() : nullptr;
    if (p.is_cuda()) {
#ifdef TAILOR_CUDA
      on_gpu.push_back({p.f32(), v, g.f32(), p.numel(), first ? 1 : 0});
      keep.push_back(g);  // a contiguous copy must outlive the launch (its block could become a buffer above)
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

}  // namespace tailor
