// Batch norm (channels last) and L2 normalisation. Batch norm takes a float32 or a bfloat16 x (precision bf16,
// docs/precision.md): y, dy and dx have x's type; statistics, running buffers and dgamma, dbeta are float32.
#include <cmath>

#include "engine/ops/common.h"

namespace tailor {

static Tensor batch_norm_impl(const char* op, bool relu, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              Tensor running_mean, Tensor running_var, bool training, float momentum, float eps) {
  const bool bf16 = require_activation(op, x, "x");  // bf16 x: bf16 y, dy, dx; the statistics float32
  TAILOR_CHECK(x.dim() >= 2, op, ": x must have a batch and a channel dim, got ", x.shape());
  int64_t C = x.shape().back(), M = x.numel() / C;
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var})
    TAILOR_CHECK(t->defined() && t->dim() == 1 && t->shape()[0] == C, op, ": parameter shape ",
                 t->defined() ? shape_str(t->shape()) : "undefined", " does not match ", C, " channels of x ",
                 x.shape());
  TAILOR_CHECK(!training || M > 1, op, ": training needs more than one value per channel, got x ", x.shape(),
               x.dim() > 2 ? " (1 image, its feature map here 1x1: a batch of 1 needs larger images, or a batch "
                             "size that leaves no epoch a last batch of 1)"
                           : " (a batch of 1: choose a batch size that leaves no epoch a last batch of 1)");
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var}) {
    check_same_device(op, x, *t);
    require_f32_contig(op, *t, "parameter");
  }
  Device dev = x.device();
  Tensor out = empty_like(x);
  Tensor mean = Tensor::empty({C}, DType::F32, dev), invstd = Tensor::empty({C}, DType::F32, dev);
  if (training) {
    Tensor var_unbiased = Tensor::empty({C}, DType::F32, dev);
    if (bf16)
      TAILOR_KERNEL(x, batch_norm_stats_bf16, mean.f32(), invstd.f32(), var_unbiased.f32(), x.bf16(), M, C, eps);
    else
      TAILOR_KERNEL(x, batch_norm_stats, mean.f32(), invstd.f32(), var_unbiased.f32(), x.f32(), M, C, eps);
    TAILOR_KERNEL(x, bn_update_running, running_mean.f32(), running_var.f32(), mean.f32(), var_unbiased.f32(), C,
                  momentum);
  } else {
    TAILOR_KERNEL(x, bn_eval_stats, mean.f32(), invstd.f32(), running_mean.f32(), running_var.f32(), C, eps);
  }
  if (bf16)
    TAILOR_KERNEL(x, batch_norm_apply_bf16, out.bf16(), x.bf16(), mean.f32(), invstd.f32(), gamma.f32(), beta.f32(),
                  M, C, relu);
  else
    TAILOR_KERNEL(x, batch_norm_apply, out.f32(), x.f32(), mean.f32(), invstd.f32(), gamma.f32(), beta.f32(), M, C,
                  relu);
  if (should_record({&x, &gamma, &beta})) {
    auto n = make_node(op, {x, gamma, beta});
    n->saved = {x.detach(), mean, invstd, gamma.detach()};
    if (relu) n->saved.push_back(out.detach());
    n->fn = [M, C, training, relu, bf16](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      require_activation("batch_norm backward", gc, "the output's gradient");
      TAILOR_CHECK(gc.dtype() == self.saved[0].dtype(), "batch_norm backward: the gradient's type differs from x's");
      Tensor dx = self.needs_grad(0) ? empty_like(gc) : Tensor();
      Tensor dgamma = Tensor::empty({C}, DType::F32, g.device()), dbeta = Tensor::empty({C}, DType::F32, g.device());
      if (bf16)
        TAILOR_KERNEL(g, batch_norm_backward_bf16, dx.defined() ? dx.bf16() : nullptr, dgamma.f32(), dbeta.f32(),
                      gc.bf16(), self.saved[0].bf16(), self.saved[1].f32(), self.saved[2].f32(), self.saved[3].f32(),
                      relu ? self.saved[4].bf16() : nullptr, M, C, training);
      else
        TAILOR_KERNEL(g, batch_norm_backward, dx.defined() ? dx.f32() : nullptr, dgamma.f32(), dbeta.f32(),
                      gc.f32(), self.saved[0].f32(), self.saved[1].f32(), self.saved[2].f32(), self.saved[3].f32(),
                      relu ? self.saved[4].f32() : nullptr, M, C, training);
      return std::vector<Tensor>{dx, self.needs_grad(1) ? dgamma : Tensor(), self.needs_grad(2) ? dbeta : Tensor()};
    };
    record(out, n);
  }
  return out;
}

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean, Tensor running_var,
                  bool training, float momentum, float eps) {
  return batch_norm_impl("batch_norm", false, x, gamma, beta, running_mean, running_var, training, momentum, eps);
}
Tensor batch_norm_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                       Tensor running_var, bool training, float momentum, float eps) {
  return batch_norm_impl("batch_norm_relu", true, x, gamma, beta, running_mean, running_var, training, momentum, eps);
}

// y = x / max(||x||, eps) along dim. Backward (n = max(||x||, eps)):
//   ||x|| > eps: dx = (g - y * <g, y>) / n;   otherwise dx = g / eps
Tensor l2_normalize(const Tensor& x, int64_t dim, float eps) {
  const char* op = "l2_normalize";
  require_f32_contig(op, x, "x");
  int64_t nd = x.dim();
  if (dim < 0) dim += nd;
  TAILOR_CHECK(dim >= 0 && dim < nd, op, ": dim out of range for shape ", x.shape());
  int64_t outer = 1, inner = 1, len = x.shape()[dim];
  for (int64_t i = 0; i < dim; ++i) outer *= x.shape()[i];
  for (int64_t i = dim + 1; i < nd; ++i) inner *= x.shape()[i];
  Tensor out = empty_like(x);
  Tensor norms = Tensor::empty({outer * inner}, DType::F32, x.device());
  TAILOR_KERNEL(x, l2_normalize, out.f32(), norms.f32(), x.f32(), outer, len, inner, eps);
  if (should_record({&x})) {
    auto n = make_node(op, {x});
    n->saved = {out.detach(), norms};
    n->fn = [outer, inner, len, eps](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous(), gi = empty_like(g);
      TAILOR_KERNEL(g, l2_normalize_backward, gi.f32(), gc.f32(), self.saved[0].f32(), self.saved[1].f32(), outer,
                    len, inner, eps);
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

}  // namespace tailor
