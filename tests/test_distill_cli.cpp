// The distillation methods end to end through `tailor train` on a small Fashion-MNIST-LT subset: CBD with two
// teachers trained in the same run (the second a fresh model with its own augmentation) and SSD's three stages
// (label-masked MoCo with a queue and a momentum key encoder, LWS, a fresh two-head student). Each run killed
// mid-stage resumes bit-identically (queue, key encoder, teachers' identities in the state), and the teachers'
// checkpoints are the same bytes before and after the student trained. Skipped (exit 77) without the
// Fashion-MNIST package.
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
  static std::string r = train_cli::temp_folder("tailor_distill_cli_");
  return r;
}

TEST_CASE("CBD: two teachers and a class-balanced student in one run; kill + resume in the student's stage is "
          "bit-identical, and the teachers' checkpoints are untouched") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string cfg = train_cli::write_config(root(), "cbd", R"({
  "model": {"head": "cosine"},
  "stage1": {"method": "joint", "epochs": 1, "batch_size": 16, "loss": {"name": "ce"}},
  "stage2": {"method": "joint", "epochs": 1, "batch_size": 16, "load": "fresh", "augment": "none",
             "loss": {"name": "ce"}},
  "stage3": {"method": "cbd", "epochs": 2, "batch_size": 16, "cbd": {"teachers": ["stage1", "stage2"]}}
})");
  Run a = run("train --config " + cfg + " " + train_cli::small_data(root(), "cbd_whole") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  CHECK(a.out.find("stage2: a fresh resnet32") != std::string::npos);
  CHECK(a.out.find("augment none") != std::string::npos);
  CHECK(a.out.find("stage3 (cbd): teacher stage2 = ") != std::string::npos);
  CHECK(a.out.find("cosine distance to 2 teachers, sigma 20") != std::string::npos);
  CHECK(a.out.find("sampler resample") != std::string::npos);
  // the fresh second teacher is another model; the student holds the projection to 2 x 64 and the cosine head
  auto t1 = tailor::read_weights(root() + "/cbd_whole/checkpoints/stage1_last.safetensors");
  auto t2 = tailor::read_weights(root() + "/cbd_whole/checkpoints/stage2_last.safetensors");
  std::map<std::string, std::string> meta;
  auto s = tailor::read_weights(root() + "/cbd_whole/checkpoints/stage3_last.safetensors", &meta);
  CHECK(t1.at("conv1.weight").to_vector() != t2.at("conv1.weight").to_vector());
  CHECK(t1.count("linear.sigma"));
  CHECK(meta["head"] == "projected_cosine");
  CHECK(meta["proj_dim"] == "128");
  CHECK(s.at("linear.proj.weight").shape() == tailor::Shape{128, 64});
  CHECK(s.at("linear.cls.weight").shape() == tailor::Shape{128, 10});
  // 159 images, 10 steps per epoch: kill in the student's second epoch; the teachers' files are then as the
  // student found them, and stay so
  Run b = run("train --config " + cfg + " " + train_cli::small_data(root(), "cbd_killed") + " --no-report",
              "TAILOR_KILL_AT_STEP=35");
  CHECK(b.code == 137);
  const std::string k1 = slurp(root() + "/cbd_killed/checkpoints/stage1_last.safetensors");
  const std::string k2 = slurp(root() + "/cbd_killed/checkpoints/stage2_last.safetensors");
  Run c = run("train --resume " + root() + "/cbd_killed");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  CHECK(c.out.find("at stage 3 epoch 2") != std::string::npos);
  train_cli::check_same_run(root() + "/cbd_whole", root() + "/cbd_killed", 4, 3);
  CHECK(slurp(root() + "/cbd_killed/checkpoints/stage1_last.safetensors") == k1);
  CHECK(slurp(root() + "/cbd_killed/checkpoints/stage2_last.safetensors") == k2);
  // a teacher must come before the student
  Run d = run("train --config " + cfg + " " + train_cli::small_data(root(), "cbd_bad") +
              " --set 'stage3.cbd.teachers=stage1,stage3'");
  CHECK(d.code == 2);
  CHECK(d.out.find("stage3.cbd.teachers stage3: a teacher must be an earlier stage than stage3") != std::string::npos);
}

TEST_CASE("SSD: label-masked MoCo, LWS and the two-head student in one run; kills in stages I and III + resumes "
          "are bit-identical (queue, key encoder, teacher)") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string cfg = train_cli::write_config(root(), "ssd", R"({
  "model": {"head": "linear"},
  "stage1": {"method": "ssd_contrastive", "epochs": 2, "batch_size": 16, "loss": {"name": "ce"},
             "moco": {"key_augment": "mnist", "queue_size": 40, "dim": 16, "momentum": 0.9}},
  "stage2": {"method": "lws", "epochs": 1, "batch_size": 16, "load": "last", "bn_mode": "train",
             "sampler": {"name": "class_aware", "samples_per_class": 2}},
  "stage3": {"method": "ssd_distill", "epochs": 2, "batch_size": 16}
})");
  Run a = run("train --config " + cfg + " " + train_cli::small_data(root(), "ssd_whole") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  CHECK(a.out.find("label-masked MoCo (queue 40, dim 16, m 0.9, T 0.2)") != std::string::npos);
  CHECK(a.out.find("second view mnist") != std::string::npos);
  CHECK(a.out.find("stage3: a fresh resnet32") != std::string::npos);
  CHECK(a.out.find("KD tau 2 from stage2 (soft head); evaluates the soft head") != std::string::npos);
  std::map<std::string, std::string> meta;
  auto s3 = tailor::read_weights(root() + "/ssd_whole/checkpoints/stage3_last.safetensors", &meta);
  CHECK(meta["head"] == "two_heads");
  CHECK(meta["eval_head"] == "soft");
  CHECK(s3.count("linear.classifier.weight"));
  CHECK(s3.count("linear.classifier_kd.weight"));
  auto s2 = tailor::read_weights(root() + "/ssd_whole/checkpoints/stage2_last.safetensors");
  CHECK(s2.count("linear.scales"));
  // the state of stage I holds the queue (labels and pointer), the key encoder and both projections
  Run b = run("train --config " + cfg + " " + train_cli::small_data(root(), "ssd_killed") + " --no-report",
              "TAILOR_KILL_AT_STEP=13");
  CHECK(b.code == 137);
  auto st = tailor::read_weights(root() + "/ssd_killed/checkpoints/train_state.safetensors");
  CHECK(st.count("method.queue.keys"));
  CHECK(st.at("method.queue.keys").shape() == tailor::Shape{40, 16});
  CHECK(st.count("method.queue.labels"));
  CHECK(st.count("module.key_encoder.conv1.weight"));
  CHECK(st.count("module.key_projection.0.weight"));
  CHECK(st.count("module.projection.2.weight"));
  CHECK(!st.count("module.key_encoder.linear.weight"));  // the key encoder has no classifier
  Run c = run("train --resume " + root() + "/ssd_killed", "TAILOR_KILL_AT_STEP=45");
  CHECK(c.code == 137);
  CHECK(c.out.find("at stage 1 epoch 2") != std::string::npos);
  Run d = run("train --resume " + root() + "/ssd_killed");
  REQUIRE_MESSAGE(d.code == 0, d.out);
  CHECK(d.out.find("at stage 3 epoch 2") != std::string::npos);
  train_cli::check_same_run(root() + "/ssd_whole", root() + "/ssd_killed", 5, 3);
  // two views and mixup exclude each other
  Run e = run("train --config " + cfg + " " + train_cli::small_data(root(), "ssd_mixup") +
              " --set stage1.mixup_alpha=1");
  CHECK(e.code == 2);  // a config error, before any stage trains
  CHECK(e.out.find("stage1.mixup_alpha: ssd_contrastive compares two views of each image: no mixup") != std::string::npos);
}
