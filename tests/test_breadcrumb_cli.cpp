// Breadcrumb end to end through `tailor train` on a small Fashion-MNIST-LT subset (counts 40..4, 10 steps an
// epoch: n_b 16, the tail's FIFO 4 epochs long, EMANATE from epoch 5): killed while the FIFOs fill and again
// after, the resumed run is bit-identical (FIFOs, the epoch's features, g_c and its momentum, g_r, the
// class-aware stream in the state). Skipped (exit 77) without the Fashion-MNIST package.
#include <doctest/doctest.h>

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
  static std::string r = train_cli::temp_folder("tailor_breadcrumb_cli_");
  return r;
}

TEST_CASE("Breadcrumb: FIFO fill per epoch, kill + resume while filling and after is bit-identical") {
  if (!train_cli::have_fashion_mnist()) exit(77);
  const std::string cfg = root() + "/bc.json";
  std::ofstream(cfg) << R"({"stage1": {"method": "breadcrumb", "epochs": 7, "batch_size": 16, "loss": {"name": "ce"}}})";
  Run a = run("train --config " + cfg + " " + train_cli::small_data(root(), "bc_whole") + " --no-report");
  REQUIRE_MESSAGE(a.code == 0, a.out);
  CHECK(a.out.find("stage1 (breadcrumb): n_b 16 features per class per epoch, FIFO lengths 1..4 epochs") !=
        std::string::npos);
  const fs::path A = root() + "/bc_whole";
  // metrics.jsonl: the FIFOs each epoch trained g_c with; EMANATE from epoch 5
  std::vector<bool> ready;
  std::vector<int> tail_fill;
  std::ifstream m(A / "metrics.jsonl");
  for (std::string line; std::getline(m, line);) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("fifo_epochs")) continue;
    ready.push_back(j["breadcrumb_ready"]);
    tail_fill.push_back(j["fifo_epochs"][9]);
  }
  CHECK(ready == std::vector<bool>{false, false, false, false, true, true, true});
  CHECK(tail_fill == std::vector<int>{0, 1, 2, 3, 4, 4, 4});
  // every line also logs the FIFO lengths L_c = ceil(n_b / n_c), n_b 16, n_c from eval.json
  const auto ev = nlohmann::json::parse(slurp(A / "eval.json"));
  std::vector<int> expect_len;
  for (auto& n : ev.at("train_counts")) expect_len.push_back((int)((16 + n.get<int>() - 1) / n.get<int>()));
  const std::string last_line = slurp(A / "metrics.jsonl").substr(slurp(A / "metrics.jsonl").rfind("{\"stage\""));
  CHECK(nlohmann::json::parse(last_line).at("fifo_lengths").get<std::vector<int>>() == expect_len);
  // the report draws the fill per class and epoch
  Run r = run("report --run " + A.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(fs::file_size(A / "plots/fifo_fill.png") > 1000);
  CHECK(slurp(A / "report.html").find("From epoch 5 every FIFO is full") != std::string::npos);
  std::map<std::string, std::string> meta;
  auto s = tailor::read_weights((A / "checkpoints/stage1_last.safetensors").string(), &meta);
  CHECK(meta["head"] == "linear");  // g_c is the model's classifier
  CHECK(s.at("linear.weight").shape() == tailor::Shape{10, 64});

  Run b = run("train --config " + cfg + " " + train_cli::small_data(root(), "bc_killed") + " --no-report",
              "TAILOR_KILL_AT_STEP=15");
  CHECK(b.code == 137);
  auto st = tailor::read_weights(root() + "/bc_killed/checkpoints/train_state.safetensors");
  CHECK(st.count("method.epoch_feats"));
  CHECK(st.count("method.fifo.feats"));
  CHECK(st.count("method.gc_momentum.weight"));
  CHECK(st.count("module.head_r.weight"));
  Run c = run("train --resume " + root() + "/bc_killed", "TAILOR_KILL_AT_STEP=55");
  CHECK(c.code == 137);
  Run d = run("train --resume " + root() + "/bc_killed");
  REQUIRE_MESSAGE(d.code == 0, d.out);
  const fs::path B = root() + "/bc_killed";
  CHECK(slurp(A / "steps.jsonl") == slurp(B / "steps.jsonl"));
  CHECK(slurp(A / "checkpoints/stage1_last.safetensors") == slurp(B / "checkpoints/stage1_last.safetensors"));
  CHECK(slurp(A / "eval.json") == slurp(B / "eval.json"));
  // mixup is refused: the FIFOs keep each image's own features
  Run e = run("train --config " + cfg + " " + train_cli::small_data(root(), "bc_mixup") + " --set stage1.mixup_alpha=1");
  CHECK(e.code == 2);
  CHECK(e.out.find("stage1.mixup_alpha: breadcrumb stores each image's features: no mixup") != std::string::npos);
}
