// The stage methods through the one training loop (train_run on in-memory data): the frozen backbone stays
// bit-identical through cRT, LWS, GCL re-training and MiSLAS; a stage refuses a missing or incompatible
// checkpoint, naming it (before stage 1 trains); tau-norm with tau = 0 reproduces the stage-1 logits without
// the bias; post-hoc logit adjustment subtracts log(pi^tau + 1e-12) from them; NCM predicts the nearest class
// mean; MiSLAS trains its classifier at lr_factor x lr; the data fingerprint of a resume, in both versions.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "error_of.h"
#include "engine/rng.h"
#include "engine/safetensors.h"
#include "engine/version.h"
#include "layers/heads.h"
#include "losses/logit_adjust.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/methods/tau_norm.h"
#include "train/run_model.h"
#include "train/trainer.h"
#include "synthetic_lt.h"
#include "train_cli.h"

using namespace tailor;
namespace fs = std::filesystem;

namespace {

const fs::path& root() {
  static fs::path r = train_cli::temp_folder("tailor_test_stages_");
  return r;
}

RunData synthetic_run(bool with_test = false, int classes = 4) {
  RunData d;
  d.train = test::lt_synthetic();
  if (classes == 5) {  // one more class, its only image taken from class 0
    d.train.num_classes = 5;
    d.train.class_names.push_back("c4");
    d.train.labels.front() = 4;
  }
  d.train_counts = data::class_counts(d.train.labels, d.train.num_classes);
  if (with_test) d.test = std::make_unique<data::Dataset>(test::lt_synthetic(777));
  d.description = "synthetic-lt";
  return d;
}

// stage 1: joint CE, 1 epoch of 2 steps; `extra` adds stage 2 (and more) settings.
Json config(const std::string& name, std::vector<std::string> extra, bool normed = false) {
  std::vector<std::string> sets = {"name=" + name,
                                   "threads=1",
                                   "data.workers=0",
                                   "stage1.epochs=1",
                                   "stage1.batch_size=16",
                                   "stage1.max_steps_per_epoch=2",
                                   "stage1.schedule.kind=constant",
                                   "stage1.optim.lr=0.05",
                                   "eval.every_epochs=0",
                                   "model.head=" + std::string(normed ? "normed" : "linear")};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return resolve_config("", sets, false);
}

struct Result {
  Json summary;
  fs::path dir;
};

Result train(const Json& cfg, RunData data) {
  const fs::path dir = root() / cfg.at("name").get<std::string>();
  std::ostringstream log;
  TrainFlags f;
  f.report = false;
  Json s = train_run(cfg, std::move(data), dir.string(), f, log);
  return {s, dir};
}


std::map<std::string, Tensor> weights(const fs::path& run, const std::string& file) {
  return read_weights((run / "checkpoints" / file).string());
}

bool same(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.dtype() == DType::I32) return a.to_vector_i32() == b.to_vector_i32();
  auto x = a.to_vector(), y = b.to_vector();
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// Every backbone tensor (parameters, and buffers when `buffers`) of two checkpoints is bit-identical.
void check_backbone_equal(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b, bool buffers) {
  int n = 0;
  for (auto& [name, t] : a) {
    if (name.rfind("linear.", 0) == 0) continue;
    const bool buffer = name.find("running_") != std::string::npos || name.find("num_batches") != std::string::npos;
    if (buffer && !buffers) continue;
    CAPTURE(name);
    REQUIRE(b.count(name));
    CHECK(same(t, b.at(name)));
    ++n;
  }
  CHECK(n > 60);
}

int64_t logged_images(const fs::path& run, int stage) {
  std::ifstream in(run / "metrics.jsonl");
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    Json j = Json::parse(line);
    if (j.at("stage") == stage) n += j.at("train_images").get<int64_t>();
  }
  return n;
}

}  // namespace

TEST_CASE("cRT and LWS leave the frozen backbone bit-identical; shifted BN re-estimates only the statistics") {
  for (const std::string method : {"crt", "lws"}) {
    for (const std::string bn : {"eval", "train"}) {
      CAPTURE(method);
      CAPTURE(bn);
      Result r = train(config("frozen_" + method + "_" + bn,
                              {"stage2.method=" + method, "stage2.bn_mode=" + bn, "stage2.epochs=1",
                               "stage2.batch_size=16", "stage2.max_steps_per_epoch=3", "stage2.optim.lr=0.1"}),
                       synthetic_run());
      auto s1 = weights(r.dir, "stage1_last.safetensors"), s2 = weights(r.dir, "stage2_last.safetensors");
      check_backbone_equal(s1, s2, bn == "eval");
      if (bn == "train") CHECK_FALSE(same(s1.at("bn1.running_mean"), s2.at("bn1.running_mean")));
      CHECK(logged_images(r.dir, 2) == 32);  // class_aware: int(45 / 16) full batches, as run_networks' epoch_steps
      if (method == "lws") {
        CHECK(same(s2.at("linear.fc.weight"), s1.at("linear.weight")));  // W frozen
        CHECK(same(s2.at("linear.fc.bias"), s1.at("linear.bias")));
        bool moved = false;
        for (float v : s2.at("linear.scales").to_vector()) moved |= v != 1.f;
        CHECK(moved);
      } else {
        CHECK_FALSE(same(s2.at("linear.weight"), s1.at("linear.weight")));  // re-initialised and trained
      }
    }
  }
}

TEST_CASE("a stage refuses a missing checkpoint before anything runs, and names it") {
  const std::string missing = (root() / "does_not_exist.safetensors").string();
  std::string msg = error_of([&] { train(config("missing", {"stage2.method=crt", "stage2.load=" + missing}), synthetic_run()); });
  CHECK(msg == "stage2.load: checkpoint not found: " + missing + " (refusing to start from an untrained model)");
  CHECK_FALSE(fs::exists(root() / "missing"));  // a failed start leaves nothing behind
}

TEST_CASE("a stage refuses an incompatible checkpoint, naming the file and what differs") {
  Rng rng(5);
  auto net = make_resnet("resnet32", 4, 1, HeadKind::Linear, rng);
  const std::string bare = (root() / "bare.safetensors").string(), described = (root() / "described.safetensors").string();
  save_weights(bare, *net);     // PyTorch-style: names only
  save_model(described, *net);  // tailor's: arch, classes, channels, head
  auto run = [&](const std::string& name, const std::string& ck, std::vector<std::string> extra, int classes = 4) {
    extra.insert(extra.end(), {"stage2.method=crt", "stage2.load=" + ck, "stage2.epochs=1"});
    return error_of([&] { train(config(name, extra), synthetic_run(false, classes)); });
  };
  // (found before stage 1 trains: train/stage_plan.h; no run directory is left)
  std::string m = run("c5", bare, {}, 5);
  CHECK(m.find("stage2.load: " + bare + " does not match the model") == 0);
  CHECK(m.find("linear.weight") != std::string::npos);
  m = run("r50", bare, {"model.arch=resnet50"});
  CHECK(m.find("conv1.weight") != std::string::npos);
  m = run("c5d", described, {}, 5);
  CHECK_FALSE(fs::exists(root() / "c5d"));
  CHECK(m == "stage2.load: " + described + ": a checkpoint of resnet32, 4 classes, 1 input channels; this run's model is resnet32, 5 "
                         "classes, 1 input channels");
}

TEST_CASE("tau-norm with tau = 0 equals the stage-1 logits minus the bias; the grid and the selection rule") {
  Result r = train(config("tau0", {"stage2.method=tau_norm", "stage2.taus=[0]", "stage2.choose_tau_on_test=true"}),
                   synthetic_run(true));
  auto s1 = load_model((r.dir / "checkpoints/stage1_last.safetensors").string());
  auto s2 = load_model((r.dir / "checkpoints/stage2_last.safetensors").string());
  CHECK(head_kind(*s2) == "tau_norm");
  s1->eval();
  s2->eval();
  Rng rng(3);
  Tensor x = Tensor::empty({8, 8, 8, 1});
  normal_(x, 0.f, 1.f, rng);
  std::vector<float> ref, got;
  {
    NoGradGuard ng;
    ref = s1->forward(x).to_vector();
    got = s2->forward(x).to_vector();
  }
  auto b = std::dynamic_pointer_cast<Linear>(s1->head())->bias.to_vector();
  REQUIRE(got.size() == ref.size());
  double md = 0;
  for (size_t i = 0; i < got.size(); ++i) md = std::max(md, (double)std::fabs(got[i] - (ref[i] - b[i % 4])));
  CHECK(md < 1e-5);
  Json sweep = Json::parse(std::ifstream(r.dir / "tau_sweep.json"));
  CHECK(sweep["chosen"] == 0.0);
  CHECK(sweep["selected_on"] == "test");
  // no val split and selection on test not allowed: every tau is reported, tau 1 is kept
  Result r1 = train(config("tau_keep", {"stage2.method=tau_norm", "stage2.taus=[0, 0.5, 1]"}), synthetic_run(true));
  Json s = Json::parse(std::ifstream(r1.dir / "tau_sweep.json"));
  CHECK(s["top1"].size() == 3);
  CHECK(s["selected_on"].is_null());
  CHECK(s["chosen"] == 1.0);
  // the default grid, selection on test: 21 values, the best kept (and reported by summary.json)
  Result r2 = train(config("tau_grid", {"stage2.method=tau_norm", "stage2.choose_tau_on_test=true"}), synthetic_run(true));
  Json g = Json::parse(std::ifstream(r2.dir / "tau_sweep.json"));
  CHECK(g["top1"].size() == 21);
  double best = 0;
  for (auto& t : g["top1"]) best = std::max(best, t.get<double>());
  CHECK(r2.summary["top1"].get<double>() == doctest::Approx(best));
}

// Stage-1 and stage-2 logits of one run on the same random batch (eval mode).
std::pair<std::vector<float>, std::vector<float>> stage_logits(const fs::path& run, int64_t* classes = nullptr) {
  auto s1 = load_model((run / "checkpoints/stage1_last.safetensors").string());
  auto s2 = load_model((run / "checkpoints/stage2_last.safetensors").string());
  s1->eval();
  s2->eval();
  if (classes) *classes = s2->config().num_classes;
  Rng rng(3);
  Tensor x = Tensor::empty({8, 8, 8, 1});
  normal_(x, 0.f, 1.f, rng);
  NoGradGuard ng;
  return {s1->forward(x).to_vector(), s2->forward(x).to_vector()};
}

TEST_CASE("post-hoc logit adjustment: the stage-1 logits minus log(pi^tau + 1e-12), tau kept or chosen") {
  const RunData d = synthetic_run(true);
  const std::vector<int64_t> counts = d.train_counts;  // 24, 12, 6, 3
  // no val split, selection on test not allowed: every tau reported on test, the `tau` key kept
  Result r = train(config("la_keep", {"stage2.method=logit_adjust_posthoc", "stage2.taus=[0, 0.5, 2]", "stage2.tau=1"}),
                   synthetic_run(true));
  CHECK(head_kind(*load_model((r.dir / "checkpoints/stage2_last.safetensors").string())) == "linear");
  auto [ref, got] = stage_logits(r.dir);
  // the reference: the loss library's posthoc_logit_adjust (checked against the official code's values in
  // test_losses) applied to stage 1's logits
  std::vector<float> want = posthoc_logit_adjust(Tensor::from_vector(ref, {8, 4}), counts, 1.0).to_vector();
  REQUIRE(got.size() == want.size());
  double md = 0, shift = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    md = std::max(md, (double)std::fabs(got[i] - want[i]));
    shift = std::max(shift, (double)std::fabs(got[i] - ref[i]));
  }
  CHECK(md < 1e-5);
  CHECK(shift > 1.0);  // log(24 / 45) - log(3 / 45) = log 8: the adjustment is not a no-op
  Json s = Json::parse(std::ifstream(r.dir / "logit_adjust_sweep.json"));
  CHECK(s["taus"] == Json::array({0.0, 0.5, 2.0}));
  CHECK(s["top1"].size() == 3);
  CHECK(s["split"] == "test");
  CHECK(s["selected_on"].is_null());
  CHECK(s["chosen"] == 1.0);
  CHECK_FALSE(fs::exists(r.dir / "tau_sweep.json"));
  // tau 0 alone, chosen on test: the stage-1 classifier itself (log(1 + 1e-12) ~ 1e-12)
  Result r0 = train(config("la_tau0", {"stage2.method=logit_adjust_posthoc", "stage2.taus=[0]",
                                       "stage2.choose_tau_on_test=true"}),
                    synthetic_run(true));
  auto [ref0, got0] = stage_logits(r0.dir);
  double md0 = 0;
  for (size_t i = 0; i < got0.size(); ++i) md0 = std::max(md0, (double)std::fabs(got0[i] - ref0[i]));
  CHECK(md0 < 1e-5);
  // the default grid chosen on test: 21 values, the best kept, and the summary reports it
  Result r2 = train(config("la_grid", {"stage2.method=logit_adjust_posthoc", "stage2.choose_tau_on_test=true"}),
                    synthetic_run(true));
  Json g = Json::parse(std::ifstream(r2.dir / "logit_adjust_sweep.json"));
  REQUIRE(g["top1"].size() == 21);
  double best = -1, best_tau = -1;
  for (size_t i = 0; i < 21; ++i)
    if (g["top1"][i].get<double>() > best) best = g["top1"][i].get<double>(), best_tau = g["taus"][i].get<double>();
  CHECK(g["chosen"].get<double>() == doctest::Approx(best_tau));
  CHECK(r2.summary["top1"].get<double>() == doctest::Approx(best));
  CHECK(r2.summary["top1_last"] == r2.summary["top1"]);  // a post-hoc last stage: its one model is the last
  REQUIRE(r2.summary["stage_top1"].size() == 2);           // ... and its entry is that model's top-1
  CHECK(r2.summary["stage_top1"][1] == r2.summary["top1"]);
  // after tau-normalisation (no bias): the adjustment becomes the new head's bias
  Result r3 = train(config("la_after_tau", {"stage2.method=tau_norm", "stage2.taus=[1]", "stage2.choose_tau_on_test=true",
                                            "stage3.method=logit_adjust_posthoc", "stage3.taus=[1]",
                                            "stage3.choose_tau_on_test=true"}),
                    synthetic_run(true));
  auto s2 = load_model((r3.dir / "checkpoints/stage2_last.safetensors").string());
  auto s3 = load_model((r3.dir / "checkpoints/stage3_last.safetensors").string());
  CHECK(head_kind(*s2) == "tau_norm");
  // every post-hoc stage has its top-1 in stage_top1: the middle one its tau-normalised model's on test
  REQUIRE(r3.summary["stage_top1"].size() == 3);
  for (int k = 0; k < 3; ++k) CHECK(r3.summary["stage_top1"][k].is_number());
  CHECK(r3.summary["stage_top1"][2] == r3.summary["top1"]);
  const double tau2 = Json::parse(std::ifstream(r3.dir / "tau_sweep.json"))["top1"][0].get<double>();
  CHECK(r3.summary["stage_top1"][1].get<double>() == doctest::Approx(tau2).epsilon(1e-6));
  REQUIRE(head_kind(*s3) == "linear");
  auto l2 = std::dynamic_pointer_cast<Linear>(s2->head()), l3 = std::dynamic_pointer_cast<Linear>(s3->head());
  CHECK(same(l2->weight, l3->weight));
  const std::vector<float> b3 = l3->bias.to_vector();
  for (int j = 0; j < 4; ++j) CHECK(b3[j] == doctest::Approx(-std::log(counts[j] / 45.0)).epsilon(1e-6));
  // a class without training images has no prior to remove (the losses refuse such data in a training stage;
  // here the post-hoc stage is stage 1, on a 5-class checkpoint given by model.init_from)
  Result r5 = train(config("la_5", {}), synthetic_run(false, 5));
  RunData empty_class = synthetic_run(false, 5);
  empty_class.train.labels.front() = 0;  // class 4 back to none
  empty_class.train_counts = data::class_counts(empty_class.train.labels, 5);
  const Json first = resolve_config("", {"name=la_empty", "threads=1", "data.workers=0", "eval.every_epochs=0",
                                         "model.init_from=" + (r5.dir / "checkpoints/stage1_last.safetensors").string(),
                                         "stage1.method=logit_adjust_posthoc"},
                                    false);
  CHECK(error_of([&] { train(first, std::move(empty_class)); }) ==
        "stage1 (logit_adjust_posthoc): class 4 has no training image, so no prior to remove");
}

TEST_CASE("tau-sweep's sweep on features computed once equals a whole forward per tau, metric for metric") {
  RunData d = synthetic_run(true);
  Rng rng(5);
  auto net = make_resnet("resnet32", 4, 1, HeadKind::Linear, rng);
  {  // BatchNorm statistics other than the initial ones
    NoGradGuard ng;
    net->train(true);
    net->forward(Tensor::from_vector(std::vector<float>(16 * 64, 0.3f), {16, 8, 8, 1}));
    net->train(false);
  }
  auto lin = std::dynamic_pointer_cast<Linear>(net->head());
  REQUIRE(lin);
  const Linear trained = *lin;
  const std::vector<double> taus = {0, 0.5, 1, 1.5};
  const ShotRule rule;
  TauSweep whole = sweep_tau(*net, trained, taus, [&](ResNet& n) {
    return evaluate_dataset(n, *d.test, d.eval_tf, d.train_counts, rule, 7, 0);
  });
  TauSweep cached = sweep_tau_on_features(*net, trained, taus, *d.test, d.eval_tf, d.train_counts, rule, 7, 0);
  REQUIRE(cached.size() == whole.size());
  for (size_t i = 0; i < taus.size(); ++i) {
    CAPTURE(taus[i]);
    const EvalMetrics &a = whole[i].second, &b = cached[i].second;
    CHECK(a.top1 == b.top1);
    CHECK(a.top5 == b.top5);
    CHECK(a.ece == b.ece);
    CHECK(a.confusion == b.confusion);
    CHECK(a.few.acc == b.few.acc);
  }
  const Json j = tau_sweep_json(cached, "test", taus);
  CHECK(j["taus"].size() == 4);
  CHECK(j["engine_version"] == version_commit());  // the tailor that swept
  CHECK(j["engine_build"] == version_build());
  for (const char* k : {"top1", "balanced", "many", "medium", "few"}) CHECK(j[k].size() == 4);
  CHECK(j["top1"][2].get<double>() == doctest::Approx(100 * cached[2].second.top1).epsilon(1e-6));
}

TEST_CASE("GCL stage 2: the cosine classifier is kept and re-trained with cben, the backbone frozen") {
  Result r = train(config("gcl2",
                          {"stage1.loss.name=gcl", "stage2.method=gcl_retrain", "stage2.epochs=1",
                           "stage2.max_steps_per_epoch=2", "stage2.optim.lr=0.1", "stage2.batch_size=16"},
                          /*normed=*/true),
                   synthetic_run());
  auto s1 = weights(r.dir, "stage1_last.safetensors"), s2 = weights(r.dir, "stage2_last.safetensors");
  check_backbone_equal(s1, s2, true);
  CHECK_FALSE(same(s1.at("linear.weight"), s2.at("linear.weight")));  // the loaded head was trained, not replaced
  CHECK(head_kind(*load_model((r.dir / "checkpoints/stage2_last.safetensors").string())) == "normed");
}

TEST_CASE("NCM: the class means of the training features, the nearest one predicted; saved and reloaded") {
  Result r = train(config("ncm", {"stage2.method=ncm", "stage2.ncm.feat_type=l2n", "stage2.ncm.dist_type=cosine"}),
                   synthetic_run(true));
  auto s1 = load_model((r.dir / "checkpoints/stage1_last.safetensors").string());
  auto s2 = load_model((r.dir / "checkpoints/stage2_last.safetensors").string());
  REQUIRE(head_kind(*s2) == "ncm");
  // the reference: class means of the l2-normalised training features, scored by cosine
  RunData d = synthetic_run();
  SplitFeatures f = extract_features(*s1, d.train, d.eval_tf, 64, 0);
  const int64_t N = f.features.size(0), F = f.features.size(1);
  std::vector<float> fv = f.features.to_vector();
  std::vector<double> mean(4 * F, 0.0);
  std::vector<int> n(4, 0);
  for (int64_t i = 0; i < N; ++i) {
    double norm = 0;
    for (int64_t k = 0; k < F; ++k) norm += (double)fv[i * F + k] * fv[i * F + k];
    norm = std::sqrt(norm);
    for (int64_t k = 0; k < F; ++k) mean[f.labels[i] * F + k] += fv[i * F + k] / norm;
    ++n[f.labels[i]];
  }
  auto cen = std::dynamic_pointer_cast<NCMClassifier>(s2->head())->centroids.to_vector();
  for (int c = 0; c < 4; ++c)
    for (int64_t k = 0; k < F; ++k) CHECK(cen[c * F + k] == doctest::Approx(mean[c * F + k] / n[c]).epsilon(1e-5));
  Json eval = Json::parse(std::ifstream(r.dir / "eval.json"));
  CHECK(eval["samples"] == 45);
}

TEST_CASE("MiSLAS: the classifier trains at lr_factor x lr beside its scales; lr_factor 0 keeps it") {
  for (double factor : {0.0, 0.5}) {
    CAPTURE(factor);
    Result r = train(config("mislas_" + std::to_string(factor),
                            {"stage2.method=mislas", "stage2.mislas.lr_factor=" + std::to_string(factor),
                             "stage2.epochs=1", "stage2.batch_size=16", "stage2.optim.lr=0.1"}),
                     synthetic_run());
    auto s1 = weights(r.dir, "stage1_last.safetensors"), s2 = weights(r.dir, "stage2_last.safetensors");
    check_backbone_equal(s1, s2, true);
    CHECK(same(s2.at("linear.fc.weight"), s1.at("linear.weight")) == (factor == 0.0));
    bool moved = false;
    for (float v : s2.at("linear.scales").to_vector()) moved |= v != 1.f;
    CHECK(moved);
  }
}

TEST_CASE("BALMS: the Meta Sampler draws every batch, learns its rates and logs them; keys it does not read are refused") {
  Result r = train(config("balms", {"stage2.method=balms", "stage2.epochs=2", "stage2.batch_size=8",
                                    "stage2.bn_mode=train", "stage2.optim.lr=0.1", "stage2.balms.meta_lr=0.05"}),
                   synthetic_run());
  auto s1 = weights(r.dir, "stage1_last.safetensors"), s2 = weights(r.dir, "stage2_last.safetensors");
  check_backbone_equal(s1, s2, false);
  CHECK(logged_images(r.dir, 2) == 2 * 5 * 8);  // floor(45 / 8) = 5 batches of 8 per epoch
  std::ifstream in(r.dir / "metrics.jsonl");
  Json last;
  for (std::string line; std::getline(in, line);) last = Json::parse(line);
  REQUIRE(last.contains("sample_rates"));
  REQUIRE(last["sample_rates"].size() == 4);
  double total = 0;
  bool moved = false;
  for (auto& p : last["class_sample_prob"]) total += p.get<double>();
  for (auto& q : last["sample_rates"]) moved |= std::fabs(q.get<double>() - 0.5) > 1e-6;  // init_pow 0: all 1/2
  CHECK(total == doctest::Approx(1.0).epsilon(1e-4));
  CHECK(moved);
  CHECK(error_of([] { resolve_config("", {"stage2.method=balms", "stage2.sampler.name=cben"}, false); })
            .find("stage2.sampler.name: method balms draws its own batches") == 0);
  CHECK(error_of([&] { train(config("balms_focal", {"stage2.method=balms", "stage2.loss.name=focal"}), synthetic_run()); })
            .find("stage2 (balms): the loss focal takes no per-sample weights") == 0);
  CHECK_FALSE(fs::exists(root() / "balms_focal"));  // refused before stage 1 trained, not when stage 2 set up
}

TEST_CASE("the data fingerprint covers every split and names the one that changed; older states still resume") {
  RunData d = synthetic_run(true);
  const std::string fp = data_fingerprint(d), v2 = data_fingerprint_v2(d), v1 = data_fingerprint_v1(d);
  CHECK(fp.size() == 1 + 2 * 34 + 10);
  CHECK(fp.rfind("3-", 0) == 0);
  CHECK(fp.find("-none.none") != std::string::npos);  // the synthetic run has no validation split
  CHECK(v2.size() == 18);
  CHECK(v1.size() == 16);
  CHECK(data_fingerprint_difference(d, fp) == "");
  RunData other = synthetic_run(true);
  other.test->pixels[0] ^= 1;  // an evaluation image changed: only the second and third versions see it
  CHECK(data_fingerprint(other) != fp);
  CHECK(data_fingerprint_v2(other) != v2);
  CHECK(data_fingerprint_v1(other) == v1);
  CHECK(data_fingerprint_difference(other, fp) ==
        "the test split's images changed (their pixels); the training split is the same");
  other.train.labels[0] = (other.train.labels[0] + 1) % other.train.num_classes;
  CHECK(data_fingerprint_difference(other, fp) ==
        "the training split's labels changed (or its size or class count); the test split's images changed (their "
        "pixels)");

  // a split read lazily: each file's size (two files swapped between classes change it)
  RunData lazy = synthetic_run(true);
  lazy.train.pixels.clear();
  for (size_t i = 0; i < lazy.train.labels.size(); ++i) {
    lazy.train.paths.push_back((root() / ("img" + std::to_string(i) + ".png")).string());
    std::ofstream(lazy.train.paths.back()) << std::string(100 + i, 'x');
  }
  const std::string before = data_fingerprint(lazy);
  CHECK(data_fingerprint(lazy) == before);
  std::ofstream(lazy.train.paths[0]) << std::string(101, 'x');
  std::ofstream(lazy.train.paths[1]) << std::string(100, 'x');
  CHECK(data_fingerprint(lazy) != before);
  CHECK(data_fingerprint_difference(lazy, before) ==
        "the training split's images changed (the sizes of its files, read as they are used); the test split is the "
        "same");

  Json cfg = config("fp_v1", {"stage1.epochs=3"});
  const fs::path dir = root() / "fp_v1";
  std::ostringstream log;
  TrainFlags f;
  f.report = false;
  f.stop_after_s = 1e-9;  // stops with the state saved after epoch 1
  CHECK(train_run(cfg, synthetic_run(true), dir.string(), f, log).value("stopped", false));
  // the state as a version without "2-" wrote it: its fingerprint is the first version's
  const std::string state = (dir / "checkpoints/train_state.safetensors").string();
  auto rewrite = [&](const std::string& fingerprint) {
    SafeTensorFile file = read_safetensors(state);
    Json st = Json::parse(file.metadata.at("state"));
    st["data_fingerprint"] = fingerprint;
    file.metadata["state"] = st.dump();
    write_safetensors(state, file);
  };
  RunData moved = synthetic_run(true);
  moved.train.pixels[0] ^= 1;  // a training image changed: the first version sees it too
  rewrite(data_fingerprint_v1(moved));  // other data, by the first version: refused
  f.stop_after_s = 0;
  f.resume = true;
  CHECK(error_of([&] { train_run(cfg, synthetic_run(true), dir.string(), f, log); }).find("not the data this run "
                                                                                        "started with") !=
        std::string::npos);
  rewrite(data_fingerprint_v2(moved));  // likewise by the second version
  CHECK(error_of([&] { train_run(cfg, synthetic_run(true), dir.string(), f, log); }).find("not the data this run "
                                                                                        "started with") !=
        std::string::npos);
  rewrite(data_fingerprint(moved));  // by this version: the split named
  CHECK(error_of([&] { train_run(cfg, synthetic_run(true), dir.string(), f, log); })
            .find("not the data this run started with: the training split's images changed (their pixels); the test "
                  "split is the same") != std::string::npos);
  rewrite(v2);  // the same data, by the second version: resumes (and stops after epoch 2)
  f.stop_after_s = 1e-9;
  CHECK(train_run(cfg, synthetic_run(true), dir.string(), f, log).value("stopped", false));
  f.stop_after_s = 0;
  rewrite(v1);
  CHECK(train_run(cfg, synthetic_run(true), dir.string(), f, log).contains("top1"));
}
