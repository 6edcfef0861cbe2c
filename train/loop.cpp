#include "train/loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <typeinfo>

#include "data/mixup.h"
#include "engine/allocator.h"
#include "engine/ops.h"
#include "engine/profiler.h"
#include "rundir/files.h"
#include "rundir/stop_signal.h"
#include "train/data_parallel.h"
#include "train/run_model.h"
#include "train/step_graph.h"

namespace tailor {

std::string RunContext::checkpoint(int stage, const char* which) const {
  return (dir / "checkpoints" / ("stage" + std::to_string(stage) + "_" + which + ".safetensors")).string();
}

const data::Dataset* RunContext::eval_split() const {
  if (cfg.eval_select == EvalSelect::Val) return data.val.get();
  return data.test ? data.test.get() : data.val.get();
}

bool RunContext::data_parallel() const { return comm && is_data_parallel(*comm); }

EvalMetrics RunContext::evaluate(ResNet& net, const data::Dataset& ds) const {
  if (data_parallel())
    return evaluate_sharded(net, ds, data.eval_tf, data.train_counts, cfg.shot_rule, cfg.data.eval_batch_size,
                            cfg.data.workers, *comm);
  // data.resident: batches normalised on the device; cuda_graphs: the forward replayed (not under debug.anomaly,
  // which reads every op's output on the host)
  EvalMetrics m = evaluate_dataset(net, ds, data.eval_tf, data.train_counts, cfg.shot_rule,
                                   cfg.data.eval_batch_size, cfg.data.workers, cfg.data.resident,
                                   cfg.anomaly ? GraphMode::Off : eval_graph_mode(cfg.cuda_graphs));
  if (std::string why = take_eval_graph_failure(); !why.empty())
    log << "cuda graphs: the evaluation forward could not be captured, evaluated eagerly (" << why << ")\n";
  return m;
}

namespace {

// Test hooks, read from the environment (not the config, so a resumed run does not inherit them):
// TAILOR_KILL_AT_STEP=n raises SIGKILL after global step n, TAILOR_STALL_AT_STEP=n sleeps for ever after it
// (a stuck rank), TAILOR_THROW_AT_STEP=n throws an error after it (a rank that fails), all under mpirun on the
// rank TAILOR_KILL_RANK names (else on every rank);
// TAILOR_NAN_INPUT_AT_STEP=a or a-b puts a NaN pixel into the batches of global steps a..b (a corrupted input).
// The kill and stall steps are read points on every rank (read_at), so the logs are written up to them.
struct TestHooks {
  int64_t kill_at = -1, stall_at = -1, throw_at = -1, signal_at = -1, nan_from = -1, nan_to = -1;
  int64_t read_at[3] = {-1, -1, -1};
  TestHooks() {
    if (const char* k = std::getenv("TAILOR_KILL_AT_STEP")) kill_at = std::atoll(k);
    if (const char* k = std::getenv("TAILOR_STALL_AT_STEP")) stall_at = std::atoll(k);
    if (const char* k = std::getenv("TAILOR_THROW_AT_STEP")) throw_at = std::atoll(k);
    if (const char* k = std::getenv("TAILOR_SIGTERM_AT_STEP")) signal_at = std::atoll(k);  // a real SIGTERM
    read_at[0] = kill_at, read_at[1] = stall_at, read_at[2] = throw_at;
    if (const char* r = std::getenv("TAILOR_KILL_RANK"))
      if (std::atoi(r) != launch_info().rank) kill_at = stall_at = throw_at = signal_at = -1;
    if (const char* n = std::getenv("TAILOR_NAN_INPUT_AT_STEP")) {
      nan_from = nan_to = std::atoll(n);
      if (const char* dash = std::strchr(n, '-')) nan_to = std::atoll(dash + 1);
    }
  }
};

// The BatchNorm statistics (every buffer) of the model and the method's extra modules: a skipped step
// must not leave them behind.
std::vector<Tensor> all_buffers(ResNet& model, const Method& method) {
  std::vector<Tensor> out;
  for (auto& [name, t] : model.named_buffers()) out.push_back(t);
  for (auto& x : method.extra_modules())
    for (auto& [name, t] : x.module->named_buffers()) out.push_back(t);
  return out;
}

// The steps since the last read point. On the device, per step: its loss and the guard's code (see
// nonfinite_index, engine/ops.h): 0 applied, 1 a non-finite loss, -k the loss of k other ranks, 2 + s the
// gradient of the optimiser's slot s; the optimiser step and the BatchNorm restore are masked by it. On the
// host: where each step is and its images.
struct QueuedStep {
  int epoch;              // 0-based
  int64_t step_in_epoch;  // 1-based
  int64_t global_step;
  int64_t images;         // this rank's
};
struct StepQueue {
  Tensor losses, codes;  // f32 [capacity], i32 [capacity] on the run's device
  std::vector<QueuedStep> steps;
  StepQueue(int64_t capacity, Device dev)
      : losses(Tensor::zeros({capacity}, DType::F32, dev)), codes(Tensor::zeros({capacity}, DType::I32, dev)) {}
  bool full() const { return (int64_t)steps.size() >= losses.numel(); }
};

// A read point: the host reads the queued steps' losses and codes (one small copy of each) and does, step by
// step in order, what the loop did after every step before: the guard's decision (stop naming the step, or
// count the skip), the epoch's loss sum and image count, steps.jsonl. Data parallel: every rank's loss x
// images and images are summed on the host, step by step (3 doubles each, the reduction the loop made after
// every step before, so that the sums keep their rounding on any number of ranks). Then the optimiser learns
// whether the masked first steps happened. Returns whether the last queued step was applied.
bool read_point(RunContext& run, StageRun& stage, StepQueue& q, const std::vector<std::string>& slot_names,
                int64_t& images_now) {
  if (q.steps.empty()) return true;
  RunState& st = run.st;
  const bool skip_bad = run.cfg.nonfinite == NonFinite::Skip;
  const int64_t k = (int64_t)q.steps.size();
  const std::vector<float> losses = q.losses.slice(0, k).to_vector();
  const std::vector<int32_t> codes = q.codes.slice(0, k).to_vector_i32();
  const std::vector<QueuedStep> steps = std::move(q.steps);
  q.steps.clear();
  std::vector<double> r;
  if (run.data_parallel()) {  // per step: the sum of loss x images over the ranks with a finite loss, the
    r.resize(3 * k);          // images, the ranks with a non-finite loss
    for (int64_t j = 0; j < k; ++j) {
      const bool finite = std::isfinite(losses[j]);
      r[3 * j] = finite ? (double)losses[j] * (double)steps[j].images : 0.0;
      r[3 * j + 1] = (double)steps[j].images;
      r[3 * j + 2] = finite ? 0.0 : 1.0;
      run.comm->all_reduce_sum(r.data() + 3 * j, 3);
    }
  }
  bool all_applied = true, last_applied = true;
  for (int64_t j = 0; j < k; ++j) {
    const QueuedStep& s = steps[j];
    float v = losses[j];
    int64_t n = s.images;
    if (!r.empty()) {
      n = std::llround(r[3 * j + 1]);
      v = r[3 * j + 2] > 0 ? std::nanf("") : (float)(r[3 * j] / r[3 * j + 1]);
    }
    const int32_t c = codes[j];
    std::string bad;
    if (c == 1) bad = "loss " + std::to_string(losses[j]);
    else if (c < 0) bad = "loss on " + std::to_string(-c) + " other rank(s)";
    else if (c >= 2) bad = "gradient of " + slot_names.at(c - 2);
    last_applied = bad.empty();
    if (!bad.empty()) {
      all_applied = false;
      std::string where = "non-finite " + bad + " at stage " + std::to_string(stage.cfg.index) + " epoch " +
                          std::to_string(s.epoch + 1) + " step " + std::to_string(s.step_in_epoch) +
                          " (global step " + std::to_string(s.global_step) + ")";
      if (!skip_bad || st.skipped >= run.cfg.max_skips)
        throw std::runtime_error(where + (skip_bad ? ": more than guard.max_skips skipped steps" : "") +
                                 "; lower the learning rate, check the data (images without variation, e.g. "
                                 "constant or 1x1, make BatchNorm's gradients overflow at any rate), or set "
                                 "debug.anomaly true to name the op that produced it");
      ++st.skipped;
      run.log << "\nguard: skipped the step: " << where << "\n";
    } else {
      st.loss_sum += (double)v * n;
      st.epoch_loss_images += n;
    }
    st.epoch_images += n;
    images_now += n;
    if (run.cfg.step_losses && run.writer) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "{\"stage\":%d,\"epoch\":%d,\"step\":%lld,\"loss\":%.9g}", stage.cfg.index,
                    s.epoch + 1, (long long)s.global_step, v);
      append_line(run.dir / "steps.jsonl", buf);
    }
  }
  stage.opt.resolve_first_steps(all_applied);
  return last_applied;
}

// metrics.jsonl, evaluation, checkpoints and the state at the end of epoch st.epoch; moves st to the next.
// comm_s: seconds the epoch's steps spent in collectives (data parallel), -1 = one process; graph_steps: the
// epoch's steps run as a CUDA graph (captured or replayed), -1 = cuda_graphs off.
void end_epoch(RunContext& run, StageRun& stage, double comm_s, int64_t graph_steps) {
  RunState& st = run.st;
  const int k = stage.cfg.index, e = st.epoch, epochs = stage.cfg.epochs;
  Json line;
  line["stage"] = k;
  line["epoch"] = e + 1;
  line["epochs"] = epochs;
  line["step"] = st.global_step;
  line["lr"] = stage.opt.lr();
  // the mean over the applied steps' images (a skipped step's loss is not in loss_sum); an epoch whose every
  // step was skipped has no loss (null, not 0)
  line["loss"] = st.epoch_loss_images ? Json(st.loss_sum / st.epoch_loss_images) : Json(nullptr);
  line["train_images"] = st.epoch_images;
  line["seconds"] = std::round(st.epoch_seconds * 100) / 100;
  line["img_per_s"] = st.epoch_seconds > 0 ? std::round(st.epoch_images / st.epoch_seconds * 10) / 10 : 0.0;
  line["skipped_steps"] = st.skipped;
  if (graph_steps >= 0) line["graph_steps"] = graph_steps;
  if (comm_s >= 0) {  // data parallel: the ranks, and the share of the steps' time spent in collectives
    line["ranks"] = run.world();
    line["comm_seconds"] = std::round(comm_s * 100) / 100;
  }
  st.train_seconds += st.epoch_seconds;
  st.train_images += st.epoch_images;
  char buf[256];
  char loss[64] = "loss n/a (no step applied)";
  if (st.epoch_loss_images) std::snprintf(loss, sizeof loss, "loss %.4f", line["loss"].get<double>());
  std::snprintf(buf, sizeof buf, "stage %d epoch %d/%d  lr %.5f  %s  %.0f img/s  %s", k, e + 1, epochs,
                stage.opt.lr(), loss, line["img_per_s"].get<double>(), format_duration(st.epoch_seconds).c_str());
  std::string summary = buf;
  std::map<std::string, std::string> meta = stage.method.checkpoint_metadata();
  meta["stage"] = std::to_string(k);
  meta["epoch"] = std::to_string(e + 1);
  meta["method"] = stage.cfg.method;
  if (run.data_parallel()) broadcast_buffers(*run.comm, run.model);  // rank 0's running statistics, evaluated and saved
  const data::Dataset* ev = run.eval_split();
  const int64_t every = run.cfg.eval_every_epochs;
  if (ev && ((every > 0 && (e + 1) % every == 0) || e + 1 == epochs)) {
    const double t0 = monotonic_seconds();
    EvalMetrics m = run.evaluate(run.model, *ev);
    line["eval_split"] = ev == run.data.val.get() ? "val" : "test";
    add_eval_fields(line, m);
    std::snprintf(buf, sizeof buf, "  |  %s top-1 %.2f%% bal %.2f%%  many %s  med %s  few %s  (%.0f s)",
                  line["eval_split"].get<std::string>().c_str(), 100 * m.top1, 100 * m.balanced_acc,
                  group_pct(m.many).c_str(), group_pct(m.medium).c_str(), group_pct(m.few).c_str(),
                  monotonic_seconds() - t0);
    summary += buf;
    const bool by_best = run.cfg.eval_select != EvalSelect::Last && run.cfg.keep_best;
    if (!by_best || m.top1 > st.best_top1) {
      st.best_top1 = m.top1;
      st.best_epoch = e + 1;
      if (by_best) {
        if (run.writer) save_model(run.checkpoint(k, "best"), run.model, meta);
        summary += "  *best";
      }
    }
  }
  const Json extra = stage.method.epoch_log();
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it) line[it.key()] = it.value();
  if (run.writer) {
    append_line(run.dir / "metrics.jsonl", line.dump());
    save_model(run.checkpoint(k, "last"), run.model, meta);
  }
  run.progress.finish(summary);
  if (stage.loader.skipped() > stage.skipped_said) {  // lazily decoded images that failed: never silent
    run.log << "  " << data::counted(stage.loader.skipped() - stage.skipped_said, "training image") << " could not be decoded and were "
            << "left out of their batches (data.on_bad_image skip; tailor verify-data --on-bad-image skip names them)\n";
    stage.skipped_said = stage.loader.skipped();
  }
  st.cursor = st.step_in_epoch = st.epoch_images = st.epoch_loss_images = 0;
  st.loss_sum = st.epoch_seconds = 0;
  st.epoch = e + 1;
  run.save_state();
}

// The stage's CUDA graph (train/step_graph.h), or null: cuda_graphs off, or a stage a graph cannot replay
// (said in the log). TAILOR_EMULATE_STEP_GRAPH=1 (tests): the CPU emulation, whatever the config.
std::unique_ptr<StepGraph> make_step_graph(RunContext& run, StageRun& stage) {
  const bool emulate = [] {
    const char* e = std::getenv("TAILOR_EMULATE_STEP_GRAPH");
    return e && std::string(e) == "1";
  }();
  if (!run.cfg.cuda_graphs && !emulate) return nullptr;
  std::string why;
  if (stage.method.has_after_step() || stage.method.chooses_batches())
    why = "method " + stage.cfg.method + " reads the outcome of every step";
  else if (run.data_parallel())
    why = "data parallel";
  else if (run.cfg.anomaly)
    why = "debug.anomaly reads every op's output";
  else if (run.cfg.dist.sync_bn)
    why = "dist.sync_bn all-reduces its statistics through the host";
  else if (run.cfg.profile_steps > 0)
    why = "debug.profile_steps times the kernels of eager steps";
  if (!why.empty()) {
    run.log << "cuda graphs: stage " << stage.cfg.index << " runs without (" << why << ")\n";
    return nullptr;
  }
  run.log << "cuda graphs: stage " << stage.cfg.index
            << (emulate ? " emulated on the host" : "")
            << ": the step captured once an epoch, after an eager warm-up step, and replayed\n";
  return std::make_unique<StepGraph>(run.dev, emulate ? StepGraph::Kind::Emulate : StepGraph::Kind::Capture);
}

// debug.profile_steps: the kernels of N steps of a stage, from the third step of an epoch this process runs,
// timed (engine/profiler.h) beside the wall time of the same steps, data loading and host work included, into
// profile_stage<k>.txt and the log. An epoch that ends first ends the profile with the steps it had.
class StageProfile {
 public:
  StageProfile(RunContext& run, const StageRun& stage) : run_(run), stage_(stage) {}
  void before_step(int64_t steps_here) {
    if (run_.cfg.profile_steps <= 0 || on_ || finished_ || steps_here != 2) return;
    if (run_.dev.is_cuda()) cuda_synchronize();
    profile::start();
    t0_ = monotonic_seconds();
    on_ = true;
  }
  void after_step() {
    if (on_ && ++done_ == run_.cfg.profile_steps) finish();
  }
  void finish() {
    if (!on_) return;
    if (done_ == 0) {  // the epoch ended before its third step: the next epoch tries again
      profile::stop();
      on_ = false;
      return;
    }
    if (run_.dev.is_cuda()) cuda_synchronize();
    const double wall_ms = (monotonic_seconds() - t0_) * 1000 / (double)done_;
    const std::vector<profile::KernelTime> kernels = profile::stop();
    on_ = false;
    finished_ = true;
    const StageConfig& c = stage_.cfg;
    const std::string name = "profile_stage" + std::to_string(c.index) + ".txt";
    std::string text = "kernel profile: stage " + std::to_string(c.index) + " (" + c.method + "), " +
                       std::to_string(done_) + " training steps of batch " + std::to_string(c.batch_size) + " on " +
                       run_.dev.str() + "; the wall time includes data loading and all host work\n" +
                       profile::table(kernels, done_, wall_ms);
    if (run_.writer) write_text_atomic(run_.dir / name, text);
    run_.log << "\n" << text << (run_.writer ? "(" + (run_.dir / name).string() + ")\n" : "");
  }
  // The stage is over: a profile asked for and never taken is said (every epoch ended before its third step).
  void stage_ended() {
    if (run_.cfg.profile_steps > 0 && !finished_)
      run_.log << "debug.profile_steps: no step of stage " << stage_.cfg.index << " was profiled (profiling starts "
               << "at an epoch's third step run by this process; no epoch had one)\n";
  }

 private:
  RunContext& run_;
  const StageRun& stage_;
  int64_t done_ = 0;
  bool on_ = false, finished_ = false;
  double t0_ = 0;
};

}  // namespace

// The stop signal (rundir/stop_signal.h) this process got, or under data parallel the one any rank got,
// agreed by every rank (a collective: every rank calls it at the same step). `all`: one int per rank, kept by
// the caller (no allocation per step).
int agreed_stop_signal(RunContext& run, std::vector<int>& all) {
  if (!run.data_parallel()) return pending_stop_signal();
  const int mine = pending_stop_signal();
  all.resize((size_t)run.comm->world());
  run.comm->all_gather_bytes(&mine, sizeof mine, all.data());
  for (int sig : all)
    if (sig != 0) return sig;
  return 0;
}

// --stop-after under data parallel: rank 0's clock decides for every rank (ranks start seconds apart; one that
// stopped alone would leave the others waiting in the next epoch's first collective).
bool agreed_time_up(RunContext& run, bool mine, std::vector<int>& all) {
  if (!run.data_parallel()) return mine;
  const int flag = mine ? 1 : 0;
  all.resize((size_t)run.comm->world());
  run.comm->all_gather_bytes(&flag, sizeof flag, all.data());
  return all[0] != 0;
}

LoopCounters& loop_counters() {
  static LoopCounters c;
  return c;
}

bool train_stage(RunContext& run, StageRun& stage) {
  const TestHooks hooks;  // read at every stage (tests set them between runs)
  RunState& st = run.st;
  const StageConfig& c = stage.cfg;
  const int64_t max_steps = c.max_steps_per_epoch, every = run.cfg.checkpoint_every_steps;
  const bool skip_bad = run.cfg.nonfinite == NonFinite::Skip;
  const bool chooses = stage.method.chooses_batches();  // a learned sampler picks every batch as it trains
  const bool after = stage.method.has_after_step();     // reads every step's outcome (the fallback)
  std::unique_ptr<GradientAverager> averager;  // data parallel: gradients averaged over the ranks
  if (run.data_parallel())
    averager = std::make_unique<GradientAverager>(*run.comm, run.bucket_mb, run.cfg.dist.overlap);
  const std::vector<GroupedSGD::Slot> slots = stage.opt.slots();  // handles: their gradients as of each step
  std::vector<std::string> slot_names;
  std::vector<Tensor> params;
  for (auto& s : slots) {
    slot_names.push_back(s.name);
    params.push_back(s.param);
  }
  LoopCounters& counters = loop_counters();
  std::unique_ptr<StepGraph> graph = make_step_graph(run, stage);
  const bool graphs = graph != nullptr;  // (the metrics' graph_steps, also once a failed capture dropped it)
  StageProfile prof(run, stage);
  std::vector<int> rank_signals;  // agreed_stop_signal's buffer
  while (st.epoch < c.epochs) {
    const int e = st.epoch;
    stage.method.start_epoch(e);
    if (!chooses) stage.loader.start_epoch(e, st.cursor);
    int64_t total = chooses ? stage.method.batches_per_epoch(run.data.train.size(), c.batch_size)
                            : stage.loader.batches_per_epoch();
    if (max_steps >= 0) total = std::min(total, max_steps);
    run.progress.start("stage " + std::to_string(c.index) + " epoch " + std::to_string(e + 1) + "/" +
                           std::to_string(c.epochs),
                       total, st.step_in_epoch);
    stage.method.set_train_mode();
    const double t0 = monotonic_seconds(), seconds0 = st.epoch_seconds;
    const double comm0 = run.comm ? run.comm->collective_seconds() : 0;
    const int64_t tenth = std::max<int64_t>(1, (total + 9) / 10);  // data parallel: the progress reads
    int64_t images_now = 0;
    StepQueue queue(std::clamp<int64_t>(total, 1, 1024), run.dev);
    int64_t steps_here = 0, graph_steps = 0;  // steps this process has run in this epoch, of them as a graph
    bool settled = false;    // the last step created no optimiser state: the next may be captured
    data::Batch b;
    while (max_steps < 0 || st.step_in_epoch < max_steps) {
      prof.before_step(steps_here);
      const int64_t reads0 = Tensor::host_reads(), waits0 = cuda_host_waits();
      if (chooses) {
        if (st.step_in_epoch >= total) break;
        // the global batch; under data parallel this rank loads its rows r, r + world, ... (their positions)
        const std::vector<int64_t> chosen = stage.method.choose_batch(e, st.step_in_epoch, c.batch_size);
        const int64_t world = run.world(), rank = run.data_parallel() ? run.comm->rank() : 0;
        std::vector<int64_t> mine;
        for (size_t k = (size_t)rank; k < chosen.size(); k += (size_t)world) mine.push_back(chosen[k]);
        stage.loader.load(mine, e, st.step_in_epoch * c.batch_size + rank, b, world);
      } else if (!stage.loader.next(b)) {
        break;
      }
      stage.opt.set_lr(stage.sched.lr_at(e, total > 0 ? (double)st.step_in_epoch / total : 0.0));
      if (st.global_step + 1 >= hooks.nan_from && st.global_step + 1 <= hooks.nan_to)  // (a resident batch: on the GPU)
        b.images.reshape({b.images.numel()}).slice(0, 1).fill_(std::nanf(""));
      StepBatch sb;
      sb.epoch = e;
      sb.lr = stage.opt.lr();
      sb.indices = &b.indices;
      if (c.mixup_alpha > 0) {  // one lambda and permutation per batch, keyed by (seed, epoch, step)
        data::MixupResult mr;
        if (stage.loader.resident()) {  // a resident batch: drawn on the host from its labels, mixed on its device
          std::vector<int32_t> labels;
          for (int64_t i : b.indices) labels.push_back(run.data.train.labels[(size_t)i]);
          mr = data::draw_mixup(labels, c.mixup_alpha, stage.seed, e, st.step_in_epoch);
          if (mr.lambda != 1.f) {
            const std::vector<int32_t> perm(mr.perm.begin(), mr.perm.end());
            b.images = mix_rows(b.images, Tensor::from_vector_i32(perm, {(int64_t)perm.size()}, b.images.device()),
                                mr.lambda);
          }
        } else {  // mixes the host batch in place
          mr = data::mixup_batch(b, c.mixup_alpha, stage.seed, e, st.step_in_epoch);
        }
        const int64_t n = (int64_t)mr.labels_a.size();
        sb.labels = Tensor::from_vector_i32(mr.labels_a, {n});
        sb.labels_b = Tensor::from_vector_i32(mr.labels_b, {n});
        sb.lambda = mr.lambda;
        sb.mix = Tensor::from_vector({mr.lambda, 1.f - mr.lambda}, {2});
      }
      sb.images = b.images;
      sb.images2 = b.images2;  // a second view, when the method asked for one
      if (!sb.labels.defined()) sb.labels = b.labels;
      // to the device after the host-side edits above (mixup, the NaN test hook): as they are, or copied
      // straight into a CUDA graph's fixed input buffers (train/step_graph.h)
      const StepGraph::Action action = graph ? graph->plan(e, steps_here, sb, settled) : StepGraph::Action::Eager;
      if (action == StepGraph::Action::Eager) {
        for (Tensor* t : {&sb.images, &sb.images2, &sb.labels, &sb.labels_b, &sb.mix})
          if (t->defined() && t->device() != run.dev) *t = t->to(run.dev);
      } else {
        graph->set_inputs(sb);
      }
      // The step: the method's loss, backward, the guard, the optimiser, the BatchNorm restore; the loss and the
      // guard's code go into loss_out and code_out (device tensors [1]). Run as it is, or captured / replayed
      // as a CUDA graph (train/step_graph.h), then with the graph's fixed inputs and outputs.
      auto body = [&](Tensor loss_out, Tensor code_out) {
        std::vector<Tensor> saved_buffers;  // device copies, put back on the device when the step is skipped
        if (skip_bad)
          for (const Tensor& t : all_buffers(run.model, stage.method)) saved_buffers.push_back(t.clone());
        Tensor loss = stage.method.step(sb);
        Tensor loss_ranks;  // data parallel: how many ranks' losses are non-finite (summed on the device)
        if (averager) {
          loss_ranks = Tensor::empty({1}, DType::I32, run.dev);
          nonfinite_index({loss}, loss_ranks);
          run.comm->all_reduce_sum(loss_ranks);
        }
        stage.opt.zero_grad();
        // backward also for a non-finite loss (the masked step below does not apply it); data parallel: then
        // the gradient of the global batch's mean loss on every rank, all-reduced as backward produces it
        if (averager)
          averager->backward(loss, params);
        else
          loss.backward();
        std::vector<Tensor> checked{loss};
        for (auto& s : slots) checked.push_back(s.param.grad());  // undefined (no gradient): finite
        nonfinite_index(checked, code_out, loss_ranks);  // the loss and every gradient in one pass, on the device
        stage.opt.step(code_out);                         // nothing when code != 0
        if (skip_bad) {  // buf = code != 0 ? saved : buf
          std::vector<Tensor> bufs = all_buffers(run.model, stage.method);
          for (size_t i = 0; i < bufs.size(); ++i) copy_where_(bufs[i], saved_buffers[i], code_out);
        }
        loss_out.copy_from(loss.detach().reshape({1}));
      };
      const int64_t slot = (int64_t)queue.steps.size(), created0 = stage.opt.buffers_created();
      if (action == StepGraph::Action::Eager) {  // an op's error (debug.anomaly: any error) says which step
        try {
          body(queue.losses.slice(slot, slot + 1), queue.codes.slice(slot, slot + 1));
        } catch (const std::exception& ex) {
          if (!run.cfg.anomaly && typeid(ex) != typeid(std::runtime_error)) throw;  // (a config error, no memory)
          const int64_t n = sb.labels.numel();
          throw std::runtime_error("stage " + std::to_string(stage.cfg.index) + " epoch " + std::to_string(e + 1) +
                                   " step " + std::to_string(st.step_in_epoch + 1) + " (global step " +
                                   std::to_string(st.global_step + 1) + ", a batch of " + std::to_string(n) +
                                   (n == 1 ? " image" : " images") + ")" + (run.cfg.anomaly ? ", debug.anomaly" : "") +
                                   ": " + ex.what());
        }
      } else {
        graph->run(action, e, sb, [&] { body(graph->loss(), graph->code()); });
        queue.losses.slice(slot, slot + 1).copy_from(graph->loss());
        queue.codes.slice(slot, slot + 1).copy_from(graph->code());
        if (!graph->failure().empty()) {  // the step ran eagerly; so does the rest of the stage
          run.log << "\ncuda graphs: stage " << stage.cfg.index << " runs without from here: its step could not be "
                  << "captured (" << graph->failure() << ")\n";
          ++counters.graph_failures;
          graph.reset();
        } else {
          ++(action == StepGraph::Action::Capture ? counters.graph_captures : counters.graph_replays);
          ++graph_steps;
        }
      }
      ++steps_here;
      settled = stage.opt.buffers_created() == created0;  // a step that creates a momentum buffer is not captured
      queue.steps.push_back({e, st.step_in_epoch + 1, st.global_step + 1, b.labels.numel()});
      ++st.global_step;
      ++st.step_in_epoch;
      st.cursor = chooses ? 0 : stage.loader.state().cursor;
      const int64_t done = st.step_in_epoch;
      // a stop signal after this step (at the epoch's last step the epoch ends first); the ranks agree at every
      // step (4 bytes gathered: a scheduler's grace time is seconds, a tenth of an ImageNet epoch minutes)
      const int stop_signal = done < total ? agreed_stop_signal(run, rank_signals) : 0;
      ++counters.steps;
      counters.step_host_reads += Tensor::host_reads() - reads0;
      counters.step_host_waits += cuda_host_waits() - waits0;
      // the read points: see train/loop.h
      const bool read = after || queue.full() || done >= total || (every > 0 && st.global_step % every == 0) ||
                        stop_signal != 0 ||
                        st.global_step == hooks.read_at[0] || st.global_step == hooks.read_at[1] ||
                        st.global_step == hooks.read_at[2] ||
                        (run.data_parallel() ? done % tenth == 0 : run.progress.due(done));
      if (read) {
        ++counters.read_points;
        const int64_t dropped = stage.opt.buffers_dropped();
        if (read_point(run, stage, queue, slot_names, images_now) && after) stage.method.after_step(sb);
        if (graph && stage.opt.buffers_dropped() != dropped) {  // the graph steps that buffer; the next step
          graph->invalidate();                                   // creates it again, eagerly
          settled = false;
        }
        run.progress.step(done, st.epoch_loss_images ? st.loss_sum / st.epoch_loss_images : 0, images_now);
      }
      if ((every > 0 && st.global_step % every == 0 && st.step_in_epoch < total) || stop_signal != 0) {
        st.epoch_seconds = seconds0 + (monotonic_seconds() - t0);
        run.save_state();
      }
      if (stop_signal != 0) {  // the state is saved after this step: --resume continues from the next
        run.stop_signal = stop_signal;
        return false;
      }
      if (hooks.signal_at >= 0 && st.global_step == hooks.signal_at) std::raise(SIGTERM);
      if (hooks.kill_at >= 0 && st.global_step == hooks.kill_at) {
        std::fflush(stdout);
        std::raise(SIGKILL);
      }
      TAILOR_CHECK(hooks.throw_at < 0 || st.global_step != hooks.throw_at, "TAILOR_THROW_AT_STEP: an error after step ",
                   st.global_step, " (test hook)");
      while (hooks.stall_at >= 0 && st.global_step == hooks.stall_at)
        std::this_thread::sleep_for(std::chrono::seconds(1));
      prof.after_step();
    }
    prof.finish();
    if (!queue.steps.empty()) ++counters.read_points;
    read_point(run, stage, queue, slot_names, images_now);
    if (graph) graph->invalidate();  // its memory back before the evaluation; the next epoch captures anew
    st.epoch_seconds = seconds0 + (monotonic_seconds() - t0);
    end_epoch(run, stage, run.data_parallel() ? run.comm->collective_seconds() - comm0 : -1.0,
              graphs ? graph_steps : -1);
    if (run.stop_after_s > 0 && st.epoch < c.epochs &&
        agreed_time_up(run, monotonic_seconds() - run.session_t0 >= run.stop_after_s, rank_signals))
      return false;  // the state was saved at the end of the epoch
    if (const int sig = agreed_stop_signal(run, rank_signals); sig != 0 && st.epoch < c.epochs) {
      run.stop_signal = sig;  // a signal during the epoch's last step or its evaluation: the state is saved
      return false;
    }
  }
  prof.stage_ended();
  return true;
}

}  // namespace tailor
