// Regression goldens of whole training runs: every shipped CIFAR-10-LT recipe (and a few stage-2 variants)
// and the embedded Fashion-MNIST-LT default, run for a few dozen CPU steps per stage through `tailor train`
// on a small synthetic CIFAR-like folder written here. Each run's per-step losses (steps.jsonl, %.9g) and a
// hash of every checkpoint's tensors must equal tests/fixtures/golden_runs.json byte for byte: a change to
// the training code that moves one bit of one step shows up here.
//
// Recording (only when a change is MEANT to alter the numbers): tests/record_golden.sh.
// Byte identity holds on the CPU the fixture was recorded on, in a native build (its "cpu" field: oneDNN and
// -march=native pick kernels by instruction set); on another CPU or in a portable build the first three steps'
// losses are compared (check_first_steps) and the hashes are not.
// The default run needs the Fashion-MNIST package (skipped without it, like test_train_cli).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "engine/allocator.h"  // cuda_available
#include "engine/safetensors.h"
#include "train/config.h"
#include "train/method.h"
#include "train_cli.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The checkout: $TAILOR_SOURCE_DIR when set (the test run from a bundle on another machine,
// scripts/cuda_check.sh step 1g), else the one built from.
const fs::path kSource = std::getenv("TAILOR_SOURCE_DIR") && *std::getenv("TAILOR_SOURCE_DIR")
                             ? fs::path(std::getenv("TAILOR_SOURCE_DIR"))
                             : fs::path(TAILOR_SOURCE_DIR);
const fs::path kRecipes = kSource / "recipes" / "cifar10_lt";
const fs::path kFixture = kSource / "tests" / "fixtures" / "golden_runs.json";

const fs::path& tmp_root() {
  static fs::path r = train_cli::temp_folder("tailor_golden_");
  return r;
}

// A CIFAR-like folder: 10 classes x 200 training and 10 test 32x32 RGB images (PPM); class c is tinted
// towards its own colour, with per-pixel noise from a fixed LCG, so the runs learn something.
fs::path synthetic_cifar() {
  const fs::path root = tmp_root() / "cifar";
  if (fs::exists(root)) return root;
  const char* names[10] = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  uint32_t h = 2024;
  for (const char* split : {"train", "test"})
    for (int c = 0; c < 10; ++c) {
      const fs::path dir = root / split / names[c];
      fs::create_directories(dir);
      for (int i = 0; i < (split[1] == 'r' ? 200 : 10); ++i) {
        std::string img = "P6\n32 32\n255\n";
        for (int p = 0; p < 32 * 32; ++p)
          for (int ch = 0; ch < 3; ++ch) {
            h = h * 1664525u + 1013904223u;
            const int tint = ((c >> ch) & 1) * 70 + (p / 32 / 4 == c % 8 ? 50 : 0);
            img.push_back((char)std::min(255, (int)(h >> 25) + tint));
          }
        char file[16];
        std::snprintf(file, sizeof file, "%04d.ppm", i);
        std::ofstream(dir / file, std::ios::binary) << img;
      }
    }
  return root;
}

using train_cli::slurp;

// FNV-1a over every tensor of a safetensors file: name, dtype, shape and bytes, in name order.
std::string tensor_hash(const fs::path& p) {
  tailor::SafeTensorFile f = tailor::read_safetensors(p.string());
  tailor::Fnv1a h;
  for (auto& [name, t] : f.tensors) {
    h.add(name.data(), name.size());
    h.add(t.dtype.data(), t.dtype.size());
    h.add(t.shape.data(), t.shape.size() * sizeof(int64_t));
    h.add(t.bytes.data(), t.bytes.size());
  }
  return h.hex();
}

// What a finished run leaves that must not move: every step's loss, the checkpoints' tensors, the final top-1.
json run_record(const fs::path& dir) {
  json r;
  r["losses"] = json::array();
  std::istringstream steps(slurp(dir / "steps.jsonl"));
  for (std::string line; std::getline(steps, line);)
    if (!line.empty()) {
      auto p = line.find("\"loss\":");
      r["losses"].push_back(line.substr(p + 7, line.size() - p - 8));  // the %.9g text
    }
  r["weights"] = json::object();
  for (auto& e : fs::directory_iterator(dir / "checkpoints")) {
    const std::string n = e.path().filename().string();
    if (n.rfind("stage", 0) == 0 && e.path().extension() == ".safetensors") r["weights"][n] = tensor_hash(e.path());
  }
  r["top1"] = json::parse(slurp(dir / "summary.json")).at("top1");
  return r;
}

std::string cpu_signature() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model, isa = "sse";
  while (std::getline(in, line)) {
    if (model.empty() && line.rfind("model name", 0) == 0) model = line.substr(line.find(':') + 2);
    if (line.rfind("flags", 0) == 0) {
      if (line.find(" avx2") != std::string::npos) isa = "avx2";
      if (line.find(" avx512f") != std::string::npos) isa = "avx512f";
      if (line.find(" amx_bf16") != std::string::npos) isa = "amx";
      break;
    }
  }
#ifdef TAILOR_NATIVE_BUILD
  return model + " / " + isa;
#else  // a portable build (TAILOR_NATIVE=OFF): tailor's own kernels compiled for any x86-64, not as recorded
  return model + " / " + isa + " / portable build";
#endif
}

struct GoldenRun {
  std::string name;
  std::string args;  // after `tailor train`
};

// The runs: the shipped recipes with a short schedule on the synthetic folder (plus variants of the
// stage-2 methods no CIFAR recipe ships), and the embedded default with fewer steps.
// Every run's flags: its run directory under tmp_root()/runs, one thread, each step's loss logged.
std::string common_args() {
  return " --no-report --set runs_dir=" + (tmp_root() / "runs").string() + " --set threads=1 --set data.workers=2"
         " --set log.step_losses=true --set eval.every_epochs=1";
}

// The recipes' runs' data: the synthetic folder, an LT subset of at most 200 images per class.
std::string cifar_args() {
  return common_args() + " --set data.root=" + synthetic_cifar().string() +
         " --set data.format=folder --set data.imbalance.n_max=200 --set data.test_per_class=10";
}

std::vector<GoldenRun> golden_runs() {
  const std::string common = common_args(), cifar = cifar_args();
  const std::string short1 = " --set stage1.epochs=2 --set stage1.batch_size=32 --set stage1.schedule.warmup_epochs=1";
  const std::string short2 = " --set stage2.epochs=2 --set stage2.batch_size=32";
  std::vector<GoldenRun> out;
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(kRecipes)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (auto& f : files) {
    const std::string name = f.stem().string();
    const json recipe = json::parse(slurp(f));
    std::string a = "--config " + f.string() + " --set name=" + name + cifar + short1;
    // (a post-hoc stage 2, ce_posthoc_la's, has no training keys to shorten)
    if (recipe.contains("stage2") && tailor::method_spec(recipe["stage2"].value("method", "joint")).trains) a += short2;
    for (int k = 3; recipe.contains("stage" + std::to_string(k)); ++k)  // the distillation recipes' later stages
      a += " --set stage" + std::to_string(k) + ".epochs=2 --set stage" + std::to_string(k) + ".batch_size=32";
    if (name == "ldam_drw") a += " --set stage1.loss.drw_epoch=1";  // the deferred re-weighting starts in epoch 2
    out.push_back({name, a});
  }
  // stage-2 variants on the CE + mixup representation: LWS with shifted BN, tau-norm, and cRT from the last
  // checkpoint with focal loss, a square-root sampler and mixup
  const json base = json::parse(slurp(kRecipes / "ce_mixup_crt.json"));
  auto variant = [&](const std::string& name, const json& stage2) {
    json v = base;
    v["stage2"] = stage2;
    v["name"] = name;
    const fs::path p = tmp_root() / (name + ".json");
    std::ofstream(p) << v.dump(2);
    std::string a = "--config " + p.string() + cifar + short1;
    if (stage2.at("method") != "tau_norm") a += short2;
    out.push_back({name, a});
  };
  variant("v_lws_shifted_bn", json{{"method", "lws"}, {"load", "best"}, {"bn_mode", "train"},
                                   {"loss", {{"name", "ce"}}}, {"sampler", {{"name", "class_aware"}}},
                                   {"optim", {{"lr", 0.1}}}, {"schedule", {{"kind", "cosine"}}}});
  variant("v_tau_norm", json{{"method", "tau_norm"}, {"load", "best"}, {"choose_tau_on_test", true}});
  variant("v_crt_sqrt_last", json{{"method", "crt"}, {"load", "last"}, {"loss", {{"name", "focal"}, {"gamma", 2.0}}},
                                  {"sampler", {{"name", "sqrt"}}}, {"optim", {{"lr", 0.05}}},
                                  {"schedule", {{"kind", "constant"}}}, {"mixup_alpha", 0.4}});
  out.push_back({"default", "--set name=default" + common +
                                " --set stage1.epochs=2 --set stage1.max_steps_per_epoch=12"
                                " --set stage2.max_steps_per_epoch=12 --set data.test_per_class=20"});
  return out;
}

using train_cli::have_fashion_mnist;

// The %.9g texts of run_record's losses as numbers.
std::vector<double> numbers(const json& texts) {
  std::vector<double> v;
  for (const auto& t : texts) v.push_back(std::stod(t.get<std::string>()));
  return v;
}

// These short runs are chaotic (lr 0.1 on batches of 32 from scratch): a float32 rounding difference grows ~100x a
// step — one thread against two on the CPU gives relative gaps of 0 / 1e-7 / 5e-5 / 5e-3 / 2e-2 at steps 1-5.
// Runs whose kernels round differently (another CPU, a GPU) are compared on their first three steps: the first
// within 1e-4 (the same weights and batch), the next two within 1e-2.
void check_first_steps(const std::vector<double>& got, const std::vector<double>& want, const std::string& where) {
  for (size_t i = 0; i < 3 && i < got.size() && i < want.size(); ++i)
    CHECK_MESSAGE(std::fabs(got[i] - want[i]) <= (i ? 1e-2 : 1e-4) * std::fabs(want[i]),
                  "step " << i + 1 << ": " << where << " " << got[i] << ", golden " << want[i]);
}

}  // namespace

TEST_CASE("every recipe's short run is byte-identical to its recorded golden") {
  const bool record = std::getenv("TAILOR_RECORD_GOLDEN") != nullptr;
  json golden;
  if (!record) {
    REQUIRE_MESSAGE(fs::exists(kFixture), "missing " << kFixture << " (run tests/record_golden.sh)");
    golden = json::parse(slurp(kFixture));
  }
  const bool same_cpu = record || golden.at("cpu") == cpu_signature();
  if (!same_cpu)
    MESSAGE("recorded on '" << golden.at("cpu").get<std::string>() << "', running on '" << cpu_signature()
                            << "': the first three steps' losses compared, weight hashes not");
  json out{{"cpu", cpu_signature()}, {"runs", json::object()}};
  // TAILOR_RECORD_ONLY=a,b records these runs alone into the existing fixture (a new recipe), same CPU only
  const std::string only = std::getenv("TAILOR_RECORD_ONLY") ? std::getenv("TAILOR_RECORD_ONLY") : "";
  if (record && !only.empty()) {
    out = json::parse(slurp(kFixture));
    REQUIRE_MESSAGE(out.at("cpu") == cpu_signature(), "TAILOR_RECORD_ONLY: the fixture was recorded on another CPU");
  }
  for (const GoldenRun& g : golden_runs()) {
    CAPTURE(g.name);
    if (!only.empty() && ("," + only + ",").find("," + g.name + ",") == std::string::npos) continue;
    if (g.name == "default" && !have_fashion_mnist()) {
      MESSAGE("default: skipped (no Fashion-MNIST package)");
      if (!record) continue;
      FAIL("recording needs the Fashion-MNIST package");
    }
    Run r = run("train " + g.args);
    REQUIRE_MESSAGE(r.code == 0, r.out);
    const json got = run_record(tmp_root() / "runs" / g.name);
    out["runs"][g.name] = got;
    if (record) continue;
    REQUIRE_MESSAGE(golden.at("runs").contains(g.name), "no golden for " << g.name << " (tests/record_golden.sh)");
    const json& want = golden["runs"][g.name];
    if (same_cpu) {
      CHECK(got.at("losses") == want.at("losses"));
      CHECK(got.at("weights") == want.at("weights"));
      CHECK(got.at("top1") == want.at("top1"));
    } else {  // another CPU's kernels round differently, and these short runs amplify it: the first steps only
      REQUIRE(got.at("losses").size() == want.at("losses").size());
      check_first_steps(numbers(got.at("losses")), numbers(want.at("losses")), "this CPU");
    }
  }
  if (record) {
    std::ofstream(kFixture) << out.dump(1) << "\n";
    MESSAGE("recorded " << out["runs"].size() << " runs into " << kFixture);
  }
}

// Step losses of a finished run (steps.jsonl), as numbers.
std::vector<double> step_losses(const fs::path& dir) { return numbers(run_record(dir).at("losses")); }

// The same short runs on a GPU, in fp32 (NVIDIA_TF32_OVERRIDE=0 keeps cuDNN and cuBLAS off TF32, as test_cuda does
// in-process), for what test_cuda's op checks cannot see: each method's steps as a whole. As on another CPU the
// first three steps are compared (check_first_steps), and every run must finish every stage; stage 2's methods are
// compared step for step in the next case. scripts/cuda_check.sh step 1g runs both.
TEST_CASE("CUDA: every recipe's short run on the GPU: its first three steps are the CPU golden's") {
  if (!tailor::cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  const json golden = json::parse(slurp(kFixture));
  for (const GoldenRun& g : golden_runs()) {
    CAPTURE(g.name);
    if (g.name == "default") continue;  // (a GPU kit's Fashion-MNIST is cut short: another LT subset; gcl runs)
    const std::string name = g.name + "_cuda";
    Run r = run("train " + g.args + " --set device=cuda --set name=" + name, "NVIDIA_TF32_OVERRIDE=0");
    CHECK_MESSAGE(r.code == 0, r.out);
    if (r.code != 0) continue;  // (the next recipes are still checked)
    const std::vector<double> got = step_losses(tmp_root() / "runs" / name),
                              want = numbers(golden.at("runs").at(g.name).at("losses"));
    REQUIRE(got.size() == want.size());  // every stage ran its steps
    REQUIRE(got.size() >= 3);
    check_first_steps(got, want, "cuda");
    MESSAGE(g.name << ": " << got.size() << " steps; first three cuda " << got[0] << " " << got[1] << " " << got[2]
                   << ", cpu " << want[0] << " " << want[1] << " " << want[2]);
  }
}

// The classifier stages on a frozen backbone (cRT, LWS with shifted BN, cRT with a square-root sampler and
// mixup, MiSLAS, decoupled Balanced Softmax, BALMS's meta sampler, GCL's re-balanced classifier): the recipe's
// stage 1 once on the CPU, then its stage 2 as a run's only stage from that checkpoint (model.init_from), on the
// CPU and on the GPU. A classifier on fixed features does not amplify rounding as a whole network does (one
// thread against two on the CPU: the same losses to the bit): every step within 1e-2, the largest gap printed.
TEST_CASE("CUDA: the classifier-stage methods from one stage-1 checkpoint: every GPU step within 1 % of the CPU's") {
  if (!tailor::cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  golden_runs();  // (writes the variants' configs)
  const fs::path runs = tmp_root() / "runs";
  for (const std::string& r : {"ce_mixup_crt", "v_lws_shifted_bn", "v_crt_sqrt_last", "mislas",
                               "decoupled_balanced_softmax", "balms", "gcl"}) {
    CAPTURE(r);
    const bool variant = r.rfind("v_", 0) == 0;
    const fs::path cfg = variant ? tmp_root() / (r + ".json") : kRecipes / (r + ".json");
    const std::string base = variant ? "ce_mixup_crt" : r;  // the variants share ce_mixup_crt's stage 1
    const fs::path ck = runs / (base + "_stage1") / "checkpoints" / "stage1_last.safetensors";
    if (!fs::exists(ck)) {
      Run s1 = run("train --config " + (kRecipes / (base + ".json")).string() + " --set name=" + base + "_stage1" +
                   cifar_args() + " --set stage1.epochs=2 --set stage1.batch_size=32"
                   " --set stage1.schedule.warmup_epochs=1 --set stage2.method=none");
      REQUIRE_MESSAGE(s1.code == 0, s1.out);
    }
    json stage = json::parse(slurp(cfg)).at("stage2");
    stage.erase("load");
    stage["epochs"] = 2, stage["batch_size"] = 32;
    std::vector<double> losses[2];
    for (int d = 0; d < 2; ++d) {
      const std::string name = r + (d ? "_stage2_cuda" : "_stage2_cpu");
      Run s2 = run("train --config " + cfg.string() + " --set name=" + name + cifar_args() + " --set 'stage1=" +
                       stage.dump() + "' --set stage2.method=none --set model.init_from=" + ck.string() +
                       " --set device=" + (d ? "cuda" : "cpu"),
                   "NVIDIA_TF32_OVERRIDE=0");
      REQUIRE_MESSAGE(s2.code == 0, s2.out);
      losses[d] = step_losses(runs / name);
    }
    REQUIRE(losses[0].size() == losses[1].size());
    REQUIRE(!losses[0].empty());
    double worst = 0;
    for (size_t i = 0; i < losses[0].size(); ++i) {
      const double a = losses[1][i], b = losses[0][i];
      worst = std::max(worst, std::fabs(a - b) / std::fabs(b));
      CHECK_MESSAGE(std::fabs(a - b) <= 1e-2 * std::fabs(b), "step " << i + 1 << ": cuda " << a << ", cpu " << b);
    }
    MESSAGE(r << ": " << losses[0].size() << " classifier steps, largest relative gap " << worst);
  }
}
