// SyncBatchNorm (engine/ops.h): batch norm with the statistics of every rank's rows.
//   forward:  M = sum_r M_r;  mean_c = 1/M sum x;  var_c = 1/M sum (x - mean_c)^2  (sums over all ranks)
//             y = (x - mean) * invstd * gamma + beta,  invstd = 1/sqrt(var + eps)
//   backward: sdy_c = sum dy, sdyx_c = sum dy*(x - mean) over all ranks;
//             dx = gamma*invstd * (dy - sdy/M - xhat * sdyx*invstd/M);  dgamma, dbeta: this rank's sums.
// Each rank's loss is the mean over its own rows, so the dy a rank sees is world x the global loss's; the
// gradient average across ranks (train/data_parallel.h) divides by world again. Collectives run in the
// order the layers run, identical on every rank. On a GPU the per-channel sums are taken by kernels and
// copied to the host for the all-reduce (two host reads forward, one backward, per layer).
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/allocator.h"
#include "engine/comm.h"
#include "engine/ops/common.h"

namespace tailor {

namespace {

// A sums kernel's two double [C] results on the host: run on the tensors' device, then copied back (on a GPU
// a host read per layer and direction: SyncBatchNorm on GPUs is not sync-free).
template <class K>
void sums_on_host(const Device& d, int64_t C, double* h1, double* h2, K kernel) {
  if (d.is_cpu()) return kernel(h1, h2);
  const size_t half = (size_t)C * sizeof(double);
  double* p = (double*)device_alloc(d, 2 * half);
  kernel(p, p + C);
  device_copy(Device::cpu(), h1, d, p, half);
  device_copy(Device::cpu(), h2, d, p + C, half);
  device_free(d, p, 2 * half);
}

Tensor host_vector(const std::vector<float>& v, const Device& d) {
  Tensor t = Tensor::from_vector(v, {(int64_t)v.size()});
  return d.is_cpu() ? t : t.to(d);
}

}  // namespace

Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                       Tensor running_var, float momentum, float eps, bool relu, Communicator& comm) {
  const char* op = "sync_batch_norm";
  require_f32_contig(op, x, "x");
  TAILOR_CHECK(x.dim() >= 2, op, ": x must have a batch and a channel dim, got ", x.shape());
  const int64_t C = x.shape().back(), M = x.numel() / C, N = x.shape()[0], R = N > 0 ? M / N : 0;
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var}) {
    TAILOR_CHECK(t->defined() && t->dim() == 1 && t->shape()[0] == C, op, ": parameter shape does not match ", C,
                 " channels of x ", x.shape());
    check_same_device(op, x, *t);
    require_f32_contig(op, *t, "parameter");
  }
  const Device dev = x.device();
  // round 1: the sum of x and the row count
  std::vector<double> s1(C + 1), s2(C);
  const Tensor no_shift = Tensor::zeros({C}, DType::F32, dev);
  sums_on_host(dev, C, s1.data(), s2.data(), [&](double* a, double* b) {
    TAILOR_KERNEL(x, batch_norm_sample_sums, a, b, x.f32(), no_shift.f32(), N, R, C);
  });
  s1[C] = (double)M;
  comm.all_reduce_sum(s1.data(), C + 1);
  const int64_t Mt = (int64_t)std::llround(s1[C]);
  TAILOR_CHECK(Mt > 1, op, ": training needs more than one value per channel over all ranks, got ", Mt);
  std::vector<float> pm(C), inv(C), var_unbiased(C);
  for (int64_t c = 0; c < C; ++c) pm[c] = (float)(s1[c] / (double)Mt);
  // round 2: squared deviations from that mean (and the residual sum, which refines it)
  std::vector<double> d(2 * C);
  const Tensor shift = host_vector(pm, dev);
  sums_on_host(dev, C, d.data(), d.data() + C, [&](double* a, double* b) {
    TAILOR_KERNEL(x, batch_norm_sample_sums, a, b, x.f32(), shift.f32(), N, R, C);
  });
  comm.all_reduce_sum(d.data(), 2 * C);
  for (int64_t c = 0; c < C; ++c) {
    const double r = d[c] / (double)Mt;
    const double q = std::max(0.0, d[C + c] - d[c] * r);  // sum of squared deviations from the exact mean
    const double var = q / (double)Mt;
    pm[c] = (float)((double)pm[c] + r);
    inv[c] = (float)(1.0 / std::sqrt(var + eps));
    var_unbiased[c] = (float)(q / (double)(Mt - 1));
  }
  const Tensor mean = host_vector(pm, dev), invstd = host_vector(inv, dev), vu = host_vector(var_unbiased, dev);
  TAILOR_KERNEL(x, bn_update_running, running_mean.f32(), running_var.f32(), mean.f32(), vu.f32(), C, momentum);
  Tensor out = empty_like(x);
  TAILOR_KERNEL(x, batch_norm_apply, out.f32(), x.f32(), mean.f32(), invstd.f32(), gamma.f32(), beta.f32(), M, C,
                relu);
  if (should_record({&x, &gamma, &beta})) {
    auto n = make_node(op, {x, gamma, beta});
    n->saved = {x.detach(), mean, invstd, gamma.detach()};
    if (relu) n->saved.push_back(out.detach());
    Communicator* cm = &comm;
    n->fn = [M, Mt, N, R, C, relu, cm, inv](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      const Device dev = gc.device();
      const float *px = self.saved[0].f32(), *pmean = self.saved[1].f32(), *pinv = self.saved[2].f32();
      const float* ry = relu ? self.saved[4].f32() : nullptr;
      std::vector<double> sums(2 * C);
      sums_on_host(dev, C, sums.data(), sums.data() + C, [&](double* a, double* b) {
        TAILOR_KERNEL(gc, batch_norm_grad_sample_sums, a, b, gc.f32(), px, pmean, ry, N, R, C);
      });
      std::vector<float> dgamma(C), dbeta(C);  // this rank's
      for (int64_t c = 0; c < C; ++c) {
        dgamma[c] = (float)(sums[C + c] * inv[c]);
        dbeta[c] = (float)sums[c];
      }
      cm->all_reduce_sum(sums.data(), 2 * C);
      std::vector<float> dg(C), db(C);  // every rank's
      for (int64_t c = 0; c < C; ++c) {
        dg[c] = (float)(sums[C + c] * inv[c]);
        db[c] = (float)sums[c];
      }
      Tensor dx;
      if (self.needs_grad(0)) {
        dx = empty_like(gc);
        const Tensor dg_t = host_vector(dg, dev), db_t = host_vector(db, dev);
        TAILOR_KERNEL(gc, batch_norm_input_grad, dx.f32(), dg_t.f32(), db_t.f32(), gc.f32(), px, pmean, pinv,
                      self.saved[3].f32(), ry, M, Mt, C, true);
      }
      return std::vector<Tensor>{dx, self.needs_grad(1) ? host_vector(dgamma, dev) : Tensor(),
                                 self.needs_grad(2) ? host_vector(dbeta, dev) : Tensor()};
    };
    record(out, n);
  }
  return out;
}

}  // namespace tailor
