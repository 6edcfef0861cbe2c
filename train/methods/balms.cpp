// BALMS — Balanced Meta-Softmax (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition",
// NeurIPS 2020; jiawei-ren/BalancedMetaSoftmax-Classification data/MetaSampler.py, run_networks.py): the
// decoupled classifier stage (backbone frozen, a re-initialised linear classifier, the Balanced Softmax loss
// of losses/balanced_softmax.h) with a learned sampler, the Meta Sampler.
//
//   sampler   one parameter per class, q_c = sigmoid(w_c), the unnormalised rate of each image of class c;
//             w_c = logit(r_c), r_c = pi_c^-p / (min r + max r) with pi_c = n_c / N, p = init_pow (0: all
//             q_c = 1/2, instance-balanced). Each row b of a batch is a hard Gumbel-softmax draw over the N
//             dataset indices with logits log q_{y_i}: j_b = argmax_i (log q_{y_i} + g_bi), so
//             P(class c) = n_c q_c / sum_k n_k q_k; its straight-through weight ST_b = 1 carries the gradient
//             of soft_b(j_b), soft_b = softmax(log q_y + g_b).
//   meta step (every step)  inner: L_in = mean_b ST_b l_b(theta), the per-sample Balanced-Softmax losses of the
//             classifier theta; theta' = theta after one step of the stage's SGD (its lr, momentum state,
//             weight decay). outer: L_out = CE(theta'(x_meta), y_meta) on a class-balanced meta batch (one
//             image per class turn, the evaluation transform; the training split, or the validation split
//             for ImageNet-LT / Places-LT). w <- Adam(w, dL_out/dw).
//   training  the ordinary Balanced-Softmax step of theta on the same batch.
//
// The meta-gradient is exact and closed-form. L_in = (1/B) sum_b ST_b l_b is linear in ST, and theta' depends
// on ST only through the gradient, so dL_out/dST_b = -(lr_eff / B) <grad_theta' L_out, grad_theta l_b> (lr_eff =
// lr, x (1 - dampening) after the first step, x (1 + momentum) with Nesterov); for a linear classifier
// grad_theta l_b / B = r_b (x) [f_b; 1] with r_b = dL_in/dz_b (the batch-mean loss's logit gradient, 1/B
// included), so dL_out/dST_b = -lr_eff r_b . (G_W f_b + G_b). Then dST_b/dw_c = soft_b(j_b)
// ([y_{j_b} = c] - sum_{i in c} soft_b(i)) (1 - q_c). And at ST = 1, theta' is exactly the ordinary training
// step, so the loop's own step produces it: the meta update runs after the step (after_step), with the same
// numbers as the reference's look-ahead before it (w does not enter the training step). Checked against
// the official code's second-order autograd (tests/test_balms.cpp).
//
// Data parallel (mpirun, train/data_parallel.h): every rank draws the same global batch from the same w and
// loads its rows r, r + world, ...; the meta batch is split the same way. after_step gathers the ranks' rows
// (features, logits, labels; all_gather_rows) and every rank computes the meta-gradient of the whole batch,
// so w and its Adam state stay the single process's on every rank (with dist.sync_bn, up to float rounding;
// with per-rank BatchNorm the frozen backbone's features carry the per-rank statistics).
//
// Differences from the reference, all small: the draw happens when the step starts (the reference's data
// loader draws a few batches ahead with a slightly older w); the frozen backbone's BatchNorm (bn_mode train
// re-estimates its statistics) sees the batch and the meta batch once each (the reference runs the batch
// through it twice); CIFAR's meta set is the training subset with the evaluation transform (the reference
// re-draws an LT subset and augments it).
#include "train/methods/balms.h"

#include <algorithm>
#include <cmath>

#include "data/loader.h"
#include "engine/autograd.h"
#include "train/adam.h"
#include "train/data_parallel.h"
#include "train/method.h"
#include "train/run_model.h"  // head_kind

namespace tailor {

BalmsDraw balms_draw(const std::vector<double>& log_s, const std::vector<int32_t>& labels, int C, int64_t B,
                     const std::function<void(int64_t, double*)>& gumbel_row) {
  const int64_t N = (int64_t)log_s.size();
  BalmsDraw d;
  d.chosen.assign((size_t)B, 0);
  d.chosen_soft.assign((size_t)B, 0);
  d.class_soft.assign((size_t)(B * C), 0);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> x((size_t)N);
    gumbel_row(b, x.data());
    int64_t arg = 0;
    for (int64_t i = 0; i < N; ++i) {
      x[(size_t)i] += log_s[(size_t)i];
      if (x[(size_t)i] > x[(size_t)arg]) arg = i;
    }
    const double top = x[(size_t)arg];
    double z = 0;
    double* S = d.class_soft.data() + b * C;
    for (int64_t i = 0; i < N; ++i) {
      const double e = std::exp(x[(size_t)i] - top);
      z += e;
      S[labels[(size_t)i]] += e;
    }
    for (int c = 0; c < C; ++c) S[c] /= z;
    d.chosen[(size_t)b] = arg;
    d.chosen_soft[(size_t)b] = 1.0 / z;  // exp(x_j - top) = 1 at the argmax
  }
  return d;
}

double sgd_gradient_scale(const SgdOptions& o, float lr, bool first_step) {
  double s = lr;
  if (o.momentum != 0.f && !first_step) s *= 1.0 - o.dampening;
  if (o.nesterov) s *= 1.0 + o.momentum;
  return s;
}

std::vector<double> balms_influence(const Tensor& R, const Tensor& f, const Tensor& GW, const Tensor& Gb,
                                    double scale) {
  Tensor U;
  {
    NoGradGuard ng;
    U = matmul(f, transpose2d(GW));  // [B, C]: G_W f_b
  }
  const std::vector<float> u = U.contiguous().cpu().to_vector(), r = R.contiguous().cpu().to_vector(),
                           gb = Gb.contiguous().cpu().to_vector();
  const int64_t B = R.size(0), C = R.size(1);
  std::vector<double> c((size_t)B, 0.0);
  for (int64_t b = 0; b < B; ++b) {
    double s = 0;
    for (int64_t k = 0; k < C; ++k) s += (double)r[(size_t)(b * C + k)] * ((double)u[(size_t)(b * C + k)] + gb[(size_t)k]);
    c[(size_t)b] = -scale * s;
  }
  return c;
}

std::vector<double> balms_w_gradient(const BalmsDraw& d, const std::vector<int32_t>& labels,
                                     const std::vector<double>& influence, const std::vector<double>& q) {
  const int64_t B = (int64_t)d.chosen.size(), C = (int64_t)q.size();
  std::vector<double> g((size_t)C, 0.0);
  for (int64_t b = 0; b < B; ++b) {
    const double a = influence[(size_t)b] * d.chosen_soft[(size_t)b];
    const int32_t yj = labels[(size_t)d.chosen[(size_t)b]];
    for (int64_t c = 0; c < C; ++c) g[(size_t)c] += a * ((yj == c ? 1.0 : 0.0) - d.class_soft[(size_t)(b * C + c)]);
  }
  for (int64_t c = 0; c < C; ++c) g[(size_t)c] *= 1.0 - q[(size_t)c];
  return g;
}

std::vector<double> balms_meta_gradient(const BalmsDraw& d, const std::vector<int32_t>& labels,
                                        const std::vector<double>& q, Loss& loss, const Tensor& z, const Tensor& y,
                                        const Tensor& f, const Linear& after, const Tensor& f_meta,
                                        const Tensor& y_meta, double scale) {
  // r_b: the logit gradients of the ST-weighted inner loss at ST = 1
  Tensor zl = z.detach().clone();
  zl.set_requires_grad(true);
  LossInput in;
  in.logits = zl;
  in.labels = y;
  in.sample_weight = Tensor::ones({zl.size(0)}, zl.device());
  loss.forward(in).backward();
  // G: the outer loss's gradient at the classifier after the step
  Tensor W = after.weight.detach().clone(), b = after.bias.detach().clone();
  W.set_requires_grad(true);
  b.set_requires_grad(true);
  softmax_cross_entropy(linear(f_meta, W, b), y_meta).backward();
  return balms_w_gradient(d, labels, balms_influence(zl.grad(), f, W.grad(), b.grad(), scale), q);
}

void balms_gumbel_row(uint64_t seed, int epoch, int64_t step, int64_t b, int64_t n, double* g) {
  Rng r = Rng::keyed(seed, ((uint64_t)epoch << 32) | (uint64_t)step, (uint64_t)b);
  for (int64_t i = 0; i < n; ++i) {
    const double u = ((double)(r.next_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // (0, 1)
    g[i] = -std::log(-std::log(u));
  }
}

namespace {

// The meta set: class-balanced, one image per class turn (evaluation transform).
data::SamplerConfig meta_sampler_config() {
  data::SamplerConfig sc;
  sc.kind = data::SamplerKind::ClassAware;
  sc.samples_per_class = 1;
  return sc;
}

// The meta set (the training split, or val under balms.meta_set val) and the meta batch (balms.meta_batch_size,
// 0: the stage's batch). Throws naming the key what setup cannot run: a loss without per-sample weights, no val
// split, a meta batch the ranks cannot split or larger than the meta set's draws per epoch.
struct MetaPlan {
  const data::Dataset* set;
  int64_t batch;
};
MetaPlan balms_meta_plan(const StageConfig& c, const RunData& d, int world) {
  if (!make_loss(c.loss_name, c.loss, d.train_counts)->accepts_sample_weight())
    throw ConfigError(c.key() + " (balms): the loss " + c.loss_name + " takes no per-sample weights; the meta step "
                      "needs one that does (balanced_softmax, ce, logit_adjust, ldam)");
  const Json& b = c.doc.at("balms");
  MetaPlan p{&d.train, b.at("meta_batch_size").get<int64_t>()};
  const bool own = p.batch != 0;
  if (!own) p.batch = c.batch_size;
  // the key that set the meta batch, for the messages below
  const std::string meta_key = own ? c.key() + ".balms.meta_batch_size " + std::to_string(p.batch)
                                   : c.key() + ".batch_size " + std::to_string(p.batch) +
                                         " (the meta batch: balms.meta_batch_size 0 takes the stage's batch size)";
  if (b.at("meta_set") == "val") {
    if (!d.val) throw ConfigError(c.key() + ".balms.meta_set val: the data has no validation split");
    p.set = d.val.get();
  }
  // the classifier steps: floor(N / B) per epoch (the reference's MetaSampler length), none when B > N
  const int64_t n = (int64_t)d.train.labels.size();
  if (c.batch_size > n)
    throw ConfigError(c.key() + ".batch_size " + std::to_string(c.batch_size) + ": larger than the training split (" +
                      std::to_string(n) + " images); balms draws floor(N / batch_size) batches per epoch, here none: "
                      "use a batch size of at most " + std::to_string(n));
  if (p.batch % world != 0)
    throw ConfigError(meta_key + ": the meta batch must split evenly over the " + std::to_string(world) + " ranks");
  const int64_t draws = (int64_t)data::Sampler(p.set->labels, p.set->num_classes, meta_sampler_config()).length();
  if (draws < p.batch)
    throw ConfigError(meta_key + ": larger than the meta sampler's epoch (" + std::to_string(draws) +
                      " class-balanced draws: the largest class's count times the " +
                      std::to_string(p.set->num_classes) + " classes); set balms.meta_batch_size to at most " +
                      std::to_string(draws));
  return p;
}

class Balms : public ClassifierRetraining {
 public:
  Balms(double meta_lr, double init_pow, std::string meta_set)
      : meta_lr_(meta_lr), init_pow_(init_pow), meta_set_(std::move(meta_set)) {}

  void setup(StageSetup& s) override {
    ClassifierRetraining::setup(s);
    comm_ = s.comm && s.comm->world() > 1 ? s.comm : nullptr;
    const MetaPlan plan = balms_meta_plan(s.cfg, s.data, comm_ ? comm_->world() : 1);  // (checked before stage 1 too)
    optim_ = s.cfg.optim;
    seed_ = s.stage_seed ^ 0x62616c6d73ull;  // "balms"
    labels_ = s.data.train.labels;
    C_ = s.data.train.num_classes;
    counts_ = s.data.train_counts;
    // w_c = logit(r_c), r_c = pi_c^-p / (min r + max r)
    std::vector<double> r((size_t)C_);
    double total = 0;
    for (int64_t n : counts_) total += (double)n;
    for (int c = 0; c < C_; ++c) r[(size_t)c] = std::pow(counts_[(size_t)c] / total, -init_pow_);
    const double lo = *std::min_element(r.begin(), r.end()), hi = *std::max_element(r.begin(), r.end());
    std::vector<float> w((size_t)C_);
    for (int c = 0; c < C_; ++c) {
      const double rc = r[(size_t)c] / (lo + hi);
      w[(size_t)c] = (float)(std::log(rc) - std::log(1 - rc));
    }
    w_ = Tensor::from_vector(w, {(int64_t)C_});
    w_.set_requires_grad(true);
    AdamOptions ao;
    ao.lr = (float)meta_lr_;
    adam_ = std::make_unique<Adam>(std::vector<Tensor>{w_}, ao);
    const data::Dataset* meta = plan.set;
    data::SamplerConfig sc = meta_sampler_config();
    sc.seed = seed_ + 1;
    meta_sampler_ = std::make_unique<data::Sampler>(meta->labels, meta->num_classes, sc);
    meta_batch_size_ = plan.batch;
    data::LoaderConfig lc;
    lc.batch_size = meta_batch_size_;
    lc.num_workers = s.workers;
    lc.seed = seed_ + 2;
    lc.drop_last = true;
    meta_loader_ = std::make_unique<data::Loader>(*meta, *meta_sampler_, s.data.eval_tf, lc);
    device_ = s.device;
  }

  bool chooses_batches() const override { return true; }
  int64_t batches_per_epoch(int64_t n, int64_t batch) const override { return n / batch; }  // MetaSampler's len

  std::vector<int64_t> choose_batch(int epoch, int64_t step, int64_t batch) override {
    const std::vector<float> w = w_.to_vector();
    q_.assign((size_t)C_, 0.0);
    for (int c = 0; c < C_; ++c) q_[(size_t)c] = 1.0 / (1.0 + std::exp(-(double)w[(size_t)c]));
    std::vector<double> log_s(labels_.size());
    for (size_t i = 0; i < labels_.size(); ++i) log_s[i] = std::log(q_[(size_t)labels_[i]]);
    const int64_t n = (int64_t)labels_.size();
    draw_ = balms_draw(log_s, labels_, C_, batch,
                       [&](int64_t b, double* g) { balms_gumbel_row(seed_, epoch, step, b, n, g); });
    return draw_.chosen;
  }

  Tensor step(const StepBatch& b) override {
    {
      NoGradGuard ng;
      f_ = model_->features(b.images).detach();
    }
    Tensor z = model_->head()->forward(f_);
    z_ = z.detach();
    y_ = b.labels;
    lr_ = b.lr;
    return loss_->forward(b.loss_input(z));
  }

  bool has_after_step() const override { return true; }
  void after_step(const StepBatch& b) override {
    // the meta batch: the next meta_batch_size draws of the meta stream (a new epoch when fewer are left), of
    // which this rank loads its rows; their positions key the (evaluation) transform as a loader's next() would
    const int64_t M = meta_batch_size_, world = comm_ ? comm_->world() : 1, rank = comm_ ? comm_->rank() : 0;
    if (meta_cursor_ + M > meta_sampler_->length()) {
      ++meta_epoch_;
      meta_cursor_ = 0;
    }
    if (meta_stream_epoch_ != meta_epoch_) {  // the meta epoch's draws, once per epoch
      meta_stream_ = meta_sampler_->epoch_indices(meta_epoch_);
      meta_stream_epoch_ = meta_epoch_;
    }
    std::vector<int64_t> mine;
    for (int64_t k = rank; k < M; k += world) mine.push_back(meta_stream_[(size_t)(meta_cursor_ + k)]);
    data::Batch mb;
    meta_loader_->load(mine, meta_epoch_, meta_cursor_ + rank, mb, world);
    meta_cursor_ += M;
    data::to_device(mb, device_);
    Tensor fm;
    {
      NoGradGuard ng;
      fm = model_->features(mb.images).detach();
    }
    Tensor f = f_, z = z_, y = y_, ym = mb.labels;
    if (comm_) {  // every rank: the whole batch's and meta batch's rows, in the single process's order
      f = all_gather_rows(*comm_, f_);
      z = all_gather_rows(*comm_, z_);
      y = all_gather_rows(*comm_, y_);
      fm = all_gather_rows(*comm_, fm);
      ym = all_gather_rows(*comm_, ym);
    }
    auto head = std::dynamic_pointer_cast<Linear>(model_->head());  // after the step: the look-ahead theta'
    const std::vector<double> gw = balms_meta_gradient(draw_, labels_, q_, *loss_, z, y, f, *head, fm, ym,
                                                       sgd_gradient_scale(optim_, lr_, steps_ == 0));
    std::vector<float> g(gw.begin(), gw.end());
    w_.set_grad(Tensor::from_vector(g, {(int64_t)C_}));
    adam_->step();
    ++steps_;
  }

  Json epoch_log() const override {
    const std::vector<float> w = w_.to_vector();
    Json q = Json::array(), p = Json::array();
    double total = 0;
    std::vector<double> mass((size_t)C_);
    for (int c = 0; c < C_; ++c) {
      const double qc = 1.0 / (1.0 + std::exp(-(double)w[(size_t)c]));
      q.push_back(std::round(qc * 1e6) / 1e6);
      mass[(size_t)c] = qc * counts_[(size_t)c];
      total += mass[(size_t)c];
    }
    for (double m : mass) p.push_back(std::round(m / total * 1e6) / 1e6);
    return Json{{"sample_rates", q}, {"class_sample_prob", p}};
  }

  void save_state(Json& j, std::map<std::string, Tensor>& t) const override {
    t["w"] = w_.detach();
    if (adam_->exp_avg()[0].defined()) {
      t["adam_exp_avg"] = adam_->exp_avg()[0];
      t["adam_exp_avg_sq"] = adam_->exp_avg_sq()[0];
    }
    j["adam_step"] = adam_->steps()[0];
    j["steps"] = steps_;
    j["meta_epoch"] = meta_epoch_;
    j["meta_cursor"] = meta_cursor_;
  }

  void load_state(const Json& j, const std::map<std::string, Tensor>& t) override {
    w_.copy_from(t.at("w"));
    if (t.count("adam_exp_avg")) {
      adam_->exp_avg()[0] = t.at("adam_exp_avg").clone();
      adam_->exp_avg_sq()[0] = t.at("adam_exp_avg_sq").clone();
    }
    adam_->steps()[0] = j.at("adam_step");
    steps_ = j.at("steps");
    meta_epoch_ = j.at("meta_epoch");
    meta_cursor_ = j.at("meta_cursor");
  }

  std::string describe() const override {
    return ClassifierRetraining::describe() + ", Meta Sampler (Adam lr " + std::to_string(meta_lr_) + ", init_pow " +
           std::to_string(init_pow_) + ", meta set " + meta_set_ + ")";
  }

 private:
  std::shared_ptr<Module> make_head(StageSetup& s) override {
    auto head = std::make_shared<Linear>(s.model.feature_dim(), s.model.config().num_classes, true, s.model_rng);
    head->requires_grad_(true);
    s.log << s.cfg.key() << " (balms): a new linear classifier, re-initialised (the model's head was "
          << head_kind(s.model) << ")\n";
    return head;
  }

  double meta_lr_, init_pow_;
  std::string meta_set_;
  SgdOptions optim_;
  uint64_t seed_ = 0;
  std::vector<int32_t> labels_;
  std::vector<int64_t> counts_;
  int C_ = 0;
  Tensor w_;
  std::unique_ptr<Adam> adam_;
  std::unique_ptr<data::Sampler> meta_sampler_;
  std::unique_ptr<data::Loader> meta_loader_;  // assembles the meta batches (load(); never next())
  int64_t meta_batch_size_ = 0, meta_epoch_ = 0, meta_cursor_ = 0;  // the meta stream's position
  std::vector<int64_t> meta_stream_;                                 // the draws of meta epoch meta_stream_epoch_
  int64_t meta_stream_epoch_ = -1;
  Communicator* comm_ = nullptr;                                  // data parallel: the ranks (else nullptr)
  Device device_ = Device::cpu();
  // from the draw and the step to the meta update of the same step
  BalmsDraw draw_;
  std::vector<double> q_;
  Tensor f_, z_, y_;
  float lr_ = 0;
  int64_t steps_ = 0;  // successful steps of the stage: the first has no momentum yet
};

}  // namespace

MethodSpec balms_method() {
  MethodSpec m;
  m.name = "balms";
  m.leaves_head = "linear";  // its classifier, re-initialised
  m.data_parallel = true;  // every rank learns the same sampler from the gathered batch (see the top)
  m.summary = "Balanced Meta-Softmax: the decoupled classifier with Balanced Softmax and the learned Meta Sampler "
              "(Ren et al. 2020)";
  m.frozen_backbone = true;
  m.first_stage = false;
  m.chooses_batches = true;
  m.defaults = {{"epochs", 10}, {"schedule", {{"kind", "cosine"}}}, {"loss", {{"name", "balanced_softmax"}}}};
  m.keys = {{"balms.meta_lr", "number", 0.01, 0, 100, {}, "balms: Adam lr of the sampler's parameters"},
            {"balms.init_pow", "number", 0.0, 0, 10, {}, "balms: initial rates pi_c^-p (0: instance-balanced)"},
            {"balms.meta_batch_size", "int", 0, 0, 1 << 20, {}, "balms: meta batch (0: the stage's batch size)"},
            {"balms.meta_set", "string", "train", 0, 0, {"train", "val"}, "balms: the meta batches' split"}};
  m.check = [](const StageConfig& c) {  // before any training: the same refusal as setup's, a stage earlier
    if (c.mixup_alpha > 0)  // the meta-gradient is taken on the batch's labels: a mixed batch has two
      throw ConfigError(c.key() + ".mixup_alpha: balms's meta step differentiates the loss of the batch's own labels: "
                        "no mixup");
  };
  m.check_data = [](const StageConfig& c, const RunData& d, int world) { balms_meta_plan(c, d, world); };
  m.trains_on_val = [](const StageConfig& c) {
    return c.doc.contains("balms") && c.doc["balms"].value("meta_set", "") == "val";
  };
  m.make = [](const StageConfig& c) {
    const Json& b = c.doc.at("balms");
    return std::make_unique<Balms>(b.at("meta_lr").get<double>(), b.at("init_pow").get<double>(),
                                   b.at("meta_set").get<std::string>());
  };
  return m;
}

}  // namespace tailor
