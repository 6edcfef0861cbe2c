// The non-finite guard decided on the device (train/loop.h) through `tailor train` on the small
// Fashion-MNIST-LT run, with a NaN pixel injected into chosen steps (TAILOR_NAN_INPUT_AT_STEP): a skipped
// step leaves the weights, the momentum and the BatchNorm statistics exactly as they were before it; a
// skipped first step does not count as the optimiser's first (its momentum buffer is not saved, and the
// next step starts it as PyTorch does); guard.nonfinite stop names the first bad step even when later steps
// were queued before the read point. Skipped (exit 77) when the Fashion-MNIST package is not installed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "cli_run.h"
#include "train_cli.h"

#include "train/checkpoint.h"

namespace fs = std::filesystem;
using namespace tailor;
using train_cli::slurp;

static const std::string& root() {
  static std::string r = train_cli::temp_folder("tailor_guard_cli_");
  return r;
}

// Stage 1 only (the embedded GCL stage: mixup, BatchNorm, momentum SGD), 10 steps an epoch, every step's
// loss logged, the state after every step.
static std::string small(const std::string& name) {
  return train_cli::small_data(root(), name) +
         " --set stage2.method=none --set stage1.epochs=2 --set stage1.batch_size=16 --set stage1.mixup_alpha=1"
         " --set checkpoint.every_steps=1 --set guard.nonfinite=skip --no-report";
}

static bool have_data() { return train_cli::have_fashion_mnist(); }

static std::map<std::string, Tensor> state_of(const std::string& run) {
  return read_weights(root() + "/" + run + "/checkpoints/train_state.safetensors");
}

static bool same(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.dtype() == DType::I32) return a.to_vector_i32() == b.to_vector_i32();
  const auto x = a.to_vector(), y = b.to_vector();
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// The model (weights and BatchNorm statistics) and the momentum buffers of two training states, bit for bit.
static void check_same_tensors(const std::string& a, const std::string& b, int min_momentum) {
  const auto ta = state_of(a), tb = state_of(b);
  int model = 0, momentum = 0;
  for (auto& [name, t] : ta) {
    if (name.rfind("model.", 0) != 0 && name.rfind("momentum.", 0) != 0) continue;
    CAPTURE(name);
    REQUIRE(tb.count(name));
    CHECK(same(t, tb.at(name)));
    (name.rfind("model.", 0) == 0 ? model : momentum)++;
  }
  for (auto& [name, t] : tb)
    if (name.rfind("momentum.", 0) == 0) CHECK_MESSAGE(ta.count(name), name);
  CHECK(model > 60);
  CHECK(momentum >= min_momentum);
}

static int lines(const std::string& s) { return (int)std::count(s.begin(), s.end(), '\n'); }

TEST_CASE("a skipped step leaves weights, momentum and BatchNorm statistics as they were before it") {
  if (!have_data()) exit(77);
  Run a = run("train " + small("before"), "TAILOR_KILL_AT_STEP=3");  // the state after step 3
  CHECK(a.code == 137);
  Run b = run("train " + small("skipped"), "TAILOR_NAN_INPUT_AT_STEP=4 TAILOR_KILL_AT_STEP=4");
  CHECK(b.code == 137);
  CHECK(b.out.find("guard: skipped the step: non-finite gradient of conv1.weight at stage 1 epoch 1 step 4 "
                   "(global step 4)") != std::string::npos);
  check_same_tensors("before", "skipped", 60);  // the state after the skipped step 4 = after step 3
  const std::string sa = slurp(root() + "/before/steps.jsonl"), sb = slurp(root() + "/skipped/steps.jsonl");
  CHECK(lines(sa) == 3);
  CHECK(lines(sb) == 4);
  CHECK(sb.rfind(sa, 0) == 0);
}

TEST_CASE("a skipped first step is not the optimiser's first: no momentum saved, the next step starts it") {
  if (!have_data()) exit(77);
  // dampening 0.5: a first step (v = d) differs from a later one (v = 0.9 v + 0.5 d)
  const std::string damp = " --set stage1.optim.dampening=0.5";
  Run c = run("train " + small("first_whole") + damp, "TAILOR_NAN_INPUT_AT_STEP=1 TAILOR_KILL_AT_STEP=4");
  CHECK(c.code == 137);
  CHECK(c.out.find("guard: skipped the step: non-finite gradient of conv1.weight at stage 1 epoch 1 step 1 ") !=
        std::string::npos);
  Run d = run("train " + small("first_resumed") + damp, "TAILOR_NAN_INPUT_AT_STEP=1 TAILOR_KILL_AT_STEP=1");
  CHECK(d.code == 137);
  for (auto& [name, t] : state_of("first_resumed")) CHECK_MESSAGE(name.rfind("momentum.", 0) != 0, name);
  // resumed from the state after the skipped step 1 (no momentum: the optimiser starts afresh at step 2)
  d = run("train --resume " + root() + "/first_resumed", "TAILOR_KILL_AT_STEP=4");
  CHECK(d.code == 137);
  check_same_tensors("first_whole", "first_resumed", 60);
  CHECK(slurp(root() + "/first_whole/steps.jsonl") == slurp(root() + "/first_resumed/steps.jsonl"));
}

TEST_CASE("steps queued past a bad step: stop names the first one, skip counts each, max_skips stops in order") {
  if (!have_data()) exit(77);
  // the bar redraws (and so reads) about every 0.2 s, not every step: bad steps wait in the queue
  const std::string queued = " --set log.progress=bar --set checkpoint.every_steps=0";
  Run r = run("train " + small("raise") + queued + " --set guard.nonfinite=stop", "TAILOR_NAN_INPUT_AT_STEP=12-14");
  CHECK(r.code == 1);
  CHECK(r.out.find("non-finite gradient of conv1.weight at stage 1 epoch 2 step 2 (global step 12); lower the "
                   "learning rate") != std::string::npos);
  CHECK(lines(slurp(root() + "/raise/steps.jsonl")) == 11);  // the steps before it, no later one
  r = run("train " + small("max_skips") + queued + " --set guard.max_skips=2", "TAILOR_NAN_INPUT_AT_STEP=4-8");
  CHECK(r.code == 1);
  for (int s : {4, 5})
    CHECK(r.out.find("guard: skipped the step: non-finite gradient of conv1.weight at stage 1 epoch 1 step " +
                     std::to_string(s) + " (global step " + std::to_string(s) + ")") != std::string::npos);
  CHECK(r.out.find("step 6 (global step 6): more than guard.max_skips") != std::string::npos);
  CHECK(lines(slurp(root() + "/max_skips/steps.jsonl")) == 5);
  // skip over the whole run: every bad step skipped and counted, the epochs' losses finite
  r = run("train " + small("skip_all") + queued + " --set guard.max_skips=10", "TAILOR_NAN_INPUT_AT_STEP=4-8");
  CHECK_MESSAGE(r.code == 0, r.out);
  const std::string m = slurp(root() + "/skip_all/metrics.jsonl");
  CHECK(m.find("\"skipped_steps\":5") != std::string::npos);
  CHECK(m.find("\"loss\":null") == std::string::npos);
  CHECK(lines(slurp(root() + "/skip_all/steps.jsonl")) == 20);
  // an epoch whose every step was skipped has no loss: null in metrics.jsonl and n/a in the log, never 0
  r = run("train " + small("skip_epoch") + queued + " --set guard.max_skips=10", "TAILOR_NAN_INPUT_AT_STEP=1-10");
  CHECK_MESSAGE(r.code == 0, r.out);
  const std::string first = slurp(root() + "/skip_epoch/metrics.jsonl").substr(0, slurp(root() + "/skip_epoch/metrics.jsonl").find('\n'));
  CHECK_MESSAGE(first.find("\"loss\":null") != std::string::npos, first);
  CHECK(first.find("\"skipped_steps\":10") != std::string::npos);
  CHECK(r.out.find("stage 1 epoch 1/2  lr ") != std::string::npos);
  CHECK(r.out.find("loss n/a (no step applied)") != std::string::npos);
}
