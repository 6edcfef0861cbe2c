// Knowledge distillation from a frozen teacher (Hinton, Vinyals, Dean 2015): the student — the run's
// model, trained end to end — learns from the labels and from a teacher's softened outputs:
//
//   L = (1 - alpha) L_stage(z_s, y) + alpha T^2 KL(softmax(z_t / T) || softmax(z_s / T))
//
// L_stage is the stage's loss (ce by default; mixup pairs as usual), the KL term losses/distillation.h.
// The teacher is an earlier stage of the run (kd.teacher stageK: its last checkpoint) or any checkpoint tailor
// wrote (its architecture and head come from the file):
// loaded at the stage's start, frozen, in eval mode, run without gradient on the same (mixed) images. It
// is constant, so the training state keeps only its checksum: a resume with another teacher file is
// refused. Loading it draws no random number, so the student's initial weights equal a run without it.
// Defaults alpha 0.9, T 4: the KD baseline of the CRD benchmark (Tian, Krishnan, Isola, ICLR 2020).
#include "engine/autograd.h"
#include "losses/distillation.h"
#include "train/method.h"
#include "train/run_model.h"

namespace tailor {

namespace {

class KnowledgeDistillation : public JointTraining {
 public:
  KnowledgeDistillation(std::string teacher, double alpha, double temperature)
      : ref_(std::move(teacher)), alpha_(alpha), t_(temperature) {}

  void setup(StageSetup& s) override {
    JointTraining::setup(s);  // the student: the run's model, trained end to end on the stage's loss
    teacher_ = load_teacher(s, "kd.teacher", ref_);
    s.log << s.cfg.key() << " (kd): teacher " << ref_ << (ref_ == teacher_.path ? "" : " = " + teacher_.path) << " ("
          << teacher_.net->config().arch << ", head " << head_kind(*teacher_.net) << "), alpha " << alpha_ << ", T "
          << t_ << "\n";
    key_ = s.cfg.key();
  }
  void set_train_mode() override {
    JointTraining::set_train_mode();
    teacher_.net->eval();
  }

  Tensor step(const StepBatch& b) override {
    Tensor zs = model_->forward(b.images), zt;
    {
      NoGradGuard ng;
      zt = teacher_.net->forward(b.images);
    }
    LossInput in = b.loss_input(zs);
    in.teacher_logits = zt;
    Tensor hard = loss_->forward(in), soft = kd_soft_target_loss(zs, zt, t_);
    return add(scale(hard, (float)(1 - alpha_)), scale(soft, (float)alpha_));
  }

  std::vector<ExtraModule> extra_modules() const override { return {{"teacher", teacher_.net, /*in_state=*/false}}; }
  // (the state's key of the first kd, one teacher: "teacher_crc32")
  void save_state(Json& j, std::map<std::string, Tensor>&) const override { j["teacher_crc32"] = teacher_.crc32; }
  void load_state(const Json& j, const std::map<std::string, Tensor>&) override {
    if (j.at("teacher_crc32") != teacher_.crc32)
      fail(key_ + ".kd.teacher " + ref_ + " (" + teacher_.path + "): not the teacher this stage started with (crc32 " +
           teacher_.crc32 + ", the state's " + j.at("teacher_crc32").get<std::string>() + ")");
  }
  std::string describe() const override { return JointTraining::describe() + " + distillation from " + ref_; }

 private:
  std::string ref_, key_;
  double alpha_, t_;
  Teacher teacher_;
};

}  // namespace

MethodSpec kd_method() {
  MethodSpec m;
  m.name = "kd";
  m.starts_from = trainable_head_kinds();  // trains the head it gets (NCM's means have no parameters)
  m.teacher_keys = {"kd.teacher"};
  m.summary = "knowledge distillation from a frozen teacher checkpoint (Hinton et al. 2015)";
  m.keys = {{"kd.teacher", "string", "", 0, 0, {}, "kd: the teacher: an earlier stage (stageK) or a checkpoint tailor wrote"},
            {"kd.alpha", "number", 0.9, 0, 1, {}, "kd: weight of the distillation term"},
            {"kd.temperature", "number", 4.0, 1e-3, 1e3, {}, "kd: softmax temperature T"}};
  m.check = [](const StageConfig& c) {
    const std::string t = c.doc.at("kd").at("teacher");
    if (t.empty()) throw ConfigError(c.key() + ".kd.teacher is required (an earlier stage, stageK, or a checkpoint)");
    check_teacher_ref(c, "kd.teacher", t);
  };
  m.make = [](const StageConfig& c) {
    const Json& k = c.doc.at("kd");
    return std::make_unique<KnowledgeDistillation>(k.at("teacher"), k.at("alpha").get<double>(),
                                                   k.at("temperature").get<double>());
  };
  return m;
}

}  // namespace tailor
