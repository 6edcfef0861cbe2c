// Breadcrumb / EMANATE — "Breadcrumbs: Adversarial Class-Balanced Sampling for Long-Tailed Recognition"
// (Liu, Li, Vasconcelos, ECCV 2022; BoLiu-SVCL/Breadcrumbs, train.py).
//
// A backbone F with two linear heads trained in one stage: g_r on instance-balanced batches together with F
// (cross-entropy), and g_c — the classifier that is evaluated — on class-balanced data, only ever on
// detached features, with its own SGD. Every epoch, each instance batch's features F(x) (train mode,
// augmented, detached) are kept with their labels; at the epoch's end each class c pushes (those features,
// their mean mu_c^e) into a FIFO of L_c = ceil(n_b / n_c) epochs, n_b = ceil(steps * B / C). Per step:
//
//   1. g_c: while some FIFO is not full, on a class-aware batch (4 images per class turn, the training
//      transform) through the current F (train mode, no gradient); afterwards on the next B rows of this
//      epoch's EMANATE set — per class, the stored epochs newest first, each feature re-centred on the newest
//      centroid, h - mu_c^e + mu_c^latest, the first n_b; all classes pooled and shuffled (the back-tracked
//      "breadcrumbs" of the tail classes' few images across epochs, as class-balanced training samples);
//      g_c <- SGD step of CE(g_c(features), labels) (its own momentum; the stage's lr, momentum and decay)
//   2. F, g_r <- the loop's SGD step of the stage's loss of g_r(F(x)) on the instance batch
//
// Differences from train.py: the EMANATE shuffle and the class-aware stream are keyed by (seed, epoch); the
// features go through host memory (the reference keeps them on the GPU); mixup is refused.
//
// Data parallel (train/data_parallel.h): every rank keeps the whole memory and its own copy of g_c, the
// single process's. The instance batch's features (this rank's rows r, r + world, ...) are gathered into the
// global batch in global order (all_gather_rows) before they enter the epoch's buffer; the EMANATE rows are
// built from the FIFOs with streams keyed by (seed, epoch), never by rank; the class-aware batch is split over
// the ranks as the instance batch is (its sampler's rank / world), each rank computes its share's features,
// and the gathered features and labels give every rank the single process's g_c step. g_c's steps thus need
// no gradient all-reduce. With dist.sync_bn the features are the single process's up to float rounding;
// with per-rank BatchNorm they carry the ranks' batch statistics (still identical state on every rank).
#include "train/methods/breadcrumb.h"

#include <cmath>

#include "data/loader.h"
#include "data/rng.h"
#include "data/samplers.h"
#include "engine/autograd.h"
#include "train/data_parallel.h"
#include "train/method.h"

namespace tailor {

namespace {

class Breadcrumb : public Method {
 public:
  explicit Breadcrumb(int64_t per_class) : per_class_(per_class) {}

  void setup(StageSetup& s) override {
    model_ = &s.model;
    g_r_ = std::dynamic_pointer_cast<Linear>(s.model.head());
    if (!g_r_) fail(s.cfg.key() + ".method breadcrumb: needs a linear head (model.head linear)");
    // the reference builds F, g_r, g_c in this order: g_r is the model's head as built, g_c is drawn next
    const int64_t F = model_->feature_dim(), C = model_->config().num_classes;
    g_c_ = std::make_shared<Linear>(F, C, true, s.model_rng);
    g_c_->to(s.device);
    model_->set_head(g_c_);
    model_->requires_grad_(true);
    g_r_->requires_grad_(true);
    loss_ = stage_loss(s);
    loss_name_ = s.cfg.loss_name;
    sgd_c_ = std::make_unique<SGD>(std::vector<Tensor>{g_c_->weight, g_c_->bias}, s.cfg.optim);
    // the feature memory
    const data::Dataset& train = s.data.train;
    std::vector<int64_t> counts((size_t)C, 0);
    for (int32_t y : train.labels) ++counts[(size_t)y];
    int64_t steps = (s.cfg.epoch_samples(train.size()) + s.cfg.batch_size - 1) / s.cfg.batch_size;
    if (s.cfg.max_steps_per_epoch >= 0) steps = std::min(steps, s.cfg.max_steps_per_epoch);
    batch_ = s.cfg.batch_size;
    steps_ = steps;
    comm_ = s.comm;
    const int world = comm_ ? comm_->world() : 1;
    if (batch_ % world != 0)  // the loop's own check refuses this first (train/trainer.cpp)
      fail(s.cfg.key() + ".batch_size " + std::to_string(batch_) + ": breadcrumb's class-aware batch must split "
           "evenly over the " + std::to_string(world) + " ranks");
    fifos_ = FeatureFifos(counts, breadcrumb_nb(steps, batch_, C), F);
    s.log << s.cfg.key() << " (breadcrumb): n_b " << fifos_.nb() << " features per class per epoch, FIFO lengths "
          << *std::min_element(fifos_.lengths().begin(), fifos_.lengths().end()) << ".."
          << *std::max_element(fifos_.lengths().begin(), fifos_.lengths().end()) << " epochs\n";
    // g_c's class-aware stream before the FIFOs are full; it carries on across epochs, as the reference's.
    // Data parallel: this rank's share of the one global stream (positions rank, rank + world, ...).
    data::SamplerConfig sc;
    sc.kind = data::SamplerKind::ClassAware;
    sc.samples_per_class = per_class_;
    sc.seed = s.stage_seed + 1;
    sc.rank = comm_ ? comm_->rank() : 0;
    sc.world = world;
    ca_sampler_ = std::make_unique<data::Sampler>(train.labels, C, sc);
    data::LoaderConfig lc;
    lc.batch_size = batch_ / world;
    lc.num_workers = s.workers;
    lc.seed = s.stage_seed + 2;
    ca_loader_ = std::make_unique<data::Loader>(train, *ca_sampler_,
                                                train_transform_for(s.data, s.cfg.augment, s.cfg.key() + ".augment"), lc);
    seed_ = s.stage_seed;
    device_ = s.device;
  }

  std::vector<ParamGroup> param_groups() override {
    ParamGroup g;
    const std::string head = model_->head_name() + ".";
    for (auto& [name, p] : model_->named_parameters())
      if (name.rfind(head, 0) != 0) g.params.push_back({name, p});  // F: the model but g_c
    for (auto& [name, p] : g_r_->named_parameters()) g.params.push_back({"head_r." + name, p});
    return {g};
  }
  void set_train_mode() override {
    model_->train(true);
    g_r_->train(true);
  }

  void start_epoch(int epoch) override {
    loss_->set_epoch(epoch);
    if (epoch != buffer_epoch_) {  // a new epoch (not a resume inside one): the last epoch's features enter
      if (buffer_epoch_ >= 0) fifos_.push_epoch(buffer_feats_, buffer_labels_);
      buffer_feats_.clear();
      buffer_labels_.clear();
      buffer_epoch_ = epoch;
      iter_ = 0;
    }
    ema_feats_ = ema_labels_ = Tensor();
    if (!fifos_.ready()) return;
    std::vector<float> f;
    std::vector<int32_t> y;
    fifos_.emanate(&f, &y);
    std::vector<int64_t> order((size_t)y.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = (int64_t)i;
    data::CounterRng rng(data::hash_combine(data::hash_combine(seed_, 0xb7eadc7bull), (uint64_t)epoch));
    data::shuffle_in_place(order, rng);
    order.resize(std::min<size_t>(order.size(), (size_t)(steps_ * batch_)));
    const int64_t d = fifos_.dim(), m = (int64_t)order.size();
    std::vector<float> rows((size_t)(m * d));
    std::vector<int32_t> labels((size_t)m);
    for (int64_t i = 0; i < m; ++i) {
      std::copy_n(f.begin() + order[(size_t)i] * d, d, rows.begin() + i * d);
      labels[(size_t)i] = y[(size_t)order[(size_t)i]];
    }
    // on the device once per epoch; each step takes a slice (a view)
    ema_feats_ = Tensor::from_vector(rows, {m, d}, device_);
    ema_labels_ = Tensor::from_vector_i32(labels, {m}, device_);
  }

  Tensor step(const StepBatch& b) override {
    classifier_step(b.lr);
    ++iter_;
    Tensor f = model_->features(b.images);
    last_feats_ = f.detach();
    last_labels_ = b.labels;
    return loss_->forward(b.loss_input(g_r_->forward(f)));
  }

  bool has_after_step() const override { return true; }
  void after_step(const StepBatch&) override {  // the (global) instance batch's features, for the FIFOs
    const std::vector<float> f = gather(last_feats_).to_vector();
    const std::vector<int32_t> y = gather(last_labels_).to_vector_i32();
    buffer_feats_.insert(buffer_feats_.end(), f.begin(), f.end());
    buffer_labels_.insert(buffer_labels_.end(), y.begin(), y.end());
    last_feats_ = last_labels_ = Tensor();
  }

  std::vector<ExtraModule> extra_modules() const override { return {{"head_r", g_r_, true}}; }

  Json epoch_log() const override {
    Json fill = Json::array();
    for (int64_t c = 0; c < fifos_.num_classes(); ++c) fill.push_back(fifos_.filled(c));
    // the FIFOs as this epoch's g_c steps used them (filled through the previous epoch; this epoch's
    // features enter when the next one starts), and their lengths L_c (the report draws fill / L_c)
    return Json{{"breadcrumb_ready", fifos_.ready()}, {"fifo_epochs", fill}, {"fifo_lengths", fifos_.lengths()}};
  }

  void save_state(Json& j, std::map<std::string, Tensor>& t) const override {
    fifos_.save(j, t, "fifo.");
    const int64_t d = fifos_.dim(), m = (int64_t)buffer_labels_.size();
    t["epoch_feats"] = Tensor::from_vector(buffer_feats_, {m, d});
    t["epoch_labels"] = Tensor::from_vector_i32(buffer_labels_, {m});
    j["buffer_epoch"] = buffer_epoch_;
    j["iter"] = iter_;
    j["ca_epoch"] = ca_loader_->state().epoch;
    j["ca_cursor"] = ca_loader_->state().cursor;
    const auto& bufs = sgd_c_->momentum_buffers();
    if (bufs[0].defined()) {
      t["gc_momentum.weight"] = bufs[0];
      t["gc_momentum.bias"] = bufs[1];
    }
  }

  void load_state(const Json& j, const std::map<std::string, Tensor>& t) override {
    fifos_.load(j, t, "fifo.");
    buffer_feats_ = t.at("epoch_feats").to_vector();
    buffer_labels_ = t.at("epoch_labels").to_vector_i32();
    buffer_epoch_ = j.at("buffer_epoch");
    iter_ = j.at("iter");
    ca_loader_->start_epoch(j.at("ca_epoch"), j.at("ca_cursor"));
    if (t.count("gc_momentum.weight")) {
      auto& bufs = sgd_c_->momentum_buffers();
      bufs[0] = t.at("gc_momentum.weight").to(device_).clone();
      bufs[1] = t.at("gc_momentum.bias").to(device_).clone();
    }
  }

  std::string describe() const override {
    return "loss " + loss_name_ + " of g_r on instance batches; g_c (evaluated) on class-aware batches (" +
           std::to_string(per_class_) + " per class turn) until every FIFO is full, then on EMANATE features";
  }

 private:
  // One SGD step of g_c on detached features: a class-aware batch through F, or the EMANATE rows of step iter_.
  void classifier_step(float lr) {
    Tensor feats, labels;
    if (ema_labels_.defined()) {
      const int64_t lo = iter_ * batch_, hi = std::min<int64_t>(lo + batch_, ema_labels_.size(0));
      if (lo >= hi) return;  // fewer EMANATE rows than steps: no class-balanced step
      feats = ema_feats_.slice(lo, hi);
      labels = ema_labels_.slice(lo, hi);
    } else {
      data::Batch cb;
      if (!ca_loader_->next(cb)) {
        ca_loader_->start_epoch(ca_loader_->state().epoch + 1);
        TAILOR_CHECK(ca_loader_->next(cb), "breadcrumb: the class-aware sampler gives no batch");
      }
      data::to_device(cb, device_);
      NoGradGuard ng;  // F in train mode (its BatchNorm statistics move, as in the reference), no gradient
      // data parallel: this rank's share of the class-aware batch; every rank steps g_c on the whole batch
      feats = gather(model_->features(cb.images).detach());
      labels = gather(cb.labels);
    }
    TAILOR_CHECK(!feats.requires_grad(), "breadcrumb: g_c must not send gradient into F");
    sgd_c_->zero_grad();
    softmax_cross_entropy(g_c_->forward(feats), labels).backward();
    sgd_c_->set_lr(lr);
    sgd_c_->step();
  }

  // The global batch's rows from every rank's share, in global order (one process: t itself).
  Tensor gather(const Tensor& t) const { return comm_ ? all_gather_rows(*comm_, t) : t; }

  int64_t per_class_;
  Communicator* comm_ = nullptr;  // the job's ranks (nullptr or world 1: one process)
  ResNet* model_ = nullptr;
  std::shared_ptr<Linear> g_r_, g_c_;
  std::unique_ptr<Loss> loss_;
  std::string loss_name_;
  std::unique_ptr<SGD> sgd_c_;
  FeatureFifos fifos_;
  int64_t batch_ = 0, steps_ = 0, iter_ = 0;
  int buffer_epoch_ = -1;
  std::vector<float> buffer_feats_;  // this epoch's features and labels, for the FIFOs at its end
  std::vector<int32_t> buffer_labels_;
  Tensor ema_feats_, ema_labels_;  // this epoch's EMANATE set, shuffled, on the device (undefined before ready)
  Tensor last_feats_, last_labels_;
  std::unique_ptr<data::Sampler> ca_sampler_;
  std::unique_ptr<data::Loader> ca_loader_;
  uint64_t seed_ = 0;
  Device device_;
};

}  // namespace

MethodSpec breadcrumb_method() {
  MethodSpec m;
  m.name = "breadcrumb";
  m.data_parallel = true;  // the feature memory and g_c are filled and stepped from the gathered global batch
  m.summary = "Breadcrumb / EMANATE: a class-balanced classifier on back-tracked features of past epochs (Liu et al. 2022)";
  m.starts_from = {"linear", "tau_norm"};  // g_r is the Linear the model has
  m.leaves_head = "linear";                // g_c
  m.defaults = {{"schedule", {{"kind", "cosine"}}}};
  m.keys = {{"breadcrumb.samples_per_class", "int", 4, 1, 1 << 20, {},
             "breadcrumb: images per class turn of g_c's class-aware batches before the FIFOs are full"}};
  m.check = [](const StageConfig& c) {
    if (c.doc.value("mixup_alpha", 0.0) > 0)
      throw ConfigError(c.key() + ".mixup_alpha: breadcrumb stores each image's features: no mixup");
  };
  m.make = [](const StageConfig& c) {
    return std::make_unique<Breadcrumb>(c.doc.at("breadcrumb").at("samples_per_class").get<int64_t>());
  };
  return m;
}

}  // namespace tailor
