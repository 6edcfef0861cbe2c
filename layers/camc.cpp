#include "layers/camc.h"

#include <cmath>

#include "engine/autograd.h"

namespace tailor {

namespace {

// phi [N, h, w, d] -> [N, hw, d] (a view of the same NHWC memory)
Tensor locations(const Tensor& phi) {
  TAILOR_CHECK(phi.dim() == 4, "camc: the feature map must be [N, h, w, d], got ", phi.shape());
  return phi.contiguous().reshape({phi.size(0), phi.size(1) * phi.size(2), phi.size(3)});
}

// f = GAP(phi) + lambda * sum_u softmax_u(CAM_cls(u) / T) phi(u); temperature and lambda are [1] tensors
Tensor calibrated_pool(const Tensor& phi, const Tensor& class_weights, const Tensor& cls, const Tensor& temperature,
                       const Tensor& lambda) {
  TAILOR_CHECK(phi.dim() == 4, "camc: the feature map must be [N, h, w, d], got ", phi.shape());
  TAILOR_CHECK(class_weights.dim() == 2 && class_weights.size(0) == phi.size(3),
               "camc: class weights must be [d, C] with d = ", phi.size(3), ", got ", class_weights.shape());
  TAILOR_CHECK(cls.dtype() == DType::I32 && cls.dim() == 1 && cls.size(0) == phi.size(0),
               "camc: one class per sample (i32 [", phi.size(0), "]), got ", cls.shape());
  const int64_t N = phi.size(0), d = phi.size(3);
  Tensor x = locations(phi);                                                      // [N, hw, d]
  Tensor w_c = matmul(one_hot(cls, class_weights.size(1)), transpose2d(l2_normalize(class_weights, 0)));  // [N, d]
  Tensor cam = sum(mul(l2_normalize(x, 2), w_c.reshape({N, 1, d})), 2);           // [N, hw] cosines
  Tensor a = softmax(div(cam, temperature));                                       // over the locations
  Tensor attended = sum(mul(x, a.reshape({N, a.size(1), 1})), 1);                 // [N, d]
  return add(global_avg_pool(phi), mul(attended, lambda));
}

}  // namespace

Tensor camc_pool(const Tensor& phi, const Tensor& class_weights, const Tensor& cls, double temperature, double lambda) {
  TAILOR_CHECK(temperature > 0, "camc: the temperature must be > 0, got ", temperature);
  return calibrated_pool(phi, class_weights, cls, Tensor::full({1}, (float)temperature, phi.device()),
                         Tensor::full({1}, (float)lambda, phi.device()));
}

Tensor class_activation_maps(const Tensor& phi, const Tensor& class_weights) {
  NoGradGuard ng;
  Tensor x = locations(phi);
  const int64_t N = x.size(0), hw = x.size(1), d = x.size(2);
  Tensor cam = matmul(l2_normalize(x.reshape({N * hw, d}), 1), l2_normalize(class_weights, 0));  // [N hw, C]
  return cam.reshape({N, phi.size(1), phi.size(2), class_weights.size(1)});
}

CamcHead::CamcHead(int64_t in, int64_t classes, double s, double temperature, double lambda, Rng& rng) {
  TAILOR_CHECK(s > 0 && temperature > 0, "CamcHead: s and the temperature must be > 0, got ", s, ", ", temperature);
  // NormedLinear's initialisation (LDAM-DRW): uniform(-1, 1), every class column renormalised
  weight = register_parameter("weight", Tensor::empty({in, classes}));
  uniform_(weight, -1.f, 1.f, rng);
  float* w = weight.f32();
  for (int64_t j = 0; j < classes; ++j) {
    double n = 0;
    for (int64_t i = 0; i < in; ++i) n += (double)w[i * classes + j] * w[i * classes + j];
    const float k = n > 0 ? (float)(1.0 / std::sqrt(n)) : 0.f;
    for (int64_t i = 0; i < in; ++i) w[i * classes + j] *= k;
  }
  scale_ = register_buffer("scale", Tensor::full({1}, (float)s));
  temperature_ = register_buffer("temperature", Tensor::full({1}, (float)temperature));
  lambda_ = register_buffer("lambda", Tensor::full({1}, (float)lambda));
}

Tensor CamcHead::forward(const Tensor& features) {
  return mul(matmul(l2_normalize(features, 1), l2_normalize(weight, 0)), scale_);
}

Tensor CamcHead::forward_map(const Tensor& phi, const Tensor& targets) {
  Tensor cls = targets;
  if (!cls.defined()) {
    NoGradGuard ng;
    cls = argmax(forward(global_avg_pool(phi)));  // the predicted class's map
  }
  return forward(calibrated_pool(phi, weight, cls, temperature_, lambda_));
}

double CamcHead::s() const { return scale_.cpu().item(); }
double CamcHead::temperature() const { return temperature_.cpu().item(); }
double CamcHead::lambda() const { return lambda_.cpu().item(); }

}  // namespace tailor
