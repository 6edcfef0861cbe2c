#include "train/trainer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "data/loader.h"
#include "engine/allocator.h"
#include "engine/atomic_file.h"
#include "engine/version.h"
#include "report/cams.h"
#include "report/report.h"
#include "rundir/files.h"
#include "rundir/progress.h"
#include "rundir/state.h"
#include "rundir/stop_signal.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/loop.h"
#include "train/method.h"
#include "train/run_model.h"
#include "train/stage_plan.h"

namespace tailor {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void run_fail(const std::string& msg) { throw std::runtime_error(msg); }

// Where a rank other than 0 sends its progress lines.
std::FILE* null_file() {
  static std::FILE* f = std::fopen("/dev/null", "w");
  return f;
}

// log.progress auto: a live bar on a terminal. mpirun gives every rank a pseudo-terminal even when its own
// output goes to a file, so under mpirun auto means plain lines.
std::string progress_mode(const std::string& mode) {
  return mode == "auto" && launch_info().launched ? "plain" : mode;
}

// The tensors of `t` whose names start with `prefix`, the prefix removed.
std::map<std::string, Tensor> with_prefix(const std::map<std::string, Tensor>& t, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (auto& [name, v] : t)
    if (name.rfind(prefix, 0) == 0) out[name.substr(prefix.size())] = v;
  return out;
}

class Trainer {
 public:
  Trainer(const Json& cfg, const std::string& dir, const TrainFlags& flags, std::ostream& log)
      : cfg_(parse_run_config(cfg)), dir_(dir), flags_(flags), log_(log),
        progress_(launch_info().rank == 0 ? stdout : null_file(), progress_mode(cfg_.progress)) {}
  Json run(std::optional<RunData> given);

 private:
  fs::path state_path() const { return run_state_path(dir_); }
  int num_stages() const { return (int)cfg_.stages.size(); }
  RunContext context();
  // the split of the final evaluation (eval.json, summary.json): test, else val
  const data::Dataset* final_split() const { return data_.test ? data_.test.get() : data_.val.get(); }
  void open_dir();    // the lock, and the checks: resume needs a state, a fresh run a free directory
  void create_dir();  // config.json, after the data and the model are built (a config error leaves nothing)
  void remove_failed_start();
  void start_stage(int k, bool restore);
  bool run_stage(int k);  // false: stopped early (--stop-after)
  void finish_stage(int k);
  void save_state();
  void load_state();
  void restore_stage_state();
  Json finish();
  Json stopped();

  RunConfig cfg_;
  fs::path dir_;
  TrainFlags flags_;
  std::ostream& log_;
  Progress progress_;
  RunDirLock lock_;
  std::string hash_;
  double session_t0_ = monotonic_seconds();
  RunData data_;
  std::string data_fingerprint_;
  std::shared_ptr<ResNet> net_;
  Device dev_ = Device::cpu();  // config key `device`: model, batches and optimiser state live there
  RunState st_;
  Rng model_rng_, loss_rng_;
  std::map<std::string, Tensor> resume_tensors_;  // the state's tensors until the stage in progress is set up
  // the stage in progress
  std::unique_ptr<Method> method_;
  std::unique_ptr<GroupedSGD> opt_;
  std::unique_ptr<data::Sampler> sampler_;
  std::unique_ptr<data::Loader> loader_;
  uint64_t stage_seed_ = 0;
  // data parallel (train/data_parallel.h): this process's rank of the job; rank 0 writes the run directory
  std::unique_ptr<Communicator> comm_;
  bool writer_ = true;
  int64_t states_saved_ = 0;  // by this process
  int stop_signal_ = 0;       // the signal that stopped the run (rundir/stop_signal.h)
  bool dir_emptied_ = false;  // --overwrite: the old run removed (create_dir)
};

RunContext Trainer::context() {
  RunContext c{cfg_, data_, *net_, dev_, st_, dir_, progress_, log_, [this] { save_state(); }};
  c.stop_after_s = flags_.stop_after_s;
  c.session_t0 = session_t0_;
  c.comm = comm_.get();
  c.writer = writer_;
  c.bucket_mb = cfg_.dist.bucket_mb;
  return c;
}

void Trainer::open_dir() {
  if (flags_.resume) {
    if (!fs::is_directory(dir_)) run_fail("--resume " + dir_.string() + ": no such run directory");
    if (writer_) lock_ = RunDirLock(dir_, false);
    if (!fs::is_regular_file(state_path()))
      run_fail("--resume " + dir_.string() + ": no training state at " + state_path().string() +
               " (refusing to start a fresh run in its place)");
    if (writer_) check_writable(dir_ / "checkpoints");
    return;
  }
  if (writer_) lock_ = claim_fresh_run_dir(dir_, flags_.overwrite);  // rank 0 creates the directory
}

void Trainer::create_dir() {
  if (flags_.resume || !writer_) return;
  empty_run_dir(dir_);  // --overwrite; the locked folder stays
  dir_emptied_ = true;
  fs::create_directories(dir_ / "checkpoints");
  write_text_atomic(dir_ / "config.json", cfg_.doc.dump(2) + "\n");
}

// A fresh run that fails before its first training state leaves nothing behind (its folder was new, empty, or
// emptied by --overwrite), so the same command can simply be run again. The run an --overwrite would replace
// stays until the new one has got past its checks and emptied the folder.
void Trainer::remove_failed_start() {
  if (flags_.resume || !writer_ || (flags_.overwrite && !dir_emptied_)) return;
  try {
    empty_run_dir(dir_);
  } catch (const std::exception&) {  // the error that stopped the start is the one to report
  }
  std::error_code ec;
  if (lock_.created()) fs::remove(dir_, ec);
}

void Trainer::save_state() {
  ++states_saved_;
  const int world = comm_->world();
  if (world > 1) {  // every rank takes part: rank 0's buffers everywhere, every rank's loss stream to rank 0
    broadcast_buffers(*comm_, *net_);
    if (method_)
      for (auto& x : method_->extra_modules())
        if (x.in_state) broadcast_buffers(*comm_, *x.module);
    std::vector<Rng::State> all(world);
    const Rng::State mine = loss_rng_.state();
    comm_->all_gather_bytes(&mine, sizeof mine, all.data());
    st_.world = world;
    st_.rank_loss_rngs = all;
  }
  std::map<std::string, Tensor> t;
  for (auto& [name, v] : net_->state_dict()) t["model." + name] = v;
  if (opt_)
    for (auto& slot : opt_->slots())
      if (slot.momentum->defined()) t["momentum." + slot.name] = *slot.momentum;
  RunState s = st_;
  if (method_) {
    for (auto& x : method_->extra_modules())
      if (x.in_state)
        for (auto& [name, v] : x.module->state_dict()) t["module." + x.role + "." + name] = v;
    std::map<std::string, Tensor> mt;
    method_->save_state(s.method, mt);
    for (auto& [name, v] : mt) t["method." + name] = v;
  }
  if (world > 1) check_ranks_agree(*comm_, t);  // rank 0 saves the state of every rank: they must be one
  if (!writer_) return;
  for (const char* log : {"metrics.jsonl", "steps.jsonl"})  // on the disk before a state that counts their bytes
    sync_file((dir_ / log).string());
  st_.metrics_bytes = file_size_or_zero(dir_ / "metrics.jsonl");
  st_.steps_bytes = file_size_or_zero(dir_ / "steps.jsonl");
  st_.loss_rng = loss_rng_.state();
  st_.data_fingerprint = data_fingerprint_;
  const Json method_state = s.method;
  s = st_;
  s.method = method_state;
  s.wall_before = st_.wall_before + (monotonic_seconds() - session_t0_);
  save_tensors(state_path().string(), t, {{"state", state_json(s, hash_).dump()}, {"config", cfg_.doc.dump()}});
}

void Trainer::load_state() {
  std::map<std::string, std::string> meta;
  resume_tensors_ = read_weights(state_path().string(), &meta);
  if (!meta.count("state")) run_fail(state_path().string() + ": not a training-state file (no 'state' metadata)");
  Json j = Json::parse(meta["state"]);
  st_ = state_from_json(j, state_path().string());
  if (j.at("config_hash").get<std::string>() != hash_) {
    std::string what = "hash " + j.at("config_hash").get<std::string>() + " vs " + hash_;  // a state without its config
    if (meta.count("config")) what = config_differences(Json::parse(meta["config"]), cfg_.doc);
    run_fail(state_path().string() + ": the state was written with a different config than " +
             (dir_ / "config.json").string() + " (" + what + "); restore the original config.json or start a new run");
  }
  const std::string& was = st_.data_fingerprint;  // (each state's fingerprint compared in its own version)
  const std::string now = was.rfind("3-", 0) == 0 || was.empty() ? data_fingerprint_
                          : was.rfind("2-", 0) == 0             ? data_fingerprint_v2(data_)
                                                                : data_fingerprint_v1(data_);
  const bool val_trains = std::any_of(cfg_.stages.begin(), cfg_.stages.end(), [](const StageConfig& c) {
    const MethodSpec& m = method_spec(c.method);
    return m.trains_on_val && m.trains_on_val(c);
  });
  const ResumeDataCheck data_check =
      check_resume_data(data_, now, was, cfg_.data.root, flags_.accept_changed_eval_images, val_trains);
  if (!data_check.refusal.empty()) run_fail(data_check.refusal);
  if (st_.world != comm_->world())
    run_fail(state_path().string() + ": written by a job of " + std::to_string(st_.world) +
             " rank(s); resume it with " +
             (st_.world > 1 ? "mpirun -np " + std::to_string(st_.world) + " tailor train --resume ..."
                            : std::string("one process (no mpirun)")) +
             " (a run's batches and streams are split by its number of ranks)");
  const StepsRevisionCheck revision = check_steps_revision(st_, cfg_.stages, (int64_t)data_.train.size());
  if (!revision.refusal.empty()) run_fail(state_path().string() + ": " + revision.refusal);
  for (const std::string& note : revision.notes) log_ << "note: " << note << "\n";
  if (st_.stage <= num_stages())  // (a finished run is only re-evaluated)
    if (const std::string note = continue_with_engine(st_, version_commit(), version_build()); !note.empty())
      log_ << "note: " << note << "\n";
  if (!data_check.note.empty()) log_ << "note: " << data_check.note << "\n";  // (once nothing else refuses)
  st_.steps_revision = RunState::kStepsRevision;  // (what the stages still to train will run)
  if (writer_) {
    const std::string old_root = update_data_root(dir_ / "config.json", cfg_.data.root);
    if (!old_root.empty()) log_ << "data.root: was " << old_root << " (config.json updated)\n";
  }
  loss_rng_.set_state(st_.world > 1 ? st_.rank_loss_rngs.at(comm_->rank()) : st_.loss_rng);
  model_rng_.set_state(st_.model_rng);
  // the logs continue from the state's point: drop lines of the lost tail; a log shorter than the state counts
  // lost lines the run cannot write again (each was synced before the state was saved: an edit or damage)
  for (auto [name, bytes] : {std::pair<const char*, uint64_t>{"metrics.jsonl", st_.metrics_bytes},
                             std::pair<const char*, uint64_t>{"steps.jsonl", st_.steps_bytes}}) {
    const fs::path p = dir_ / name;
    const uint64_t size = file_size_or_zero(p);
    if (size < bytes)
      run_fail(p.string() + ": " + std::to_string(size) + " bytes, but the training state was saved after " +
               std::to_string(bytes) + " (its lines up to that point are missing: the file was cut, emptied or "
               "removed after the run wrote it); restore it from a copy, or start the run again");
    if (writer_ && size > bytes) fs::resize_file(p, bytes);
  }
  if (st_.stage <= num_stages())  // (a finished run's state is past its last stage: said by run())
    log_ << "resumed " << dir_.string() << " at stage " << st_.stage << " epoch " << st_.epoch + 1 << " after step "
         << st_.step_in_epoch << " (global step " << st_.global_step << ")\n";  // (the same on every rank)
}

// After the stage's setup on a resume: the model, the optimiser moments, the method's modules and state.
void Trainer::restore_stage_state() {
  const std::string file = state_path().string();
  try {
    net_->load_state_dict(with_prefix(resume_tensors_, "model."), false);
    for (auto& x : method_->extra_modules())
      if (x.in_state) x.module->load_state_dict(with_prefix(resume_tensors_, "module." + x.role + "."), false);
  } catch (const std::exception& e) {
    run_fail(file + ": " + e.what());
  }
  if (opt_)
    for (auto& slot : opt_->slots()) {
      auto it = resume_tensors_.find("momentum." + slot.name);
      if (it != resume_tensors_.end()) *slot.momentum = it->second.to(slot.param.device());
    }
  method_->load_state(st_.method, with_prefix(resume_tensors_, "method."));
  resume_tensors_.clear();
}

void Trainer::start_stage(int k, bool restore) {
  const StageConfig& c = cfg_.stages[k - 1];
  stage_seed_ = cfg_.seed + (uint64_t)(k - 1);
  if (!restore) {
    st_.model_rng = model_rng_.state();  // a resume of this stage re-draws from here
    st_.method = Json::object();         // the earlier stage's method state (a resume read it) is not this one's
  }
  if (k >= 2 && c.load.kind == LoadFrom::Fresh) {
    // a new model: its own stream, keyed by the seed and the stage, so that it differs from every other
    // stage's model and adding stages before it leaves it unchanged
    model_rng_ = Rng::keyed(cfg_.seed, role_key(c.key()));
    net_ = build_model(cfg_.model, data_.train.num_classes, data_.train.channels, model_rng_);
    net_->to(dev_);
    log_ << c.key() << ": a fresh " << cfg_.model.arch << " (weights from the seed and the stage)\n";
  } else if (k >= 2) {
    std::string path = c.load.path;
    if (c.load.kind != LoadFrom::File) {
      const RunContext rc = context();
      path = rc.checkpoint(k - 1, c.load.kind == LoadFrom::Best && fs::exists(rc.checkpoint(k - 1, "best")) ? "best"
                                                                                                          : "last");
    }
    if (!fs::is_regular_file(path))
      run_fail(c.key() + ".load: checkpoint not found: " + path + " (refusing to start from an untrained model)");
    log_ << c.key() << ": ";
    load_into(*net_, path, &log_);
    net_->to(dev_);
  }
  method_ = method_spec(c.method).make(c);
  StageSetup setup{c, data_, *net_, model_rng_, loss_rng_, cfg_.seed, stage_seed_, cfg_.data.workers, dev_, log_,
                   [this](const std::string& ref) {
                     const int s = stage_number(ref);
                     return s > 0 ? context().checkpoint(s, "last") : ref;
                   }};
  setup.comm = comm_.get();
  method_->setup(setup);
  net_->to(dev_);  // a new head, and anything the load replaced
  if (c.trains) {
    opt_ = std::make_unique<GroupedSGD>(stage_param_groups(*method_, c, *net_), c.optim);
    data::SamplerConfig smp = c.sampler;
    smp.seed = stage_seed_;
    smp.rank = comm_->rank();  // this rank's share of the one global stream
    smp.world = comm_->world();
    // class-aware: int(N / B) full batches (StageConfig::epoch_samples), not the sampler's own n_max x C
    if (smp.kind == data::SamplerKind::ClassAware) smp.num_samples = c.epoch_samples(data_.train.size());
    sampler_ = std::make_unique<data::Sampler>(data_.train.labels, data_.train.num_classes, smp);
    data::LoaderConfig lc;
    lc.batch_size = c.batch_size / comm_->world();  // the global batch split over the ranks
    lc.num_workers = cfg_.data.workers;
    lc.seed = stage_seed_;
    lc.on_bad_image = data::parse_bad_image_policy(cfg_.data.on_bad_image);
    if (cfg_.data.resident) lc.resident = dev_;  // mixup then mixes on the device (mix_rows)
    const std::string view2 = method_->second_view();
    if (!view2.empty()) {  // (mixup refused before stage 1: train/stage_plan.h)
      lc.second_view = train_transform_for(data_, view2, c.key() + " (" + c.method + ") second view");
    }
    loader_ = std::make_unique<data::Loader>(data_.train, *sampler_, train_transform_for(data_, c.augment, c.key() + ".augment"), lc);
  }
  if (restore) restore_stage_state();
  if (comm_->world() > 1) {  // every rank starts the stage from rank 0's weights
    broadcast_module(*comm_, *net_);
    for (auto& x : method_->extra_modules())
      if (x.in_state) broadcast_module(*comm_, *x.module);
  }
  // SyncBatchNorm also on one process, so that 1 x 128 and 2 x 64 sum their statistics the same way
  set_sync_batch_norm(*net_, cfg_.dist.sync_bn ? comm_.get() : nullptr);
  st_.stage_started = true;
  std::string line = c.key() + " (" + c.method + "): ";
  const std::string what = method_->describe();
  if (c.trains) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%zu trainable tensors, %s%ssampler %s, mixup %g, %s lr %g, batch %lld, %d epoch%s",
                  opt_->num_params(), what.c_str(), what.empty() ? "" : ", ",
                  method_->chooses_batches() ? "its own" : data::sampler_kind_name(c.sampler.kind),
                  c.mixup_alpha, schedule_kind_name(c.schedule.kind), c.schedule.base_lr, (long long)c.batch_size,
                  c.epochs, c.epochs == 1 ? "" : "s");
    line += buf;
    if (!c.augment.empty()) line += ", augment " + c.augment;
    if (!c.decay_head_bias) line += ", head bias without weight decay";
    if (!method_->second_view().empty()) line += ", second view " + method_->second_view();
  } else {
    line += what.empty() ? "post-hoc" : what;
  }
  log_ << line << std::endl;  // flushed: a log file shows at once what the stage is
}

bool Trainer::run_stage(int k) {
  const StageConfig& c = cfg_.stages[k - 1];
  RunContext rc = context();
  if (c.trains) {
    StageRun sr{c, *method_, *opt_, *loader_, c.schedule, stage_seed_};
    const bool done = train_stage(rc, sr);
    stop_signal_ = rc.stop_signal;
    return done;
  }
  PosthocContext pc{data_, *net_, log_, cfg_.data.eval_batch_size, cfg_.data.workers, cfg_.shot_rule, is_data_parallel(*comm_),
                    [&rc](ResNet& n, const data::Dataset& ds) { return rc.evaluate(n, ds); },
                    [this](const std::string& f, const std::string& text) {
                      if (writer_) write_text_atomic(dir_ / f, text);
                    }};
  method_->run_posthoc(pc);
  net_->to(dev_);
  // the stage's one model on eval.select's split, as a training stage's last epoch is: its entry in
  // summary.json's stage_top1 (a post-hoc stage logs no epoch). A last stage whose split is the final
  // evaluation's takes that evaluation's top-1 in finish() (the same model: no second pass).
  const data::Dataset* ev = rc.eval_split();
  if (ev && !(k == num_stages() && ev == final_split())) st_.best_top1 = rc.evaluate(*net_, *ev).top1;
  std::map<std::string, std::string> meta = method_->checkpoint_metadata();
  meta["stage"] = std::to_string(k);
  meta["method"] = c.method;
  if (writer_) save_model(rc.checkpoint(k, "last"), *net_, meta);
  return true;
}

void Trainer::finish_stage(int k) {
  st_.stage_top1.push_back(st_.best_top1);
  double seconds = st_.train_seconds;
  int64_t images = st_.train_images;
  for (double x : st_.stage_seconds) seconds -= x;
  for (int64_t x : st_.stage_images) images -= x;
  st_.stage_seconds.push_back(seconds);
  st_.stage_images.push_back(images);
  st_.stage = k + 1;
  st_.stage_started = false;
  st_.epoch = 0;
  st_.best_top1 = -1;
  st_.best_epoch = -1;
  loader_.reset();
  sampler_.reset();
  opt_.reset();
  method_.reset();
  st_.model_rng = model_rng_.state();
  save_state();
}

Json Trainer::finish() {
  const std::string kept = final_checkpoint(cfg_, dir_.string());
  net_ = load_model(kept);  // rebuilds the final head structure (LWS, tau-norm, NCM) from the metadata
  net_->to(dev_);            // evaluated where it was trained
  Json stages = Json::array();
  for (auto& s : cfg_.stages) stages.push_back(Json{{"method", s.method}, {"epochs", s.trains ? s.epochs : 0}});
  const StageConfig& s1 = cfg_.stages.front();
  Json summary{{"engine", "tailor"}, {"engine_version", version_commit()}, {"engine_build", version_build()},
               {"name", cfg_.name}, {"device", cfg_.device}, {"threads", omp_get_max_threads()},
               {"precision", precision_name(cfg_.precision)}, {"seed", cfg_.seed}, {"stages", stages}, {"epochs", s1.epochs},
               {"stage2_epochs", num_stages() >= 2 && cfg_.stages[1].trains ? cfg_.stages[1].epochs : 0}};
  const data::Dataset* ev = final_split();
  if (ev) {
    EvalMetrics m = context().evaluate(*net_, *ev);
    // a post-hoc last stage's stage_top1 entry, which run_stage left to this evaluation
    if (!cfg_.stages.back().trains && ev == context().eval_split()) st_.stage_top1.back() = m.top1;
    Json j = eval_to_json(m, data_.train_counts, data_.train.class_names, *net_);
    j["split"] = ev == data_.test.get() ? "test" : "val";
    j["checkpoint"] = fs::path(kept).filename().string();
    if (writer_) write_text_atomic(dir_ / "eval.json", j.dump() + "\n");
    for (const char* k : {"top1", "balanced_acc", "top5", "many", "medium", "few", "ece"}) summary[k] = j[k];
    log_ << "\n" << data_.description << "\nfinal " << j["split"].get<std::string>() << " accuracy of "
         << fs::path(kept).filename().string() << ":\n"
         << format_shot_table(m, j["split"].get<std::string>());
  }
  const std::string drop = stage_drop_note(best_logged_top1(dir_ / "metrics.jsonl"));
  if (!drop.empty()) log_ << "note: " << drop << "\n";
  summary["top1_last"] = last_logged_top1(dir_ / "metrics.jsonl", num_stages());
  if (ev && ev == data_.test.get() && summary["top1_last"].is_null() && !cfg_.stages.back().trains)
    summary["top1_last"] = summary["top1"];  // a post-hoc last stage logs no epoch: its one model is the final one
  add_run_totals(summary, st_, st_.wall_before + monotonic_seconds() - session_t0_);
  if (dev_.is_cuda()) summary["peak_gpu_mb"] = std::round(cuda_memory_stats().peak / 1048576.0 * 10) / 10;
  summary["run_dir"] = fs::absolute(dir_).lexically_normal().string();  // (a resume may name it relatively)
  if (is_data_parallel(*comm_)) summary["ranks"] = comm_->world();
  summary["engine_history"] = engine_history_json(st_);
  if (writer_) write_text_atomic(dir_ / "summary.json", summary.dump(2) + "\n");
  st_.stage = num_stages() + 1;
  save_state();
  if (!ev) log_ << "no test or validation split: no final evaluation, eval.json or report\n";
  if (flags_.report && writer_ && ev) {
    try {
      if (ev && has_cam_head(*net_)) {  // CAMC: the page of its class activation maps, linked from the report
        CamPageOptions o;
        o.batch = cfg_.data.eval_batch_size, o.workers = cfg_.data.workers;
        write_cam_page(dir_.string(), *net_, *ev, data_.eval_tf, data_.train_counts,
                       ev == data_.test.get() ? "test" : "val", o);
      }
      write_report(dir_.string(), nullptr);
      log_ << "report: " << (dir_ / "report.html").string() << "\n";
    } catch (const std::exception& e) {
      log_ << "report: not written (" << e.what() << "); rebuild it with `tailor report --run " << dir_.string()
           << "`\n";
    }
  }
  log_ << "run: " << dir_.string() << " (config.json, metrics.jsonl, checkpoints/, " << (ev ? "eval.json, " : "")
       << "summary.json)\n";
  return summary;
}

Json Trainer::stopped() {
  const double s = monotonic_seconds() - session_t0_;
  char buf[128];
  if (stop_signal_ != 0 && st_.step_in_epoch > 0)  // mid-epoch: the state is after step s of epoch st_.epoch + 1
    std::snprintf(buf, sizeof buf, "stopped by %s at stage %d epoch %d after step %lld", stop_signal_name(stop_signal_),
                  st_.stage, st_.epoch + 1, (long long)st_.step_in_epoch);
  else if (stop_signal_ != 0)  // on an epoch's last step: the epoch done (and evaluated), the state after it
    std::snprintf(buf, sizeof buf, "stopped by %s at the end of stage %d epoch %d", stop_signal_name(stop_signal_),
                  st_.stage, st_.epoch);
  else
    std::snprintf(buf, sizeof buf, "stopped after %.0f s (--stop-after %g) at stage %d epoch %d", s,
                  flags_.stop_after_s, st_.stage, st_.epoch);
  const std::string launcher = comm_->world() > 1 ? "mpirun -np " + std::to_string(comm_->world()) + " " : "";
  log_ << "\n" << buf << "; the state is saved: continue with `" << launcher << "tailor train --resume " << dir_.string()
       << "`\n";
  return Json{{"stopped", true}, {"stage", st_.stage}, {"epoch", st_.epoch}, {"run_dir", dir_.string()}};
}

Json Trainer::run(std::optional<RunData> given) {
  hash_ = config_hash(cfg_.doc);
  omp_set_num_threads(cfg_.threads > 0 ? cfg_.threads : default_threads());
  set_anomaly_detection(cfg_.anomaly);
  // data parallel: this process's rank, its device (cuda:<local rank>) and communicator, before anything
  // touches a device
  const LaunchInfo li = launch_info();
  writer_ = li.rank == 0;
  dev_ = rank_device(parse_device(cfg_.device));
  comm_ = make_run_comm(cfg_.dist, dev_);
  check_data_parallel_plan(cfg_, comm_->world());
  check_precision_supported(cfg_.precision, dev_);  // bf16: native on this CPU / GPU
  if (cfg_.cuda_graphs && !dev_.is_cuda()) run_fail("cuda_graphs true: CUDA graphs need device cuda, got " + cfg_.device);
  PrecisionScope precision_scope(cfg_.precision);  // training, evaluation and the report
  if (!flags_.resume) check_stage_files(cfg_, 1);  // before any data is read (a resume: once its stage is known)
  open_dir();
  try {
    log_ << "run: " << dir_.string() << (flags_.resume ? " (resuming)" : "") << "\nengine: " << version_line() << "\n";
    for (const std::string& w : schedule_warnings(cfg_)) log_ << "warning: " << w << "\n";
    for (const std::string& w : head_loss_warnings(cfg_)) log_ << "warning: " << w << "\n";
    data_ = given ? std::move(*given) : load_run_data(cfg_.data, log_);
    if (cfg_.eval_select == EvalSelect::Val && !data_.val)
      throw ConfigError("eval.select val: the data has no validation split (an image folder's is " + cfg_.data.root +
                        "/val/<class>/...)");
    data_fingerprint_ = data_fingerprint(data_);
    if (cfg_.data.resident && !is_data_parallel(*comm_)) check_resident_eval(data_);  // (sharded eval: host batches)
    check_same_job(*comm_, hash_, data_fingerprint_, cfg_.doc);
    if (is_data_parallel(*comm_)) log_ << describe_ranks(*comm_) << "\n";
    model_rng_ = Rng(cfg_.seed);                     // the model's stream: every earlier tailor run's init
    // "loss"; keyed by the rank too (rank 0 = one process), so the noise differs between ranks as between
    // the samples of one batch
    loss_rng_ = Rng::keyed(cfg_.seed, 0x6c6f7373, (uint64_t)comm_->rank());
    net_ = build_model(cfg_.model, data_.train.num_classes, data_.train.channels, model_rng_);
    if (dev_.is_cuda()) {
      if (!cuda_available())
        run_fail("device cuda: no CUDA device is available (or this build has no CUDA backend; configure with "
                 "-DTAILOR_CUDA=ON)");
      cuda_set_deterministic(cfg_.deterministic);
      net_->to(dev_);
    }
    log_ << "model: " << cfg_.model.arch << " (" << net_->num_parameters() << " parameters), head " << cfg_.model.head
         << ", " << omp_get_max_threads() << " threads"
         << (cfg_.precision == Precision::BF16 ? ", bf16 convolutions" : "") << "\n";
    if (!cfg_.stages.empty())  // a network for other images; a batch the host's memory cannot hold
      log_ << arch_input_warning(cfg_.model.arch, data_.preset.size, cfg_.stages[0].batch_size)
           << host_memory_warning(cfg_, data_.train, data_.preset.size, comm_->world());
    if (!flags_.resume && !cfg_.model.init_from.empty()) {
      if (!fs::is_regular_file(cfg_.model.init_from)) run_fail("model.init_from: file not found: " + cfg_.model.init_from);
      Module::LoadReport rep;
      try {
        rep = load_weights(cfg_.model.init_from, *net_, cfg_.model.init_allow_partial);
      } catch (const std::exception&) {
        explain_init_from_failure(cfg_, data_);  // a tailor checkpoint of another model or head: said as such
        throw;
      }
      log_ << "model: initialised from " << cfg_.model.init_from << ": " << rep.str() << "\n";
    }
  } catch (...) {
    std::error_code ec;
    if (lock_.created() && fs::is_empty(dir_, ec)) fs::remove(dir_, ec);  // a failed start leaves nothing
    throw;
  }
  if (flags_.resume) {
    load_state();
    if (st_.stage > num_stages()) {
      log_ << "resumed " << dir_.string() << ": the run had already finished; re-evaluating\n";
      return finish();
    }
    check_stage_files(cfg_, st_.stage);  // the stages still to run
    check_stage_plan(cfg_, data_, comm_->world(), st_.stage, &log_);
  } else {
    try {
      check_stage_plan(cfg_, data_, comm_->world(), 1, &log_);  // what each stage's start would refuse, before any trains
      create_dir();
      check_run_dir_shared(*comm_, dir_.string());
      start_stage(1, false);
      continue_with_engine(st_, version_commit(), version_build());  // (the first entry)
      save_state();
    } catch (...) {
      remove_failed_start();
      throw;
    }
  }
  try {
    for (int k = st_.stage; k <= num_stages(); ++k) {
      if (!method_) start_stage(k, flags_.resume && st_.stage_started && k == st_.stage);
      if (!run_stage(k)) return stopped();
      finish_stage(k);
    }
  } catch (...) {
    // a fresh run that fails at its first step (a bad first batch, a non-finite first step) has nothing to
    // resume or to read: it leaves no directory, so that the same command can be run again
    if (!flags_.resume && states_saved_ <= 1 && st_.global_step <= 1) remove_failed_start();
    throw;
  }
  return finish();
}

}  // namespace

std::string final_checkpoint(const RunConfig& cfg, const std::string& run_dir) {
  const StageConfig& last = cfg.stages.back();
  const fs::path d = fs::path(run_dir) / "checkpoints";
  const fs::path best = d / (last.key() + "_best.safetensors"), lastf = d / (last.key() + "_last.safetensors");
  if (cfg.eval_select != EvalSelect::Last && last.trains && fs::exists(best)) return best.string();
  return lastf.string();
}

std::string final_checkpoint(const Json& cfg, const std::string& run_dir) {
  return final_checkpoint(parse_run_config(cfg), run_dir);
}

std::string run_dir_of(const Json& cfg) {
  return (fs::path(expand_home(cfg.at("runs_dir"), "runs_dir")) / cfg.at("name").get<std::string>()).string();
}

Json train_run(const Json& cfg, const std::string& run_dir, const TrainFlags& flags, std::ostream& log) {
  Trainer t(cfg, run_dir, flags, log);
  return t.run(std::nullopt);
}

Json train_run(const Json& cfg, RunData data, const std::string& run_dir, const TrainFlags& flags, std::ostream& log) {
  Trainer t(cfg, run_dir, flags, log);
  return t.run(std::move(data));
}

}  // namespace tailor
