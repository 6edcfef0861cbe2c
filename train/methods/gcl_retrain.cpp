// GCL stage 2 — classifier re-training (Li, Cheung, Lu, "Long-tailed Visual Recognition via Gaussian
// Clouded Logit Adjustment", CVPR 2022; Keke921/GCLLoss cifar_train_classifier.py).
//
//   the stage-1 cosine classifier (NormedLinear) is loaded, NOT re-initialised, and trained on the frozen
//   backbone's features with the stage-2 GCL loss (s 20, m 0.1, nu 0.5, focal with detached p, gamma 1;
//   losses/gcl.h) on CBEN-sampled batches (data/samplers.h), mixup alpha 1 (the mixed images go through the
//   frozen backbone).
// The defaults are the reference's CIFAR stage 2: 30 epochs, batch 64, SGD momentum 0.9, wd 2e-4, and the lr
//   lr_e = 0.01 lr_max (1 + cos(pi e / 30)),  lr_max 0.1,  e = 0..29
// i.e. a cosine from 0.002 (the reference's 0.1 of its classifier's param group times 0.1 lr_max times 2).
#include "train/method.h"

namespace tailor {

namespace {

class GclRetrain : public ClassifierRetraining {
  std::shared_ptr<Module> make_head(StageSetup& s) override {
    auto head = s.model.head();
    head->requires_grad_(true);
    return head;
  }
};

}  // namespace

MethodSpec gcl_retrain_method() {
  const LossConfig g = gcl_cifar_stage2();
  MethodSpec m;
  m.name = "gcl_retrain";
  m.starts_from = trainable_head_kinds();  // trains the head it gets (NCM's means have no parameters)
  m.summary = "the stage-1 classifier (kept) re-trained on the frozen backbone, GCL stage-2 loss (Li et al. 2022)";
  m.frozen_backbone = true;
  m.first_stage = false;
  m.defaults = {{"epochs", 30},
                {"batch_size", 64},
                {"mixup_alpha", 1.0},
                {"optim", {{"lr", 0.002}, {"weight_decay", 2e-4}}},
                {"schedule", {{"kind", "cosine"}}},
                {"sampler", {{"name", "cben"}}},
                {"loss",
                 {{"name", "gcl"}, {"s", g.s}, {"m", g.m}, {"noise_mul", g.noise_mul}, {"train_cls", g.train_cls},
                  {"gamma", g.gamma}}}};
  m.make = [](const StageConfig&) { return std::make_unique<GclRetrain>(); };
  return m;
}

}  // namespace tailor
