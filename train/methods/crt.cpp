// cRT — classifier re-training (Kang et al., "Decoupling Representation and Classifier for Long-Tailed
// Recognition", ICLR 2020, §4.2; facebookresearch/classifier-balancing, config/*/cls_crt.yaml).
//
//   features f(x) from the frozen stage-1 backbone;  classifier W x + b re-initialised (nn.Linear default)
//   and trained on class-balanced batches (ClassAwareSampler, 4 images per class turn; an epoch is
//   int(N / B) full batches, as run_networks' epoch_steps):  min_{W,b} CE(W f(x) + b, y)
//
// The new classifier draws its initial weights from the model's stream (it is a part of the model). The
// reference keeps the backbone in train mode (BatchNorm statistics re-estimated on balanced batches):
// bn_mode train; the CIFAR recipes use eval. The cosine schedule counts epochs from 0 (the first at the full
// lr; the reference under PyTorch >= 1.1 trains one step of the cosine later: train/schedule.h).
#include "train/method.h"

namespace tailor {

namespace {

class ClassifierRetrain : public ClassifierRetraining {
  std::shared_ptr<Module> make_head(StageSetup& s) override {
    auto head = std::make_shared<Linear>(s.model.feature_dim(), s.model.config().num_classes, true, s.model_rng);
    head->requires_grad_(true);
    s.log << s.cfg.key() << " (crt): a new linear classifier, re-initialised\n";
    return head;
  }
};

}  // namespace

MethodSpec crt_method() {
  MethodSpec m;
  m.name = "crt";
  m.summary = "classifier re-initialised and re-trained on the frozen backbone (Kang et al. 2020)";
  m.frozen_backbone = true;
  m.leaves_head = "linear";
  m.first_stage = false;
  m.defaults = {{"epochs", 10}, {"schedule", {{"kind", "cosine"}}}, {"sampler", {{"name", "class_aware"}}}};
  m.make = [](const StageConfig&) { return std::make_unique<ClassifierRetrain>(); };
  return m;
}

}  // namespace tailor
