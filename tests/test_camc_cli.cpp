// CAMC end to end through `tailor train` on a small Fashion-MNIST-LT subset: the camc head and method, the
// head's constants in the checkpoint, `tailor eval` of the checkpoint equal to the run's own evaluation, a
// resume bit-identical, and the config errors. Skipped (exit 77) without the Fashion-MNIST package.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "train/checkpoint.h"
#include "train_cli.h"

namespace fs = std::filesystem;
using train_cli::slurp;

static const std::string& root() {
  static std::string r = train_cli::temp_folder("tailor_camc_cli_");
  return r;
}

TEST_CASE("CAMC: trains through the calibrated pooling, saves s / T / lambda, evaluates the same from the "
          "checkpoint, resumes bit-identically") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string cfg = root() + "/camc.json";
  std::ofstream(cfg) << R"({
  "model": {"head": "camc", "camc_scale": 12, "camc_temperature": 0.25, "camc_lambda": 0.5},
  "stage1": {"method": "camc", "epochs": 2, "batch_size": 16, "loss": {"name": "ce"}}
})";
  Run a = run("train --config " + cfg + " " + train_cli::small_data(root(), "camc_whole") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  CHECK(a.out.find("stage1 (camc): s 12, attention temperature 0.25, lambda 0.5, training attention from the "
                   "true class's map") != std::string::npos);  // camc.attend's default
  CHECK(a.out.find("note: stage1.camc.attend label: the true class's map carries the label into training") !=
        std::string::npos);
  const fs::path A = root() + "/camc_whole";
  std::map<std::string, std::string> meta;
  auto s = tailor::read_weights((A / "checkpoints/stage1_last.safetensors").string(), &meta);
  CHECK(meta["head"] == "camc");
  CHECK(s.at("linear.scale").to_vector() == std::vector<float>{12.f});
  CHECK(s.at("linear.temperature").to_vector() == std::vector<float>{0.25f});
  CHECK(s.at("linear.lambda").to_vector() == std::vector<float>{0.5f});
  CHECK(s.at("linear.weight").shape() == tailor::Shape{64, 10});

  // the checkpoint, loaded by `tailor eval`, scores what the run reported for it
  Run e = run("eval --checkpoint " + (A / "checkpoints/stage1_last.safetensors").string() + " --config " +
              (A / "config.json").string() + " --out " + root() + "/e.json");
  REQUIRE_MESSAGE(e.code == 0, e.out);
  const auto lines = slurp(A / "metrics.jsonl");
  const auto last = nlohmann::json::parse(lines.substr(lines.rfind('\n', lines.size() - 2) + 1));
  CHECK(nlohmann::json::parse(slurp(root() + "/e.json")).at("top1") == last.at("top1"));
  // extract-features writes the model's logits (the calibrated pooling's), whose top-1 is the run's
  Run x = run("extract-features --run " + A.string() + " --checkpoint " +
              (A / "checkpoints/stage1_last.safetensors").string() + " --out " + root() + "/f.safetensors");
  REQUIRE_MESSAGE(x.code == 0, x.out);
  auto fx = tailor::read_weights(root() + "/f.safetensors");
  const std::vector<int32_t> pred = tailor::argmax(fx.at("logits")).to_vector_i32(),
                             y = fx.at("labels").to_vector_i32();
  int correct = 0;
  for (size_t i = 0; i < y.size(); ++i) correct += pred[i] == y[i];
  CHECK(100.0 * correct / (double)y.size() == doctest::Approx(last.at("top1").get<double>()).epsilon(1e-4));
  // ... not the plain normalised classifier's on the pooled features, s cos(f, w_c), which ignores the attention
  const tailor::Tensor plain = tailor::scale(
      tailor::matmul(tailor::l2_normalize(fx.at("features"), 1), tailor::l2_normalize(s.at("linear.weight"), 0)), 12.f);
  const std::vector<float> zl = fx.at("logits").to_vector(), zp = plain.to_vector();
  REQUIRE(zl.size() == zp.size());
  double gap = 0;
  for (size_t i = 0; i < zl.size(); ++i) gap = std::max(gap, (double)std::fabs(zl[i] - zp[i]));
  CHECK(gap > 0.05);

  Run b = run("train --config " + cfg + " " + train_cli::small_data(root(), "camc_killed") + " --no-report",
              "TAILOR_KILL_AT_STEP=7");
  CHECK(b.code == 137);
  Run c = run("train --resume " + root() + "/camc_killed");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  CHECK(slurp(A / "steps.jsonl") == slurp(root() + "/camc_killed/steps.jsonl"));
  CHECK(slurp(A / "checkpoints/stage1_last.safetensors") == slurp(root() + "/camc_killed/checkpoints/stage1_last.safetensors"));

  // the method needs the head; the head's keys need the head
  Run d = run("train " + train_cli::small_data(root(), "camc_bad") + " --no-report --set stage2.method=none" +
              " --set 'stage1={\"method\": \"camc\", \"epochs\": 1}'");
  CHECK(d.code == 2);  // found while the config is resolved (train/stage_plan.h)
  CHECK(d.out.find("stage1.method camc: starts from a classifier head camc, and the model it would get has head "
                   "normed (model.head); set model.head") != std::string::npos);
  Run f = run("train " + train_cli::small_data(root(), "camc_bad2") + " --set model.camc_lambda=2");
  CHECK(f.code == 2);
  CHECK(f.out.find("model.camc_lambda: read by model.head camc only") != std::string::npos);
}

TEST_CASE("CAMC: camc.attend predicted trains as the joint method does; the class-activation-map page") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string base = R"("model": {"head": "camc", "camc_scale": 12, "camc_temperature": 0.25, "camc_lambda": 0.5})";
  const std::string cfg_pred = train_cli::write_config(root(), "pred", "{" + base + R"(, "stage1": {"method": "camc",
    "epochs": 1, "batch_size": 16, "loss": {"name": "ce"}, "camc": {"attend": "predicted"}}})");
  const std::string cfg_joint = train_cli::write_config(root(), "joint", "{" + base + R"(, "stage1": {"method": "joint",
    "epochs": 1, "batch_size": 16, "loss": {"name": "ce"}}})");
  Run p = run("train --config " + cfg_pred + " " + train_cli::small_data(root(), "camc_pred"));
  REQUIRE_MESSAGE(p.code == 0, p.out);
  CHECK(p.out.find("training attention from the predicted class's map") != std::string::npos);
  Run j = run("train --config " + cfg_joint + " " + train_cli::small_data(root(), "camc_joint") + " --no-report");
  REQUIRE_MESSAGE(j.code == 0, j.out);
  const fs::path P = root() + "/camc_pred", J = root() + "/camc_joint";
  // the evaluation path attends with the predicted class: training with it is the joint method's step
  CHECK(slurp(P / "steps.jsonl") == slurp(J / "steps.jsonl"));
  const auto wp = tailor::read_weights((P / "checkpoints/stage1_last.safetensors").string());
  const auto wj = tailor::read_weights((J / "checkpoints/stage1_last.safetensors").string());
  REQUIRE(wp.size() == wj.size());
  for (auto& [name, t] : wp) CHECK_MESSAGE(t.to_vector() == wj.at(name).to_vector(), name);  // metadata differs (method)
  // the run wrote the page of class activation maps and its report links it
  CHECK(fs::file_size(P / "plots/cams.png") > 1000);
  const std::string page = slurp(P / "cams.html");
  CHECK(page.find("the 3 most and the 3 least frequent classes (the first 6 of each") != std::string::npos);
  CHECK(page.find("Of the 36 images shown") != std::string::npos);
  CHECK(slurp(P / "report.html").find("href=\"cams.html\"") != std::string::npos);
  // `tailor cams` rebuilds it with other choices, and refuses a model without CAMC's head
  Run c = run("cams --run " + P.string() + " --classes 1 --images 2");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  CHECK(slurp(P / "cams.html").find("Of the 4 images shown") != std::string::npos);
  // more classes asked than the data has: the page counts what it shows (10 classes: 6 most, 4 least)
  c = run("cams --run " + P.string() + " --classes 6 --images 1");
  REQUIRE_MESSAGE(c.code == 0, c.out);
  CHECK(slurp(P / "cams.html").find("the 6 most and the 4 least frequent classes") != std::string::npos);
  // --out belongs to the --checkpoint --config form (with --run the page and its report link are the run's)
  c = run("cams --run " + P.string() + " --out " + root());
  CHECK(c.code == 2);
  CHECK(c.out.find("--out: with --run the page goes into the run directory") != std::string::npos);
  Run lin = run("train " + train_cli::small_data(root(), "plain") + " --no-report --set stage2.method=none" +
                " --set 'stage1={\"method\": \"joint\", \"epochs\": 1, \"batch_size\": 16}'");
  REQUIRE_MESSAGE(lin.code == 0, lin.out);
  Run n = run("cams --run " + root() + "/plain");
  CHECK(n.code == 2);
  CHECK(n.out.find("has no CAMC head") != std::string::npos);
}
