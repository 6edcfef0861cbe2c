// MiSLAS stage 2 (Zhong, Cui, Liu, Jia, "Improving Calibration for Long-Tailed Recognition", CVPR 2021;
// dvlab-research/MiSLAS train_stage2.py, methods.py).
//
//   logits = (W f(x) + b) * s          f(x): the frozen backbone (BatchNorm shifted: bn_mode train, the
//                                      reference's shift_bn, re-estimates its statistics on balanced batches)
//   W, b: loaded from stage 1 and trained at lr_factor x lr;   s in R^{1 x C}: init 1, trained at lr
//   loss: label-aware smoothing (losses/label_aware_smoothing.h), class-aware sampler (4 per class),
//   10 epochs, lr(e) = lr_max (1 + cos(pi e / E)) / 2, no mixup.
//
// Per-dataset settings of the reference (smooth_head / smooth_tail / shift_bn / lr_factor): CIFAR-10 rho 100
// 0.3 / 0 / no / 0.5, rho 50 0.2 / 0 / no / 0.2, rho 10 0.1 / 0 / no / 0.2; CIFAR-100 rho 100 0.4 / 0.1 /
// yes / 0.2, rho 50 0.3 / 0 / yes / 0.1, rho 10 0.2 / 0 / yes / 0.1; ImageNet-LT and iNat 0.3 / 0 / yes /
// 0.05; Places-LT 0.4 / 0.1 / yes / 0.05. The default lr_factor is CIFAR-10-LT rho 100's.
// Difference kept small: the reference cuts an epoch after ceil(N / B) + 1 class-aware batches; here an
// epoch is floor(N / B) full batches, as cRT's and LWS's (96 instead of 98 on CIFAR-10-LT rho 100, B 128).
#include "layers/heads.h"
#include "train/method.h"

namespace tailor {

namespace {

class Mislas : public ClassifierRetraining {
 public:
  explicit Mislas(double lr_factor) : lr_factor_((float)lr_factor) {}

  std::vector<ParamGroup> param_groups() override {
    const std::string h = model_->head_name() + ".";
    return {{{{h + "fc.weight", head_->fc->weight}, {h + "fc.bias", head_->fc->bias}}, lr_factor_},
            {{{h + "scales", head_->scales}}, 1.f}};
  }
  std::string describe() const override {
    return ClassifierRetraining::describe() + ", classifier at lr x " + std::to_string(lr_factor_);
  }

 private:
  std::shared_ptr<Module> make_head(StageSetup& s) override {
    auto lin = std::dynamic_pointer_cast<Linear>(s.model.head());
    if (!lin || !lin->bias.defined()) fail(s.cfg.key() + " (mislas): the stage-1 classifier must be a Linear with bias");
    head_ = std::make_shared<LWSClassifier>(*lin);
    head_->fc->requires_grad_(true);  // fine-tuned, unlike LWS
    return head_;
  }

  float lr_factor_;
  std::shared_ptr<LWSClassifier> head_;
};

}  // namespace

MethodSpec mislas_method() {
  MethodSpec m;
  m.name = "mislas";
  m.summary = "MiSLAS stage 2: the stage-1 classifier fine-tuned at lr_factor x lr with learnable scales, "
              "label-aware smoothing, shifted BN (Zhong et al. 2021)";
  m.frozen_backbone = true;
  m.starts_from = {"linear"};  // fine-tunes a Linear with bias under learned scales
  m.leaves_head = "lws";
  m.first_stage = false;
  m.defaults = {{"epochs", 10},
                {"schedule", {{"kind", "cosine"}}},
                {"sampler", {{"name", "class_aware"}}},
                {"loss", {{"name", "las"}}}};
  m.keys = {{"mislas.lr_factor", "number", 0.5, 0, 100, {}, "mislas: the classifier's lr = lr_factor x the stage lr"}};
  m.make = [](const StageConfig& c) {
    return std::make_unique<Mislas>(c.doc.at("mislas").at("lr_factor").get<double>());
  };
  return m;
}

}  // namespace tailor
