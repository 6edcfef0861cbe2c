// CAMC — "Calibrating Class Activation Maps for Long-Tailed Visual Recognition" (Zhang, Lin, Lai, Ding, Wu,
// arXiv 2108.12757, 2021), end-to-end training of a model whose classifier is CAMC's head (model.head camc,
// layers/camc.h). No official code is public: the head is tailor's RECONSTRUCTION from the paper's text.
//
//   phi = the last feature map;  a(u) = softmax_u(CAM_y(u) / T), y the sample's TRUE class in training
//   f = GAP(phi) + lambda sum_u a(u) phi(u);   z = s cos(f, w);   L = the stage's loss of z (CE)
//
// Evaluation (ResNet::forward) uses the PREDICTED class's map (argmax of s cos(GAP(phi), w)). Everything
// trains end to end, the attention included. With mixup the attention follows the first labels.
#include "layers/camc.h"
#include "train/method.h"

namespace tailor {

namespace {

class CamcTraining : public JointTraining {
 public:
  void setup(StageSetup& s) override {
    JointTraining::setup(s);
    head_ = std::dynamic_pointer_cast<CamcHead>(s.model.head());
    if (!head_) throw ConfigError(s.cfg.key() + ".method camc: needs model.head camc (the model's head is not CAMC's)");
    s.log << s.cfg.key() << " (camc): s " << head_->s() << ", attention temperature " << head_->temperature()
          << ", lambda " << head_->lambda() << "\n";
  }
  Tensor step(const StepBatch& b) override {
    return loss_->forward(b.loss_input(head_->forward_map(model_->feature_map(b.images), b.labels)));
  }
  std::string describe() const override { return "loss " + loss_name_ + " on CAMC's calibrated pooling"; }

 private:
  std::shared_ptr<CamcHead> head_;
};

}  // namespace

MethodSpec camc_method() {
  MethodSpec m;
  m.name = "camc";
  m.summary = "CAMC (reconstruction): end-to-end training through the class-activation-map calibrated pooling "
              "(model.head camc), the true class's map in training";
  m.make = [](const StageConfig&) { return std::make_unique<CamcTraining>(); };
  return m;
}

}  // namespace tailor
