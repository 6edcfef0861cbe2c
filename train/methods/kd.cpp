// Knowledge distillation from a frozen teacher (Hinton, Vinyals, Dean 2015): the student — the run's
// model, trained end to end — learns from the labels and from a teacher's softened outputs:
//
//   L = (1 - alpha) L_stage(z_s, y) + alpha T^2 KL(softmax(z_t / T) || softmax(z_s / T))
//
// L_stage is the stage's loss (ce by default; mixup pairs as usual), the KL term losses/distillation.h.
// The teacher is any checkpoint tailor wrote (kd.teacher; its architecture and head come from the file):
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
      : path_(std::move(teacher)), alpha_(alpha), t_(temperature) {}

  void setup(StageSetup& s) override {
    JointTraining::setup(s);  // the student: the run's model, trained end to end on the stage's loss
    std::map<std::string, std::string> meta;
    try {
      teacher_ = load_model(path_, &meta);
    } catch (const std::exception& e) {
      fail(s.cfg.key() + ".kd.teacher: " + e.what());
    }
    if (teacher_->config().num_classes != model_->config().num_classes)
      fail(s.cfg.key() + ".kd.teacher " + path_ + ": " + std::to_string(teacher_->config().num_classes) +
           " classes, the student has " + std::to_string(model_->config().num_classes));
    teacher_crc_ = meta["crc32"];
    teacher_->requires_grad_(false);
    teacher_->to(s.device);
    s.log << s.cfg.key() << " (kd): teacher " << path_ << " (" << teacher_->config().arch << ", head "
          << head_kind(*teacher_) << "), alpha " << alpha_ << ", T " << t_ << "\n";
  }
  void set_train_mode() override {
    JointTraining::set_train_mode();
    teacher_->eval();
  }

  Tensor step(const StepBatch& b) override {
    Tensor zs = model_->forward(b.images), zt;
    {
      NoGradGuard ng;
      zt = teacher_->forward(b.images);
    }
    LossInput in = b.loss_input(zs);
    in.teacher_logits = zt;
    Tensor hard = loss_->forward(in), soft = kd_soft_target_loss(zs, zt, t_);
    return add(scale(hard, (float)(1 - alpha_)), scale(soft, (float)alpha_));
  }

  std::vector<ExtraModule> extra_modules() const override { return {{"teacher", teacher_, /*in_state=*/false}}; }
  void save_state(Json& j, std::map<std::string, Tensor>&) const override { j["teacher_crc32"] = teacher_crc_; }
  void load_state(const Json& j, const std::map<std::string, Tensor>&) override {
    if (j.at("teacher_crc32") != teacher_crc_)
      fail("kd.teacher " + path_ + ": not the teacher this run started with (crc32 " + teacher_crc_ + ", the state's " +
           j.at("teacher_crc32").get<std::string>() + ")");
  }
  std::string describe() const override { return JointTraining::describe() + " + distillation from " + path_; }

 private:
  std::string path_;
  double alpha_, t_;
  std::shared_ptr<ResNet> teacher_;
  std::string teacher_crc_;
};

}  // namespace

MethodSpec kd_method() {
  MethodSpec m;
  m.name = "kd";
  m.teacher_keys = {"kd.teacher"};
  m.summary = "knowledge distillation from a frozen teacher checkpoint (Hinton et al. 2015)";
  m.keys = {{"kd.teacher", "string", "", 0, 0, {}, "kd: the teacher's checkpoint (written by tailor)"},
            {"kd.alpha", "number", 0.9, 0, 1, {}, "kd: weight of the distillation term"},
            {"kd.temperature", "number", 4.0, 1e-3, 1e3, {}, "kd: softmax temperature T"}};
  m.check = [](const StageConfig& c) {
    const std::string t = c.doc.at("kd").at("teacher");
    if (t.empty()) throw ConfigError(c.key() + ".kd.teacher is required (a checkpoint of the teacher)");
    if (!std::filesystem::is_regular_file(t)) throw ConfigError(c.key() + ".kd.teacher: file not found: " + t);
  };
  m.make = [](const StageConfig& c) {
    const Json& k = c.doc.at("kd");
    return std::make_unique<KnowledgeDistillation>(k.at("teacher"), k.at("alpha").get<double>(),
                                                   k.at("temperature").get<double>());
  };
  return m;
}

}  // namespace tailor
