// `tailor train` with more than two stages and with a method that keeps an extra model, end to end on a
// small Fashion-MNIST-LT subset: a three-stage run (joint CE with mixup -> cRT -> LWS, each stage with its
// own sampler and schedule) killed in stage 3 resumes bit-identically; knowledge distillation from a teacher
// checkpoint trains, resumes bit-identically, refuses another teacher, and leaves the student's initial
// weights equal to a run without a teacher. Skipped (exit 77) without the Fashion-MNIST package.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_run.h"
#include "train/checkpoint.h"
#include "train_cli.h"

namespace fs = std::filesystem;
using train_cli::slurp;

static const std::string& root() {
  static std::string r = train_cli::temp_folder("tailor_train_stages_");
  return r;
}

TEST_CASE("three stages, each with its own method, sampler and schedule: SIGKILL in stage 3 + --resume is "
          "bit-identical") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string cfg = train_cli::write_config(root(), "three", R"({
  "model": {"head": "linear"},
  "stage1": {"method": "joint", "epochs": 2, "batch_size": 16, "mixup_alpha": 1, "loss": {"name": "ce"},
             "schedule": {"kind": "multistep", "milestones": [1]}},
  "stage2": {"method": "crt", "epochs": 1, "batch_size": 16, "load": "best", "sampler": {"name": "sqrt"},
             "schedule": {"kind": "constant"}, "optim": {"lr": 0.05}},
  "stage3": {"method": "lws", "epochs": 2, "batch_size": 16, "load": "last", "bn_mode": "train",
             "sampler": {"name": "class_aware", "samples_per_class": 2}, "schedule": {"kind": "cosine"}}
})");
  Run a = run("train --config " + cfg + " " + train_cli::small_data(root(), "three_whole") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  CHECK(a.out.find("stage3 (lws): 1 trainable tensors") != std::string::npos);
  // 159 images: 10 steps per epoch in stages 1 and 2, 9 in stage 3 (class-aware: int(159 / 16) full batches),
  // 20 + 10 + 18. Kill at 31, the first step of stage 3 (the state is the one of the stage boundary), then at
  // 43 (mid stage-3 epoch 2, state at step 42).
  Run b = run("train --config " + cfg + " " + train_cli::small_data(root(), "three_killed") + " --no-report",
              "TAILOR_KILL_AT_STEP=31");
  CHECK(b.code == 137);
  Run c = run("train --resume " + root() + "/three_killed", "TAILOR_KILL_AT_STEP=43");
  CHECK(c.code == 137);
  CHECK(c.out.find("at stage 3 epoch 1 after step 0 (global step 30)") != std::string::npos);
  Run d = run("train --resume " + root() + "/three_killed");
  REQUIRE_MESSAGE(d.code == 0, d.out);
  CHECK(d.out.find("at stage 3 epoch 2") != std::string::npos);
  train_cli::check_same_run(root() + "/three_whole", root() + "/three_killed", 5, 2);
  // the stages did what they say: stage 3's checkpoint holds the LWS classifier over stage 2's cRT weights
  auto s2 = tailor::read_weights(root() + "/three_whole/checkpoints/stage2_last.safetensors");
  auto s3 = tailor::read_weights(root() + "/three_whole/checkpoints/stage3_last.safetensors");
  CHECK(s3.count("linear.scales"));
  CHECK(s3.at("linear.fc.weight").to_vector() == s2.at("linear.weight").to_vector());
  CHECK(s3.at("conv1.weight").to_vector() == s2.at("conv1.weight").to_vector());
  CHECK(s3.at("bn1.running_mean").to_vector() != s2.at("bn1.running_mean").to_vector());  // shifted BN
}

TEST_CASE("distillation from a teacher checkpoint: trains, resumes bit-exactly, refuses another teacher, and the "
          "student starts from the weights a run without a teacher starts from") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string one = " --set model.head=linear --set 'stage1.loss={\"name\": \"ce\"}' --set stage2.method=none"
                          " --set stage1.batch_size=16 --set stage1.epochs=2 --set stage1.mixup_alpha=1 --no-report";
  Run t = run("train " + train_cli::small_data(root(), "teacher") + one);
  REQUIRE_MESSAGE(t.code == 0, t.out);
  const std::string teacher = root() + "/teacher/checkpoints/stage1_last.safetensors";
  const std::string kd = one + " --set stage1.method=kd --set stage1.kd.teacher=" + teacher +
                         " --set stage1.kd.alpha=0.5 --set stage1.kd.temperature=2";
  // the initial weights: the state written before the first step (the runs die after step 1)
  Run p = run("train " + train_cli::small_data(root(), "plain_init") + one, "TAILOR_KILL_AT_STEP=1");
  Run k = run("train " + train_cli::small_data(root(), "kd_init") + kd, "TAILOR_KILL_AT_STEP=1");
  REQUIRE(p.code == 137);
  REQUIRE_MESSAGE(k.code == 137, k.out);
  CHECK(k.out.find("stage1 (kd): teacher " + teacher + " (resnet32, head linear), alpha 0.5, T 2") != std::string::npos);
  auto ip = tailor::read_weights(root() + "/plain_init/checkpoints/train_state.safetensors");
  auto ik = tailor::read_weights(root() + "/kd_init/checkpoints/train_state.safetensors");
  int compared = 0;
  for (auto& [name, v] : ip)
    if (name.rfind("model.", 0) == 0) {
      CAPTURE(name);
      REQUIRE(ik.count(name));
      CHECK(v.dtype() == ik.at(name).dtype());
      if (v.dtype() == tailor::DType::F32) CHECK(v.to_vector() == ik.at(name).to_vector());
      ++compared;
    }
  CHECK(compared > 100);
  // trained with the teacher: its steps differ from the plain run's, and a kill + resume changes nothing
  Run w = run("train " + train_cli::small_data(root(), "kd_whole") + kd);
  REQUIRE_MESSAGE(w.code == 0, w.out);
  Run pw = run("train " + train_cli::small_data(root(), "plain_whole") + one);
  REQUIRE(pw.code == 0);
  CHECK(slurp(root() + "/kd_whole/steps.jsonl") != slurp(root() + "/plain_whole/steps.jsonl"));
  Run b = run("train " + train_cli::small_data(root(), "kd_killed") + kd, "TAILOR_KILL_AT_STEP=13");
  CHECK(b.code == 137);
  Run c = run("train --resume " + root() + "/kd_killed");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  train_cli::check_same_run(root() + "/kd_whole", root() + "/kd_killed", 2, 2);
  // another file in the teacher's place is refused on resume
  const std::string teacher2 = root() + "/teacher2.safetensors";
  fs::copy_file(teacher, teacher2);
  const std::string kd2 = one + " --set stage1.method=kd --set stage1.kd.teacher=" + teacher2;
  Run e = run("train " + train_cli::small_data(root(), "kd_swapped") + kd2, "TAILOR_KILL_AT_STEP=3");
  REQUIRE(e.code == 137);
  fs::copy_file(root() + "/kd_whole/checkpoints/stage1_last.safetensors", teacher2,  // (plain_whole's = the teacher's)
                fs::copy_options::overwrite_existing);
  Run f = run("train --resume " + root() + "/kd_swapped");
  CHECK(f.code == 1);
  CHECK(f.out.find("stage1.kd.teacher " + teacher2 + " (" + teacher2 + "): not the teacher this stage started with") !=
        std::string::npos);
  // a kd stage needs its teacher
  Run g = run("train " + train_cli::small_data(root(), "kd_none") + one + " --set stage1.method=kd");
  CHECK(g.code == 2);
  CHECK(g.out.find("stage1.kd.teacher is required") != std::string::npos);
}

TEST_CASE("BALMS's meta stage: SIGKILL mid-epoch + --resume is bit-identical (the rates, Adam and the draws)") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string cfg = train_cli::write_config(root(), "balms", R"({
  "model": {"head": "linear"},
  "stage1": {"method": "joint", "epochs": 1, "batch_size": 16, "loss": {"name": "balanced_softmax"}},
  "stage2": {"method": "balms", "epochs": 2, "batch_size": 16, "load": "last", "bn_mode": "train",
             "balms": {"meta_lr": 0.05, "meta_batch_size": 20}, "optim": {"lr": 0.05}}
})");
  Run a = run("train --config " + cfg + " " + train_cli::small_data(root(), "balms_whole") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  CHECK(a.out.find("sampler its own") != std::string::npos);
  // 159 images: 10 steps in stage 1, then 9 (floor(159 / 16)) per BALMS epoch; kill mid epoch 2 of stage 2
  Run b = run("train --config " + cfg + " " + train_cli::small_data(root(), "balms_killed") + " --no-report",
              "TAILOR_KILL_AT_STEP=25");
  CHECK(b.code == 137);
  Run c = run("train --resume " + root() + "/balms_killed");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  CHECK(c.out.find("at stage 2 epoch 2") != std::string::npos);
  train_cli::check_same_run(root() + "/balms_whole", root() + "/balms_killed", 3, 2);
  auto last_rates = [](const std::string& metrics) {  // the learned rates of the last epoch
    const std::string last = metrics.substr(metrics.rfind('\n', metrics.size() - 2) + 1);
    const size_t at = last.find("\"sample_rates\"");
    return at == std::string::npos ? std::string() : last.substr(at, last.find(']', at) - at);
  };
  const std::string rates = last_rates(slurp(root() + "/balms_whole/metrics.jsonl"));
  CHECK(!rates.empty());
  CHECK(rates == last_rates(slurp(root() + "/balms_killed/metrics.jsonl")));
}

TEST_CASE("BALMS refuses, before any training, a batch larger than the training split (it would train no step)") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string cfg = train_cli::write_config(root(), "balms_big", R"({
  "model": {"head": "linear"},
  "stage1": {"method": "joint", "epochs": 1, "batch_size": 16, "loss": {"name": "balanced_softmax"}},
  "stage2": {"method": "balms", "epochs": 1, "batch_size": 200, "load": "last"}
})");
  // 159 training images: floor(159 / 200) = 0 steps per epoch
  Run a = run("train --config " + cfg + " " + train_cli::small_data(root(), "balms_big") + " --no-report");
  CHECK(a.code == 2);
  CHECK_MESSAGE(a.out.find("stage2.batch_size 200: larger than the training split (159 images); balms draws "
                           "floor(N / batch_size) batches per epoch, here none: use a batch size of at most 159") !=
                    std::string::npos,
                a.out);
  CHECK(!fs::exists(root() + "/balms_big/checkpoints/stage1_last.safetensors"));
}
