#include "train/trainer.h"

#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <thread>

#include "data/loader.h"
#include "engine/allocator.h"
#include "data/mixup.h"
#include "layers/heads.h"
#include "train/checkpoint.h"
#include "train/progress.h"
#include "train/report.h"
#include "train/run_data.h"
#include "train/run_files.h"
#include "train/run_model.h"
#include "train/two_stage.h"

namespace tailor {

namespace {

namespace fs = std::filesystem;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void run_fail(const std::string& msg) { throw std::runtime_error(msg); }

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return std::round(ru.ru_maxrss / 1024.0 * 10) / 10;
}

class Trainer {
 public:
  Trainer(const Json& cfg, const std::string& dir, const TrainFlags& flags, std::ostream& log)
      : cfg_(cfg), dir_(dir), flags_(flags), log_(log), progress_(stdout, cfg.at("log").at("progress")) {}
  Json run();

 private:
  std::string ckpt(int stage, const char* which) const {
    return (dir_ / "checkpoints" / ("stage" + std::to_string(stage) + "_" + which + ".safetensors")).string();
  }
  fs::path state_path() const { return dir_ / "checkpoints" / "train_state.safetensors"; }
  const Json& stage_cfg(int stage) const { return cfg_.at(stage == 1 ? "stage1" : "stage2"); }
  const data::Dataset* eval_split() const { return cfg_.at("eval").at("select") == "val" ? data_.val.get()
                                                   : (data_.test ? data_.test.get() : data_.val.get()); }
  void prepare_dir();  // checks only: resume needs a state, a fresh run a free directory
  void create_dir();   // after the data and model are built, so a config error leaves nothing behind
  void setup_stage(int stage);
  void run_epochs(int stage);
  void end_epoch(int stage, int epochs);
  void finish_stage(int stage);
  void tau_norm_stage();
  void save_state();
  void load_state();
  Json finish();
  Json stopped();  // flags_.stop_after_s ended this process's share; the state is saved

  Json cfg_;
  fs::path dir_;
  TrainFlags flags_;
  std::ostream& log_;
  Progress progress_;
  std::string hash_;
  uint64_t seed_ = 0;
  double session_t0_ = now_s();
  RunData data_;
  std::string data_fingerprint_;
  std::shared_ptr<ResNet> net_;
  Device dev_ = Device::cpu();  // config key `device`: model, batches and optimizer state live there
  RunState st_;
  Rng loss_rng_;
  // the stage being trained
  std::shared_ptr<Module> head_;  // stage 2: the trained classifier
  NamedTensors params_;
  std::unique_ptr<SGD> opt_;
  std::unique_ptr<Loss> loss_;
  std::unique_ptr<data::Sampler> sampler_;
  std::unique_ptr<data::Loader> loader_;
  LrSchedule sched_;
  int ready_stage_ = 0;  // the stage setup_stage last prepared
  bool stopped_ = false;  // run_epochs stopped early (flags_.stop_after_s)
  double mixup_ = 0;
  uint64_t stage_seed_ = 0;
};

void Trainer::prepare_dir() {
  if (flags_.resume) {
    if (!fs::is_regular_file(state_path()))
      run_fail("--resume " + dir_.string() + ": no training state at " + state_path().string() +
               " (refusing to start a fresh run in its place)");
    return;
  }
  if (fs::exists(dir_ / "config.json") || fs::exists(state_path())) {
    if (!flags_.overwrite)
      run_fail("run directory " + dir_.string() + " already holds a run: continue it with `tailor train --resume " +
               dir_.string() + "`, choose another name (--set name=...), or pass --overwrite");
  }
}

void Trainer::create_dir() {
  if (flags_.resume) return;
  if (flags_.overwrite) fs::remove_all(dir_);
  fs::create_directories(dir_ / "checkpoints");
  write_text_atomic(dir_ / "config.json", cfg_.dump(2) + "\n");
}

void Trainer::save_state() {
  st_.metrics_bytes = file_size_or_zero(dir_ / "metrics.jsonl");
  st_.steps_bytes = file_size_or_zero(dir_ / "steps.jsonl");
  st_.loss_rng = loss_rng_.state();
  st_.global_rng = global_rng().state();
  st_.data_fingerprint = data_fingerprint_;
  RunState s = st_;
  s.wall_before = st_.wall_before + (now_s() - session_t0_);
  std::map<std::string, Tensor> t;
  for (auto& [name, v] : net_->state_dict()) t["model." + name] = v;
  if (opt_) {
    auto& bufs = opt_->momentum_buffers();
    for (size_t i = 0; i < params_.size(); ++i)
      if (i < bufs.size() && bufs[i].defined()) t["momentum." + params_[i].first] = bufs[i];
  }
  save_tensors(state_path().string(), t, {{"state", state_json(s, hash_).dump()}});
}

void Trainer::load_state() {
  std::map<std::string, std::string> meta;
  auto t = read_weights(state_path().string(), &meta);
  if (!meta.count("state")) run_fail(state_path().string() + ": not a training-state file (no 'state' metadata)");
  Json j = Json::parse(meta["state"]);
  if (j.at("config_hash").get<std::string>() != hash_)
    run_fail(state_path().string() + ": the state was written with a different config than " +
             (dir_ / "config.json").string() + " (hash " + j.at("config_hash").get<std::string>() + " vs " + hash_ +
             "); restore the original config.json or start a new run");
  st_ = state_from_json(j);
  if (!st_.data_fingerprint.empty() && st_.data_fingerprint != data_fingerprint_)
    run_fail("data.root " + cfg_.at("data").at("root").get<std::string>() + ": not the data this run started with "
             "(fingerprint " + data_fingerprint_ + ", the state's " + st_.data_fingerprint + "); point data.root at the "
             "original images");
  const std::string old_root = update_data_root(dir_ / "config.json", cfg_.at("data").at("root"));
  if (!old_root.empty()) log_ << "data.root: was " << old_root << " (config.json updated)\n";
  loss_rng_.set_state(st_.loss_rng);
  global_rng().set_state(st_.global_rng);
  // the logs continue from the state's point: drop lines of the lost tail
  for (auto [name, bytes] : {std::pair<const char*, uint64_t>{"metrics.jsonl", st_.metrics_bytes},
                             std::pair<const char*, uint64_t>{"steps.jsonl", st_.steps_bytes}}) {
    fs::path p = dir_ / name;
    if (fs::exists(p) && fs::file_size(p) > bytes) fs::resize_file(p, bytes);
  }
  // A state written between the stages (stage 2, nothing run yet) is rebuilt from the stage-1 checkpoint
  // files by setup_stage (global_rng restored above, so a fresh cRT head draws the same init).
  const bool stage2_untouched = st_.stage == 2 && st_.epoch == 0 && st_.step_in_epoch == 0;
  const std::string method = cfg_.at("stage2").at("method");
  if (st_.stage == 1 || (st_.stage == 2 && method != "none" && !stage2_untouched)) {
    setup_stage(st_.stage);
    std::map<std::string, Tensor> model;
    for (auto& [name, v] : t)
      if (name.rfind("model.", 0) == 0) model[name.substr(6)] = v;
    try {
      net_->load_state_dict(model, false);
    } catch (const std::exception& e) {
      run_fail(state_path().string() + ": " + e.what());
    }
    auto& bufs = opt_->momentum_buffers();
    for (size_t i = 0; i < params_.size(); ++i) {
      auto it = t.find("momentum." + params_[i].first);
      if (it != t.end()) bufs[i] = it->second.to(params_[i].second.device());
    }
  }
  log_ << "resumed " << dir_.string() << " at stage " << st_.stage << " epoch " << st_.epoch + 1 << " (sample "
       << st_.cursor << ", global step " << st_.global_step << ")\n";
}

void Trainer::setup_stage(int stage) {
  const Json& sc = stage_cfg(stage);
  const std::string method = cfg_.at("stage2").at("method");
  stage_seed_ = seed_ + (uint64_t)(stage - 1);
  ready_stage_ = stage;
  mixup_ = sc.at("mixup_alpha");
  head_.reset();
  params_.clear();
  std::string loss_name = sc.at("loss").at("name");
  LossConfig lc = loss_config(sc);
  std::string sampler_name = sc.at("sampler").at("name");
  if (stage == 1) {
    net_->requires_grad_(true);
    params_ = net_->named_parameters();
  } else {
    const std::string which = cfg_.at("stage2").at("load");
    std::string path = ckpt(1, which == "best" && fs::exists(ckpt(1, "best")) ? "best" : "last");
    Module::LoadReport rep;
    load_stage1_weights(*net_, method, path, false, cfg_.at("stage2").at("bn_mode"), &rep, &log_);
    net_->to(dev_);
    if (method == "tau_norm") return;
    head_ = make_stage2_head(*net_, method);
    net_->to(dev_);  // the new head, and anything the stage-1 load replaced
    for (auto& [name, p] : head_->named_parameters())
      if (p.requires_grad()) params_.emplace_back(net_->head_name() + "." + name, p);
    if (loss_name.empty()) loss_name = stage2_default_loss(method, &lc);
    if (sampler_name.empty()) sampler_name = stage2_default_sampler(method);
  }
  std::vector<Tensor> ps;
  for (auto& [n, p] : params_) ps.push_back(p);
  opt_ = std::make_unique<SGD>(ps, sgd_options(sc));
  loss_ = make_loss(loss_name, lc, data_.train_counts, &loss_rng_);
  Json s2 = sc;
  s2["sampler"]["name"] = sampler_name;
  data::SamplerConfig smp = sampler_config(s2, stage_seed_);
  if (smp.kind == data::SamplerKind::ClassAware) smp.num_samples = data_.train.size();  // epoch = dataset size
  sampler_ = std::make_unique<data::Sampler>(data_.train.labels, data_.train.num_classes, smp);
  data::LoaderConfig lcfg;
  lcfg.batch_size = sc.at("batch_size");
  lcfg.num_workers = cfg_.at("data").at("workers");
  lcfg.seed = stage_seed_;
  lcfg.on_bad_image = data::parse_bad_image_policy(cfg_.at("data").at("on_bad_image"));
  loader_.reset();
  loader_ = std::make_unique<data::Loader>(data_.train, *sampler_, data_.train_tf, lcfg);
  sched_ = lr_schedule(sc);
  log_ << "stage " << stage << (stage == 2 ? " (" + method + ")" : std::string()) << ": " << params_.size()
       << " trainable tensors, loss " << loss_name << ", sampler " << sampler_name << ", mixup " << mixup_ << ", "
       << sched_.kind << " lr " << sched_.base_lr << ", batch " << lcfg.batch_size << ", " << sc.at("epochs")
       << " epochs\n";
}

void Trainer::run_epochs(int stage) {
  const Json& sc = stage_cfg(stage);
  const int epochs = sc.at("epochs");
  const int64_t max_steps = sc.at("max_steps_per_epoch");
  const int64_t every = cfg_.at("checkpoint").at("every_steps");
  // test hook (not part of the config, so a resumed run does not inherit it): SIGKILL after this global step
  const char* kill_env = std::getenv("TAILOR_KILL_AT_STEP");
  const int64_t kill_at = kill_env ? std::atoll(kill_env) : -1;
  // test hook: a NaN pixel in the batches of global steps a..b ("a" or "a-b"; a corrupted input)
  const char* nan_env = std::getenv("TAILOR_NAN_INPUT_AT_STEP");
  int64_t nan_from = -1, nan_to = -1;
  if (nan_env) {
    nan_from = nan_to = std::atoll(nan_env);
    if (const char* dash = std::strchr(nan_env, '-')) nan_to = std::atoll(dash + 1);
  }
  const bool skip_bad = cfg_.at("guard").at("nonfinite") == "skip", log_steps = cfg_.at("log").at("step_losses");
  const int64_t max_skips = cfg_.at("guard").at("max_skips");
  const bool bn_train = stage == 1 || cfg_.at("stage2").at("bn_mode") == "train";
  for (; st_.epoch < epochs; ++st_.epoch) {
    const int e = st_.epoch;
    loss_->set_epoch(e);
    loader_->start_epoch(e, st_.cursor);
    int64_t total = loader_->batches_per_epoch();
    if (max_steps >= 0) total = std::min(total, max_steps);
    progress_.start("stage " + std::to_string(stage) + " epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs),
                    total, st_.step_in_epoch);
    net_->train(bn_train);
    if (head_) head_->train(true);
    const double t0 = now_s(), seconds0 = st_.epoch_seconds;
    int64_t images_now = 0;
    data::Batch b;
    while ((max_steps < 0 || st_.step_in_epoch < max_steps) && loader_->next(b)) {
      opt_->set_lr(sched_.lr_at(e, total > 0 ? (double)st_.step_in_epoch / total : 0.0));
      if (st_.global_step + 1 >= nan_from && st_.global_step + 1 <= nan_to) b.images.f32()[0] = std::nanf("");
      Tensor ya, yb;
      float lambda = 1.f;
      if (mixup_ > 0) {  // mixes b.images in place; one lambda per batch, keyed by (seed, epoch, step)
        data::MixupResult mr = data::mixup_batch(b, mixup_, stage_seed_, e, st_.step_in_epoch);
        const int64_t n = (int64_t)mr.labels_a.size();
        ya = Tensor::from_vector_i32(mr.labels_a, {n}, dev_);
        yb = Tensor::from_vector_i32(mr.labels_b, {n}, dev_);
        lambda = mr.lambda;
      }
      data::to_device(b, dev_);  // after the host-side edits above (mixup, the NaN test hook)
      // skip policy: a skipped step must not leave its BatchNorm running statistics behind
      std::vector<Tensor> saved_buffers;
      if (skip_bad)
        for (auto& [name, t] : net_->named_buffers()) saved_buffers.push_back(t.clone());
      Tensor logits;
      if (stage == 1) {
        logits = net_->forward(b.images);
      } else {  // frozen backbone: features without a graph, only the head is differentiated
        Tensor f;
        {
          NoGradGuard ng;
          f = net_->features(b.images);
        }
        logits = head_->forward(f.detach());
      }
      Tensor loss = mixup_ > 0 ? loss_->forward_mixup(logits, ya, yb, lambda) : loss_->forward(logits, b.labels);
      const float v = loss.item();
      std::string bad;
      if (!std::isfinite(v)) bad = "loss " + std::to_string(v);
      opt_->zero_grad();
      if (bad.empty()) {
        loss.backward();
        std::vector<Tensor> grads;
        std::vector<std::string> names;
        for (auto& [name, p] : params_)
          if (p.grad().defined()) {
            grads.push_back(p.grad());
            names.push_back(name);
          }
        int64_t i = first_nonfinite(grads);  // one device round trip for every gradient
        if (i >= 0) bad = "gradient of " + names[i];
      }
      const int64_t n = b.labels.numel();
      ++st_.global_step;
      if (!bad.empty()) {
        std::string where = "non-finite " + bad + " at stage " + std::to_string(stage) + " epoch " +
                            std::to_string(e + 1) + " step " + std::to_string(st_.step_in_epoch + 1) +
                            " (global step " + std::to_string(st_.global_step) + ")";
        if (!skip_bad || st_.skipped >= max_skips)
          run_fail(where + (skip_bad ? ": more than guard.max_skips skipped steps" : "") +
                   "; lower the learning rate, or set debug.anomaly true to name the op that produced it");
        ++st_.skipped;
        log_ << "\nguard: skipped the step: " << where << "\n";
        opt_->zero_grad();
        NamedTensors bufs = net_->named_buffers();
        for (size_t i = 0; i < bufs.size(); ++i) bufs[i].second.copy_from(saved_buffers[i]);
      } else {
        opt_->step();
        st_.loss_sum += (double)v * n;
      }
      st_.epoch_images += n;
      images_now += n;
      ++st_.step_in_epoch;
      st_.cursor = loader_->state().cursor;
      if (log_steps) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "{\"stage\":%d,\"epoch\":%d,\"step\":%lld,\"loss\":%.9g}", stage, e + 1,
                      (long long)st_.global_step, v);
        append_line(dir_ / "steps.jsonl", buf);
      }
      progress_.step(st_.step_in_epoch, st_.epoch_images ? st_.loss_sum / st_.epoch_images : 0, images_now);
      const bool last_step = st_.step_in_epoch >= total;
      if (every > 0 && st_.global_step % every == 0 && !last_step) {
        st_.epoch_seconds = seconds0 + (now_s() - t0);
        save_state();
      }
      if (kill_at >= 0 && st_.global_step == kill_at) {
        std::fflush(stdout);
        std::raise(SIGKILL);
      }
    }
    st_.epoch_seconds = seconds0 + (now_s() - t0);
    end_epoch(stage, epochs);
    if (flags_.stop_after_s > 0 && now_s() - session_t0_ >= flags_.stop_after_s && st_.epoch + 1 < epochs) {
      stopped_ = true;  // the state was saved at the end of the epoch
      return;
    }
  }
}

void Trainer::end_epoch(int stage, int epochs) {
  const int e = st_.epoch;
  const int64_t every = cfg_.at("eval").at("every_epochs");
  const std::string select = cfg_.at("eval").at("select");
  Json line;
  line["stage"] = stage;
  line["epoch"] = e + 1;
  line["epochs"] = epochs;
  line["step"] = st_.global_step;
  line["lr"] = opt_->lr();
  const int64_t good = st_.epoch_images;  // skipped steps' images are not in loss_sum
  line["loss"] = good ? st_.loss_sum / good : 0.0;
  line["train_images"] = st_.epoch_images;
  line["seconds"] = std::round(st_.epoch_seconds * 100) / 100;
  line["img_per_s"] = st_.epoch_seconds > 0 ? std::round(st_.epoch_images / st_.epoch_seconds * 10) / 10 : 0.0;
  line["skipped_steps"] = st_.skipped;
  st_.train_seconds += st_.epoch_seconds;
  st_.train_images += st_.epoch_images;
  std::string summary;
  char buf[256];
  std::snprintf(buf, sizeof buf, "stage %d epoch %d/%d  lr %.5f  loss %.4f  %.0f img/s  %s", stage, e + 1, epochs,
                opt_->lr(), line["loss"].get<double>(), line["img_per_s"].get<double>(),
                format_duration(st_.epoch_seconds).c_str());
  summary = buf;
  const data::Dataset* ev = eval_split();
  if (ev && ((every > 0 && (e + 1) % every == 0) || e + 1 == epochs)) {
    const double t0 = now_s();
    EvalMetrics m = evaluate_dataset(*net_, *ev, data_.eval_tf, data_.train_counts,
                                     cfg_.at("data").at("eval_batch_size"), cfg_.at("data").at("workers"));
    line["eval_split"] = ev == data_.val.get() ? "val" : "test";
    add_eval_fields(line, m);
    auto g = [](const ShotGroup& x) {
      char b[16];
      std::snprintf(b, sizeof b, "%.2f", 100 * x.acc);
      return x.empty() ? std::string("n/a") : std::string(b);
    };
    std::snprintf(buf, sizeof buf, "  |  %s top-1 %.2f%%  many %s  med %s  few %s  (%.0f s)",
                  line["eval_split"].get<std::string>().c_str(), 100 * m.top1, g(m.many).c_str(), g(m.medium).c_str(),
                  g(m.few).c_str(), now_s() - t0);
    summary += buf;
    if (select != "last" && cfg_.at("checkpoint").at("keep_best") && m.top1 > st_.best_top1) {
      st_.best_top1 = m.top1;
      st_.best_epoch = e + 1;
      save_model(ckpt(stage, "best"), *net_, {{"stage", std::to_string(stage)}, {"epoch", std::to_string(e + 1)}});
      summary += "  *best";
    }
    if (select == "last" || !cfg_.at("checkpoint").at("keep_best")) {
      st_.best_top1 = m.top1;
      st_.best_epoch = e + 1;
    }
  }
  append_line(dir_ / "metrics.jsonl", line.dump());
  save_model(ckpt(stage, "last"), *net_, {{"stage", std::to_string(stage)}, {"epoch", std::to_string(e + 1)}});
  progress_.finish(summary);
  st_.cursor = st_.step_in_epoch = st_.epoch_images = 0;
  st_.loss_sum = st_.epoch_seconds = 0;
  st_.epoch = e + 1;
  save_state();
  --st_.epoch;  // the for loop's ++ moves to e + 1
}

void Trainer::tau_norm_stage() {
  auto lin = std::dynamic_pointer_cast<Linear>(net_->head());
  if (!lin) run_fail("stage 2 (tau_norm): the stage-1 head must be a Linear classifier");
  const Json& s2 = cfg_.at("stage2");
  const data::Dataset* sel = data_.val ? data_.val.get() : (s2.at("choose_tau_on_test") ? data_.test.get() : nullptr);
  const data::Dataset* rep = sel ? sel : data_.test.get();
  std::vector<double> taus = s2.at("taus").get<std::vector<double>>();
  if (taus.empty()) taus = default_tau_grid();
  Json sweep{{"split", rep == data_.val.get() ? "val" : "test"}, {"taus", taus}, {"top1", Json::array()}};
  double chosen = 1.0;
  if (rep) {
    TauSweep r = sweep_tau(*net_, *lin, taus, [&](ResNet& n) {
      return evaluate_dataset(n, *rep, data_.eval_tf, data_.train_counts, cfg_.at("data").at("eval_batch_size"),
                              cfg_.at("data").at("workers"));
    });
    for (auto& [tau, m] : r) {
      sweep["top1"].push_back(std::round(m.top1 * 1e6) / 1e4);
      char buf[96];
      std::snprintf(buf, sizeof buf, "  tau %.2f  %s top-1 %.2f%%\n", tau, sweep["split"].get<std::string>().c_str(),
                    100 * m.top1);
      log_ << buf;
    }
    if (sel) chosen = best_tau(r);
  }
  sweep["chosen"] = chosen;
  sweep["selected_on"] = sel ? sweep["split"] : Json(nullptr);
  write_text_atomic(dir_ / "tau_sweep.json", sweep.dump(2) + "\n");
  log_ << "stage 2 (tau_norm): tau " << chosen
       << (sel ? " chosen on " + sweep["split"].get<std::string>() : std::string(" kept (no validation split)")) << "\n";
  auto h = tau_normalize(*lin, chosen);
  h->requires_grad_(false);
  net_->set_head(h);
  save_model(ckpt(2, "last"), *net_, {{"stage", "2"}, {"tau", std::to_string(chosen)}});
}

void Trainer::finish_stage(int stage) {
  if (stage == 1) st_.stage1_top1 = st_.best_top1;
  st_.stage = stage + 1;
  st_.epoch = 0;
  st_.best_top1 = -1;
  st_.best_epoch = -1;
  opt_.reset();
  params_.clear();
  save_state();
}

Json Trainer::finish() {
  const int last_stage = cfg_.at("stage2").at("method") == "none" ? 1 : 2;
  const std::string kept = final_checkpoint(cfg_, dir_.string());
  net_ = load_model(kept);  // rebuilds the stage-2 head structure (LWS, tau-norm) from the metadata
  Json summary{{"engine", "tailor"}, {"name", cfg_.at("name")}, {"device", cfg_.at("device")},
               {"threads", omp_get_max_threads()}, {"seed", cfg_.at("seed")},
               {"epochs", cfg_.at("stage1").at("epochs")},
               {"stage2_epochs", last_stage == 2 ? cfg_.at("stage2").at("epochs") : Json(0)}};
  const data::Dataset* ev = data_.test ? data_.test.get() : data_.val.get();
  if (ev) {
    EvalMetrics m = evaluate_dataset(*net_, *ev, data_.eval_tf, data_.train_counts,
                                     cfg_.at("data").at("eval_batch_size"), cfg_.at("data").at("workers"));
    Json j = eval_to_json(m, data_.train_counts, data_.train.class_names, class_weight_norms(*net_));
    j["split"] = ev == data_.test.get() ? "test" : "val";
    j["checkpoint"] = fs::path(kept).filename().string();
    write_text_atomic(dir_ / "eval.json", j.dump() + "\n");
    for (const char* k : {"top1", "top5", "many", "medium", "few", "ece"}) summary[k] = j[k];
    log_ << "\n" << data_.description << "\nfinal " << j["split"].get<std::string>() << " accuracy of "
         << fs::path(kept).filename().string()
         << " by training-set frequency (many > 100, medium 20-100, few < 20 images):\n"
         << format_shot_table(m);
  }
  summary["top1_last"] = last_logged_top1(dir_ / "metrics.jsonl", last_stage);
  summary["stage1_top1"] = st_.stage1_top1 >= 0 ? Json(std::round(st_.stage1_top1 * 1e6) / 1e4) : Json(nullptr);
  summary["wall_s"] = std::round((st_.wall_before + now_s() - session_t0_) * 10) / 10;
  summary["train_img_per_s"] = st_.train_seconds > 0 ? std::round(st_.train_images / st_.train_seconds * 10) / 10 : 0.0;
  summary["peak_mem_mb"] = peak_rss_mb();
  if (dev_.is_cuda()) summary["peak_gpu_mb"] = std::round(cuda_memory_stats().peak / 1048576.0 * 10) / 10;
  summary["run_dir"] = dir_.string();
  write_text_atomic(dir_ / "summary.json", summary.dump(2) + "\n");
  st_.stage = 3;
  save_state();
  if (flags_.report) {
    try {
      write_report(dir_.string(), nullptr);
      log_ << "report: " << (dir_ / "report.html").string() << "\n";
    } catch (const std::exception& e) {
      log_ << "report: not written (" << e.what() << "); rebuild it with `tailor report --run " << dir_.string()
           << "`\n";
    }
  }
  log_ << "run: " << dir_.string() << " (config.json, metrics.jsonl, checkpoints/, eval.json, summary.json)\n";
  return summary;
}

Json Trainer::run() {
  hash_ = config_hash(cfg_);
  seed_ = cfg_.at("seed").get<uint64_t>();
  const int threads = cfg_.at("threads");
  omp_set_num_threads(threads > 0 ? threads : (int)std::max(1u, std::thread::hardware_concurrency()));
  set_anomaly_detection(cfg_.at("debug").at("anomaly"));
  prepare_dir();
  log_ << "run: " << dir_.string() << (flags_.resume ? " (resuming)" : "") << "\n";
  data_ = load_run_data(cfg_, log_);
  data_fingerprint_ = data_fingerprint(data_);
  manual_seed(seed_);
  loss_rng_ = Rng::keyed(seed_, 0x6c6f7373);  // "loss"
  net_ = build_model(cfg_, data_.train.num_classes, data_.train.channels);
  dev_ = parse_device(cfg_.at("device"));
  if (dev_.is_cuda()) {
    if (!cuda_available())
      run_fail("device cuda: no CUDA device is available (or this build has no CUDA backend; configure with "
               "-DTAILOR_CUDA=ON)");
    cuda_set_deterministic(cfg_.at("deterministic"));
    net_->to(dev_);
  }
  create_dir();
  log_ << "model: " << cfg_.at("model").at("arch").get<std::string>() << " (" << net_->num_parameters()
       << " parameters), head " << cfg_.at("model").at("head").get<std::string>() << ", " << omp_get_max_threads()
       << " threads\n";
  if (flags_.resume) {
    load_state();
    if (st_.stage == 3) {
      log_ << "the run had already finished; re-evaluating\n";
      return finish();
    }
  } else {
    const std::string init = cfg_.at("model").at("init_from");
    if (!init.empty()) {
      if (!fs::is_regular_file(init)) run_fail("model.init_from: file not found: " + init);
      auto rep = load_weights(init, *net_, cfg_.at("model").at("init_allow_partial"));
      log_ << "model: initialised from " << init << ": " << rep.str() << "\n";
    }
    setup_stage(1);
    save_state();
  }
  if (st_.stage == 1) {
    run_epochs(1);
    if (stopped_) return stopped();
    finish_stage(1);
  }
  const std::string method = cfg_.at("stage2").at("method");
  if (st_.stage == 2 && method != "none") {
    if (ready_stage_ != 2) setup_stage(2);
    if (method == "tau_norm") {
      tau_norm_stage();
    } else {
      run_epochs(2);
      if (stopped_) return stopped();
    }
    finish_stage(2);
  }
  return finish();
}

Json Trainer::stopped() {
  const double s = now_s() - session_t0_;
  char buf[96];
  std::snprintf(buf, sizeof buf, "stopped after %.0f s (--stop-after %g) at stage %d epoch %d", s,
                flags_.stop_after_s, st_.stage, st_.epoch + 1);
  log_ << "\n" << buf << "; the state is saved: continue with `tailor train --resume " << dir_.string() << "`\n";
  return Json{{"stopped", true}, {"stage", st_.stage}, {"epoch", st_.epoch + 1}, {"run_dir", dir_.string()}};
}

}  // namespace

std::string final_checkpoint(const Json& cfg, const std::string& run_dir) {
  const std::string method = cfg.at("stage2").at("method");
  const std::string stage = method == "none" ? "stage1" : "stage2";
  const fs::path d = fs::path(run_dir) / "checkpoints";
  const fs::path best = d / (stage + "_best.safetensors"), last = d / (stage + "_last.safetensors");
  if (cfg.at("eval").at("select") != "last" && method != "tau_norm" && fs::exists(best)) return best.string();
  return last.string();
}

std::string run_dir_of(const Json& cfg) {
  return (fs::path(cfg.at("runs_dir").get<std::string>()) / cfg.at("name").get<std::string>()).string();
}

Json train_run(const Json& cfg, const std::string& run_dir, const TrainFlags& flags, std::ostream& log) {
  Trainer t(cfg, run_dir, flags, log);
  return t.run();
}

}  // namespace tailor
