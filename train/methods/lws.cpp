// LWS — learnable weight scaling (Kang et al., ICLR 2020, §4.3; classifier-balancing
// models/TauNormClassifier.py).
//
//   logits_j = f_j (<x, w_j> + b_j)      W, b: the stage-1 classifier, frozen;  f in R^C, init 1, trained
//
// on the frozen backbone's features with class-balanced batches (5 epochs in the reference, the default
// here; wd on f).
#include "layers/heads.h"
#include "train/method.h"

namespace tailor {

namespace {

class Lws : public ClassifierRetraining {
  std::shared_ptr<Module> make_head(StageSetup& s) override {
    auto lin = std::dynamic_pointer_cast<Linear>(s.model.head());
    if (!lin || !lin->bias.defined())
      fail(s.cfg.key() + " (lws): the classifier to scale must be a Linear with bias (got head " +
           std::string(lin ? "linear without bias" : "of another kind") + ")");
    return std::make_shared<LWSClassifier>(*lin);  // W, b frozen; scales train
  }
};

}  // namespace

MethodSpec lws_method() {
  MethodSpec m;
  m.name = "lws";
  m.summary = "learnable per-class scales of the frozen stage-1 classifier (Kang et al. 2020)";
  m.frozen_backbone = true;
  m.starts_from = {"linear"};  // scales a Linear with bias
  m.leaves_head = "lws";
  m.first_stage = false;
  m.defaults = {{"epochs", 5}, {"schedule", {{"kind", "cosine"}}}, {"sampler", {{"name", "class_aware"}}}};
  m.make = [](const StageConfig&) { return std::make_unique<Lws>(); };
  return m;
}

}  // namespace tailor
