#include "layers/distill_heads.h"

#include <cmath>

namespace tailor {

void glorot_uniform(Tensor& w, Rng& rng) {
  TAILOR_CHECK(w.dim() == 2, "glorot_uniform: a matrix, got ", w.shape());
  const float limit = (float)std::sqrt(6.0 / (double)(w.size(0) + w.size(1)));
  uniform_(w, -limit, limit, rng);
}

CosineClassifier::CosineClassifier(int64_t in, int64_t classes, double s, Rng& rng) {
  TAILOR_CHECK(s > 0, "CosineClassifier: sigma must be > 0, got ", s);
  weight = register_parameter("weight", Tensor::empty({in, classes}));
  glorot_uniform(weight, rng);
  sigma = register_buffer("sigma", Tensor::full({1}, (float)s));
}

double CosineClassifier::scale() const { return sigma.cpu().item(); }

Tensor CosineClassifier::forward(const Tensor& x) {
  // sigma * normalize(x, dim 1) @ normalize(w, dim 0)
  return mul(matmul(l2_normalize(x, 1), l2_normalize(weight, 0)), sigma);
}

ProjectedCosineHead::ProjectedCosineHead(int64_t in, int64_t p, int64_t classes, double sigma, Rng& rng) {
  proj = register_module("proj", std::make_shared<Linear>(in, p, true, rng));
  glorot_uniform(proj->weight, rng);  // Keras Dense: Glorot-uniform kernel, zero bias
  proj->bias.zero_();
  cls = register_module("cls", std::make_shared<CosineClassifier>(p, classes, sigma, rng));
}

Tensor ProjectedCosineHead::embed(const Tensor& f) { return l2_normalize(relu(proj->forward(f)), 1); }

TwoHeads::TwoHeads(int64_t in, int64_t classes, bool es, Rng& rng) : eval_soft(es) {
  hard = register_module("classifier", std::make_shared<Linear>(in, classes, true, rng));
  soft = register_module("classifier_kd", std::make_shared<Linear>(in, classes, true, rng));
}

MlpProjection::MlpProjection(int64_t in, int64_t hidden, int64_t out, Rng& rng) {
  l1 = register_module("0", std::make_shared<Linear>(in, hidden, true, rng));
  l2 = register_module("2", std::make_shared<Linear>(hidden, out, true, rng));
}

}  // namespace tailor
