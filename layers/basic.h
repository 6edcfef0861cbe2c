// Basic layers: Conv2d (no bias, NHWC activations, OIHW weights [out, in/groups, k, k]), BatchNorm2d
// (channels last), Linear (PyTorch nn.Linear), NormedLinear (cosine classifier: raw cosines out).
// Every layer with random initial weights takes the Rng it draws from: no layer touches a global stream,
// so building one model (a teacher, a new head) never shifts another's initialisation.
#pragma once
#include "layers/module.h"

namespace tailor {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int kernel, int stride, int pad, Rng& rng, int groups = 1);
  Tensor forward(const Tensor& x) override { return conv2d(x, weight, stride, pad, groups); }
  Tensor weight;
  int stride, pad, groups;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, float momentum = 0.1f, float eps = 1e-5f);
  Tensor forward(const Tensor& x) override { return run(x, false); }
  Tensor forward_relu(const Tensor& x) { return run(x, true); }  // relu(bn(x)), fused
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;  // num_batches_tracked: i32 [1]
  float momentum, eps;
  // Set (a data-parallel run with dist.sync_bn): training statistics over every rank's batch (sync_batch_norm).
  Communicator* sync = nullptr;

 private:
  Tensor run(const Tensor& x, bool relu);
};

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, Rng& rng);
  Tensor forward(const Tensor& x) override { return linear(x, weight, bias); }
  Tensor weight, bias;  // weight [out, in]
};

// LDAM-DRW's NormedLinear: weight [in, out], out = normalize(x, dim 1) @ normalize(w, dim 0).
class NormedLinear : public Module {
 public:
  NormedLinear(int64_t in, int64_t out, Rng& rng);
  Tensor forward(const Tensor& x) override { return matmul(l2_normalize(x, 1), l2_normalize(weight, 0)); }
  Tensor weight;
};

// PyTorch default init of nn.Linear / nn.Conv2d: kaiming_uniform(a=sqrt 5) weights, U(±1/sqrt fan_in) bias.
void kaiming_normal_fan_in(Tensor& w, Rng& rng);   // std = sqrt(2 / fan_in)
void kaiming_normal_fan_out(Tensor& w, Rng& rng);  // std = sqrt(2 / fan_out) (torchvision convs)
void pytorch_default_init(Tensor& w, Tensor* b, Rng& rng);

}  // namespace tailor
