// Heads of the distillation methods (train/methods/cbd.cpp, train/methods/ssd.cpp):
//
//  * CosineClassifier — Class-Balanced Distillation's CosineLayer (google-research
//    class_balanced_distillation/resnet.py): logits_j = sigma * < x/||x||, w_j/||w_j|| >, weight [in, C]
//    Glorot-uniform U(+-sqrt(6 / (in + C))), sigma a constant (a buffer, not trained; CBD: 20). CBD's
//    teachers and students both classify with it.
//  * ProjectedCosineHead — CBD's student: Dense(in -> proj) + ReLU, L2-normalised: that embedding e is what
//    the distillation compares with the teachers' concatenated features; then CosineClassifier(e). Keras
//    Dense init: Glorot-uniform kernel, zero bias. Names "proj.weight" [proj, in], "proj.bias", "cls.*".
//  * TwoHeads — SSD's stage III (MCG-NJU/SSD-LT builder.py, SDL): two Linear classifiers on the same
//    features, "classifier" (hard: trained on the labels) and "classifier_kd" (soft: trained on the
//    teacher's soft labels); forward() gives the one `eval_soft` picks (SSD tests the soft head).
//  * MlpProjection — MoCo-v2's projection (SSD's q_fc / k_fc): Linear(in, hidden) -> ReLU ->
//    Linear(hidden, out), PyTorch default init, named like nn.Sequential ("0.weight", "2.weight").
#pragma once
#include "layers/basic.h"

namespace tailor {

class CosineClassifier : public Module {
 public:
  CosineClassifier(int64_t in, int64_t classes, double sigma, Rng& rng);
  Tensor forward(const Tensor& x) override;
  double scale() const;
  Tensor weight;  // [in, C]
  Tensor sigma;   // [1] buffer
};

class ProjectedCosineHead : public Module {
 public:
  ProjectedCosineHead(int64_t in, int64_t proj, int64_t classes, double sigma, Rng& rng);
  Tensor embed(const Tensor& features);  // l2_normalize(relu(proj(features)))
  Tensor forward(const Tensor& features) override { return cls->forward(embed(features)); }
  int64_t proj_dim() const { return proj->weight.size(0); }
  std::shared_ptr<Linear> proj;
  std::shared_ptr<CosineClassifier> cls;
};

class TwoHeads : public Module {
 public:
  TwoHeads(int64_t in, int64_t classes, bool eval_soft, Rng& rng);
  Tensor forward(const Tensor& features) override { return (eval_soft ? soft : hard)->forward(features); }
  std::shared_ptr<Linear> hard, soft;
  bool eval_soft;
};

class MlpProjection : public Module {
 public:
  MlpProjection(int64_t in, int64_t hidden, int64_t out, Rng& rng);
  Tensor forward(const Tensor& x) override { return l2->forward(relu(l1->forward(x))); }
  std::shared_ptr<Linear> l1, l2;
};

// Glorot (Xavier) uniform for a [fan_in, fan_out] or [fan_out, fan_in] matrix: U(+-sqrt(6 / (a + b))).
void glorot_uniform(Tensor& w, Rng& rng);

}  // namespace tailor
