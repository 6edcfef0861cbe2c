// SyncBatchNorm (engine/ops.h): batch norm with the statistics of every rank's rows.
//   forward:  M = sum_r M_r;  mean_c = 1/M sum x;  var_c = 1/M sum (x - mean_c)^2  (sums over all ranks)
//             y = (x - mean) * invstd * gamma + beta,  invstd = 1/sqrt(var + eps)
//   backward: sdy_c = sum dy, sdyx_c = sum dy*(x - mean) over all ranks;
//             dx = gamma*invstd * (dy - sdy/M - xhat * sdyx*invstd/M);  dgamma, dbeta: this rank's sums.
// Each rank's loss is the mean over its own rows, so the dy a rank sees is world x the global loss's; the
// gradient average across ranks (train/data_parallel.h) divides by world again. Collectives run in the
// order the layers run, identical on every rank.
#include <cmath>
#include <vector>

#include "engine/comm.h"
#include "engine/ops/common.h"

namespace tailor {

Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                       Tensor running_var, float momentum, float eps, bool relu, Communicator& comm) {
  const char* op = "sync_batch_norm";
  require_f32_contig(op, x, "x");
  TAILOR_CHECK(x.dim() >= 2, op, ": x must have a batch and a channel dim, got ", x.shape());
  TAILOR_CHECK(x.device().is_cpu(), op, ": runs on CPU tensors only (the CUDA path is not written yet); set "
               "dist.sync_bn false to use per-rank batch norm on GPUs");
  const int64_t C = x.shape().back(), M = x.numel() / C, N = x.shape()[0], R = N > 0 ? M / N : 0;
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var}) {
    TAILOR_CHECK(t->defined() && t->dim() == 1 && t->shape()[0] == C, op, ": parameter shape does not match ", C,
                 " channels of x ", x.shape());
    check_same_device(op, x, *t);
    require_f32_contig(op, *t, "parameter");
  }
  // round 1: the sum of x and the row count
  std::vector<double> s1(C + 1), s2(C);
  std::vector<float> zero(C, 0.f);
  cpu::batch_norm_sample_sums(s1.data(), s2.data(), x.f32(), zero.data(), N, R, C);
  s1[C] = (double)M;
  comm.all_reduce_sum(s1.data(), C + 1);
  const int64_t Mt = (int64_t)std::llround(s1[C]);
  TAILOR_CHECK(Mt > 1, op, ": training needs more than one value per channel over all ranks, got ", Mt);
  Tensor mean = Tensor::empty({C}), invstd = Tensor::empty({C}), var_unbiased = Tensor::empty({C});
  float* pm = mean.f32();
  for (int64_t c = 0; c < C; ++c) pm[c] = (float)(s1[c] / (double)Mt);
  // round 2: squared deviations from that mean (and the residual sum, which refines it)
  std::vector<double> d(2 * C);
  cpu::batch_norm_sample_sums(d.data(), d.data() + C, x.f32(), pm, N, R, C);
  comm.all_reduce_sum(d.data(), 2 * C);
  for (int64_t c = 0; c < C; ++c) {
    const double r = d[c] / (double)Mt;
    const double q = std::max(0.0, d[C + c] - d[c] * r);  // sum of squared deviations from the exact mean
    const double var = q / (double)Mt;
    pm[c] = (float)((double)pm[c] + r);
    invstd.f32()[c] = (float)(1.0 / std::sqrt(var + eps));
    var_unbiased.f32()[c] = (float)(q / (double)(Mt - 1));
  }
  cpu::bn_update_running(running_mean.f32(), running_var.f32(), pm, var_unbiased.f32(), C, momentum);
  Tensor out = empty_like(x);
  cpu::batch_norm_apply(out.f32(), x.f32(), pm, invstd.f32(), gamma.f32(), beta.f32(), M, C, relu);
  if (should_record({&x, &gamma, &beta})) {
    auto n = make_node(op, {x, gamma, beta});
    n->saved = {x.detach(), mean, invstd, gamma.detach()};
    if (relu) n->saved.push_back(out.detach());
    Communicator* cm = &comm;
    n->fn = [M, Mt, N, R, C, relu, cm](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      const float *px = self.saved[0].f32(), *pmean = self.saved[1].f32(), *pinv = self.saved[2].f32();
      const float* ry = relu ? self.saved[4].f32() : nullptr;
      std::vector<double> sums(2 * C);
      cpu::batch_norm_grad_sample_sums(sums.data(), sums.data() + C, gc.f32(), px, pmean, ry, N, R, C);
      Tensor dgamma = Tensor::empty({C}), dbeta = Tensor::empty({C});
      for (int64_t c = 0; c < C; ++c) {
        dgamma.f32()[c] = (float)(sums[C + c] * pinv[c]);
        dbeta.f32()[c] = (float)sums[c];
      }
      cm->all_reduce_sum(sums.data(), 2 * C);
      std::vector<float> dg(C), db(C);
      for (int64_t c = 0; c < C; ++c) {
        dg[c] = (float)(sums[C + c] * pinv[c]);
        db[c] = (float)sums[c];
      }
      Tensor dx;
      if (self.needs_grad(0)) {
        dx = empty_like(gc);
        cpu::batch_norm_input_grad(dx.f32(), dg.data(), db.data(), gc.f32(), px, pmean, pinv, self.saved[3].f32(), ry,
                                   M, Mt, C, true);
      }
      return std::vector<Tensor>{dx, self.needs_grad(1) ? dgamma : Tensor(), self.needs_grad(2) ? dbeta : Tensor()};
    };
    record(out, n);
  }
  return out;
}

}  // namespace tailor
