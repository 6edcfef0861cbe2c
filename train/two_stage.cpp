#include "train/two_stage.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <ostream>
#include <stdexcept>

#include "data/loader.h"
#include "data/mixup.h"
#include "data/samplers.h"
#include "layers/heads.h"
#include "train/checkpoint.h"
#include "train/loop.h"
#include "train/run_model.h"

namespace tailor {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void two_stage_fail(const std::string& msg) { throw std::runtime_error(msg); }

data::Sampler make_sampler(const data::Dataset& ds, const std::string& kind, uint64_t seed, int k, int epochs) {
  data::SamplerConfig sc;
  sc.kind = data::parse_sampler_kind(kind);
  sc.seed = seed;
  sc.samples_per_class = k;
  sc.total_epochs = std::max(1, epochs);
  // cRT / LWS: an epoch is the dataset size, whatever the sampler's nominal length (LT_METHODS §4.2)
  if (sc.kind == data::SamplerKind::ClassAware) sc.num_samples = ds.size();
  return data::Sampler(ds.labels, ds.num_classes, sc);
}

data::LoaderConfig loader_cfg(const TwoStageData& d, int64_t batch) {
  data::LoaderConfig lc;
  lc.batch_size = batch;
  lc.num_workers = d.num_workers;
  lc.seed = d.seed;
  return lc;
}

EvalMetrics eval_on(ResNet& net, const data::Dataset* ds, const TwoStageData& d, const std::vector<int64_t>& counts) {
  if (!ds) return EvalMetrics{};
  return evaluate_dataset(net, *ds, d.eval_tf, counts, d.eval_batch_size, d.num_workers);
}

LrSchedule resolve_sched(LrSchedule s, const SgdOptions& sgd, int epochs) {
  s.base_lr = sgd.lr;
  s.total_epochs = epochs;
  s.validate();
  return s;
}

// One epoch of (possibly mixed) batches. `forward` maps images to logits; params outside `opt` never move.
template <class Fwd>
EpochLog run_epoch(int epoch, data::Loader& loader, SGD& opt, Loss& loss, const Fwd& forward, double mixup_alpha,
                   uint64_t seed, int64_t max_steps) {
  EpochLog lg;
  lg.epoch = epoch;
  lg.lr = opt.lr();
  loss.set_epoch(epoch);
  loader.start_epoch(epoch);
  double t0 = now_s(), sum = 0;
  int64_t step = 0;
  const Device dev = opt.params().empty() ? Device::cpu() : opt.params()[0].device();
  data::Batch b;
  while ((max_steps < 0 || step < max_steps) && loader.next(b)) {
    Tensor l;
    if (mixup_alpha > 0) {
      data::MixupResult mr = data::mixup_batch(b, mixup_alpha, seed, epoch, step);
      const int64_t n = (int64_t)mr.labels_a.size();
      Tensor ya = Tensor::from_vector_i32(mr.labels_a, {n}, dev), yb = Tensor::from_vector_i32(mr.labels_b, {n}, dev);
      data::to_device(b, dev);
      l = loss.forward_mixup(forward(b.images), ya, yb, mr.lambda);
    } else {
      data::to_device(b, dev);
      l = loss.forward(forward(b.images), b.labels);
    }
    float v = l.item();
    if (!std::isfinite(v))
      two_stage_fail("non-finite loss " + std::to_string(v) + " at epoch " + std::to_string(epoch) + " step " +
                     std::to_string(step));
    opt.zero_grad();
    l.backward();
    opt.step();
    sum += (double)v * b.labels.numel();
    lg.images += b.labels.numel();
    ++step;
  }
  lg.seconds = now_s() - t0;
  lg.loss = lg.images ? sum / lg.images : 0;
  return lg;
}

void log_epoch(std::ostream* log, const char* stage, const EpochLog& e, int total) {
  if (!log) return;
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s epoch %d/%d  lr %.5f  loss %.4f  %lld images  %.1f s\n", stage, e.epoch + 1,
                total, e.lr, e.loss, (long long)e.images, e.seconds);
  *log << buf << std::flush;
}

void trainable(const Module& m, std::vector<Tensor>* out) {
  for (auto& p : m.parameters())
    if (p.requires_grad()) out->push_back(p);
}

}  // namespace

TauSweep sweep_tau(ResNet& net, const Linear& trained, const std::vector<double>& taus,
                   const std::function<EvalMetrics(ResNet&)>& eval) {
  TauSweep out;
  for (double tau : taus) {
    net.set_head(tau_normalize(trained, tau));
    out.emplace_back(tau, eval(net));
  }
  return out;
}

double best_tau(const TauSweep& sweep) {
  double best = -1, tau = 1.0;
  for (auto& [t, m] : sweep)
    if (m.top1 > best) {
      best = m.top1;
      tau = t;
    }
  return tau;
}

std::vector<double> default_tau_grid() {
  std::vector<double> t;
  for (int i = 0; i <= 20; ++i) t.push_back(i / 10.0);
  return t;
}

StageResult run_stage1(ResNet& net, const TwoStageData& d, const Stage1Config& cfg, std::ostream* log) {
  if (!d.train) two_stage_fail("stage 1: no training set");
  const double t0 = now_s();
  StageResult r;
  const std::vector<int64_t> counts = data::class_counts(d.train->labels, d.train->num_classes);
  auto loss = make_loss(cfg.loss, cfg.loss_cfg, counts);
  data::Sampler sampler = make_sampler(*d.train, cfg.sampler, d.seed, 4, cfg.epochs);
  data::Loader loader(*d.train, sampler, d.train_tf, loader_cfg(d, d.batch_size));
  net.requires_grad_(true);
  SGD opt(net.parameters(), cfg.sgd);
  LrSchedule sched = resolve_sched(cfg.sched, cfg.sgd, cfg.epochs);
  if (log)
    *log << "stage 1: " << net.config().arch << " head " << net.head_name() << " ("
         << (net.config().head == HeadKind::Normed ? "NormedLinear" : "Linear") << "), loss " << cfg.loss << ", sampler "
         << cfg.sampler << ", mixup alpha " << cfg.mixup_alpha << ", " << sched.kind << " lr " << sched.base_lr
         << ", " << cfg.epochs << " epochs\n";
  auto fwd = [&](const Tensor& x) { return net.forward(x); };
  for (int e = 0; e < cfg.epochs; ++e) {
    opt.set_lr(sched.lr_at(e));
    net.train();
    r.epochs.push_back(run_epoch(e, loader, opt, *loss, fwd, cfg.mixup_alpha, d.seed, cfg.max_steps_per_epoch));
    log_epoch(log, "stage 1", r.epochs.back(), cfg.epochs);
    if (cfg.eval_each_epoch && d.test && log && e + 1 < cfg.epochs)
      *log << "  test top-1 " << 100 * eval_on(net, d.test, d, counts).top1 << " %\n";
  }
  if (!cfg.save_path.empty()) {
    save_weights(cfg.save_path, net, {{"stage", "1"}, {"loss", cfg.loss}, {"arch", net.config().arch}});
    if (log) *log << "stage 1: weights saved to " << cfg.save_path << "\n";
  }
  r.val = eval_on(net, d.val, d, counts);
  r.test = eval_on(net, d.test, d, counts);
  r.seconds = now_s() - t0;
  return r;
}

void load_stage1_weights(ResNet& net, const std::string& method, const std::string& checkpoint, bool allow_partial,
                         const std::string& bn_mode, Module::LoadReport* report, std::ostream* log) {
  if (method != "crt" && method != "gcl_retrain" && method != "lws" && method != "tau_norm")
    two_stage_fail("stage 2: unknown method '" + method + "' (crt | gcl_retrain | lws | tau_norm)");
  if (bn_mode != "eval" && bn_mode != "train")
    two_stage_fail("stage 2: bn_mode must be 'eval' or 'train', got '" + bn_mode + "'");
  // ---- strict load of the stage-1 weights
  if (checkpoint.empty()) two_stage_fail("stage 2 (" + method + "): no stage-1 checkpoint given");
  if (!std::filesystem::is_regular_file(checkpoint))
    two_stage_fail("stage 2 (" + method + "): stage-1 checkpoint not found: " + checkpoint +
                   " (refusing to start from an untrained backbone)");
  try {
    *report = load_weights(checkpoint, net, allow_partial);
  } catch (const std::exception& e) {
    two_stage_fail("stage 2 (" + method + "): stage-1 checkpoint " + checkpoint +
                   " does not match the model (" + net.config().arch + ", " +
                   std::to_string(net.config().num_classes) + " classes, head " + net.head_name() + "): " + e.what());
  }
  if (log) *log << "stage 2: loaded " << checkpoint << ": " << report->str() << "\n";

  // ---- freeze the backbone
  net.requires_grad_(false);
  const bool bn_train = bn_mode == "train";
  if (log)
    *log << "stage 2: backbone frozen (requires_grad false), BatchNorm in " << bn_mode << " mode"
         << (bn_train ? " (batch statistics; running mean/var re-estimated on stage-2 batches)"
                      : " (running statistics used and kept)")
         << "\n";
}

std::shared_ptr<Module> make_stage2_head(ResNet& net, const std::string& method) {
  const int64_t C = net.config().num_classes, F = net.feature_dim();
  std::shared_ptr<Module> head;
  if (method == "crt") {
    head = std::make_shared<Linear>(F, C);  // nn.Linear default init
    head->requires_grad_(true);
  } else if (method == "gcl_retrain") {
    head = net.head();
    head->requires_grad_(true);
  } else if (method == "lws") {
    auto lin = std::dynamic_pointer_cast<Linear>(net.head());
    if (!lin) two_stage_fail("stage 2 (lws): the stage-1 head must be a Linear classifier");
    head = std::make_shared<LWSClassifier>(*lin);  // W, b frozen; scales train
  } else {
    two_stage_fail("stage 2: method '" + method + "' has no trained head (crt | gcl_retrain | lws)");
  }
  head->to(net.device());
  net.set_head(head);
  return head;
}

std::string stage2_default_sampler(const std::string& method) {
  return method == "gcl_retrain" ? "cben" : "class_aware";
}

std::string stage2_default_loss(const std::string& method, LossConfig* cfg) {
  if (cfg) *cfg = method == "gcl_retrain" ? gcl_cifar_stage2() : LossConfig{};
  return method == "gcl_retrain" ? "gcl" : "ce";
}

StageResult run_stage2(ResNet& net, const TwoStageData& d, const Stage2Config& cfg, std::ostream* log) {
  if (!d.train) two_stage_fail("stage 2: no training set");
  const std::string& method = cfg.method;
  const double t0 = now_s();
  StageResult r;
  r.bn_mode = cfg.bn_mode;
  load_stage1_weights(net, method, cfg.checkpoint, cfg.allow_partial, cfg.bn_mode, &r.load, log);
  const bool bn_train = cfg.bn_mode == "train";

  const std::vector<int64_t> counts = data::class_counts(d.train->labels, d.train->num_classes);

  if (method == "tau_norm") {
    auto lin = std::dynamic_pointer_cast<Linear>(net.head());
    if (!lin) two_stage_fail("stage 2 (tau_norm): the stage-1 head must be a Linear classifier");
    const data::Dataset* sel = d.val ? d.val : (cfg.choose_tau_on_test ? d.test : nullptr);
    const data::Dataset* rep = sel ? sel : d.test;
    r.tau_split = d.val ? "val" : (sel ? "test" : "");
    std::vector<double> taus = cfg.taus.empty() ? default_tau_grid() : cfg.taus;
    r.tau_sweep = sweep_tau(net, *lin, taus, [&](ResNet& n) { return eval_on(n, rep, d, counts); });
    if (log && rep)
      for (auto& [tau, m] : r.tau_sweep) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "  tau %.2f  %s top-1 %.2f %%\n", tau, rep == d.val ? "val" : "test",
                      100 * m.top1);
        *log << buf;
      }
    r.tau = sel ? best_tau(r.tau_sweep) : 1.0;
    if (log)
      *log << "stage 2 (tau_norm): tau " << r.tau
           << (sel ? " chosen on " + r.tau_split : std::string(" kept (no validation split; selection on test not allowed)"))
           << "\n";
    auto chosen = tau_normalize(*lin, r.tau);
    chosen->requires_grad_(false);
    net.set_head(chosen);
  } else {
    std::shared_ptr<Module> head = make_stage2_head(net, method);
    std::vector<Tensor> params;
    trainable(*head, &params);
    if (params.empty()) two_stage_fail("stage 2 (" + method + "): nothing to train");

    const std::string sampler_name = !cfg.sampler.empty() ? cfg.sampler : stage2_default_sampler(method);
    std::string loss_name = cfg.loss;
    LossConfig lc = cfg.loss_cfg;
    if (loss_name.empty()) loss_name = stage2_default_loss(method, &lc);
    auto loss = make_loss(loss_name, lc, counts);
    data::Sampler sampler = make_sampler(*d.train, sampler_name, d.seed + 1, cfg.samples_per_class, cfg.epochs);
    data::Loader loader(*d.train, sampler, d.train_tf, loader_cfg(d, d.batch_size));
    SGD opt(params, cfg.sgd);
    LrSchedule s = cfg.sched;
    if (s.milestones.empty() && s.kind == "multistep") s.kind = "cosine";
    LrSchedule sched = resolve_sched(s, cfg.sgd, cfg.epochs);
    if (log)
      *log << "stage 2 (" << method << "): " << params.size() << " trainable tensors, loss " << loss_name
           << ", sampler " << sampler_name << ", " << sched.kind << " lr " << sched.base_lr << ", " << cfg.epochs
           << " epochs\n";
    auto fwd = [&](const Tensor& x) {
      Tensor f;
      {
        NoGradGuard ng;
        f = net.features(x);
      }
      return head->forward(f.detach());
    };
    for (int e = 0; e < cfg.epochs; ++e) {
      opt.set_lr(sched.lr_at(e));
      net.train(bn_train);
      head->train(true);
      r.epochs.push_back(run_epoch(e, loader, opt, *loss, fwd, cfg.mixup_alpha, d.seed + 1, cfg.max_steps_per_epoch));
      log_epoch(log, "stage 2", r.epochs.back(), cfg.epochs);
    }
  }
  if (!cfg.save_path.empty()) {
    save_weights(cfg.save_path, net, {{"stage", "2"}, {"method", method}});
    if (log) *log << "stage 2: weights saved to " << cfg.save_path << "\n";
  }
  r.val = eval_on(net, d.val, d, counts);
  r.test = eval_on(net, d.test, d, counts);
  r.seconds = now_s() - t0;
  return r;
}

}  // namespace tailor
