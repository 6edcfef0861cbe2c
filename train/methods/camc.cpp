// CAMC — "Calibrating Class Activation Maps for Long-Tailed Visual Recognition" (Zhang, Lin, Lai, Ding, Wu,
// arXiv 2108.12757, 2021), end-to-end training of a model whose classifier is CAMC's head (model.head camc,
// layers/camc.h). No official code is public: the head is tailor's RECONSTRUCTION from the paper's text.
//
//   phi = the last feature map;  a(u) = softmax_u(CAM_c(u) / T)
//   f = GAP(phi) + lambda sum_u a(u) phi(u);   z = s cos(f, w);   L = the stage's loss of z (CE)
//
// c in training (key camc.attend): "label" = the sample's TRUE class (the key's default: the reconstruction's
// "predicted / true class" read as true in training; only the paper's abstract is known, which does not
// say; with mixup the first labels), "predicted" = the class the plain head predicts
// (argmax of s cos(GAP(phi), w)), as in evaluation (ResNet::forward always uses the predicted class).
// Measured on CIFAR-10-LT (benchmarks/README.md): with "label" the pooled feature carries the label (the
// training loss collapses) and test accuracy falls 27 points; "predicted" has no such train/test mismatch,
// so the recipes (recipes/*/camc.json) set it, and a run with "label" (and lambda != 0) says so in its log.
// Everything trains end to end, the attention included.
#include "layers/camc.h"
#include "train/method.h"

namespace tailor {

namespace {

class CamcTraining : public JointTraining {
 public:
  explicit CamcTraining(bool attend_label) : attend_label_(attend_label) {}
  void setup(StageSetup& s) override {
    JointTraining::setup(s);
    head_ = std::dynamic_pointer_cast<CamcHead>(s.model.head());
    if (!head_) throw ConfigError(s.cfg.key() + ".method camc: needs model.head camc (the model's head is not CAMC's)");
    s.log << s.cfg.key() << " (camc): s " << head_->s() << ", attention temperature " << head_->temperature()
          << ", lambda " << head_->lambda() << ", training attention from the "
          << (attend_label_ ? "true" : "predicted") << " class's map\n";
    if (attend_label_ && head_->lambda() != 0)
      s.log << "note: " << s.cfg.key() << ".camc.attend label: the true class's map carries the label into "
            << "training while evaluation attends the predicted class; on CIFAR-10-LT this lost 27 points "
            << "against camc.attend predicted, the recipes' setting (benchmarks/README.md, CAMC's ablation)\n";
  }
  Tensor step(const StepBatch& b) override {
    Tensor phi = model_->feature_map(b.images);
    return loss_->forward(b.loss_input(head_->forward_map(phi, attend_label_ ? b.labels : Tensor())));
  }
  std::string describe() const override { return "loss " + loss_name_ + " on CAMC's calibrated pooling"; }

 private:
  bool attend_label_;
  std::shared_ptr<CamcHead> head_;
};

}  // namespace

MethodSpec camc_method() {
  MethodSpec m;
  m.name = "camc";
  m.starts_from = {"camc"};
  m.summary = "CAMC (reconstruction): end-to-end training through the class-activation-map calibrated pooling "
              "(model.head camc); camc.attend: the true (label) or the predicted class's map in training";
  m.keys = {{"camc.attend", "string", "label", 0, 0, {"label", "predicted"},
             "camc: the class whose map drives the attention in training: label (the true class, the "
             "reconstruction's reading of the paper's abstract) or predicted (the plain head's prediction, as in "
             "evaluation; the recipes')"}};
  m.make = [](const StageConfig& c) {
    return std::make_unique<CamcTraining>(c.doc.at("camc").at("attend").get<std::string>() == "label");
  };
  return m;
}

}  // namespace tailor
