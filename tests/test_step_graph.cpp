// CUDA graphs of the training step (train/step_graph.h). On the CPU: the step inputs' recorder, and the
// loop's graph path emulated (TAILOR_EMULATE_STEP_GRAPH=1: fixed input buffers, the loss and code through the
// graph's outputs, every loss's host draws redrawn before the step and read back from their buffers, as a
// replay reads them) giving bit for bit the eager runs' losses and weights, also across SIGKILL + --resume
// (`tailor train`, Fashion-MNIST-LT). On a GPU: real captures and replays against eager steps (deterministic
// cuDNN), also bit for bit, with no host wait in a step.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/precision.h"
#include "engine/step_inputs.h"
#include "layers/camc.h"
#include "layers/heads.h"
#include "train/loop.h"
#include "train/step_graph.h"
#include "engine/rng.h"
#include "train/run_model.h"
#include "data/augment.h"
#include "cli_run.h"
#include "loop_run.h"
#include "train_cli.h"

using namespace tailor;
namespace fs = std::filesystem;

namespace {

const fs::path& root() {
  static fs::path r = train_cli::temp_folder("tailor_test_step_graph_");
  return r;
}

struct Emulation {  // the loop's graph path emulated on the host while alive
  Emulation() { setenv("TAILOR_EMULATE_STEP_GRAPH", "1", 1); }
  ~Emulation() { unsetenv("TAILOR_EMULATE_STEP_GRAPH"); }
};

// Every stage checkpoint and the step log of two runs are the same bytes.
void check_same_steps(const fs::path& a, const fs::path& b) {
  const std::string sa = train_cli::slurp(a / "steps.jsonl");
  CHECK(std::count(sa.begin(), sa.end(), '\n') >= 60);
  CHECK(sa == train_cli::slurp(b / "steps.jsonl"));
  int n = 0;
  for (auto& e : fs::directory_iterator(a / "checkpoints")) {
    const std::string f = e.path().filename().string();
    if (f.rfind("stage", 0) != 0) continue;
    CAPTURE(f);
    CHECK(train_cli::slurp(e.path()) == train_cli::slurp(b / "checkpoints" / f));
    ++n;
  }
  CHECK(n >= 1);
}

using Runs = std::vector<std::pair<std::string, std::vector<std::string>>>;

// The configurations a graph must reproduce: every host draw (mixup's lambda, GCL's cloud twice per step,
// GCLAng's tables, EQL's gate), class weights that change at an epoch (DRW at epoch 1), the guard's skip
// mode, a frozen-backbone stage, distillation's teacher; with bf16: GCL + mixup in precision bf16 (bf16 activations).
Runs graph_runs(const std::string& prefix, const std::vector<std::string>& common, bool bf16) {
  Runs runs = {
      {"ce", {"model.head=linear", "stage1.loss={\"name\": \"ce\"}"}},
      {"ce_mixup_skip", {"model.head=linear", "stage1.loss={\"name\": \"ce\"}", "stage1.mixup_alpha=1",
                         "guard.nonfinite=skip"}},
      {"gcl_mixup", {"model.head=normed", "stage1.loss={\"name\": \"gcl\"}", "stage1.mixup_alpha=1"}},
      {"ldam_drw", {"model.head=normed", "stage1.loss={\"name\": \"ldam\", \"train_rule\": \"DRW\", \"drw_epoch\": 1}",
                    "stage1.schedule.kind=cosine"}},
      {"gcl_ang", {"model.head=normed", "stage1.loss={\"name\": \"gcl_ang\", \"epsilon\": 0.5}"}},
      {"eql_mixup", {"model.head=linear", "stage1.loss={\"name\": \"eql\", \"eql_lambda\": 0.1}",
                     "stage1.mixup_alpha=1"}},
      {"crt", {"model.head=linear", "stage1.loss={\"name\": \"ce\"}", "stage2.method=crt", "stage2.epochs=2",
               "stage2.batch_size=3", "stage2.schedule.kind=constant"}},
  };
  if (bf16)
    runs.push_back({"gcl_mixup_bf16", {"model.head=normed", "stage1.loss={\"name\": \"gcl\"}", "stage1.mixup_alpha=1",
                                       "precision=bf16"}});
  for (auto& [name, sets] : runs) {
    name = prefix + name;
    sets.insert(sets.begin(), common.begin(), common.end());
    sets.push_back("log.step_losses=true");
  }
  return runs;
}

}  // namespace

TEST_CASE("step inputs: recorded in call order, redrawn before a replay, read back without drawing") {
  int draws = 0;
  float next = 1.f;
  auto draw = [&] {
    ++draws;
    next += 1.f;
    return Tensor::from_vector({next, -next}, {2});
  };
  // no recorder: drawn and returned
  CHECK(step_input(Device::cpu(), draw).to_vector() == std::vector<float>{2.f, -2.f});
  StepInputRecorder rec;
  Tensor a, b;
  {
    StepInputRecorder::Active on(rec, StepInputRecorder::Mode::Record);
    a = step_input(Device::cpu(), draw);
    b = step_input(Device::cpu(), [] { return Tensor::from_vector_i32({7}, {1}); });
  }
  CHECK(draws == 2);
  CHECK(a.to_vector() == std::vector<float>{3.f, -3.f});
  rec.redraw();  // the replay's inputs: the same draws again, in order, into the same buffers
  CHECK(draws == 3);
  {
    StepInputRecorder::Active on(rec, StepInputRecorder::Mode::Replay);
    Tensor a2 = step_input(Device::cpu(), draw), b2 = step_input(Device::cpu(), draw);
    CHECK(draws == 3);  // not drawn by the step itself
    CHECK(a2.raw_data() == a.raw_data());
    CHECK(a2.to_vector() == std::vector<float>{4.f, -4.f});
    CHECK(b2.to_vector_i32() == std::vector<int32_t>{7});
    CHECK_THROWS_WITH_AS(step_input(Device::cpu(), draw), doctest::Contains("asked for input 3 of 2"),
                         std::runtime_error);
  }
  // a draw that changes shape is an error naming both
  StepInputRecorder bad;
  int n = 1;
  {
    StepInputRecorder::Active on(bad, StepInputRecorder::Mode::Record);
    step_input(Device::cpu(), [&] { return Tensor::zeros({n}); });
  }
  n = 2;
  CHECK_THROWS_WITH_AS(bad.redraw(), doctest::Contains("recorded as"), std::runtime_error);
}

TEST_CASE("the graph path emulated on the host gives the eager runs' losses and weights bit for bit") {
  const bool bf16 = cpu_has_native_bf16();  // precision bf16 runs on CPUs with AVX512-BF16 / AMX only
  if (!bf16) MESSAGE("this CPU has no native bf16: the bf16 configuration is left out");
  const Runs eager = graph_runs("eager_", {}, bf16), graph = graph_runs("emulated_", {}, bf16);
  for (size_t i = 0; i < eager.size(); ++i) {
    CAPTURE(eager[i].first);
    const fs::path a = loop_run::train(root(), loop_run::config(eager[i].first, eager[i].second));
    loop_counters() = LoopCounters{};
    fs::path b;
    {
      Emulation on;
      b = loop_run::train(root(), loop_run::config(graph[i].first, graph[i].second));
    }
    check_same_steps(a, b);
    // metrics.jsonl says how many of each epoch's steps ran as a graph (the eager run: no such field)
    const std::string ma = train_cli::slurp(a / "metrics.jsonl"), mb = train_cli::slurp(b / "metrics.jsonl");
    CHECK(ma.find("graph_steps") == std::string::npos);
    CHECK(mb.find("\"epoch\":1,\"epochs\":2,") != std::string::npos);
    CHECK(mb.find("\"graph_steps\":28") != std::string::npos);  // a stage's first epoch: 30 - 2 eager steps
    CHECK(mb.find("\"graph_steps\":29") != std::string::npos);  // later epochs: 30 - 1
    // per epoch: one eager warm-up step, one capture, 28 replays; a stage's first epoch one eager step more
    // (its first step created the momentum buffers); crt: 2 stages
    const int64_t stages = eager[i].first == "eager_crt" ? 2 : 1, epochs = 2 * stages;
    CHECK(loop_counters().graph_captures == epochs);
    CHECK(loop_counters().graph_replays == 28 * epochs - stages);
  }
}

TEST_CASE("a momentum buffer dropped after skipped first steps: the graph is captured anew, the same weights") {
  // NaN inputs at global steps 1-3 (non-finite gradients): the guard skips them; the read point after step 3
  // finds every step since the buffers' creation skipped and drops them (train/sgd.h), so the graph captured
  // at step 3 is invalidated; step 4 creates the buffers again, step 5 runs eagerly after it, step 6 is
  // captured
  setenv("TAILOR_NAN_INPUT_AT_STEP", "1-3", 1);
  const std::vector<std::string> sets = {"model.head=linear", "stage1.loss={\"name\": \"ce\"}", "guard.nonfinite=skip",
                                         "log.step_losses=true"};
  const fs::path a = loop_run::train(root(), loop_run::config("dropped_eager", sets));
  loop_counters() = LoopCounters{};
  fs::path b;
  {
    Emulation on;
    b = loop_run::train(root(), loop_run::config("dropped_emulated", sets));
  }
  unsetenv("TAILOR_NAN_INPUT_AT_STEP");
  check_same_steps(a, b);
  CHECK(train_cli::slurp(a / "metrics.jsonl").find("\"skipped_steps\":3") != std::string::npos);
  CHECK(loop_counters().graph_captures == 3);        // steps 3 and 6 of epoch 1, step 2 of epoch 2
  CHECK(loop_counters().graph_replays == 24 + 28);  // steps 7-30, 3-30
}

TEST_CASE("the graph path emulated: SIGKILL mid-epoch in both stages + --resume = the uninterrupted eager run") {
  if (!train_cli::have_fashion_mnist()) {
    MESSAGE("no Fashion-MNIST package: skipped");
    return;
  }
  // the embedded GCL two-stage default on the small data, mixup in both stages: GCL's cloud, mixup's lambda and
  // the BatchNorm statistics all go through the graph path; 10 steps per stage-1 epoch, then stage 2
  const std::string dir = root().string();
  auto small = [&](const std::string& name) {
    return train_cli::small_data(dir, name) +
           " --set stage1.epochs=2 --set stage2.epochs=1 --set stage1.batch_size=16 --set stage2.batch_size=16"
           " --set stage1.mixup_alpha=1 --set stage2.mixup_alpha=1 --no-report";
  };
  const std::string emulate = "TAILOR_EMULATE_STEP_GRAPH=1";
  Run a = run("train " + small("cli_eager"));
  REQUIRE_MESSAGE(a.code == 0, a.out);
  Run b = run("train " + small("cli_graph"), emulate + " TAILOR_KILL_AT_STEP=13");
  CHECK(b.code == 137);
  CHECK(b.out.find("cuda graphs: stage 1 emulated on the host") != std::string::npos);
  Run c = run("train --resume " + dir + "/cli_graph", emulate + " TAILOR_KILL_AT_STEP=23");
  CHECK(c.code == 137);
  Run d = run("train --resume " + dir + "/cli_graph", emulate);
  REQUIRE_MESSAGE(d.code == 0, d.out);
  const fs::path A = root() / "cli_eager", B = root() / "cli_graph";
  const std::string sa = train_cli::slurp(A / "steps.jsonl");
  CHECK(std::count(sa.begin(), sa.end(), '\n') > 20);
  CHECK(sa == train_cli::slurp(B / "steps.jsonl"));
  for (const char* f : {"stage1_last", "stage1_best", "stage2_last", "stage2_best"}) {
    CAPTURE(f);
    CHECK(train_cli::slurp(A / "checkpoints" / (std::string(f) + ".safetensors")) ==
          train_cli::slurp(B / "checkpoints" / (std::string(f) + ".safetensors")));
  }
  CHECK(train_cli::slurp(A / "eval.json") == train_cli::slurp(B / "eval.json"));
}

TEST_CASE("cuda_graphs: refused on the CPU; a method that reads every step runs without, saying so") {
  std::ostringstream log;
  TrainFlags f;
  f.report = false;
  CHECK_THROWS_WITH_AS(train_run(loop_run::config("graphs_cpu", {"cuda_graphs=true"}), loop_run::synthetic(),
                                 (root() / "graphs_cpu").string(), f, log),
                       doctest::Contains("CUDA graphs need device cuda"), std::runtime_error);
  Emulation on;
  loop_counters() = LoopCounters{};
  const Json cfg = loop_run::config("graphs_balms", {"stage1.epochs=1", "stage2.method=balms", "stage2.epochs=1",
                                                     "stage2.batch_size=3", "stage2.schedule.kind=constant"});
  train_run(cfg, loop_run::synthetic(), (root() / "graphs_balms").string(), f, log);
  CHECK(log.str().find("cuda graphs: stage 2 runs without (method balms reads the outcome of every step)") !=
        std::string::npos);
  CHECK(loop_counters().graph_captures == 1);  // stage 1's one epoch
}

// 45 random 32x32 images of 5 classes, evaluated in batches of 8: 5 full batches and one of 5
static data::Dataset eval_set() {
  data::Dataset d;
  d.name = "random", d.height = 32, d.width = 32, d.channels = 3, d.num_classes = 5;
  Rng rng(3);
  d.pixels.resize(45 * 32 * 32 * 3);
  for (auto& p : d.pixels) p = (uint8_t)rng.below(256);
  for (int64_t i = 0; i < 45; ++i) d.labels.push_back((int32_t)((i * 7) % 5));
  for (int k = 0; k < 5; ++k) d.class_names.push_back("c" + std::to_string(k));
  return d;
}

static void check_eval_graph(Device dev, GraphMode mode, Precision p) {
  const data::Dataset ds = eval_set();
  Rng rng(9);
  auto net = make_resnet("resnet32", 5, 3, HeadKind::Normed, rng);
  net->to(dev);
  PrecisionScope scope(p);
  const std::vector<int64_t> counts{20, 10, 8, 4, 3};
  const EvalMetrics a = evaluate_dataset(*net, ds, data::cifar_test_transform(), counts, ShotRule{}, 8, 0, false);
  eval_graph_counters() = EvalGraphCounters{};
  for (bool resident : {false, true}) {
    const EvalMetrics b = evaluate_dataset(*net, ds, data::cifar_test_transform(), counts, ShotRule{}, 8, 0,
                                           resident, mode);
    CHECK(a.top1 == b.top1);
    CHECK(a.per_class_acc == b.per_class_acc);
    CHECK(a.confusion == b.confusion);
    CHECK(a.mean_loss == b.mean_loss);  // the mean cross-entropy and calibration: every logit the same bits
    CHECK(a.ece == b.ece);
  }
  // per evaluation: batch 1 eager, batch 2 captured, 3-5 replayed, the last (5 images) eager
  CHECK(eval_graph_counters().eager == 4);
  CHECK(eval_graph_counters().captures == 2);
  CHECK(eval_graph_counters().replays == 6);
}

TEST_CASE("the evaluation forward as a graph (emulated): the eager metrics bit for bit") {
  check_eval_graph(Device::cpu(), GraphMode::Emulate, Precision::F32);
  if (cpu_has_native_bf16()) check_eval_graph(Device::cpu(), GraphMode::Emulate, Precision::BF16);
}

// Evaluates `net` on eval_set() eagerly, then (counters reset) with `mode`: the same confusion and mean loss.
static void check_same_as_eager(ResNet& net, GraphMode mode) {
  const data::Dataset ds = eval_set();
  const std::vector<int64_t> counts{20, 10, 8, 4, 3};
  const EvalMetrics a = evaluate_dataset(net, ds, data::cifar_test_transform(), counts, ShotRule{}, 8, 0, false);
  eval_graph_counters() = EvalGraphCounters{};
  const EvalMetrics b = evaluate_dataset(net, ds, data::cifar_test_transform(), counts, ShotRule{}, 8, 0, false, mode);
  CHECK(a.confusion == b.confusion);
  CHECK(a.mean_loss == b.mean_loss);
}

// A CAMC head's forward (the predicted class's map: argmax on the device) is captured like any other; an NCM
// head's (nearest class mean computed on the host) is not, and its evaluation goes on eagerly, the same numbers.
TEST_CASE("the evaluation forward as a graph (emulated): a CAMC head captured, an NCM head evaluated eagerly") {
  for (bool camc : {true, false}) {
    CAPTURE(camc);
    Rng rng(9);
    auto net = make_resnet("resnet32", 5, 3, HeadKind::None, rng);
    if (camc) {
      net->set_head(std::make_shared<CamcHead>(64, 5, 16.0, 0.5, 1.0, rng));
    } else {
      auto ncm = std::make_shared<NCMClassifier>(64, 5);
      std::vector<float> f(20 * 64);
      for (auto& v : f) v = (float)rng.uniform();
      std::vector<int32_t> y(20);
      for (int i = 0; i < 20; ++i) y[i] = i % 5;
      ncm->fit(Tensor::from_vector(f, {20, 64}), Tensor::from_vector_i32(y, {20}));
      net->set_head(ncm);
    }
    check_same_as_eager(*net, GraphMode::Emulate);
    CHECK(eval_graph_counters().captures == 1);
    CHECK(eval_graph_counters().replays == (camc ? 3 : 0));
    CHECK(eval_graph_counters().failure.empty() == camc);
    take_eval_graph_failure();
  }
}

TEST_CASE("the evaluation forward of a model on the CPU with cuda_graphs on: evaluated eagerly, nothing captured") {
  // (a run's final evaluation loads its checkpoint: the model must not be on the host while graphs capture)
  Rng rng(9);
  auto net = make_resnet("resnet32", 5, 3, HeadKind::Linear, rng);
  check_same_as_eager(*net, GraphMode::Capture);
  CHECK(eval_graph_counters().captures == 0);
  CHECK(eval_graph_counters().replays == 0);
}

TEST_CASE("the step graph's plan: a batch shape is captured only after an eager step of this process ran it") {
  StepGraph g(Device::cpu(), StepGraph::Kind::Emulate);
  StepBatch full, last;
  full.images = Tensor::zeros({8, 4, 4, 3});
  full.labels = Tensor::zeros({8}, DType::I32);
  last.images = Tensor::zeros({5, 4, 4, 3});
  last.labels = Tensor::zeros({5}, DType::I32);
  using A = StepGraph::Action;
  // a resumed epoch with two steps left, the second smaller: both eager (cuDNN has not seen the smaller shape)
  CHECK(g.plan(3, 0, full, true) == A::Eager);
  CHECK(g.plan(3, 1, last, true) == A::Eager);
  // the next epoch: warm-up eager, then the full shape is captured and replayed, the smaller last batch eager
  CHECK(g.plan(4, 0, full, true) == A::Eager);
  CHECK(g.plan(4, 1, full, false) == A::Eager);  // the step before created optimiser state
  CHECK(g.plan(4, 2, full, true) == A::Capture);
  // (a fresh graph: the smaller shape alone, first seen at step 1, is not captured)
  StepGraph h(Device::cpu(), StepGraph::Kind::Emulate);
  CHECK(h.plan(0, 0, full, true) == A::Eager);
  CHECK(h.plan(0, 1, last, true) == A::Eager);
  CHECK(h.plan(1, 0, last, true) == A::Eager);
  CHECK(h.plan(1, 1, last, true) == A::Capture);
}

TEST_CASE("a step whose capture fails runs again eagerly with the draws the capture made, and says why") {
  StepGraph g(Device::cpu(), StepGraph::Kind::Emulate);
  StepBatch b;
  b.images = Tensor::zeros({8, 4, 4, 3});
  b.labels = Tensor::zeros({8}, DType::I32);
  CHECK(g.plan(0, 0, b, true) == StepGraph::Action::Eager);
  int draws = 0, calls = 0;
  std::vector<float> seen;
  auto draw = [&] { return Tensor::from_vector({(float)++draws}, {1}); };
  auto body = [&] {
    ++calls;
    seen.push_back(step_input(Device::cpu(), draw).to_vector()[0]);  // drawn before the failure
    if (calls == 1) throw std::runtime_error("a host read inside the capture");
    seen.push_back(step_input(Device::cpu(), draw).to_vector()[0]);  // first drawn by the eager redo
    g.loss().fill_(2.5f);
  };
  g.run(g.plan(0, 1, b, true), 0, b, body);
  CHECK(calls == 2);
  CHECK(draws == 2);  // each of the step's inputs drawn once: the random streams advance as in an eager step
  CHECK(seen == std::vector<float>{1.f, 1.f, 2.f});
  CHECK(g.loss().to_vector()[0] == 2.5f);
  CHECK(g.failure() == "a host read inside the capture");
  // a step that fails eagerly as well: its own error
  StepGraph h(Device::cpu(), StepGraph::Kind::Emulate);
  CHECK(h.plan(0, 0, b, true) == StepGraph::Action::Eager);
  CHECK_THROWS_WITH_AS(h.run(h.plan(0, 1, b, true), 0, b, [] { throw std::runtime_error("broken"); }), "broken",
                       std::runtime_error);
}

TEST_CASE("CUDA: the evaluation forward captured and replayed gives the eager metrics bit for bit") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  cuda_set_deterministic(true);
  check_eval_graph(Device::cuda(0), GraphMode::Capture, Precision::F32);
  if (has_native_bf16(Device::cuda(0))) check_eval_graph(Device::cuda(0), GraphMode::Capture, Precision::BF16);
  // a head that computes on the host (NCM) cannot be captured: that evaluation runs eagerly and says why
  const data::Dataset ds = eval_set();
  Rng rng(9);
  auto net = make_resnet("resnet32", 5, 3, HeadKind::None, rng);
  auto ncm = std::make_shared<NCMClassifier>(net->feature_dim(), 5);
  std::vector<float> feats(10 * net->feature_dim());
  for (size_t i = 0; i < feats.size(); ++i) feats[i] = (float)((i * 37) % 11) / 11.f;
  std::vector<int32_t> labels{0, 1, 2, 3, 4, 0, 1, 2, 3, 4};
  ncm->fit(Tensor::from_vector(feats, {10, net->feature_dim()}), Tensor::from_vector_i32(labels, {10}));
  net->set_head(ncm);
  net->to(Device::cuda(0));
  const std::vector<int64_t> counts{20, 10, 8, 4, 3};
  const EvalMetrics a = evaluate_dataset(*net, ds, data::cifar_test_transform(), counts, ShotRule{}, 8, 0, false);
  take_eval_graph_failure();
  const EvalMetrics b = evaluate_dataset(*net, ds, data::cifar_test_transform(), counts, ShotRule{}, 8, 0, false,
                                         GraphMode::Capture);
  CHECK(a.confusion == b.confusion);
  CHECK(!take_eval_graph_failure().empty());
  cuda_set_deterministic(false);
}

TEST_CASE("CUDA: captured and replayed steps give the eager steps' losses and weights bit for bit, with no wait") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  const std::vector<std::string> gpu = {"device=cuda", "deterministic=true"};
  std::vector<std::string> with_graphs = gpu;
  with_graphs.push_back("cuda_graphs=true");
  const bool bf16 = has_native_bf16(Device::cuda(0));
  const Runs eager = graph_runs("cuda_eager_", gpu, bf16), graph = graph_runs("cuda_graph_", with_graphs, bf16);
  for (size_t i = 0; i < eager.size(); ++i) {
    CAPTURE(eager[i].first);
    const fs::path a = loop_run::train(root(), loop_run::config(eager[i].first, eager[i].second));
    loop_counters() = LoopCounters{};
    const fs::path b = loop_run::train(root(), loop_run::config(graph[i].first, graph[i].second));
    check_same_steps(a, b);
    CHECK(loop_counters().graph_captures >= 2);
    CHECK(loop_counters().graph_replays >= 55);
    CHECK(loop_counters().step_host_reads == 0);
    CHECK(loop_counters().step_host_waits == 0);
  }
}
