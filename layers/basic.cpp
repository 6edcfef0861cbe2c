#include "layers/basic.h"

#include <cmath>

namespace tailor {

static int64_t fan_in(const Tensor& w) { return w.numel() / w.shape()[0]; }

void kaiming_normal_fan_in(Tensor& w, Rng& rng) { normal_(w, 0.f, std::sqrt(2.f / (float)fan_in(w)), rng); }
void kaiming_normal_fan_out(Tensor& w, Rng& rng) {
  int64_t fan_out = w.shape()[0] * (w.dim() == 4 ? w.shape()[2] * w.shape()[3] : 1);
  normal_(w, 0.f, std::sqrt(2.f / (float)fan_out), rng);
}
void pytorch_default_init(Tensor& w, Tensor* b, Rng& rng) {
  float bound = 1.f / std::sqrt((float)fan_in(w));  // kaiming_uniform(a=sqrt(5)) gives the same bound
  uniform_(w, -bound, bound, rng);
  if (b && b->defined()) uniform_(*b, -bound, bound, rng);
}

Conv2d::Conv2d(int64_t in, int64_t out, int kernel, int stride_, int pad_, Rng& rng, int groups_)
    : stride(stride_), pad(pad_), groups(groups_) {
  TAILOR_CHECK(groups >= 1 && in % groups == 0 && out % groups == 0, "Conv2d: groups ", groups,
               " must divide in ", in, " and out ", out);
  weight = register_parameter("weight", Tensor::empty({out, in / groups, kernel, kernel}));
  pytorch_default_init(weight, nullptr, rng);
}

BatchNorm2d::BatchNorm2d(int64_t c, float momentum_, float eps_) : momentum(momentum_), eps(eps_) {
  weight = register_parameter("weight", Tensor::ones({c}));
  bias = register_parameter("bias", Tensor::zeros({c}));
  running_mean = register_buffer("running_mean", Tensor::zeros({c}));
  running_var = register_buffer("running_var", Tensor::ones({c}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I32));
}

Tensor BatchNorm2d::run(const Tensor& x, bool relu) {
  auto bn = relu ? batch_norm_relu : batch_norm;
  if (is_training()) increment_(num_batches_tracked);
  if (sync && is_training()) {  // in float32: a bf16 activation (precision bf16) is widened, the result rounded back
    Tensor y = sync_batch_norm(to_dtype(x, DType::F32), weight, bias, running_mean, running_var, momentum, eps, relu,
                               *sync);
    return to_dtype(y, x.dtype());
  }
  return bn(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

Linear::Linear(int64_t in, int64_t out, bool has_bias, Rng& rng) {
  weight = register_parameter("weight", Tensor::empty({out, in}));
  if (has_bias) bias = register_parameter("bias", Tensor::empty({out}));
  pytorch_default_init(weight, has_bias ? &bias : nullptr, rng);
}

NormedLinear::NormedLinear(int64_t in, int64_t out, Rng& rng) {
  // LDAM-DRW: uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5): every column (class) gets unit norm
  weight = register_parameter("weight", Tensor::empty({in, out}));
  uniform_(weight, -1.f, 1.f, rng);
  float* w = weight.f32();
  for (int64_t j = 0; j < out; ++j) {
    double s = 0;
    for (int64_t i = 0; i < in; ++i) s += (double)w[i * out + j] * w[i * out + j];
    float k = s > 0 ? (float)(1.0 / std::sqrt(s)) : 0.f;
    for (int64_t i = 0; i < in; ++i) w[i * out + j] *= k;
  }
}

}  // namespace tailor
