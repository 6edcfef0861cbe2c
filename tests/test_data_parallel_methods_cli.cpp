// Data-parallel methods that keep state from each step's batch (train/data_parallel.h, "methods that keep
// state"): Breadcrumb / EMANATE (per-class feature FIFOs, centroids, the class-balanced classifier g_c and its
// momentum, g_c's class-aware stream) and SSD's contrastive stage (the key encoder and its queue), end to end
// with `mpirun -np 2 tailor train` on a small Fashion-MNIST-LT (10 classes, 20..10 images), ResNet-32, a
// global batch of 16 (2 ranks x 8) against one process x 16, dist.sync_bn true everywhere:
//   - the per-step losses: the first two steps to 1e-6 (the same forward, one identical update), then within
//     the float drift of training from scratch (docs/data_parallel.md; lr 0.002 keeps it below 1e-2);
//   - the final top-1 of eval.json (g_c for Breadcrumb) within one test image;
//   - the method's state in the training state equals the single process's: the same FIFO entries and row
//     counts, the same queue labels and pointer; the FIFO features and centroids, the epoch's features, g_c and
//     its momentum, the queue's keys, the key encoder and projections to 1e-5 of each tensor's largest value at
//     global step 2 (after one update; measured ~4e-7), within 1e-2 at step 6 (the drift; measured ~2e-3);
//   - mpirun -np 1 equals the plain run bit for bit;
//   - 2 ranks killed at step 3 (the state of step 2; Breadcrumb: g_c still on class-aware batches) and again at
//     step 7 (the state of step 6; Breadcrumb: on EMANATE features), then resumed, equal the uninterrupted 2-rank
//     run bit for bit.
// Skipped (77) when this build has no MPI backend or the Fashion-MNIST package is missing.
#include <cmath>
#include <filesystem>
#include <map>

#include "mpi_cli.h"
#include "train/checkpoint.h"

using namespace train_cli;
using namespace mpi_cli;
namespace fs = std::filesystem;

namespace {

double top1(const fs::path& run_dir) {
  return tailor::Json::parse(slurp(run_dir / "eval.json")).at("top1").get<double>();
}

// Bit for bit: every step's loss, every checkpoint, the evaluation.
void check_identical(const fs::path& a, const fs::path& b) {
  CAPTURE(b.string());
  CHECK(!slurp(a / "steps.jsonl").empty());
  CHECK(slurp(a / "steps.jsonl") == slurp(b / "steps.jsonl"));
  int n = 0;
  for (auto& e : fs::directory_iterator(a / "checkpoints")) {
    const std::string f = e.path().filename().string();
    if (f.rfind("stage", 0) != 0) continue;
    CAPTURE(f);
    CHECK(slurp(e.path()) == slurp(b / "checkpoints" / f));
    ++n;
  }
  CHECK(n >= 2);
  CHECK(slurp(a / "eval.json") == slurp(b / "eval.json"));
}

struct State {
  std::map<std::string, tailor::Tensor> t;
  tailor::Json j;
};
State read_state(const fs::path& run_dir) {
  std::map<std::string, std::string> meta;
  State s;
  s.t = tailor::read_weights((run_dir / "checkpoints" / "train_state.safetensors").string(), &meta);
  s.j = tailor::Json::parse(meta.at("state"));
  return s;
}

// The largest difference of the tensors named with one of `prefixes`, relative to the largest magnitude of
// each tensor (i32 tensors: equal, else 1); a tensor missing on either side or of another shape fails.
double state_difference(const State& a, const State& b, const std::vector<std::string>& prefixes, int* compared) {
  double worst = 0;
  *compared = 0;
  for (auto& [name, x] : a.t) {
    bool take = false;
    for (auto& p : prefixes) take = take || name.rfind(p, 0) == 0;
    if (!take) continue;
    CAPTURE(name);
    REQUIRE(b.t.count(name));
    const tailor::Tensor& y = b.t.at(name);
    REQUIRE(x.shape() == y.shape());
    ++*compared;
    if (x.dtype() == tailor::DType::I32) {
      if (x.to_vector_i32() != y.to_vector_i32()) worst = std::max(worst, 1.0);
      continue;
    }
    const std::vector<float> u = x.to_vector(), v = y.to_vector();
    double d = 0, m = 0;
    for (size_t i = 0; i < u.size(); ++i) {
      d = std::max(d, (double)std::fabs(u[i] - v[i]));
      m = std::max(m, (double)std::fabs(u[i]));
    }
    if (m > 0) worst = std::max(worst, d / m);
    if (d / std::max(m, 1e-30) > 1e-2) MESSAGE(name << ": relative difference " << d / m);
  }
  return worst;
}

struct Case {
  std::string name, config;
  std::vector<std::string> state_prefixes;  // the method's state in the training state
};

// The training states at global steps 2 and 6 of one process and of 2 ranks.
struct States {
  State one2, two2, one6, two6;
};

// One method: 1 process, 2 ranks, 1 rank; 1 process and 2 ranks each killed after step 3 (the state of step 2),
// resumed and killed after step 7 (the state of step 6), then resumed to the end.
States run_case(const std::string& dir, const Case& c) {
  const std::string cfg = write_config(dir, c.name, c.config);
  auto args = [&](const std::string& name) {
    return "train --config " + cfg + " --set runs_dir=" + dir + " --set name=" + name +
           " --set data.imbalance.n_max=20 --set data.imbalance.ratio=2 --set data.test_per_class=10"
           " --set threads=1 --set data.workers=1 --set log.step_losses=true --set checkpoint.every_steps=2"
           " --set dist.sync_bn=true --set stage1.optim.lr=0.002 --no-report";
  };
  const fs::path d(dir);
  const std::string one = c.name + "_one", two = c.name + "_two", np1 = c.name + "_np1", one_k = c.name + "_one_k",
                    two_k = c.name + "_two_k";
  Run r = run(args(one));
  REQUIRE_MESSAGE(r.code == 0, r.out);
  r = mpi_run(2, args(two));
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(slurp(d / two / "summary.json").find("\"ranks\": 2") != std::string::npos);

  // the losses: steps 1, 2 as one process's; then within the float drift
  const std::vector<double> l1 = step_losses(d / one), l2 = step_losses(d / two);
  REQUIRE(l1.size() == l2.size());
  REQUIRE(l1.size() >= 8);
  double worst = 0;
  for (size_t i = 0; i < l1.size(); ++i) {
    const double rel = std::fabs(l1[i] - l2[i]) / std::fabs(l1[i]);
    CAPTURE(i);
    if (i < 2) CHECK(rel < 1e-6);
    worst = std::max(worst, rel);
  }
  MESSAGE(c.name << ": " << l1.size() << " steps, max relative loss difference 2 ranks vs 1 process " << worst);
  CHECK(worst < 1e-2);
  const double t1 = top1(d / one), t2 = top1(d / two);
  MESSAGE(c.name << ": final top-1 1 process " << t1 << ", 2 ranks " << t2);
  CHECK(std::fabs(t1 - t2) <= 1.0 + 1e-9);  // percent: one of the 100 test images

  // mpirun -np 1: bit for bit the plain run
  r = mpi_run(1, args(np1));
  REQUIRE_MESSAGE(r.code == 0, r.out);
  check_identical(d / one, d / np1);

  // the states at steps 2 and 6: killed after step 3, resumed, killed after step 7 (2 ranks: rank 1 killed)
  States s;
  r = run(args(one_k), "TAILOR_KILL_AT_STEP=3");
  CHECK(r.code == 137);
  s.one2 = read_state(d / one_k);
  r = run("train --resume " + dir + "/" + one_k, "TAILOR_KILL_AT_STEP=7");
  CHECK(r.code == 137);
  s.one6 = read_state(d / one_k);
  r = mpi_run(2, args(two_k), "TAILOR_KILL_AT_STEP=3 TAILOR_KILL_RANK=1");
  CHECK(r.code != 0);
  s.two2 = read_state(d / two_k);
  r = mpi_run(2, "train --resume " + dir + "/" + two_k, "TAILOR_KILL_AT_STEP=7 TAILOR_KILL_RANK=1");
  CHECK(r.code != 0);
  CHECK_MESSAGE(r.out.find("resumed") != std::string::npos, r.out);
  s.two6 = read_state(d / two_k);
  r = mpi_run(2, "train --resume " + dir + "/" + two_k);
  REQUIRE_MESSAGE(r.code == 0, r.out);
  check_identical(d / two, d / two_k);
  for (const State* x : {&s.one2, &s.two2}) CHECK(x->j.at("global_step") == 2);
  for (const State* x : {&s.one6, &s.two6}) CHECK(x->j.at("global_step") == 6);
  return s;
}

// The method's tensors of the two states at step 2 (after one update: as close as the first steps' losses) and
// at step 6 (within the drift).
void check_states(const std::string& name, const States& s, const std::vector<std::string>& prefixes,
                  int min_tensors) {
  int n2 = 0, n6 = 0;
  const double d2 = state_difference(s.one2, s.two2, prefixes, &n2);
  const double d6 = state_difference(s.one6, s.two6, prefixes, &n6);
  MESSAGE(name << ": the method's state, 2 ranks vs 1 process, max difference relative to each tensor's largest "
          "value: step 2 " << d2 << ", step 6 " << d6 << " (" << n6 << " tensors)");
  CHECK(n2 >= min_tensors);
  CHECK(n6 >= min_tensors);
  CHECK(d2 < 1e-5);
  CHECK(d6 < 1e-2);
}

}  // namespace

TEST_CASE("mpirun -np 2: Breadcrumb's FIFOs, centroids and g_c are one process's") {
  skip_without_mpi_or_data();
  const std::string dir = temp_folder("tailor_dp_methods_");
  // 3 epochs of 4 steps: n_b 7, every FIFO one epoch long; g_c on class-aware batches in epoch 1, on EMANATE
  // features from epoch 2 (the state at step 6 holds a full memory, half an epoch's buffer, g_c's momentum)
  const Case c{"breadcrumb",
               R"({"stage1": {"method": "breadcrumb", "epochs": 3, "batch_size": 16, "max_steps_per_epoch": 4,
                   "loss": {"name": "ce"}}})",
               {"method.", "model.linear.", "module.head_r."}};
  const States s = run_case(dir, c);
  check_states(c.name, s, c.state_prefixes, 9);
  // the same entries: buffer epoch, EMANATE step, class-aware epoch, per class the row count of every stored
  // epoch; the class-aware cursor is per rank (each takes half of every global batch)
  const State &s1 = s.one6, &s2 = s.two6;
  tailor::Json m1 = s1.j.at("method"), m2 = s2.j.at("method");
  CHECK(m1.at("fifo.rows") == m2.at("fifo.rows"));
  CHECK(m1.at("buffer_epoch") == m2.at("buffer_epoch"));
  CHECK(m1.at("iter") == m2.at("iter"));
  CHECK(m1.at("ca_epoch") == m2.at("ca_epoch"));
  CHECK(m1.at("ca_cursor").get<int64_t>() == 2 * m2.at("ca_cursor").get<int64_t>());
  CHECK(m1.at("ca_cursor").get<int64_t>() == 4 * 16);  // epoch 1's four class-aware batches
  std::istringstream metrics(slurp(fs::path(dir) / "breadcrumb_two" / "metrics.jsonl"));
  std::vector<bool> ready;
  for (std::string line; std::getline(metrics, line);)
    ready.push_back(tailor::Json::parse(line).at("breadcrumb_ready").get<bool>());
  CHECK(ready == std::vector<bool>{false, true, true});  // g_c on EMANATE features from epoch 2
  CHECK(s1.t.at("method.epoch_labels").to_vector_i32() == s2.t.at("method.epoch_labels").to_vector_i32());
  CHECK(s.one2.j.at("method").at("ca_cursor").get<int64_t>() ==
        2 * s.two2.j.at("method").at("ca_cursor").get<int64_t>());
}

TEST_CASE("mpirun -np 2: SSD's queue and key encoder are one process's") {
  skip_without_mpi_or_data();
  const std::string dir = temp_folder("tailor_dp_methods_");
  // 2 epochs of 4 steps; the queue (40 keys) wraps every 2.5 steps
  const Case c{"ssd",
               R"({"model": {"head": "linear"},
                   "stage1": {"method": "ssd_contrastive", "epochs": 2, "batch_size": 16, "max_steps_per_epoch": 4,
                              "loss": {"name": "ce"},
                              "moco": {"key_augment": "mnist", "queue_size": 40, "dim": 16, "momentum": 0.9}}})",
               {"method.", "module.key_encoder.", "module.key_projection.", "module.projection."}};
  const States s = run_case(dir, c);
  check_states(c.name, s, c.state_prefixes, 6);
  for (int step : {2, 6}) {  // the keys of `step` global batches of 16 entered the queue of 40
    CAPTURE(step);
    const State &one = step == 2 ? s.one2 : s.one6, &two = step == 2 ? s.two2 : s.two6;
    CHECK(one.j.at("method").at("queue_ptr") == two.j.at("method").at("queue_ptr"));
    CHECK(one.j.at("method").at("queue_ptr") == (step * 16) % 40);
    CHECK(one.t.at("method.queue.labels").to_vector_i32() == two.t.at("method.queue.labels").to_vector_i32());
  }
}
