// `tailor train` end to end on a small Fashion-MNIST-LT subset: exact kill-and-resume, crash safety of the
// checkpoints, the non-finite guard, and the model tools (eval, tau-sweep, extract-features, report) on a
// finished run. Skipped (exit 77) when the Fashion-MNIST package is not installed.
#include <doctest/doctest.h>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "engine/version.h"
#include "train_cli.h"

#include "engine/allocator.h"
#include "engine/safetensors.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;

using train_cli::slurp;

static const std::string& root() {
  static std::string r = train_cli::temp_folder("tailor_train_cli_");
  return r;
}

// The embedded default (GCL two-stage) on the small data, with mixup in both stages (so the loss noise RNG,
// the mixup stream, the CBEN sampler and BN statistics all have to resume exactly).
static std::string small(const std::string& name) {
  return train_cli::small_data(root(), name) +
         " --set stage1.epochs=2 --set stage2.epochs=1 --set stage1.batch_size=16 --set stage2.batch_size=16"
         " --set stage1.mixup_alpha=1 --set stage2.mixup_alpha=1";
}

static bool have_data() { return train_cli::have_fashion_mnist(); }

TEST_CASE("SIGKILL mid-epoch (stage 1 and stage 2) + --resume is bit-identical to an uninterrupted run") {
  if (!have_data()) exit(77);
  Run a = run("train " + small("whole") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  // 159 images: 10 steps per stage-1 epoch (20 in stage 1), then stage 2. Kill at 13 (mid epoch 2, state at
  // step 12) and at 23 (mid stage 2, state at 22).
  Run b = run("train " + small("killed") + " --no-report", "TAILOR_KILL_AT_STEP=13");
  CHECK(b.code == 137);
  Run c = run("train --resume " + root() + "/killed", "TAILOR_KILL_AT_STEP=23");
  CHECK(c.code == 137);
  CHECK(c.out.find("resumed " + root() + "/killed at stage 1 epoch 2") != std::string::npos);
  Run d = run("train --resume " + root() + "/killed");
  REQUIRE_MESSAGE(d.code == 0, d.out);
  CHECK(d.out.find("at stage 2 epoch 1") != std::string::npos);
  const fs::path A = root() + "/whole", B = root() + "/killed";
  std::string sa = slurp(A / "steps.jsonl"), sb = slurp(B / "steps.jsonl");
  CHECK(std::count(sa.begin(), sa.end(), '\n') > 20);
  CHECK(sa == sb);  // every step's loss, printed with 9 significant digits (exact for float)
  for (const char* f : {"stage1_last", "stage1_best", "stage2_last", "stage2_best"}) {
    CAPTURE(f);
    CHECK(slurp(A / "checkpoints" / (std::string(f) + ".safetensors")) ==
          slurp(B / "checkpoints" / (std::string(f) + ".safetensors")));
  }
  // the per-epoch log has one line per epoch, no duplicate from the replayed tail
  std::string ma = slurp(B / "metrics.jsonl");
  CHECK(std::count(ma.begin(), ma.end(), '\n') == 3);
  CHECK(slurp(A / "eval.json") == slurp(B / "eval.json"));
}

// SIGTERM (a scheduler's end of job), SIGINT, SIGUSR1: rundir/stop_signal.h. The test hook raises a real
// SIGTERM after the given step; the handler asks the loop to stop after the next one.
TEST_CASE("SIGTERM mid-epoch (stage 1 and stage 2): the state after the step, exit 75; --resume is bit-identical") {
  if (!have_data()) exit(77);
  const fs::path A = root() + "/whole_for_signal", B = root() + "/signalled";
  Run a = run("train " + small("whole_for_signal") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  Run b = run("train " + small("signalled") + " --no-report", "TAILOR_SIGTERM_AT_STEP=5");
  CHECK(b.code == 75);
  CHECK_MESSAGE(b.out.find("tailor: stop requested: the state is saved after the step in progress (a second signal "
                           "stops at once)") != std::string::npos, b.out);
  CHECK_MESSAGE(b.out.find("stopped by SIGTERM at stage 1 epoch 1 after step 6; the state is saved: continue with "
                           "`tailor train --resume " + B.string() + "`") != std::string::npos, b.out);
  Run c = run("train --resume " + B.string(), "TAILOR_SIGTERM_AT_STEP=21");
  CHECK(c.code == 75);
  CHECK(c.out.find("resumed " + B.string() + " at stage 1 epoch 1 after step 6") != std::string::npos);
  CHECK_MESSAGE(c.out.find("stopped by SIGTERM at stage 2 epoch 1 after step 2") != std::string::npos, c.out);
  Run d = run("train --resume " + B.string());
  REQUIRE_MESSAGE(d.code == 0, d.out);
  CHECK(slurp(A / "steps.jsonl") == slurp(B / "steps.jsonl"));
  for (const char* f : {"stage1_last", "stage1_best", "stage2_last", "stage2_best"}) {
    CAPTURE(f);
    CHECK(slurp(A / "checkpoints" / (std::string(f) + ".safetensors")) ==
          slurp(B / "checkpoints" / (std::string(f) + ".safetensors")));
  }
  CHECK(slurp(A / "eval.json") == slurp(B / "eval.json"));
}

TEST_CASE("--stop-after ends at an epoch boundary (exit 75, state saved) and --resume finishes the same run") {
  if (!have_data()) exit(77);
  const fs::path A = root() + "/whole_for_stop", B = root() + "/stopped";
  Run a = run("train " + small("whole_for_stop") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  // any positive budget is past after the first epoch: stops after stage-1 epoch 1 of 2
  Run b = run("train " + small("stopped") + " --no-report --stop-after 0.001");
  CHECK(b.code == 75);
  CHECK(b.out.find("stopped after") != std::string::npos);
  CHECK(b.out.find("at stage 1 epoch 1; the state is saved: continue with `tailor train --resume " + B.string()) !=
        std::string::npos);
  CHECK(!fs::exists(B / "summary.json"));
  // the stopped run: no report yet (said why), and a model tool evaluating it says it has not finished
  Run rep = run("report --run " + B.string());
  CHECK(rep.code == 1);
  CHECK(rep.out.find(B.string() + ": the run has not finished (no eval.json yet): continue it with `tailor train "
                     "--resume " + B.string() + "`") != std::string::npos);
  CHECK(run("report --run " + root()).out.find(": not a run directory (no config.json)") != std::string::npos);
  fs::copy_file(B / "checkpoints/stage1_last.safetensors", B / "checkpoints/stage2_last.safetensors");
  Run ev = run("eval --run " + B.string());
  CHECK_MESSAGE(ev.code == 0, ev.out);
  CHECK(ev.out.find("note: " + B.string() + " has not finished (stopped or killed; `tailor train --resume` continues "
                    "it): evaluating its latest checkpoint, stage2_last.safetensors, written after stage 1 epoch 1") !=
        std::string::npos);  // (the stage-1 file copied: its own stage and epoch)
  fs::remove(B / "checkpoints/stage2_last.safetensors");
  // the last epoch of a stage never stops: epoch 2, then stage 2 (one epoch) run to the end
  Run c = run("train --resume " + B.string() + " --stop-after 0.001");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  CHECK(slurp(A / "steps.jsonl") == slurp(B / "steps.jsonl"));
  CHECK(slurp(A / "checkpoints/stage2_last.safetensors") == slurp(B / "checkpoints/stage2_last.safetensors"));
  CHECK(slurp(A / "eval.json") == slurp(B / "eval.json"));
  Run d = run("train " + small("bad_stop") + " --stop-after soon");
  CHECK(d.code == 2);
  CHECK(d.out.find("--stop-after expects a positive number of seconds, got 'soon'") != std::string::npos);
}

TEST_CASE("debug.profile_steps: per-stage kernel tables, and the same steps as without") {
  if (!have_data()) exit(77);
  const fs::path A = root() + "/unprofiled", B = root() + "/profiled";
  Run a = run("train " + small("unprofiled") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  Run b = run("train " + small("profiled") + " --no-report --set debug.profile_steps=3");
  REQUIRE_MESSAGE(b.code == 0, b.out);
  CHECK(slurp(A / "steps.jsonl") == slurp(B / "steps.jsonl"));
  CHECK(slurp(A / "checkpoints/stage2_last.safetensors") == slurp(B / "checkpoints/stage2_last.safetensors"));
  for (int k : {1, 2}) {
    CAPTURE(k);
    const std::string t = slurp(B / ("profile_stage" + std::to_string(k) + ".txt"));
    CHECK(t.find("kernel profile: stage " + std::to_string(k) + " (") == 0);
    CHECK(t.find("3 training steps of batch 16 on cpu") != std::string::npos);
    CHECK(t.find("conv2d_forward") != std::string::npos);
    CHECK(t.find("kernels: ") != std::string::npos);
    CHECK(b.out.find(t) != std::string::npos);  // also in the log
  }
  // stage 1 trains the backbone (its convolutions' backward), stage 2 only the classifier on a frozen one
  CHECK(slurp(B / "profile_stage1.txt").find("conv2d_backward_weights") != std::string::npos);
  CHECK(slurp(B / "profile_stage2.txt").find("conv2d_backward_weights") == std::string::npos);
  CHECK_FALSE(fs::exists(A / "profile_stage1.txt"));
  CHECK(b.out.find("no step of stage") == std::string::npos);
  // epochs of two steps never reach the third, where profiling starts: said, not silent
  Run c = run("train " + small("profile_short") + " --no-report --set debug.profile_steps=3 --set "
              "stage1.max_steps_per_epoch=2 --set stage2.max_steps_per_epoch=2");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  for (int k : {1, 2})
    CHECK(c.out.find("debug.profile_steps: no step of stage " + std::to_string(k) + " was profiled (profiling starts "
                     "at an epoch's third step run by this process; no epoch had one)") != std::string::npos);
  // the run report shows them
  Run rep = run("report --run " + B.string());
  REQUIRE_MESSAGE(rep.code == 0, rep.out);
  const std::string html = slurp(B / "report.html");
  CHECK(html.find("<h2>Where a step's time goes</h2>") != std::string::npos);
  CHECK(html.find("kernel profile: stage 2 (") != std::string::npos);
}

TEST_CASE("--resume --set data.root continues where the data moved; other data and other keys are refused") {
  if (!have_data()) exit(77);
  const fs::path A = root() + "/whole_for_move", B = root() + "/moving";
  const fs::path src = "/usr/share/datasets/fashion-mnist", moved = root() + "/fashion_moved",
                 other = root() + "/fashion_other";  // "fashion" in the path: the reader names the classes
  const char* files[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                         "t10k-labels-idx1-ubyte.gz"};
  fs::create_directories(moved);
  fs::create_directories(other);
  for (const char* f : files) fs::create_symlink(src / f, moved / f);
  for (int i = 0; i < 3; ++i) fs::create_symlink(src / files[i], other / files[i]);
  // `other`: the same files but the first test label changed (plain IDX, which the reader also takes)
  REQUIRE(std::system(("gzip -dc " + (src / files[3]).string() + " > " + (other / "t10k-labels-idx1-ubyte").string())
                          .c_str()) == 0);
  {
    std::fstream f(other / "t10k-labels-idx1-ubyte", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(8);
    char label = 0;
    f.read(&label, 1);
    label = (char)((label + 1) % 10);
    f.seekp(8);
    f.write(&label, 1);
  }
  Run a = run("train " + small("whole_for_move") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  Run b = run("train " + small("moving") + " --no-report --stop-after 0.001");
  REQUIRE(b.code == 75);
  const std::string config0 = slurp(B / "config.json");
  Run c = run("train --resume " + B.string() + " --set data.root=" + other.string());
  CHECK(c.code == 1);
  CHECK(c.out.find("data.root " + other.string() + ": not the data this run started with") != std::string::npos);
  CHECK(slurp(B / "config.json") == config0);
  c = run("train --resume " + B.string() + " --set stage1.optim.lr=0.5");
  CHECK(c.code == 2);
  CHECK(c.out.find("the only --set it accepts is data.root=DIR") != std::string::npos);
  c = run("train --resume " + B.string() + " --set data.root=" + moved.string() + " --no-report");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  CHECK(c.out.find("data.root: was (empty) (config.json updated)") != std::string::npos);
  CHECK(slurp(B / "config.json").find("\"root\": \"" + moved.string() + "\"") != std::string::npos);
  CHECK(slurp(A / "steps.jsonl") == slurp(B / "steps.jsonl"));
  CHECK(slurp(A / "eval.json") == slurp(B / "eval.json"));

  // test images repaired (here: one pixel changed) while the run was stopped: refused, with the flag that
  // continues; with it the training steps are the uninterrupted run's (the training split is the same)
  const fs::path fixed = root() + "/fashion_fixed", C = root() + "/repaired";
  fs::create_directories(fixed);
  for (int i : {0, 1, 3}) fs::create_symlink(src / files[i], fixed / files[i]);
  REQUIRE(std::system(("gzip -dc " + (src / files[2]).string() + " > " + (fixed / "t10k-images-idx3-ubyte").string())
                          .c_str()) == 0);
  {
    std::fstream f(fixed / "t10k-images-idx3-ubyte", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16 + 400);
    f.put((char)7);
  }
  Run d = run("train " + small("repaired") + " --no-report --stop-after 0.001");
  REQUIRE(d.code == 75);
  d = run("train --resume " + C.string() + " --set data.root=" + fixed.string());
  CHECK(d.code == 1);
  CHECK(d.out.find("not the data this run started with: the test split's images changed (their pixels); the training "
                   "split is the same") != std::string::npos);
  CHECK(d.out.find("evaluation images repaired or replaced on purpose: --accept-changed-eval-images") != std::string::npos);
  d = run("train --resume " + C.string() + " --set data.root=" + other.string() + " --accept-changed-eval-images");
  CHECK(d.code == 1);  // labels changed: never accepted
  CHECK(d.out.find("the test split's labels changed") != std::string::npos);
  CHECK(d.out.find("continued") == std::string::npos);
  d = run("train " + small("nope") + " --accept-changed-eval-images");
  CHECK(d.code == 2);
  CHECK(d.out.find("--accept-changed-eval-images goes with --resume") != std::string::npos);
  d = run("train --resume " + C.string() + " --set data.root=" + fixed.string() + " --accept-changed-eval-images --no-report",
          "TAILOR_KILL_AT_STEP=15");  // killed in stage 1's second epoch (a state every 2 steps)
  REQUIRE_MESSAGE(d.code == 137, d.out);
  CHECK(d.out.find("note: the test split's images changed (their pixels); the training split is the same; continued "
                   "(--accept-changed-eval-images): the steps of the stage in progress are the uninterrupted run's") !=
        std::string::npos);
  d = run("train --resume " + C.string() + " --no-report");  // the state saved since holds the new images' fingerprint
  REQUIRE_MESSAGE(d.code == 0, d.out);
  CHECK(d.out.find("continued") == std::string::npos);
  CHECK(slurp(A / "steps.jsonl") == slurp(C / "steps.jsonl"));
}

TEST_CASE("resume refuses a missing state; a fresh run refuses an existing directory") {
  if (!have_data()) exit(77);
  Run r = run("train --resume " + root() + "/nothing_here");
  CHECK(r.code == 1);
  CHECK(r.out.find("no training state") != std::string::npos);
  CHECK(r.out.find("refusing to start a fresh run") != std::string::npos);
  CHECK(!fs::exists(root() + "/nothing_here"));
  r = run("train " + small("dup") + " --set stage1.epochs=1 --set stage2.method=none --set stage1.max_steps_per_epoch=1 "
          "--set eval.every_epochs=0 --no-report");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  r = run("train " + small("dup") + " --set stage1.epochs=1 --no-report");
  CHECK(r.code == 1);
  CHECK(r.out.find("already holds a run") != std::string::npos);
  r = run("train --resume " + root() + "/dup --set seed=3");
  CHECK(r.code == 2);
  CHECK(r.out.find("--resume takes the run's own config.json") != std::string::npos);
}

TEST_CASE("corrupted checkpoints are rejected; an interrupted write leaves the previous state usable") {
  if (!have_data()) exit(77);
  Run r = run("train " + small("crash") + " --set stage2.method=none --set stage1.epochs=2 --no-report",
              "TAILOR_KILL_AT_STEP=11");
  REQUIRE(r.code == 137);
  const fs::path state = root() + "/crash/checkpoints/train_state.safetensors";
  const std::string good = slurp(state);
  // truncated
  std::ofstream(state, std::ios::binary | std::ios::trunc) << good.substr(0, good.size() / 2);
  r = run("train --resume " + root() + "/crash");
  CHECK(r.code == 1);
  CHECK(r.out.find(state.string()) != std::string::npos);
  // one flipped bit in the data section
  std::string flipped = good;
  flipped[flipped.size() - 1000] ^= 0x10;
  std::ofstream(state, std::ios::binary | std::ios::trunc) << flipped;
  r = run("train --resume " + root() + "/crash");
  CHECK(r.code == 1);
  CHECK(r.out.find("checksum mismatch") != std::string::npos);
  // a damaged crc32 key in the header: the check is mandatory, not skipped
  std::string renamed = good;
  const size_t at = renamed.find("\"crc32\"");
  REQUIRE(at != std::string::npos);
  renamed[at + 1] ^= 0x20;  // "Crc32"
  std::ofstream(state, std::ios::binary | std::ios::trunc) << renamed;
  r = run("train --resume " + root() + "/crash");
  CHECK(r.code == 1);
  CHECK(r.out.find(state.string() + ": no crc32 in the metadata") != std::string::npos);
  // a write killed half-way leaves only a partial .tmp beside the intact previous file
  std::ofstream(state, std::ios::binary | std::ios::trunc) << good;
  std::ofstream(state.string() + ".tmp", std::ios::binary | std::ios::trunc) << good.substr(0, 5000);
  r = run("train --resume " + root() + "/crash");
  CHECK_MESSAGE(r.code == 0, r.out);
  // a weights file with a flipped bit is refused by the tools too
  const fs::path w = root() + "/crash/checkpoints/stage1_last.safetensors";
  std::string wb = slurp(w);
  wb[wb.size() / 2] ^= 0x01;
  std::ofstream(w, std::ios::binary | std::ios::trunc) << wb;
  r = run("eval --run " + root() + "/crash --checkpoint " + w.string());
  CHECK(r.code == 1);
  CHECK(r.out.find("checksum mismatch") != std::string::npos);
}

TEST_CASE("the non-finite guard stops naming the step, skips when asked, and names the op in debug mode") {
  if (!have_data()) exit(77);
  // the batch of global step 4 carries a NaN pixel (a corrupted input)
  const std::string nan = "TAILOR_NAN_INPUT_AT_STEP=4";
  const std::string one_stage = " --set stage2.method=none --set stage1.epochs=1 --no-report";
  Run r = run("train " + small("nan_stop") + one_stage, nan);
  CHECK(r.code == 1);
  // (ReLU maps the NaN activations to 0 in the forward; BatchNorm's statistics carry it into the gradients)
  CHECK(r.out.find("non-finite gradient of conv1.weight at stage 1 epoch 1 step 4 (global step 4)") !=
        std::string::npos);
  CHECK(r.out.find("debug.anomaly") != std::string::npos);
  // skip: step 4 is skipped, its BatchNorm statistics restored, and the run finishes with finite numbers
  r = run("train " + small("nan_skip1") + one_stage + " --set guard.nonfinite=skip", nan);
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("guard: skipped the step: non-finite gradient of conv1.weight at stage 1 epoch 1 step 4") !=
        std::string::npos);
  std::string m = slurp(root() + "/nan_skip1/metrics.jsonl");
  CHECK(m.find("\"skipped_steps\":1") != std::string::npos);
  CHECK(m.find("\"top1\":null") == std::string::npos);
  CHECK(m.find("\"loss\":null") == std::string::npos);
  // steps 4..8 corrupted, at most 2 skips: 4 and 5 are skipped, 6 stops the run
  r = run("train " + small("nan_skip") + one_stage + " --set guard.nonfinite=skip --set guard.max_skips=2",
          "TAILOR_NAN_INPUT_AT_STEP=4-8");
  CHECK(r.code == 1);
  CHECK(r.out.find("guard: skipped the step: non-finite gradient of conv1.weight at stage 1 epoch 1 step 5") !=
        std::string::npos);
  CHECK(r.out.find("step 6 (global step 6): more than guard.max_skips") != std::string::npos);
  // a fresh run failing at its first step leaves nothing: the same command runs again (not "already holds a run")
  for (int attempt = 0; attempt < 2; ++attempt) {
    r = run("train " + small("nan_first") + one_stage, "TAILOR_NAN_INPUT_AT_STEP=1");
    CHECK(r.code == 1);
    CHECK(r.out.find("at stage 1 epoch 1 step 1 (global step 1)") != std::string::npos);
    CHECK_FALSE(fs::exists(root() + "/nan_first"));
  }
  r = run("train " + small("nan_debug") + one_stage + " --set debug.anomaly=true", nan);
  CHECK(r.code == 1);
  CHECK(r.out.find("stage 1 epoch 1 step 4 (global step 4, a batch of 16 images), debug.anomaly: non-finite value produced by the forward "
                   "of 'conv2d'") != std::string::npos);
}

TEST_CASE("eval, tau-sweep, extract-features and report on finished runs") {
  if (!have_data()) exit(77);
  Run r = run("train " + small("linear") +
              " --set model.head=linear --set 'stage1.loss={\"name\": \"ce\"}' --set stage2.method=crt --set stage1.epochs=1");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("many") != std::string::npos);
  CHECK(r.out.find("report: " + root() + "/linear/report.html") != std::string::npos);
  const fs::path run_dir = root() + "/linear";
  for (const char* f : {"config.json", "metrics.jsonl", "eval.json", "summary.json", "report.html"})
    CHECK_MESSAGE(fs::exists(run_dir / f), f);
  // top-1 (per image) beside balanced (per class): the epoch line, metrics.jsonl, eval.json, summary.json, the table
  CHECK(r.out.find("% bal ") != std::string::npos);
  CHECK(r.out.find("groups: many > 100, medium 20-100, few < 20 training images\n") != std::string::npos);
  CHECK(r.out.find("\nbalanced ") != std::string::npos);
  CHECK(slurp(run_dir / "metrics.jsonl").find("\"balanced_acc\":") != std::string::npos);
  CHECK(slurp(run_dir / "summary.json").find("\"balanced_acc\":") != std::string::npos);
  // which tailor wrote it: the commit and the build, as `tailor --version` says them
  CHECK(r.out.find("\nengine: " + tailor::version_line() + "\n") != std::string::npos);  // (the log's second line)
  CHECK(slurp(run_dir / "summary.json").find("\"engine_version\": \"" + std::string(tailor::version_commit()) + "\"") !=
        std::string::npos);
  CHECK(slurp(run_dir / "summary.json").find("\"engine_build\": \"" + tailor::version_build() + "\"") != std::string::npos);
  CHECK(slurp(run_dir / "eval.json").find("\"shot_groups\":{\"rule\":\"counts\",\"many_above\":100") !=
        std::string::npos);
  r = run("eval --run " + run_dir.string() + " --out " + root() + "/e.json");
  CHECK(r.code == 0);
  CHECK(r.out.find("overall") != std::string::npos);
  CHECK(slurp(root() + "/e.json").find("\"per_class_acc\"") != std::string::npos);
  CHECK(slurp(root() + "/e.json").find("\"head\":\"linear\"") != std::string::npos);  // cRT's classifier
  CHECK(slurp(root() + "/e.json").find("\"balanced_acc\":") != std::string::npos);
  for (const fs::path& e : {run_dir / "eval.json", fs::path(root()) / "e.json"})  // the evaluating tailor, too
    CHECK(slurp(e).find("\"engine_version\":\"" + std::string(tailor::version_commit()) + "\"") != std::string::npos);
  // the groups of the run's config.json, or of a --set: thirds regroups the counts run
  r = run("eval --run " + run_dir.string() + " --set eval.groups=thirds");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("groups: thirds of the classes by training count: many 3 classes (") != std::string::npos);
  // a key a model tool does not read (the model is the checkpoint's; nothing trains): refused, not ignored
  for (const char* tool : {"eval", "tau-sweep"}) {
    r = run(std::string(tool) + " --run " + run_dir.string() + " --set model.head=normed");
    CHECK(r.code == 2);
    CHECK(r.out.find("--set model.head: a model tool reads only data.*, eval.*, precision and deterministic (the "
                     "model is the checkpoint's)") != std::string::npos);
  }
  r = run("eval --run " + run_dir.string() + " --set stage1.epochs=5");
  CHECK(r.code == 2);
  CHECK(r.out.find("(nothing is trained here)") != std::string::npos);
  // the device: the run's own when this machine has it; a run trained on a GPU, evaluated where there is none:
  // on the CPU, said, with the same numbers
  if (!tailor::cuda_available()) {
    const fs::path gpu_run = root() + "/linear_on_gpu";
    fs::create_directories(gpu_run / "checkpoints");
    std::string cfg = slurp(run_dir / "config.json");
    const size_t at = cfg.find("\"device\": \"cpu\"");
    REQUIRE(at != std::string::npos);
    cfg.replace(at, 15, "\"device\": \"cuda\"");
    std::ofstream(gpu_run / "config.json") << cfg;
    for (const auto& e : fs::directory_iterator(run_dir / "checkpoints"))
      fs::copy_file(e.path(), gpu_run / "checkpoints" / e.path().filename());
    fs::copy_file(run_dir / "summary.json", gpu_run / "summary.json");
    Run g = run("eval --run " + gpu_run.string() + " --out " + root() + "/e_gpu.json");
    CHECK_MESSAGE(g.code == 0, g.out);
    CHECK(g.out.find("note: the model trained on cuda; no CUDA device here: on the CPU") != std::string::npos);
    nlohmann::json ea = nlohmann::json::parse(slurp(root() + "/e.json")),
                   eb = nlohmann::json::parse(slurp(root() + "/e_gpu.json"));
    ea.erase("checkpoint");
    eb.erase("checkpoint");
    CHECK(ea == eb);
    g = run("eval --run " + gpu_run.string() + " --device cuda");
    CHECK(g.code == 2);
    CHECK(g.out.find("--device cuda: no CUDA device is available") != std::string::npos);
  }
  // weights without tailor's metadata (PyTorch's save_file writes {"format": "pt"}): loaded into the model the
  // config describes, with the same numbers; a training state is named as such
  {
    const std::string final_ckpt = nlohmann::json::parse(slurp(root() + "/e.json")).at("checkpoint");
    tailor::SafeTensorFile w = tailor::read_safetensors(final_ckpt);
    w.metadata = {{"format", "pt"}};
    tailor::write_safetensors(root() + "/pt.safetensors", w);
    Run p = run("eval --checkpoint " + root() + "/pt.safetensors --config " + (run_dir / "config.json").string() +
                " --out " + root() + "/e_pt.json");
    CHECK_MESSAGE(p.code == 0, p.out);
    CHECK(p.out.find("pt.safetensors has no tailor metadata: loaded into the config's model: all 188 tensors loaded, "
                     "every name matched") != std::string::npos);
    nlohmann::json ea = nlohmann::json::parse(slurp(root() + "/e.json")),
                   ep = nlohmann::json::parse(slurp(root() + "/e_pt.json"));
    ea.erase("checkpoint");
    ep.erase("checkpoint");
    CHECK(ea == ep);
    // a backbone without its classifier: strict refuses, model.init_allow_partial (model.* describes the model
    // of such a file) loads it and says the classifier is untrained; a tailor checkpoint names its own model
    tailor::SafeTensorFile bb = w;
    bb.tensors.erase("linear.weight");
    bb.tensors.erase("linear.bias");
    tailor::write_safetensors(root() + "/pt_backbone.safetensors", bb);
    const std::string pt_backbone = "extract-features --checkpoint " + root() + "/pt_backbone.safetensors --config " +
                                    (run_dir / "config.json").string() + " --out " + root() + "/f_pt.safetensors";
    p = run(pt_backbone);
    CHECK(p.code == 2);
    CHECK(p.out.find("(model.init_allow_partial true takes the tensors that match") != std::string::npos);
    p = run(pt_backbone + " --set model.init_allow_partial=true");
    CHECK_MESSAGE(p.code == 0, p.out);
    CHECK(p.out.find("186 of the model's 188 tensors loaded, the others as initialised; missing (2): linear.bias, "
                     "linear.weight") != std::string::npos);
    CHECK(p.out.find("note: the classifier (linear.*) was not in the file as the model has it: it is untrained") !=
          std::string::npos);
    p = run("eval --checkpoint " + final_ckpt + " --config " + (run_dir / "config.json").string() +
            " --set model.init_allow_partial=true");
    CHECK(p.code == 2);
    CHECK(p.out.find("is a tailor checkpoint, which names its model; model.* describes the model for weights "
                     "without tailor's metadata") != std::string::npos);
    p = run("eval --run " + run_dir.string() + " --checkpoint " + (run_dir / "checkpoints/train_state.safetensors").string());
    CHECK(p.code != 0);
    CHECK(p.out.find("train_state.safetensors: a run's training state (the loop's, the optimiser's), not a model "
                     "checkpoint") != std::string::npos);
  }
  r = run("tau-sweep --run " + run_dir.string() + " --checkpoint " + (run_dir / "checkpoints/stage1_last.safetensors").string() +
          " --taus 0,0.5,1");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("best tau") != std::string::npos);
  CHECK(r.out.find("groups: many > 100, medium 20-100, few < 20 training images") != std::string::npos);
  CHECK(fs::exists(run_dir / "tau_sweep.json"));
  r = run("extract-features --run " + run_dir.string() + " --split train --out " + root() + "/f.safetensors");
  CHECK_MESSAGE(r.code == 0, r.out);
  tailor::SafeTensorFile f = tailor::read_safetensors(root() + "/f.safetensors");
  CHECK(f.tensors.at("features").shape == std::vector<int64_t>{159, 64});
  CHECK(f.tensors.at("logits").shape == std::vector<int64_t>{159, 10});
  CHECK(f.tensors.at("labels").dtype == "I64");
  CHECK(f.metadata.at("engine_version") == tailor::version_commit());
  fs::remove(run_dir / "report.html");
  r = run("report --run " + run_dir.string());
  CHECK(r.code == 0);
  CHECK(fs::exists(run_dir / "report.html"));
  // a cosine-classifier checkpoint has no tau-norm
  r = run("tau-sweep --run " + (fs::path(root()) / "killed").string());
  if (fs::exists(fs::path(root()) / "killed")) {
    CHECK(r.code == 2);
    CHECK(r.out.find("needs a linear classifier") != std::string::npos);
  }
}

TEST_CASE("every subcommand rejects bad flags, bad JSON, unknown keys and out-of-range values") {
  for (std::string cmd : {"train", "eval", "tau-sweep", "extract-features", "report", "verify-data", "bench", "cams",
                          "table", "compare", "inspect-loss", "explore"}) {
    CAPTURE(cmd);
    Run r = run(cmd + " --bogus 1");
    CHECK(r.code == 2);
    CHECK(r.out.find("unknown flag --bogus") != std::string::npos);
    CHECK(r.out.find(std::string("usage: tailor ") + cmd) != std::string::npos);
    for (const char* help : {" --help", " -h"}) {
      r = run(cmd + help);
      CHECK(r.code == 0);
      CHECK(r.out.find(std::string("usage: tailor ") + cmd) != std::string::npos);
    }
  }
  const std::string bad = root() + "/bad.json";
  std::ofstream(bad) << "{\n  \"stage1\": {\"epochs\": 3,}\n}\n";
  Run r = run("train --config " + bad);
  CHECK(r.code == 2);
  CHECK(r.out.find(bad + ":2:") != std::string::npos);
  std::ofstream(bad) << "{\"stage1\": {\"sampler\": {\"nme\": \"cben\"}}}";
  r = run("train --config " + bad);
  CHECK(r.code == 2);
  CHECK(r.out.find("unknown key 'stage1.sampler.nme' (did you mean 'stage1.sampler.name'?)") != std::string::npos);
  r = run("train --set stage1.optim.lr=-1");
  CHECK(r.code == 2);
  CHECK(r.out.find("stage1.optim.lr: value -1 out of range") != std::string::npos);
  r = run("train --config /nonexistent.json");
  CHECK(r.code == 2);
  CHECK(r.out.find("/nonexistent.json: cannot open") != std::string::npos);
  r = run("eval --run " + root() + "/no_such_run");
  CHECK(r.code == 2);
  CHECK(r.out.find("no config.json") != std::string::npos);
  r = run("eval --config " + bad);
  CHECK(r.code == 2);
  r = run("tau-sweep --run x --taus 0,a");
  CHECK(r.code == 2);
  CHECK(r.out.find("--taus expects comma-separated numbers") != std::string::npos);
  r = run("eval --run x --split holdout");
  CHECK(r.code == 2);
  CHECK(r.out.find("--split must be one of test|val|train") != std::string::npos);
  r = run("train --stes 1");
  CHECK(r.out.find("did you mean --set?") != std::string::npos);
  // a flag and the --set of its key both given: one would be unread
  r = run("train --print-config --threads 2 --set threads=3");
  CHECK(r.code == 2);
  CHECK(r.out.find("--threads and --set threads= both given") != std::string::npos);
  r = run("verify-data --bogus");  // (no value after it: still an unknown flag)
  CHECK(r.code == 2);
  CHECK(r.out.find("unknown flag --bogus") != std::string::npos);
}

TEST_CASE("one writer per run directory: a second train, --resume or --overwrite of a directory in use is refused") {
  if (!have_data()) exit(77);
  const fs::path dir = root() + "/busy", pid_file = root() + "/busy.pid";
  const std::string args = small("busy") + " --set stage2.method=none --set stage1.epochs=50 --set eval.every_epochs=0"
                           " --no-report";
  // a long run in the background, writing its pid
  REQUIRE(std::system(("sh -c 'echo $$ > " + pid_file.string() + "; exec " + std::string(TAILOR_BIN) + " train " +
                       args + " > " + root() + "/busy.log 2>&1' > /dev/null 2>&1 &")
                          .c_str()) == 0);
  for (int i = 0; i < 600 && !fs::exists(dir / "checkpoints/train_state.safetensors"); ++i) usleep(100000);
  REQUIRE(fs::exists(dir / "checkpoints/train_state.safetensors"));
  const std::string in_use = "run directory " + dir.string() + " is in use by another process";
  Run r = run("train " + args);
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.out.find(in_use) != std::string::npos, r.out);
  r = run("train --resume " + dir.string());
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.out.find(in_use) != std::string::npos, r.out);
  r = run("train " + args + " --overwrite");
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.out.find(in_use) != std::string::npos, r.out);
  CHECK(fs::exists(dir / "config.json"));  // nothing of the running run was touched
  // the lock dies with its process: kill it, and --resume takes the directory over
  const std::string pid = slurp(pid_file);
  REQUIRE(std::system(("kill -9 " + pid).c_str()) == 0);
  for (int i = 0; i < 100; ++i) {
    r = run("train --resume " + dir.string() + " --stop-after 0.001");
    if (r.out.find(in_use) == std::string::npos) break;
    usleep(100000);
  }
  CHECK_MESSAGE(r.code == 75, r.out);  // resumed, stopped after its first epoch with the state saved
  CHECK(r.out.find("resumed " + dir.string()) != std::string::npos);
}
