// Batch norm (channels last) and L2 normalisation.
#include <cmath>

#include "engine/ops/common.h"

namespace tailor {

static Tensor batch_norm_impl(const char* op, bool relu, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              Tensor running_mean, Tensor running_var, bool training, float momentum, float eps) {
  require_f32_contig(op, x, "x");
  require_cpu(op, x);
  TAILOR_CHECK(x.dim() >= 2, op, ": x must have a batch and a channel dim, got ", x.shape());
  int64_t C = x.shape().back(), M = x.numel() / C;
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var})
    TAILOR_CHECK(t->defined() && t->dim() == 1 && t->shape()[0] == C, op, ": parameter shape ",
                 t->defined() ? shape_str(t->shape()) : "undefined", " does not match ", C, " channels of x ",
                 x.shape());
  TAILOR_CHECK(!training || M > 1, op, ": training needs more than one value per channel, got x ", x.shape());
  Tensor out = empty_like(x);
  Tensor mean = Tensor::empty({C}), invstd = Tensor::empty({C});
  if (training) {
    Tensor var_unbiased = Tensor::empty({C});
    cpu::batch_norm_stats(mean.f32(), invstd.f32(), var_unbiased.f32(), x.f32(), M, C, eps);
    // running = (1 - momentum) * running + momentum * batch (unbiased variance), PyTorch semantics
    float* rm = running_mean.f32();
    float* rv = running_var.f32();
    for (int64_t c = 0; c < C; ++c) {
      rm[c] = (1.f - momentum) * rm[c] + momentum * mean.f32()[c];
      rv[c] = (1.f - momentum) * rv[c] + momentum * var_unbiased.f32()[c];
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean.f32()[c] = running_mean.f32()[c];
      invstd.f32()[c] = 1.f / std::sqrt(running_var.f32()[c] + eps);
    }
  }
  cpu::batch_norm_apply(out.f32(), x.f32(), mean.f32(), invstd.f32(), gamma.f32(), beta.f32(), M, C, relu);
  if (should_record({&x, &gamma, &beta})) {
    auto n = make_node(op, {x, gamma, beta});
    n->saved = {x.detach(), mean, invstd, gamma.detach()};
    if (relu) n->saved.push_back(out.detach());
    n->fn = [M, C, training, relu](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      Tensor dx = self.needs_grad(0) ? empty_like(g) : Tensor();
      Tensor dgamma = Tensor::empty({C}), dbeta = Tensor::empty({C});
      cpu::batch_norm_backward(dx.defined() ? dx.f32() : nullptr, dgamma.f32(), dbeta.f32(), gc.f32(),
                               self.saved[0].f32(), self.saved[1].f32(), self.saved[2].f32(), self.saved[3].f32(),
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
  require_cpu(op, x);
  int64_t nd = x.dim();
  if (dim < 0) dim += nd;
  TAILOR_CHECK(dim >= 0 && dim < nd, op, ": dim out of range for shape ", x.shape());
  int64_t outer = 1, inner = 1, len = x.shape()[dim];
  for (int64_t i = 0; i < dim; ++i) outer *= x.shape()[i];
  for (int64_t i = dim + 1; i < nd; ++i) inner *= x.shape()[i];
  Tensor out = empty_like(x);
  Tensor norms = Tensor::empty({outer * inner});
  const float* xv = x.f32();
  float* yv = out.f32();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (int64_t l = 0; l < len; ++l) {
        float v = xv[(o * len + l) * inner + i];
        s += (double)v * v;
      }
      float nrm = std::max((float)std::sqrt(s), eps);
      norms.f32()[o * inner + i] = nrm;
      for (int64_t l = 0; l < len; ++l) yv[(o * len + l) * inner + i] = xv[(o * len + l) * inner + i] / nrm;
    }
  if (should_record({&x})) {
    auto n = make_node(op, {x});
    n->saved = {out.detach(), norms};
    n->fn = [outer, inner, len, eps](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous(), gi = empty_like(g);
      const float* y = self.saved[0].f32();
      const float* nr = self.saved[1].f32();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          float nrm = nr[o * inner + i];
          double dot = 0;
          for (int64_t l = 0; l < len; ++l) {
            int64_t k = (o * len + l) * inner + i;
            dot += (double)gc.f32()[k] * y[k];
          }
          bool clamped = nrm <= eps;
          for (int64_t l = 0; l < len; ++l) {
            int64_t k = (o * len + l) * inner + i;
            gi.f32()[k] = clamped ? gc.f32()[k] / eps : (gc.f32()[k] - y[k] * (float)dot) / nrm;
          }
        }
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

}  // namespace tailor
