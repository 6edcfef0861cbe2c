// Joint training: the whole model — backbone and classifier — trained end to end on the stage's loss (the
// "joint" learning of Kang et al. 2020, and stage 1 of every recipe: CE, focal, CB, LDAM-DRW, logit
// adjustment, Balanced Softmax, GCL, LAS, EQL; with or without mixup, which the loop applies).
//
//   theta <- theta - lr * grad_theta L(f_theta(x), y)        for every parameter theta of the model
//
// The step itself is JointTraining (train/method.h), which distillation builds on.
#include "train/method.h"

namespace tailor {

MethodSpec joint_method() {
  MethodSpec m;
  m.name = "joint";
  m.starts_from = trainable_head_kinds();  // trains the head it gets (NCM's means have no parameters)
  m.summary = "the whole model trained end to end on the stage's loss (stage 1 of every recipe)";
  m.make = [](const StageConfig&) { return std::make_unique<JointTraining>(); };
  return m;
}

}  // namespace tailor
