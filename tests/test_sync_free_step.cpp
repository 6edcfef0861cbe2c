// A training step that never reads the device from the host (train/loop.h): the device-side guard
// (nonfinite_index), the masked optimiser step and its first-step bookkeeping, the masked BatchNorm
// restore (copy_where_), the host-read counter, and the loop's steps between read points making no host
// read at all on the CPU path (Tensor::host_reads counts every read a GPU would stall on), with their
// results the same wherever the read points fall.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "losses/loss.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/loop.h"
#include "train/sgd.h"
#include "train/trainer.h"
#include "loop_run.h"
#include "train_cli.h"

using namespace tailor;
namespace fs = std::filesystem;

namespace {

Tensor vec(std::vector<float> v) { return Tensor::from_vector(v, {(int64_t)v.size()}); }
Tensor flag(int32_t v) { return Tensor::from_vector_i32({v}, {1}); }
int32_t code_of(const std::vector<Tensor>& ts, const Tensor& others = Tensor()) {
  Tensor out = flag(77);
  nonfinite_index(ts, out, others);
  return out.to_vector_i32()[0];
}
bool bits_equal(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("nonfinite_index: 1 + the first non-finite tensor, 0 when all are finite, -others for other ranks") {
  const float nan = std::nanf(""), inf = INFINITY;
  Tensor a = vec({1, 2}), b = vec({3, nan, 4}), c = vec({inf}), d = vec({-inf, 0});
  CHECK(code_of({a, a, a}) == 0);
  CHECK(code_of({}) == 0);
  CHECK(code_of({a, b, c}) == 2);
  CHECK(code_of({a, a, c, b}) == 3);
  CHECK(code_of({d, b}) == 1);
  CHECK(code_of({a, Tensor(), Tensor::empty({0}), d}) == 4);  // undefined and empty tensors are finite
  // data parallel: the number of ranks whose tensor 0 is non-finite
  CHECK(code_of({a, b}, flag(2)) == -2);
  CHECK(code_of({a, a}, flag(0)) == 0);
  CHECK(code_of({d, a}, flag(3)) == 1);  // this rank's own loss comes first
  // agrees with the host-read version
  CHECK(first_nonfinite({a, a, c, b}) == 2);
}

TEST_CASE("copy_where_: dst = flag ? src : dst, f32 and i32, on the device") {
  Tensor dst = vec({1, 2, 3}), src = vec({7, 8, std::nanf("")});
  copy_where_(dst, src, flag(0));
  CHECK(dst.to_vector() == std::vector<float>{1, 2, 3});
  copy_where_(dst, src, flag(-3));
  CHECK(bits_equal(dst, src));
  Tensor di = Tensor::from_vector_i32({5}, {}), si = Tensor::from_vector_i32({9}, {});
  copy_where_(di, si, flag(0));
  CHECK(di.to_vector_i32()[0] == 5);
  copy_where_(di, si, flag(1));
  CHECK(di.to_vector_i32()[0] == 9);
  CHECK_THROWS(copy_where_(dst, si, flag(1)));
}

TEST_CASE("Tensor::host_reads counts item, to_vector, to_vector_i32 and cpu copies of this thread") {
  Tensor t = vec({1, 2});
  const int64_t r0 = Tensor::host_reads();
  (void)t.to_vector();
  (void)t.slice(0, 1).item();
  (void)Tensor::from_vector_i32({1}, {1}).to_vector_i32();
  (void)t.cpu();
  CHECK(Tensor::host_reads() - r0 == 4);
  Tensor u = t.clone();
  u.copy_from(t);
  Tensor out = flag(0);
  nonfinite_index({t, u}, out);
  copy_where_(u, t, out);
  CHECK(Tensor::host_reads() - r0 == 4);  // device-side copies and the guard read nothing
}

// Masked steps equal the unmasked optimiser stepped with the applied gradients only: weights and momentum
// bit for bit, a skipped first step not counting as the first (dampening makes the difference visible).
TEST_CASE("SGD masked by a device flag: skipped steps leave everything; the first applied step is the first") {
  SgdOptions o{0.1f, 0.9f, 0.5f, 1e-2f, false};
  const std::vector<std::vector<float>> grads = {{0.3f, -1.f, 2.f}, {-0.7f, 0.2f, 0.1f}, {1.5f, 0.5f, -0.25f},
                                                 {0.05f, 0.9f, -1.1f}, {-0.4f, -0.6f, 0.8f}};
  const std::vector<int32_t> skips = {1, 0, 1, 0, 0};  // the first step skipped, then one more
  for (bool nesterov : {false, true}) {
    CAPTURE(nesterov);
    o.nesterov = nesterov;
    o.dampening = nesterov ? 0.f : 0.5f;
    Tensor wm = vec({1, -2, 3}), wr = vec({1, -2, 3});
    wm.set_requires_grad(), wr.set_requires_grad();
    SGD masked({wm}, o), plain({wr}, o);
    for (size_t s = 0; s < grads.size(); ++s) {
      CAPTURE(s);
      wm.set_grad(vec(grads[s]));
      masked.step(flag(skips[s]));
      if (!skips[s]) {
        wr.set_grad(vec(grads[s]));
        plain.step();
      }
      CHECK(bits_equal(wm, wr));
    }
    masked.resolve_first_steps(false);
    CHECK(bits_equal(masked.momentum_buffers()[0], plain.momentum_buffers()[0]));
  }
}

TEST_CASE("SGD::resolve_first_steps: a buffer whose every step was skipped is dropped, as if never created") {
  SgdOptions o{0.1f, 0.9f, 0.5f, 0.f, false};
  Tensor w = vec({1, 2}), u = vec({3, 4});
  w.set_requires_grad(), u.set_requires_grad();
  SGD sgd({w, u}, o);
  w.set_grad(vec({1, 1}));
  sgd.step(flag(1));  // w's first step, skipped; u has no gradient
  CHECK(sgd.momentum_buffers()[0].defined());  // created for the kernel: undecided on the host
  CHECK_FALSE(sgd.momentum_buffers()[1].defined());
  sgd.resolve_first_steps(false);
  CHECK_FALSE(sgd.momentum_buffers()[0].defined());
  CHECK(w.to_vector() == std::vector<float>{1, 2});
  // now applied: buf = d (the first step), kept by a read point that saw no skipped step
  sgd.step(flag(0));
  sgd.resolve_first_steps(true);
  REQUIRE(sgd.momentum_buffers()[0].defined());
  CHECK(sgd.momentum_buffers()[0].to_vector() == std::vector<float>{1, 1});
  CHECK(w.to_vector() == std::vector<float>{1 - 0.1f, 2 - 0.1f});
  // a buffer already there: masked steps touch nothing, and nothing is pending
  const int64_t r0 = Tensor::host_reads();
  sgd.step(flag(1));
  sgd.resolve_first_steps(false);
  CHECK(Tensor::host_reads() == r0);
  CHECK(sgd.momentum_buffers()[0].to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("greater and take: branch masks and per-class lookups on the tensors' device") {
  const float nan = std::nanf("");
  Tensor a = Tensor::from_vector({-1.f, 0.f, -0.f, 2.f, nan, 1e-45f}, {2, 3});
  CHECK(greater(a, Tensor::zeros({})).to_vector() == std::vector<float>{0, 0, 0, 1, 0, 1});
  CHECK(greater(a, vec({-2.f, 0.f, 3.f})).to_vector() == std::vector<float>{1, 0, 0, 1, 0, 0});  // broadcast rows
  CHECK(greater(Tensor::zeros({}), a).to_vector() == std::vector<float>{1, 0, 0, 0, 0, 0});
  Tensor x = a.clone().set_requires_grad(true);
  CHECK_FALSE(greater(x, Tensor::zeros({})).requires_grad());  // a constant
  Tensor table = vec({0.5f, -2.f, 7.f});
  Tensor y = Tensor::from_vector_i32({2, 0, 0, 1}, {4});
  CHECK(take(table, y).to_vector() == std::vector<float>{7.f, 0.5f, 0.5f, -2.f});
  CHECK(take(table, Tensor::from_vector_i32({}, {0})).numel() == 0);
  CHECK_THROWS(take(table, Tensor::from_vector_i32({3}, {1})));
  CHECK_THROWS(take(table.clone().set_requires_grad(true), y));
  CHECK_THROWS(take(Tensor::zeros({2, 2}), y));
}

namespace {

// Every loss of make_loss, with settings that exercise its device paths (rare classes for eql, both GCLAng
// branches), on logits [6, 4] (cosines for the cosine losses) under mixup.
struct LossCase {
  std::string name;
  LossConfig cfg;
  bool cosine;
};
std::vector<LossCase> loss_cases() {
  auto with = [](auto f) {
    LossConfig c;
    f(c);
    return c;
  };
  return {{"ce", {}, false},
          {"focal", with([](LossConfig& c) { c.gamma = 2; }), false},
          {"cb_softmax", {}, false},
          {"cb_sigmoid", {}, false},
          {"cb_focal", with([](LossConfig& c) { c.gamma = 2; }), false},
          {"ldam", with([](LossConfig& c) { c.train_rule = "Reweight"; }), true},
          {"logit_adjust", {}, false},
          {"balanced_softmax", {}, false},
          {"balanced_sigmoid", {}, false},
          {"gcl", {}, true},
          {"gcl_ang", with([](LossConfig& c) { c.epsilon = 2, c.m = 1.5; }), true},
          {"gcl_ang", with([](LossConfig& c) { c.easy_margin = true, c.train_cls = true; }), true},
          {"las", with([](LossConfig& c) { c.smooth_tail = 0.1; }), false},
          {"eql", with([](LossConfig& c) { c.eql_lambda = 0.2, c.eql_gamma = 0.7; }), false}};
}
const std::vector<int64_t> kCounts = {60, 25, 9, 3};

// The loss (lambda 0.3 mixup of y and yb) and the logits' gradient on device d, with the host reads made
// by the forward and backward; the loss's Rng seeded alike on every device.
struct LossRun {
  Tensor loss, grad;
  int64_t reads;
};
LossRun run_loss(const LossCase& k, const Device& d) {
  Rng data(21), draws(8);
  std::vector<float> z(6 * 4);
  for (auto& v : z) v = k.cosine ? (float)(data.uniform() * 1.8 - 0.9) : (float)(data.normal() * 2);
  Tensor x = Tensor::from_vector(z, {6, 4}).to(d).set_requires_grad(true);
  Tensor y = Tensor::from_vector_i32({0, 1, 2, 3, 3, 0}, {6}).to(d);
  Tensor yb = Tensor::from_vector_i32({2, 3, 3, 1, 0, 2}, {6}).to(d);
  auto loss = make_loss(k.name, k.cfg, kCounts, &draws);
  LossInput in;
  in.logits = x, in.labels = y, in.labels_b = yb, in.lambda = 0.3f;
  const int64_t r0 = Tensor::host_reads();
  Tensor L = loss->forward(in);
  L.backward();
  L = loss->forward(in);  // a second step: the device constants cached, fresh draws
  L.backward();
  return {L, x.grad(), Tensor::host_reads() - r0};
}

}  // namespace

TEST_CASE("no loss reads the host in its forward or backward (CPU)") {
  std::set<std::string> covered;
  for (const LossCase& k : loss_cases()) covered.insert(k.name);
  for (const std::string& n : loss_names()) CHECK_MESSAGE(covered.count(n), n << " is missing from loss_cases()");
  for (const LossCase& k : loss_cases()) {
    CAPTURE(k.name);
    LossRun r = run_loss(k, Device::cpu());
    CHECK(r.reads == 0);
    CHECK(std::isfinite(r.loss.item()));
  }
}

// ---- the same on a GPU (skipped without one): the kernels agree with the CPU ones

TEST_CASE("CUDA: nonfinite_index over more than one launch, copy_where_, masked multi-tensor SGD") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  const Device gpu = Device::cuda(0);
  Rng rng(5);
  std::vector<Tensor> cpu_ts, gpu_ts;
  for (int i = 0; i < 150; ++i) {  // two launches of flags
    std::vector<float> v((size_t)(1 + i * 37 % 500));
    for (auto& x : v) x = (float)rng.normal();
    cpu_ts.push_back(vec(v));
    gpu_ts.push_back(cpu_ts.back().to(gpu));
  }
  auto gpu_code = [&](const std::vector<Tensor>& ts, const Tensor& others) {
    Tensor out = flag(77).to(gpu);
    nonfinite_index(ts, out, others.defined() ? others.to(gpu) : Tensor());
    return out.to_vector_i32()[0];
  };
  CHECK(gpu_code(gpu_ts, Tensor()) == 0);
  std::vector<float> bad(20, 1.f);
  bad[13] = -INFINITY;
  gpu_ts[140] = vec(bad).to(gpu);
  gpu_ts[145] = vec({std::nanf("")}).to(gpu);
  gpu_ts[3] = Tensor();
  CHECK(gpu_code(gpu_ts, Tensor()) == 141);
  CHECK(gpu_code(gpu_ts, flag(2)) == -2);
  gpu_ts[0] = vec({std::nanf("")}).to(gpu);
  CHECK(gpu_code(gpu_ts, flag(2)) == 1);

  Tensor dst = vec({1, 2, 3}).to(gpu), src = vec({4, 5, 6}).to(gpu);
  copy_where_(dst, src, flag(0).to(gpu));
  CHECK(dst.to_vector() == std::vector<float>{1, 2, 3});
  copy_where_(dst, src, flag(1).to(gpu));
  CHECK(dst.to_vector() == std::vector<float>{4, 5, 6});

  SgdOptions o{0.1f, 0.9f, 0.5f, 5e-4f, false};
  std::vector<Tensor> pc, pg;
  for (int i = 0; i < 150; ++i) {  // more than one fused launch's worth of parameters
    pc.push_back(cpu_ts[i].clone().set_requires_grad(true));
    pg.push_back(cpu_ts[i].to(gpu).set_requires_grad(true));
  }
  SGD oc(pc, o), og(pg, o);
  const std::vector<int32_t> skips = {1, 0, 1, 0};
  for (size_t step = 0; step < skips.size(); ++step) {
    for (size_t i = 0; i < pc.size(); ++i) {
      std::vector<float> g((size_t)pc[i].numel());
      for (auto& x : g) x = (float)rng.normal();
      pc[i].set_grad(vec(g));
      pg[i].set_grad(vec(g).to(gpu));
    }
    oc.step(flag(skips[step]));
    og.step(flag(skips[step]).to(gpu));
  }
  oc.resolve_first_steps(false);
  og.resolve_first_steps(false);
  auto close = [](const Tensor& g, const Tensor& c) {  // both compilers may contract g + wd*w differently
    if (g.defined() != c.defined()) return false;
    if (!g.defined()) return true;
    const std::vector<float> a = g.to_vector(), b = c.to_vector();
    for (size_t k = 0; k < a.size(); ++k)
      if (!(std::fabs(a[k] - b[k]) <= 1e-6f * (1 + std::fabs(b[k])))) return false;
    return a.size() == b.size();
  };
  for (size_t i = 0; i < pc.size(); ++i) {
    CAPTURE(i);
    CHECK(close(pg[i], pc[i]));
    CHECK(close(og.momentum_buffers()[i], oc.momentum_buffers()[i]));
  }
}

TEST_CASE("CUDA: greater, take and every loss with no host read, close to the CPU") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  const Device gpu = Device::cuda(0);
  Tensor a = Tensor::from_vector({-1.f, 0.f, -0.f, 2.f, std::nanf(""), 1e-45f}, {2, 3});
  CHECK(greater(a.to(gpu), Tensor::zeros({}, DType::F32, gpu)).to_vector() ==
        std::vector<float>{0, 0, 0, 1, 0, 1});
  CHECK(greater(a.to(gpu), vec({-2.f, 0.f, 3.f}).to(gpu)).to_vector() == std::vector<float>{1, 0, 0, 1, 0, 0});
  Tensor table = vec({0.5f, -2.f, 7.f}).to(gpu);
  const std::vector<float> got = take(table, Tensor::from_vector_i32({2, 0, 5, 1}, {4}).to(gpu)).to_vector();
  CHECK(got[0] == 7.f);
  CHECK(got[1] == 0.5f);
  CHECK(std::isnan(got[2]));  // out of range: NaN on the device (no throw)
  CHECK(got[3] == -2.f);
  auto close = [](const Tensor& g, const Tensor& c) {
    const std::vector<float> u = g.to_vector(), v = c.to_vector();
    if (u.size() != v.size()) return false;
    float top = 0;
    for (float x : v) top = std::max(top, std::fabs(x));
    for (size_t k = 0; k < u.size(); ++k)
      if (!(std::fabs(u[k] - v[k]) <= 1e-4f * (1 + top))) return false;
    return true;
  };
  for (const LossCase& k : loss_cases()) {
    CAPTURE(k.name);
    LossRun c = run_loss(k, Device::cpu()), g = run_loss(k, gpu);
    CHECK(g.reads == 0);
    CHECK(close(g.loss, c.loss));
    CHECK(close(g.grad, c.grad));
  }
}

// ---- the loop on in-memory data

namespace {

const fs::path& root() {
  static fs::path r = train_cli::temp_folder("tailor_test_sync_free_");
  return r;
}

Json config(const std::string& name, std::vector<std::string> extra) { return loop_run::config(name, extra); }
fs::path train(const Json& cfg) { return loop_run::train(root(), cfg); }

using Runs = std::vector<std::pair<std::string, std::vector<std::string>>>;

// Each run: 60 steps (2 epochs of 30), none reading the host or waiting for the device, 20 read points (every third step: the
// progress redraws of a tenth of 30, and the epoch ends).
void check_no_step_reads(const Runs& runs) {
  for (auto& [name, sets] : runs) {
    CAPTURE(name);
    loop_counters() = LoopCounters{};
    train(config("reads_" + name, sets));
    const LoopCounters c = loop_counters();
    CHECK(c.steps == 60);
    CHECK(c.step_host_reads == 0);
    CHECK(c.step_host_waits == 0);  // on a GPU (no device to wait for on the CPU)
    CHECK(c.read_points == 20);
  }
}

}  // namespace

TEST_CASE("the steps between read points make no host read: CE, mixup, LDAM, resident data, GCL, skip, steps.jsonl, cRT") {
  const Runs runs = {
      {"ce", {"model.head=linear", "stage1.loss={\"name\": \"ce\"}"}},
      {"ce_mixup_skip", {"model.head=linear", "stage1.loss={\"name\": \"ce\"}", "stage1.mixup_alpha=1",
                         "guard.nonfinite=skip", "log.step_losses=true"}},
      {"ldam", {"model.head=normed", "stage1.loss={\"name\": \"ldam\"}"}},
      {"resident_ldam", {"data.resident=true", "model.head=normed", "stage1.loss={\"name\": \"ldam\"}"}},
      {"gcl", {"model.head=normed", "stage1.loss={\"name\": \"gcl\"}", "stage1.mixup_alpha=1"}},
      {"crt", {"model.head=linear", "stage1.loss={\"name\": \"ce\"}", "stage1.epochs=1", "stage2.method=crt",
               "stage2.epochs=1", "stage2.batch_size=3", "stage2.schedule.kind=constant"}},
  };
  check_no_step_reads(runs);
  // the counter sees a read inside step(): anomaly detection reads every op's output on the host
  loop_counters() = LoopCounters{};
  train(config("reads_anomaly", {"model.head=linear", "stage1.loss={\"name\": \"ce\"}", "debug.anomaly=true"}));
  CHECK(loop_counters().step_host_reads >= 60);
}

// The losses whose per-class tables, label lookups and branch masks are built on the device (take, greater,
// one_hot): the sigmoid family, GCLAng's angular noise (drawn on the host, uploaded), label-aware smoothing
// (MiSLAS stage 2 included), EQL's gate (drawn on the host, uploaded).
TEST_CASE("the steps between read points make no host read: cb_sigmoid, cb_focal, balanced_sigmoid, gcl_ang, las, "
          "eql, mislas, camc") {
  const Runs runs = {
      {"cb_sigmoid", {"model.head=linear", "stage1.loss={\"name\": \"cb_sigmoid\"}"}},
      {"cb_focal", {"model.head=linear", "stage1.loss={\"name\": \"cb_focal\", \"gamma\": 2}",
                    "stage1.mixup_alpha=1"}},
      {"balanced_sigmoid", {"model.head=linear", "stage1.loss={\"name\": \"balanced_sigmoid\"}"}},
      {"gcl_ang", {"model.head=normed", "stage1.loss={\"name\": \"gcl_ang\", \"epsilon\": 0.5}",
                   "stage1.mixup_alpha=1"}},
      {"gcl_ang_easy", {"model.head=normed",
                        "stage1.loss={\"name\": \"gcl_ang\", \"easy_margin\": true, \"train_cls\": true}"}},
      {"las", {"model.head=linear", "stage1.loss={\"name\": \"las\", \"shape\": \"linear\"}"}},
      {"eql", {"model.head=linear", "stage1.loss={\"name\": \"eql\", \"eql_lambda\": 0.1}", "stage1.mixup_alpha=1"}},
      {"mislas", {"model.head=linear", "stage1.loss={\"name\": \"ce\"}", "stage1.epochs=1", "stage2.method=mislas",
                  "stage2.epochs=1", "stage2.batch_size=3", "stage2.schedule.kind=constant", "stage2.optim.lr=0.01"}},
      // CAMC attending the true class, or the predicted one (argmax on the device)
      {"camc_label", {"model.head=camc", "stage1.method=camc", "stage1.camc.attend=label",
                      "stage1.loss={\"name\": \"ce\"}"}},
      {"camc_predicted", {"model.head=camc", "stage1.method=camc", "stage1.camc.attend=predicted",
                          "stage1.loss={\"name\": \"ce\"}"}},
  };
  check_no_step_reads(runs);
}

// On a GPU the same steps must also never wait for the device: the uploads of each step (labels, mixup's
// labels, GCL's noise, the batch) go through pinned staging memory without a synchronisation, so the host
// queues step after step (engine/cuda/runtime.cpp).
TEST_CASE("CUDA: the steps between read points make no host read and no host wait") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  const Runs runs = {
      {"cuda_ce", {"device=cuda", "model.head=linear", "stage1.loss={\"name\": \"ce\"}"}},
      {"cuda_ce_mixup_skip", {"device=cuda", "model.head=linear", "stage1.loss={\"name\": \"ce\"}",
                              "stage1.mixup_alpha=1", "guard.nonfinite=skip", "log.step_losses=true"}},
      {"cuda_gcl", {"device=cuda", "model.head=normed", "stage1.loss={\"name\": \"gcl\"}", "stage1.mixup_alpha=1"}},
      {"cuda_resident_ldam", {"device=cuda", "data.resident=true", "model.head=normed",
                              "stage1.loss={\"name\": \"ldam\"}"}},
  };
  check_no_step_reads(runs);
}

TEST_CASE("the loss sums and the weights do not depend on where the read points fall") {
  // plain progress reads every 3 steps, the bar about every 0.2 s; checkpoints every 7 steps add reads
  fs::path a = train(config("where_a", {"model.head=linear", "log.step_losses=true"}));
  fs::path b = train(config("where_b", {"model.head=linear", "log.step_losses=true", "log.progress=bar",
                                        "checkpoint.every_steps=7"}));
  CHECK(train_cli::slurp(a / "steps.jsonl") == train_cli::slurp(b / "steps.jsonl"));
  CHECK(train_cli::slurp(a / "checkpoints/stage1_last.safetensors") ==
        train_cli::slurp(b / "checkpoints/stage1_last.safetensors"));
  std::string ma = train_cli::slurp(a / "metrics.jsonl"), mb = train_cli::slurp(b / "metrics.jsonl");
  for (std::string* m : {&ma, &mb}) {  // the timings differ
    Json lines = Json::array();
    std::istringstream in(*m);
    for (std::string line; std::getline(in, line);) {
      Json j = Json::parse(line);
      for (const char* k : {"seconds", "img_per_s"}) j.erase(k);
      lines.push_back(j);
    }
    *m = lines.dump();
  }
  CHECK(ma == mb);
}
