#include "train/method.h"

#include <filesystem>

#include "engine/autograd.h"
#include "train/run_model.h"

namespace tailor {

LossInput StepBatch::loss_input(const Tensor& logits) const {
  LossInput in;
  in.logits = logits;
  in.labels = labels;
  in.labels_b = labels_b;
  in.lambda = lambda;
  in.mix = mix;
  in.indices = indices;
  return in;
}

const MethodSpec& method_spec(const std::string& name) {
  std::string known;
  for (auto& m : method_specs()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  throw ConfigError("unknown method '" + name + "' (known: " + known + ")");
}

uint64_t role_key(const std::string& role) {
  Fnv1a h;
  h.add(role.data(), role.size());
  return h.h;
}

void set_backbone_mode(ResNet& model, BnMode bn) {
  model.train(bn == BnMode::Train);
  if (model.head()) model.head()->train(true);
}

NamedTensors trainable_head_params(const ResNet& model) {
  NamedTensors out;
  for (auto& [name, p] : model.head()->named_parameters())
    if (p.requires_grad()) out.emplace_back(model.head_name() + "." + name, p);
  return out;
}

Tensor head_on_frozen_features(ResNet& model, const Tensor& images) {
  Tensor f;
  {
    NoGradGuard ng;
    f = model.features(images);
  }
  return model.head()->forward(f.detach());
}

std::unique_ptr<Loss> stage_loss(const StageSetup& s) {
  return make_loss(s.cfg.loss_name, s.cfg.loss, s.data.train_counts, &s.loss_rng);
}

const std::vector<std::string>& trainable_head_kinds() {
  static const std::vector<std::string> kinds = {"linear", "normed", "cosine", "camc",     "lws",
                                                 "tau_norm", "projected_cosine", "two_heads"};
  return kinds;
}

std::vector<ParamGroup> stage_param_groups(Method& method, const StageConfig& c, const ResNet& model) {
  if (c.decay_head_bias) return method.param_groups();
  const std::string key = c.key() + ".optim.decay_head_bias false";
  auto lin = std::dynamic_pointer_cast<Linear>(model.head());
  if (!lin || !lin->bias.defined())
    fail(key + ": the stage's classifier is not a Linear with bias (head " + head_kind(model) + ")");
  return without_weight_decay(method.param_groups(), lin->bias, key);
}

// ---- JointTraining

void JointTraining::setup(StageSetup& s) {
  model_ = &s.model;
  model_->requires_grad_(true);
  loss_ = stage_loss(s);
  loss_name_ = s.cfg.loss_name;
}

std::vector<ParamGroup> JointTraining::param_groups() { return {{model_->named_parameters(), 1.f}}; }

void JointTraining::set_train_mode() { model_->train(true); }

void JointTraining::start_epoch(int epoch) { loss_->set_epoch(epoch); }

Tensor JointTraining::step(const StepBatch& b) { return loss_->forward(b.loss_input(model_->forward(b.images))); }

std::string JointTraining::describe() const { return "loss " + loss_name_; }

// ---- ClassifierRetraining

void ClassifierRetraining::setup(StageSetup& s) {
  model_ = &s.model;
  bn_ = s.cfg.bn_mode;
  model_->requires_grad_(false);
  s.log << s.cfg.key() << ": backbone frozen (requires_grad false), BatchNorm in "
        << (bn_ == BnMode::Train ? "train mode (batch statistics; running mean/var re-estimated on this stage's "
                                   "batches)"
                                 : "eval mode (running statistics used and kept)")
        << "\n";
  std::shared_ptr<Module> head = make_head(s);
  head->to(s.device);
  if (head != model_->head()) model_->set_head(head);
  loss_ = stage_loss(s);
  loss_name_ = s.cfg.loss_name;
}

std::vector<ParamGroup> ClassifierRetraining::param_groups() { return {{trainable_head_params(*model_), 1.f}}; }

void ClassifierRetraining::set_train_mode() { set_backbone_mode(*model_, bn_); }

void ClassifierRetraining::start_epoch(int epoch) { loss_->set_epoch(epoch); }

Tensor ClassifierRetraining::step(const StepBatch& b) {
  return loss_->forward(b.loss_input(head_on_frozen_features(*model_, b.images)));
}

std::string ClassifierRetraining::describe() const { return "loss " + loss_name_; }

// ---- teachers

Teacher load_teacher(StageSetup& s, const std::string& key, const std::string& ref) {
  Teacher t;
  t.ref = ref;
  t.path = s.checkpoint_of ? s.checkpoint_of(ref) : ref;  // (no run: a file)
  std::map<std::string, std::string> meta;
  try {
    t.net = load_model(t.path, &meta);
  } catch (const std::exception& e) {
    fail(s.cfg.key() + "." + key + " " + ref + ": " + e.what());
  }
  if (t.net->config().num_classes != s.model.config().num_classes)
    fail(s.cfg.key() + "." + key + " " + ref + " (" + t.path + "): " + std::to_string(t.net->config().num_classes) +
         " classes, the run has " + std::to_string(s.model.config().num_classes));
  t.crc32 = meta["crc32"];
  t.net->requires_grad_(false);
  t.net->to(s.device);
  return t;
}

void check_teacher_ref(const StageConfig& c, const std::string& key, const std::string& ref) {
  const std::string where = c.key() + "." + key;
  if (ref.empty()) throw ConfigError(where + ": empty teacher reference (stageK or a checkpoint file)");
  if (const int k = stage_number(ref)) {
    if (k >= c.index)
      throw ConfigError(where + " " + ref + ": a teacher must be an earlier stage than " + c.key() + " (or a file)");
    return;
  }
  if (!std::filesystem::is_regular_file(ref))
    throw ConfigError(where + " " + ref + ": no such checkpoint file (a teacher is stageK, an earlier stage of the "
                      "run, or a file)");
}

void save_teacher_crcs(Json& j, const std::vector<Teacher>& ts) {
  j["teachers"] = Json::array();
  for (auto& t : ts) j["teachers"].push_back(Json{{"ref", t.ref}, {"crc32", t.crc32}});
}

void check_teacher_crcs(const Json& j, const std::vector<Teacher>& ts) {
  const Json& saved = j.at("teachers");
  for (size_t i = 0; i < ts.size(); ++i)
    if (i >= saved.size() || saved[i].at("crc32") != ts[i].crc32)
      fail("teacher " + ts[i].ref + " (" + ts[i].path + "): not the teacher this stage started with (crc32 " +
           ts[i].crc32 + ", the state's " + (i < saved.size() ? saved[i].at("crc32").get<std::string>() : "none") +
           ")");
}

}  // namespace tailor
