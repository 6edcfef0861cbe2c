// Two-stage training (train/two_stage.h): the frozen backbone stays bit-identical through cRT and LWS,
// stage 2 refuses a missing or incompatible stage-1 checkpoint, and tau-norm with tau = 0 reproduces the
// stage-1 logits without the bias.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>

#include "engine/rng.h"
#include "layers/heads.h"
#include "train/checkpoint.h"
#include "train/two_stage.h"

using namespace tailor;

namespace {

// 4 classes with 24 / 12 / 6 / 3 images, 8x8 grayscale; class c is brighter in row band c.
data::Dataset lt_synthetic() {
  data::Dataset ds;
  ds.name = "synthetic-lt";
  ds.height = ds.width = 8;
  ds.channels = 1;
  ds.num_classes = 4;
  for (int c = 0; c < 4; ++c) ds.class_names.push_back("c" + std::to_string(c));
  const int counts[4] = {24, 12, 6, 3};
  uint32_t h = 12345;
  for (int c = 0; c < 4; ++c)
    for (int i = 0; i < counts[c]; ++i) {
      for (int p = 0; p < 64; ++p) {
        h = h * 1664525u + 1013904223u;
        int v = (int)(h >> 26) + ((p / 8) / 2 == c ? 150 : 40);
        ds.pixels.push_back((uint8_t)std::min(v, 255));
      }
      ds.labels.push_back(c);
    }
  return ds;
}

std::string tmp_path(const std::string& tag) {
  return (std::filesystem::temp_directory_path() /
          ("tailor_two_stage_" + std::to_string(::getpid()) + "_" + tag + ".safetensors"))
      .string();
}

TwoStageData data_for(const data::Dataset& train, const data::Dataset* test) {
  TwoStageData d;
  d.train = &train;
  d.test = test;
  d.batch_size = 16;
  d.eval_batch_size = 64;
  d.num_workers = 0;
  d.seed = 3;
  return d;
}

// Stage 1 for a couple of steps; returns the checkpoint path.
std::string stage1(ResNet& net, const TwoStageData& d, const std::string& tag, const std::string& loss = "ce") {
  Stage1Config c;
  c.loss = loss;
  if (loss == "gcl") c.loss_cfg = gcl_cifar_stage1();
  c.epochs = 1;
  c.sched.kind = "constant";
  c.sgd.lr = 0.05f;
  c.max_steps_per_epoch = 2;
  c.save_path = tmp_path(tag);
  run_stage1(net, d, c);
  return c.save_path;
}

std::map<std::string, std::vector<float>> snapshot(const Module& m, bool buffers) {
  std::map<std::string, std::vector<float>> r;
  for (auto& [n, t] : (buffers ? m.state_dict() : m.named_parameters())) {
    if (n.rfind("linear.", 0) == 0) continue;  // the classifier
    if (t.dtype() == DType::F32)
      r[n] = t.to_vector();
    else {
      auto v = t.to_vector_i32();
      r[n] = std::vector<float>(v.begin(), v.end());
    }
  }
  return r;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("cRT and LWS leave the frozen backbone bit-identical") {
  manual_seed(11);
  data::Dataset train = lt_synthetic();
  TwoStageData d = data_for(train, nullptr);
  auto net = make_resnet("resnet32", 4, 1);
  const std::string ck = stage1(*net, d, "frozen");

  for (const std::string method : {"crt", "lws"}) {
    for (const std::string bn : {"eval", "train"}) {
      CAPTURE(method);
      CAPTURE(bn);
      auto n2 = make_resnet("resnet32", 4, 1);
      REQUIRE(load_weights(ck, *n2).ok());
      auto before_p = snapshot(*n2, false), before_all = snapshot(*n2, true);
      auto lin = std::dynamic_pointer_cast<Linear>(n2->head());
      const std::vector<float> w1 = lin->weight.to_vector();
      Stage2Config c;
      c.method = method;
      c.checkpoint = ck;
      c.bn_mode = bn;
      c.epochs = 1;
      c.max_steps_per_epoch = 3;
      c.sgd.lr = 0.1f;
      StageResult r = run_stage2(*n2, d, c);
      CHECK(r.load.ok());
      CHECK(r.bn_mode == bn);
      CHECK(r.epochs.size() == 1);
      CHECK(r.epochs[0].images == 45);  // class_aware epoch = dataset size (16 + 16 + 13)
      auto after_p = snapshot(*n2, false);
      REQUIRE(after_p.size() == before_p.size());
      for (auto& [n, v] : before_p) {
        CAPTURE(n);
        CHECK(bit_identical(v, after_p.at(n)));
      }
      if (bn == "eval") {
        auto after = snapshot(*n2, true);
        for (auto& [n, v] : before_all) {
          CAPTURE(n);
          CHECK(bit_identical(v, after.at(n)));
        }
      } else {
        CHECK_FALSE(bit_identical(before_all.at("bn1.running_mean"), snapshot(*n2, true).at("bn1.running_mean")));
      }
      if (method == "lws") {
        auto lws = std::dynamic_pointer_cast<LWSClassifier>(n2->head());
        REQUIRE(lws);
        CHECK(bit_identical(lws->fc->weight.to_vector(), w1));  // W frozen
        auto s = lws->scales.to_vector();
        bool moved = false;
        for (float v : s) moved |= v != 1.f;
        CHECK(moved);
      } else {
        auto h = std::dynamic_pointer_cast<Linear>(n2->head());
        REQUIRE(h);
        CHECK(h->weight.requires_grad());
      }
    }
  }
  std::filesystem::remove(ck);
}

TEST_CASE("stage 2 fails on a missing stage-1 checkpoint, naming the path") {
  data::Dataset train = lt_synthetic();
  TwoStageData d = data_for(train, nullptr);
  auto net = make_resnet("resnet32", 4, 1);
  Stage2Config c;
  c.checkpoint = tmp_path("does_not_exist");
  std::string msg = error_of([&] { run_stage2(*net, d, c); });
  CHECK(msg.find(c.checkpoint) != std::string::npos);
  CHECK(msg.find("not found") != std::string::npos);
}

TEST_CASE("stage 2 fails on an incompatible checkpoint, naming the tensor") {
  manual_seed(5);
  data::Dataset train = lt_synthetic();
  TwoStageData d = data_for(train, nullptr);
  auto net = make_resnet("resnet32", 4, 1);
  const std::string ck = tmp_path("incompatible");
  save_weights(ck, *net);

  Stage2Config c;
  c.checkpoint = ck;
  c.epochs = 1;
  c.max_steps_per_epoch = 1;
  SUBCASE("different class count") {
    auto n5 = make_resnet("resnet32", 5, 1);
    std::string msg = error_of([&] { run_stage2(*n5, d, c); });
    CHECK(msg.find(ck) != std::string::npos);
    CHECK(msg.find("linear.weight") != std::string::npos);
  }
  SUBCASE("different architecture") {
    auto r50 = make_resnet("resnet50", 4, 1);
    std::string msg = error_of([&] { run_stage2(*r50, d, c); });
    CHECK(msg.find(ck) != std::string::npos);
    CHECK(msg.find("conv1.weight") != std::string::npos);
  }
  SUBCASE("different head kind") {
    auto nn = make_resnet("resnet32", 4, 1, HeadKind::Normed);
    std::string msg = error_of([&] { run_stage2(*nn, d, c); });
    CHECK(msg.find("linear.") != std::string::npos);
  }
  SUBCASE("allow_partial loads and reports") {
    auto n5 = make_resnet("resnet32", 5, 1);
    c.allow_partial = true;
    data::Dataset t5 = train;
    t5.num_classes = 5;
    t5.class_names.push_back("c4");
    t5.labels.back() = 4;
    TwoStageData d5 = data_for(t5, nullptr);
    StageResult r = run_stage2(*n5, d5, c);
    CHECK_FALSE(r.load.ok());
    CHECK(r.load.mismatched.size() == 2);  // linear.weight, linear.bias
  }
  std::filesystem::remove(ck);
}

TEST_CASE("tau-norm with tau = 0 equals the stage-1 logits minus the bias") {
  manual_seed(7);
  data::Dataset train = lt_synthetic();
  data::Dataset test = lt_synthetic();
  TwoStageData d = data_for(train, &test);
  auto net = make_resnet("resnet32", 4, 1);
  const std::string ck = stage1(*net, d, "tau");
  net->eval();
  Tensor x = Tensor::empty({8, 8, 8, 1});
  normal_(x, 0.f, 1.f, global_rng());
  std::vector<float> ref;
  {
    NoGradGuard ng;
    ref = net->forward(x).to_vector();
  }
  auto b = std::dynamic_pointer_cast<Linear>(net->head())->bias.to_vector();

  auto n2 = make_resnet("resnet32", 4, 1);
  Stage2Config c;
  c.method = "tau_norm";
  c.checkpoint = ck;
  c.taus = {0.0};
  c.choose_tau_on_test = true;
  StageResult r = run_stage2(*n2, d, c);
  REQUIRE(r.tau == 0.0);
  n2->eval();
  std::vector<float> got;
  {
    NoGradGuard ng;
    got = n2->forward(x).to_vector();
  }
  REQUIRE(got.size() == ref.size());
  double md = 0;
  for (size_t i = 0; i < got.size(); ++i) md = std::max(md, (double)std::fabs(got[i] - (ref[i] - b[i % 4])));
  CHECK(md < 1e-5);

  // no val split and selection on test not allowed: every tau is reported, tau 1 is kept
  Stage2Config c1 = c;
  c1.taus = {0.0, 0.5, 1.0};
  c1.choose_tau_on_test = false;
  auto n4 = make_resnet("resnet32", 4, 1);
  StageResult r1 = run_stage2(*n4, d, c1);
  CHECK(r1.tau_sweep.size() == 3);
  CHECK(r1.tau_split.empty());
  CHECK(r1.tau == 1.0);

  // with the default grid and selection on test allowed, 21 values are swept and the best is kept
  Stage2Config c2 = c;
  c2.taus.clear();
  c2.choose_tau_on_test = true;
  auto n3 = make_resnet("resnet32", 4, 1);
  StageResult r2 = run_stage2(*n3, d, c2);
  CHECK(r2.tau_sweep.size() == 21);
  CHECK(r2.tau_split == "test");
  double best = 0;
  for (auto& [t, m] : r2.tau_sweep) best = std::max(best, m.top1);
  CHECK(r2.test.top1 == doctest::Approx(best));
  std::filesystem::remove(ck);
}

TEST_CASE("GCL two-stage: NormedLinear head kept and retrained with cben, backbone frozen") {
  manual_seed(9);
  data::Dataset train = lt_synthetic();
  TwoStageData d = data_for(train, nullptr);
  auto net = make_resnet("resnet32", 4, 1, HeadKind::Normed);
  const std::string ck = stage1(*net, d, "gcl", "gcl");
  auto n2 = make_resnet("resnet32", 4, 1, HeadKind::Normed);
  REQUIRE(load_weights(ck, *n2).ok());
  auto before = snapshot(*n2, true);
  auto w1 = std::dynamic_pointer_cast<NormedLinear>(n2->head())->weight.to_vector();
  Stage2Config c;
  c.method = "gcl_retrain";
  c.checkpoint = ck;
  c.epochs = 1;
  c.max_steps_per_epoch = 2;
  c.sgd.lr = 0.1f;
  run_stage2(*n2, d, c);
  auto after = snapshot(*n2, true);
  for (auto& [n, v] : before) {
    CAPTURE(n);
    CHECK(bit_identical(v, after.at(n)));
  }
  auto h = std::dynamic_pointer_cast<NormedLinear>(n2->head());
  REQUIRE(h);
  CHECK_FALSE(bit_identical(h->weight.to_vector(), w1));  // the loaded head was trained, not replaced
  std::filesystem::remove(ck);
}
