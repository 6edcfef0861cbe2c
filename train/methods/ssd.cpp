// SSD — Self Supervision to Distillation (Li, Wang, Wu, "Self Supervision to Distillation for Long-Tailed
// Visual Recognition", ICCV 2021; MCG-NJU/SSD-LT builder.py, ssd_stage_i.py .. ssd_stage_iii.py). Three
// stages of one run:
//
//  I   ssd_contrastive  the model (backbone + linear classifier) learns from the labels and, through a
//      2-layer MLP projection g, from a label-aware MoCo task. Two views of each image: x (the stage's
//      augmentation) through the query encoder, x' (moco.key_augment, MoCo v2's) through the key encoder —
//      a momentum copy of backbone and projection. With q = normalize(g(f(x))), k = normalize(g'(f'(x'))):
//        L = CE(W f(x), y) + w * contrastive(q, k, queue)          (losses/contrastive.h; w = 1)
//      After every step the key encoder moves towards the query encoder, theta' = m theta' + (1 - m) theta
//      (m 0.999), and the batch's keys and labels enter the queue (K keys, FIFO).
//  II  lws              the stage-I classifier frozen, learnable per-class scales on the frozen backbone,
//      class-aware batches of 2 per class; BatchNorm in train mode (the reference calls model.train() on
//      the frozen encoder: bn_mode train). The result is the teacher: its balanced logits are soft labels.
//  III ssd_distill      a fresh network with two linear heads on its features: the hard head learns the
//      labels, the soft head the teacher's soft labels,
//        L = CE(z_hard, y) + KD_tau(z_soft, z_teacher)             (losses/distillation.h; tau 2)
//      and the soft head is evaluated (ssd.eval_head).
//
// Where this differs from the reference, by design: the key encoder is updated after each optimiser step
// rather than before the next forward (the same sequence of key encoders, minus the reference's first
// update, a copy onto itself); the reference shuffles the key batch across GPUs for BatchNorm (a no-op on
// one device). Its stage III runs the teacher in train mode too (BatchNorm on batch statistics):
// ssd.teacher_bn train, the default; eval uses the teacher's running statistics.
//
// Data parallel (train/data_parallel.h): each rank computes the keys of its share of the batch; before they
// enter the queue the ranks' keys and labels are gathered into the global batch in global order
// (all_gather_rows, MoCo's concat_all_gather), so every rank keeps the single process's queue. The key
// encoder follows its query encoder, whose parameters are the same on every rank after the averaged step.
// Each query's loss needs only its own key and the queue, so the averaged gradient is the global batch's.
// With dist.sync_bn the key encoder's BatchNorm (and a teacher's on batch statistics) is synchronised as the
// model's is, so that the keys are the single process's up to float rounding; with per-rank BatchNorm each
// rank's keys carry its own batch's statistics (no shuffled BN), the queue still identical on every rank.
#include "engine/autograd.h"
#include "layers/basic.h"
#include "layers/distill_heads.h"
#include "losses/contrastive.h"
#include "losses/distillation.h"
#include "train/data_parallel.h"
#include "train/method.h"
#include "train/run_model.h"

namespace tailor {

namespace {

// The communicator the model's BatchNorm synchronises over (dist.sync_bn; the trainer sets it after setup()),
// else nullptr: a module of the method that also normalises by batch statistics follows it.
Communicator* model_bn_sync(ResNet& model) {
  Communicator* c = nullptr;
  model.for_each_module([&c](Module& x) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&x))
      if (bn->sync) c = bn->sync;
  });
  return c;
}

// ---- stage I

class SsdContrastive : public JointTraining {
 public:
  explicit SsdContrastive(const Json& k)
      : key_augment_(k.at("key_augment")),
        K_(k.at("queue_size")),
        dim_(k.at("dim")),
        m_(k.at("momentum")),
        T_(k.at("temperature")),
        w_(k.at("weight")) {}

  void setup(StageSetup& s) override {
    JointTraining::setup(s);  // the model: backbone + linear classifier, trained on the stage's loss (ce)
    if (!std::dynamic_pointer_cast<Linear>(model_->head()))
      fail(s.cfg.key() + " (ssd_contrastive): the classifier must be linear (model.head linear)");
    const int64_t F = model_->feature_dim();
    Rng proj_rng = Rng::keyed(s.seed, role_key(s.cfg.key() + ".projection"));
    query_proj_ = std::make_shared<MlpProjection>(F, F, dim_, proj_rng);
    // the key encoder: a copy of the backbone (no classifier) and of the projection, never differentiated
    Rng scratch(0);
    key_encoder_ = make_resnet(model_->config().arch, model_->config().num_classes, model_->config().in_channels,
                               HeadKind::None, scratch);
    std::map<std::string, Tensor> backbone;
    for (auto& [name, t] : model_->state_dict())
      if (name.rfind(model_->head_name() + ".", 0) != 0) backbone[name] = t;
    key_encoder_->load_state_dict(backbone);
    key_proj_ = std::make_shared<MlpProjection>(F, F, dim_, scratch);
    std::map<std::string, Tensor> qp;
    for (auto& [name, t] : query_proj_->state_dict()) qp[name] = t;
    key_proj_->load_state_dict(qp);
    key_encoder_->requires_grad_(false);
    key_proj_->requires_grad_(false);
    for (Module* mod : {(Module*)query_proj_.get(), (Module*)key_encoder_.get(), (Module*)key_proj_.get()})
      mod->to(s.device);
    Rng queue_rng = Rng::keyed(s.seed, role_key(s.cfg.key() + ".queue"));
    queue_ = LabeledKeyQueue(K_, dim_, queue_rng, s.device);
    comm_ = s.comm;
  }
  std::vector<ParamGroup> param_groups() override {
    NamedTensors p = model_->named_parameters();
    for (auto& [name, t] : query_proj_->named_parameters()) p.emplace_back("projection." + name, t);
    return {{p, 1.f}};
  }
  void set_train_mode() override {
    JointTraining::set_train_mode();
    query_proj_->train(true);
    key_encoder_->train(true);  // the reference's key encoder runs in train mode: BatchNorm on batch statistics
    key_proj_->train(true);
    set_sync_batch_norm(*key_encoder_, model_bn_sync(*model_));  // dist.sync_bn: over the global batch too
  }
  std::string second_view() const override { return key_augment_; }

  Tensor step(const StepBatch& b) override {
    TAILOR_CHECK(b.images2.defined(), "ssd_contrastive: the loader gave no second view");
    Tensor f = model_->features(b.images);
    Tensor ce = loss_->forward(b.loss_input(model_->head()->forward(f)));
    Tensor q = l2_normalize(query_proj_->forward(f), 1);
    {
      NoGradGuard ng;
      keys_ = l2_normalize(key_proj_->forward(key_encoder_->features(b.images2)), 1);
      labels_ = b.labels;
    }
    Tensor mask = not_equal_outer(b.labels, queue_.labels);  // same-class queue keys are not negatives
    last_contrastive_ = label_masked_moco_loss(q, keys_, queue_.keys, mask, T_);
    return add(ce, scale(last_contrastive_, (float)w_));
  }
  bool has_after_step() const override { return true; }
  void after_step(const StepBatch&) override {
    ema_update(*key_encoder_, *model_, m_);  // by name: the backbone's parameters (the classifier has none there)
    ema_update(*key_proj_, *query_proj_, m_);
    if (comm_) {  // data parallel: the global batch's keys, in global order (one process: this batch's)
      keys_ = all_gather_rows(*comm_, keys_);
      labels_ = all_gather_rows(*comm_, labels_);
    }
    queue_.enqueue(keys_, labels_);
    keys_ = labels_ = Tensor();
  }

  std::vector<ExtraModule> extra_modules() const override {
    return {{"projection", query_proj_}, {"key_encoder", key_encoder_}, {"key_projection", key_proj_}};
  }
  void save_state(Json& j, std::map<std::string, Tensor>& t) const override {
    t["queue.keys"] = queue_.keys;
    t["queue.labels"] = queue_.labels;
    j["queue_ptr"] = queue_.ptr;
  }
  void load_state(const Json& j, const std::map<std::string, Tensor>& t) override {
    queue_.keys.copy_from(t.at("queue.keys"));
    queue_.labels.copy_from(t.at("queue.labels"));
    queue_.ptr = j.at("queue_ptr");
  }
  std::string describe() const override {
    char buf[200];
    std::snprintf(buf, sizeof buf, "loss %s + %g * label-masked MoCo (queue %lld, dim %lld, m %g, T %g)",
                  loss_name_.c_str(), w_, (long long)K_, (long long)dim_, m_, T_);
    return buf;
  }

 private:
  std::string key_augment_;
  int64_t K_, dim_;
  double m_, T_, w_;
  std::shared_ptr<MlpProjection> query_proj_, key_proj_;
  std::shared_ptr<ResNet> key_encoder_;
  LabeledKeyQueue queue_;
  Communicator* comm_ = nullptr;  // the job's ranks (nullptr or world 1: one process)
  Tensor keys_, labels_, last_contrastive_;  // this step's keys, for the queue after the optimiser step
};

// ---- stage III

class SsdDistill : public Method {
 public:
  explicit SsdDistill(const Json& k)
      : ref_(k.at("teacher")),
        tau_(k.at("temperature")),
        kd_weight_(k.at("kd_weight")),
        eval_soft_(k.at("eval_head") == "soft"),
        teacher_train_bn_(k.at("teacher_bn") == "train") {}

  void setup(StageSetup& s) override {
    model_ = &s.model;
    model_->requires_grad_(true);
    teacher_ = load_teacher(s, "ssd.teacher", ref_);
    s.log << s.cfg.key() << " (ssd_distill): teacher " << ref_ << " = " << teacher_.path << " (head "
          << head_kind(*teacher_.net) << ", BatchNorm " << (teacher_train_bn_ ? "on batch statistics" : "eval") << ")\n";
    heads_ = std::make_shared<TwoHeads>(model_->feature_dim(), model_->config().num_classes, eval_soft_, s.model_rng);
    heads_->to(s.device);
    model_->set_head(heads_);
    loss_ = stage_loss(s);
    loss_name_ = s.cfg.loss_name;
  }
  std::vector<ParamGroup> param_groups() override { return {{model_->named_parameters(), 1.f}}; }
  void set_train_mode() override {
    model_->train(true);
    teacher_.net->train(teacher_train_bn_);
    if (teacher_train_bn_) set_sync_batch_norm(*teacher_.net, model_bn_sync(*model_));  // as the model's BN
  }
  void start_epoch(int epoch) override { loss_->set_epoch(epoch); }

  Tensor step(const StepBatch& b) override {
    Tensor f = model_->features(b.images);
    Tensor hard = loss_->forward(b.loss_input(heads_->hard->forward(f)));
    Tensor zt;
    {
      NoGradGuard ng;
      zt = teacher_.net->forward(b.images);
    }
    return add(hard, scale(kd_soft_target_loss(heads_->soft->forward(f), zt, tau_), (float)kd_weight_));
  }

  // A teacher on batch statistics updates its running statistics: then it is part of the state.
  std::vector<ExtraModule> extra_modules() const override { return {{"teacher", teacher_.net, teacher_train_bn_}}; }
  void save_state(Json& j, std::map<std::string, Tensor>&) const override { save_teacher_crcs(j, {teacher_}); }
  void load_state(const Json& j, const std::map<std::string, Tensor>&) override { check_teacher_crcs(j, {teacher_}); }
  std::string describe() const override {
    char buf[200];
    std::snprintf(buf, sizeof buf, "loss %s (hard head) + %g * KD tau %g from %s (soft head); evaluates the %s head",
                  loss_name_.c_str(), kd_weight_, tau_, ref_.c_str(), eval_soft_ ? "soft" : "hard");
    return buf;
  }

 private:
  std::string ref_;
  double tau_, kd_weight_;
  bool eval_soft_, teacher_train_bn_;
  ResNet* model_ = nullptr;
  std::shared_ptr<TwoHeads> heads_;
  Teacher teacher_;
  std::unique_ptr<Loss> loss_;
  std::string loss_name_;
};

}  // namespace

MethodSpec ssd_contrastive_method() {
  MethodSpec m;
  m.name = "ssd_contrastive";
  m.starts_from = {"linear", "tau_norm"};  // the classifier trained beside the contrastive loss
  m.data_parallel = true;  // the queue is filled from the gathered global batch (MoCo's concat_all_gather)
  m.summary = "SSD stage I: cross-entropy + label-masked MoCo with a momentum key encoder (Li et al. 2021)";
  m.defaults = {{"schedule", {{"kind", "cosine"}}}};
  m.keys = {
      {"moco.key_augment", "string", "moco_v2", 0, 0,
       {"cifar", "cifar_moco", "cifar_simclr", "imagenet", "imagenet_nojitter", "mnist", "moco_v2", "simclr"},
       "ssd_contrastive: augmentation of the key view (the query view is the stage's)"},
      {"moco.queue_size", "int", 115712, 1, 1e9, {}, "ssd_contrastive: K, keys in the queue (the reference's 115712)"},
      {"moco.dim", "int", 128, 1, 1e6, {}, "ssd_contrastive: output width of the MLP projection"},
      {"moco.momentum", "number", 0.999, 0, 1, {}, "ssd_contrastive: key-encoder momentum m"},
      {"moco.temperature", "number", 0.2, 1e-3, 100, {}, "ssd_contrastive: contrastive temperature T"},
      {"moco.weight", "number", 1.0, 0, 1e3, {}, "ssd_contrastive: weight of the contrastive loss"}};
  m.check = [](const StageConfig& c) {  // before any stage trains (setup would find these at this stage's start)
    if (c.mixup_alpha > 0)
      throw ConfigError(c.key() + ".mixup_alpha: ssd_contrastive compares two views of each image: no mixup");
    const int64_t queue = c.doc.at("moco").at("queue_size").get<int64_t>();
    if (queue < c.batch_size)
      throw ConfigError(c.key() + ".moco.queue_size " + std::to_string(queue) + " is smaller than the batch (" +
                        std::to_string(c.batch_size) + "): each step enqueues a whole batch of keys");
  };
  m.make = [](const StageConfig& c) { return std::make_unique<SsdContrastive>(c.doc.at("moco")); };
  return m;
}

MethodSpec ssd_distill_method() {
  MethodSpec m;
  m.name = "ssd_distill";
  m.leaves_head = "two_heads";
  m.teacher_keys = {"ssd.teacher"};
  m.summary = "SSD stage III: a fresh network, hard head on the labels + soft head distilled from a teacher";
  m.defaults = {{"load", "fresh"}, {"schedule", {{"kind", "cosine"}}}};
  m.keys = {{"ssd.teacher", "string", "stage2", 0, 0, {}, "ssd: the teacher: an earlier stage (stageK) or a checkpoint"},
            {"ssd.temperature", "number", 2.0, 1e-3, 100, {}, "ssd: distillation temperature tau"},
            {"ssd.kd_weight", "number", 1.0, 0, 1e3, {}, "ssd: weight of the distillation term"},
            {"ssd.eval_head", "string", "soft", 0, 0, {"soft", "hard"}, "ssd: the head evaluated and kept"},
            {"ssd.teacher_bn", "string", "train", 0, 0, {"train", "eval"},
             "ssd: the teacher's BatchNorm: train (batch statistics, the reference) or eval"}};
  m.check = [](const StageConfig& c) { check_teacher_ref(c, "ssd.teacher", c.doc.at("ssd").at("teacher")); };
  m.make = [](const StageConfig& c) { return std::make_unique<SsdDistill>(c.doc.at("ssd")); };
  return m;
}

}  // namespace tailor
