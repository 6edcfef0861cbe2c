// Class-Balanced Distillation (Iscen, Araujo, Gong, Schmid, "Class-Balanced Distillation for Long-Tailed
// Visual Recognition", BMVC 2021; google-research class_balanced_distillation, train.py and resnet.py).
//
// Stage 1 (any earlier stages of the run, or checkpoint files): T teachers trained on instance-balanced
// data with cross-entropy on a cosine classifier (model.head cosine), e.g. two seeds without and two with
// colour augmentation (stageN.augment simclr). This stage: a fresh student trained on class-balanced data
// (sampler resample) to classify and, at the same time, to keep the teachers' feature geometry:
//
//   e   = normalize(relu(P f_s(x)))              the student's embedding: projection P to d = sum of the
//                                                teachers' feature widths (2048 T for ResNet-50 teachers)
//   z   = sigma <e, w_j / ||w_j||>               cosine classifier, fixed sigma (20)
//   t   = [normalize(f_1(x)), ..., normalize(f_T(x))]   the teachers' features (eval mode, frozen)
//   L   = (1 - alpha) CE(z, y) + alpha beta (1/N) sum_i (1 - cos(e_i, t_i))      alpha 0.4, beta 100
//
// The teachers see the same augmented batch as the student. Weight decay: the reference adds
// wd * 0.5 * l2_loss(every trainable variable) = (wd / 4) sum v^2 to the loss, i.e. a gradient (wd / 2) v —
// PyTorch's weight_decay = wd / 2 — on every variable, BN and biases included; the recipes state the
// halved value. Evaluation: the student's cosine classifier (argmax z).
// Teachers are constant: the training state keeps their checksums, and a resume with other files is refused.
#include "engine/autograd.h"
#include "layers/distill_heads.h"
#include "losses/distillation.h"
#include "train/method.h"

namespace tailor {

namespace {

class ClassBalancedDistillation : public Method {
 public:
  ClassBalancedDistillation(std::vector<std::string> teachers, double alpha, double beta, double sigma)
      : refs_(std::move(teachers)), alpha_(alpha), beta_(beta), sigma_(sigma) {}

  void setup(StageSetup& s) override {
    model_ = &s.model;
    model_->requires_grad_(true);
    int64_t width = 0;
    for (auto& ref : refs_) {
      teachers_.push_back(load_teacher(s, "cbd.teachers", ref));
      width += teachers_.back().net->feature_dim();
      s.log << s.cfg.key() << " (cbd): teacher " << ref << " = " << teachers_.back().path << " ("
            << teachers_.back().net->config().arch << ", " << teachers_.back().net->feature_dim() << "-d features)\n";
    }
    // the student's classifier: projection to the teachers' total width, then the cosine classifier
    head_ = std::make_shared<ProjectedCosineHead>(model_->feature_dim(), width, model_->config().num_classes, sigma_,
                                                  s.model_rng);
    head_->to(s.device);
    model_->set_head(head_);
    loss_ = stage_loss(s);
    loss_name_ = s.cfg.loss_name;
  }
  std::vector<ParamGroup> param_groups() override { return {{model_->named_parameters(), 1.f}}; }
  void set_train_mode() override {
    model_->train(true);
    for (auto& t : teachers_) t.net->eval();
  }
  void start_epoch(int epoch) override { loss_->set_epoch(epoch); }

  Tensor step(const StepBatch& b) override {
    Tensor e = head_->embed(model_->features(b.images));
    Tensor ce = loss_->forward(b.loss_input(head_->cls->forward(e)));
    Tensor t;
    {
      NoGradGuard ng;
      std::vector<Tensor> parts;
      for (auto& tc : teachers_) parts.push_back(l2_normalize(tc.net->features(b.images), 1));
      t = parts.size() == 1 ? parts[0] : concat(parts, 1);
    }
    Tensor distill = cosine_feature_distillation(e, t);
    return add(scale(ce, (float)(1 - alpha_)), scale(distill, (float)(alpha_ * beta_)));
  }

  std::vector<ExtraModule> extra_modules() const override {
    std::vector<ExtraModule> out;
    for (size_t i = 0; i < teachers_.size(); ++i)
      out.push_back({"teacher" + std::to_string(i + 1), teachers_[i].net, /*in_state=*/false});
    return out;
  }
  void save_state(Json& j, std::map<std::string, Tensor>&) const override { save_teacher_crcs(j, teachers_); }
  void load_state(const Json& j, const std::map<std::string, Tensor>&) override { check_teacher_crcs(j, teachers_); }
  std::string describe() const override {
    char buf[160];
    std::snprintf(buf, sizeof buf, "loss (1 - %g) %s + %g * %g * cosine distance to %zu teacher%s, sigma %g", alpha_,
                  loss_name_.c_str(), alpha_, beta_, teachers_.size(), teachers_.size() == 1 ? "" : "s", sigma_);
    return buf;
  }

 private:
  std::vector<std::string> refs_;
  double alpha_, beta_, sigma_;
  ResNet* model_ = nullptr;
  std::shared_ptr<ProjectedCosineHead> head_;
  std::vector<Teacher> teachers_;
  std::unique_ptr<Loss> loss_;
  std::string loss_name_;
};

}  // namespace

MethodSpec cbd_method() {
  MethodSpec m;
  m.name = "cbd";
  m.leaves_head = "projected_cosine";
  m.teacher_keys = {"cbd.teachers"};
  m.summary = "Class-Balanced Distillation: a class-balanced student keeps its teachers' features (Iscen et al. 2021)";
  m.defaults = {{"load", "fresh"}, {"sampler", {{"name", "resample"}}}, {"schedule", {{"kind", "cosine"}}}};
  m.keys = {{"cbd.teachers", "strings", Json::array({"stage1"}), 0, 0, {},
             "cbd: the teachers: earlier stages (stageK: its last checkpoint) or checkpoint files"},
            {"cbd.alpha", "number", 0.4, 0, 1, {}, "cbd: weight of the distillation against the cross-entropy"},
            {"cbd.beta", "number", 100.0, 0, 1e6, {}, "cbd: scale of the cosine distance"},
            {"cbd.sigma", "number", 20.0, 1e-3, 1e4, {}, "cbd: the student's fixed cosine-classifier scale"}};
  m.check = [](const StageConfig& c) {
    const Json& t = c.doc.at("cbd").at("teachers");
    if (t.empty()) throw ConfigError(c.key() + ".cbd.teachers: at least one teacher");
    for (size_t i = 0; i < t.size(); ++i) {
      check_teacher_ref(c, "cbd.teachers", t[i].get<std::string>());
      for (size_t j = 0; j < i; ++j)
        if (t[j] == t[i])  // the same features twice: a typo for another teacher
          throw ConfigError(c.key() + ".cbd.teachers: " + t[i].get<std::string>() + " named twice");
    }
  };
  m.make = [](const StageConfig& c) {
    const Json& k = c.doc.at("cbd");
    return std::make_unique<ClassBalancedDistillation>(k.at("teachers").get<std::vector<std::string>>(),
                                                       k.at("alpha").get<double>(), k.at("beta").get<double>(),
                                                       k.at("sigma").get<double>());
  };
  return m;
}

}  // namespace tailor
