// Long-tailed losses: values and gradients against the float64 reference of make_loss_fixtures.py,
// finite-difference gradient checks, equalities between losses, DRW / class-balanced weights, the
// all-classes-equal edge case and the factory's error messages.
#include <doctest/doctest.h>

#include "error_of.h"
#include "json_fixture.h"

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/ops.h"
#include "engine/rng.h"
#include "gradcheck.h"
#include "losses/balanced_softmax.h"
#include "losses/class_balanced.h"
#include "losses/cross_entropy.h"
#include "losses/distillation.h"
#include "losses/drw.h"
#include "losses/equalization.h"
#include "losses/focal.h"
#include "losses/gcl.h"
#include "losses/gcl_ang.h"
#include "losses/label_aware_smoothing.h"
#include "losses/ldam.h"
#include "losses/logit_adjust.h"
#include "losses/loss.h"

using namespace tailor;

// The loss input of a mixed batch: lam L(logits, ya) + (1 - lam) L(logits, yb).
static LossInput mixup_input(const Tensor& logits, const Tensor& ya, const Tensor& yb, float lam) {
  LossInput in;
  in.logits = logits;
  in.labels = ya;
  in.labels_b = yb;
  in.lambda = lam;
  return in;
}
using namespace tailor::test;
using nlohmann::json;

static json load_fixture(const char* name) { return tailor::test::load_json_fixture(name, "tests/make_loss_fixtures.py"); }

static Tensor matrix(const json& rows) {
  std::vector<float> v;
  for (auto& r : rows)
    for (auto& x : r) v.push_back((float)x.get<double>());
  return Tensor::from_vector(v, {(int64_t)rows.size(), (int64_t)rows[0].size()});
}
static Tensor labels_of(const json& a) {
  return Tensor::from_vector_i32(a.get<std::vector<int32_t>>(), {(int64_t)a.size()});
}

static LossConfig config_of(const json& c) {
  LossConfig cfg;
  std::map<std::string, double*> reals = {{"beta", &cfg.beta},
                                          {"gamma", &cfg.gamma},
                                          {"max_m", &cfg.max_m},
                                          {"s", &cfg.s},
                                          {"tau", &cfg.tau},
                                          {"m", &cfg.m},
                                          {"noise_mul", &cfg.noise_mul},
                                          {"epsilon", &cfg.epsilon},
                                          {"smooth_head", &cfg.smooth_head},
                                          {"smooth_tail", &cfg.smooth_tail},
                                          {"power", &cfg.power},
                                          {"eql_lambda", &cfg.eql_lambda},
                                          {"eql_gamma", &cfg.eql_gamma}};
  std::map<std::string, bool*> flags = {
      {"detach_p", &cfg.detach_p}, {"train_cls", &cfg.train_cls}, {"easy_margin", &cfg.easy_margin}};
  for (auto& [k, v] : c.items()) {
    if (reals.count(k)) {
      *reals[k] = v.get<double>();
    } else if (flags.count(k)) {
      *flags[k] = v.get<bool>();
    } else if (k == "weight") {
      cfg.weight = v.get<std::vector<float>>();
    } else if (k == "train_rule" || k == "shape") {
      (k == "shape" ? cfg.shape : cfg.train_rule) = v.get<std::string>();
    } else if (k == "drw_epoch") {
      cfg.drw_epoch = v.get<int>();
    } else {
      FAIL("unknown config key " << k);
    }
  }
  return cfg;
}

// The loss of one fixture case on `logits`, with the fixed noise / gate of the case.
static Tensor case_loss(Loss& loss, const json& c, const Tensor& logits) {
  if (c.contains("sample_weight")) {  // per-sample factors, with or without a mixup pair
    auto sw = c["sample_weight"].get<std::vector<float>>();
    LossInput in;
    in.logits = logits;
    in.labels = labels_of(c["labels"]);
    in.sample_weight = Tensor::from_vector(sw, {(int64_t)sw.size()});
    if (c.contains("labels_b")) {
      in.labels_b = labels_of(c["labels_b"]);
      in.lambda = (float)c["lam"].get<double>();
    }
    return loss.forward(in);
  }
  auto one = [&](const Tensor& y, const char* noise_key) -> Tensor {
    if (c.contains(noise_key)) {
      Tensor noise = matrix(c[noise_key]);
      if (auto* g = dynamic_cast<GCLLoss*>(&loss)) return g->forward_with_noise(logits, y, noise);
      if (auto* g = dynamic_cast<GCLAngLoss*>(&loss)) return g->forward_with_noise(logits, y, noise);
      FAIL("noise given for " << loss.name());
      return Tensor();
    }
    if (c.contains("gate")) {
      auto g = c["gate"].get<std::vector<float>>();
      return dynamic_cast<SoftmaxEQLLoss&>(loss).forward_with_gate(logits, y,
                                                                   Tensor::from_vector(g, {(int64_t)g.size()}));
    }
    return loss.forward(logits, y);
  };
  Tensor ya = labels_of(c["labels"]);
  if (!c.contains("labels_b")) return one(ya, "noise");
  float lam = (float)c["lam"].get<double>();
  if (!c.contains("noise") && !c.contains("gate")) return loss.forward(mixup_input(logits, ya, labels_of(c["labels_b"]), lam));
  Tensor la = one(ya, "noise"), lb = one(labels_of(c["labels_b"]), "noise_b");
  return add(scale(la, lam), scale(lb, 1.f - lam));
}

static std::unique_ptr<Loss> case_make(const json& c) {
  auto loss = make_loss(c["loss"].get<std::string>(), config_of(c["config"]), c["counts"].get<std::vector<int64_t>>());
  if (c.contains("epoch")) loss->set_epoch(c["epoch"].get<int>());
  return loss;
}

// Relative error of a tensor in the max norm: max_k |g_k - r_k| / max_k |r_k|. Element-wise relative
// error is not attainable in float32 for saturated rows (s = 30 cosine losses): there the target's
// gradient is p_y - 1 with p_y within 1e-5 of 1, and float32 rounding of p_y alone is 6e-8, so a tiny
// entry may be off by a few percent while the tensor is exact to ~1e-7 of its scale.
static double rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
  REQUIRE(got.size() == ref.size());
  double top = 0, worst = 0;
  for (size_t k = 0; k < ref.size(); ++k) {
    top = std::max(top, std::fabs(ref[k]));
    worst = std::max(worst, std::fabs(got[k] - ref[k]));
  }
  return worst / top;
}

TEST_CASE("every loss: value and gradient equal the float64 reference to 1e-5") {
  json j = load_fixture("losses_reference.json");
  REQUIRE(j["cases"].size() >= 47);
  double worst_value = 0, worst_grad = 0;
  std::string worst_name;
  for (auto& c : j["cases"]) {
    std::string name = c["name"];
    INFO("case " << name);
    auto loss = case_make(c);
    Tensor z = matrix(c["logits"]);
    z.set_requires_grad(true);
    Tensor L = case_loss(*loss, c, z);
    REQUIRE(L.numel() == 1);
    L.backward();
    double ref = c["loss_value"].get<double>();
    double ev = std::fabs(L.item() - ref) / std::fabs(ref);
    std::vector<double> g_ref;
    for (auto& r : c["grad"])
      for (auto& x : r) g_ref.push_back(x.get<double>());
    REQUIRE(z.grad().defined());
    double eg = rel_err(z.grad().to_vector(), g_ref);
    CHECK_MESSAGE(ev < 1e-5, "value " << L.item() << " vs reference " << ref);
    CHECK_MESSAGE(eg < 1e-5, "gradient relative error " << eg);
    worst_value = std::max(worst_value, ev);
    if (eg > worst_grad) worst_grad = eg, worst_name = name;
  }
  MESSAGE("worst relative error: value " << worst_value << ", gradient " << worst_grad << " (" << worst_name << ")");
}

TEST_CASE("post-hoc logit adjustment equals the reference") {
  json j = load_fixture("losses_reference.json");
  for (auto& c : j["posthoc"]) {
    Tensor adj =
        posthoc_logit_adjust(matrix(c["logits"]), c["counts"].get<std::vector<int64_t>>(), c["tau"].get<double>());
    std::vector<double> ref;
    for (auto& r : c["adjusted"])
      for (auto& x : r) ref.push_back(x.get<double>());
    CHECK(rel_err(adj.to_vector(), ref) < 1e-5);
    CHECK(argmax(adj).to_vector_i32() == c["pred"].get<std::vector<int32_t>>());
  }
}

TEST_CASE("per-sample weights: taken by the softmax-CE losses, refused by the others") {
  const std::vector<int64_t> counts = {50, 10, 3};
  Rng r(4);
  LossInput in;
  in.logits = randn({4, 3}, r, 1.f);
  in.labels = Tensor::from_vector_i32({0, 1, 2, 0}, {4});
  in.sample_weight = Tensor::ones({4});
  // all ones: the plain loss
  for (const char* name : {"ce", "balanced_softmax", "logit_adjust"}) {
    auto loss = make_loss(name, LossConfig{}, counts);
    CHECK(loss->forward(in).item() == doctest::Approx(loss->forward(in.logits, in.labels).item()).epsilon(1e-6));
  }
  auto focal = make_loss("focal", LossConfig{}, counts);
  CHECK_THROWS_WITH(focal->forward(in), "focal: this loss takes no per-sample weights");
  in.sample_weight = Tensor::ones({3});
  CHECK_THROWS_WITH(make_loss("ce", LossConfig{}, counts)->forward(in), "ce: sample_weight must be [4], got [3]");
}

TEST_CASE("knowledge distillation's soft-target term equals PyTorch's kl_div(batchmean) * T^2") {
  json j = load_fixture("losses_reference.json");
  REQUIRE(j["kd"].size() == 3);
  for (auto& c : j["kd"]) {
    INFO("case " << c["name"].get<std::string>());
    Tensor zs = matrix(c["student"]), zt = matrix(c["teacher"]);
    zs.set_requires_grad(true);
    Tensor L = kd_soft_target_loss(zs, zt, c["temperature"].get<double>());
    L.backward();
    const double ref = c["loss_value"].get<double>();
    CHECK(std::fabs(L.item() - ref) / std::fabs(ref) < 1e-5);
    std::vector<double> g_ref;
    for (auto& row : c["grad"])
      for (auto& x : row) g_ref.push_back(x.get<double>());
    CHECK(rel_err(zs.grad().to_vector(), g_ref) < 1e-5);
  }
  Rng r(2);
  Tensor z = randn({3, 4}, r, 1.f);
  CHECK(kd_soft_target_loss(z, z, 3.0).item() == doctest::Approx(0.0).epsilon(1e-6));  // KL(p || p) = 0
}

// ---- finite differences

TEST_CASE("every loss passes the finite-difference gradient check") {
  const std::vector<int64_t> counts = {500, 211, 87, 40, 13, 5};
  const int64_t B = 4, C = 6;
  Rng rng(11);
  Tensor y = Tensor::from_vector_i32({0, 2, 5, 4}, {B}), yb = Tensor::from_vector_i32({3, 5, 1, 0}, {B});
  Tensor noise = sample_gcl_noise(B, C, rng), noise_b = sample_gcl_noise(B, C, rng);
  Tensor gate = Tensor::from_vector({1, 0, 1, 1}, {B});
  const std::vector<float> w = {1.0f, 2.0f, 0.5f, 3.0f, 1.5f, 4.0f};
  struct Case {
    const char* loss;
    LossConfig cfg;
    bool cosine;
  };
  auto with = [](auto f) {
    LossConfig c;
    f(c);
    return c;
  };
  // Stopped gradients (focal detach_p, the stage-2 focal of gcl / gcl_ang) are not derivatives of the
  // forward, so the finite differences run those with detach_p false or gamma 0; the detached
  // gradients themselves are checked against the PyTorch reference above.
  std::vector<Case> cases = {
      {"ce", {}, false},
      {"ce", with([&](LossConfig& c) { c.weight = w; }), false},
      {"focal", with([](LossConfig& c) { c.gamma = 2; }), false},
      {"focal", with([&](LossConfig& c) { c.gamma = 1, c.weight = w; }), false},
      {"cb_softmax", {}, false},
      {"cb_sigmoid", with([](LossConfig& c) { c.beta = 0.999; }), false},
      {"cb_focal", with([](LossConfig& c) { c.gamma = 2; }), false},
      {"ldam", with([](LossConfig& c) { c.s = 10; }), true},
      {"ldam", with([](LossConfig& c) { c.s = 10, c.train_rule = "Reweight"; }), true},
      {"logit_adjust", with([](LossConfig& c) { c.tau = 1.5; }), false},
      {"balanced_softmax", {}, false},
      {"balanced_sigmoid", {}, false},
      {"gcl", with([](LossConfig& c) { c.s = 10, c.m = 0.1, c.noise_mul = 0.5; }), true},
      {"gcl", with([&](LossConfig& c) { c.s = 10, c.m = 0.1, c.train_cls = true, c.gamma = 0, c.weight = w; }), true},
      {"gcl_ang", with([](LossConfig& c) { c.s = 10, c.epsilon = 0.5; }), true},
      {"gcl_ang", with([](LossConfig& c) { c.s = 10, c.easy_margin = true, c.train_cls = true, c.gamma = 0; }), true},
      {"las", with([](LossConfig& c) { c.smooth_head = 0.4, c.smooth_tail = 0.1; }), false},
      {"eql", with([](LossConfig& c) { c.eql_lambda = 0.05; }), false},
  };
  for (auto& k : cases) {
    std::string what = std::string(k.loss) + (k.cfg.weight.empty() ? "" : " (weighted)");
    INFO("loss " << what);
    auto loss = make_loss(k.loss, k.cfg, counts);
    // Plain logits of moderate size. Cosines in [-0.25, -0.05] u [0.05, 0.8]: inside (-1, 1) and away from
    // GCLAng's branch switches (cos = 0 with easy_margin, cos = cos(pi - M) <= -0.28 otherwise), where
    // the loss is discontinuous and a finite difference would straddle the jump.
    Tensor x = randn({B, C}, rng, 1.5f);
    if (k.cosine)
      for (int64_t i = 0; i < x.numel(); ++i) {
        float u = rng.uniform();
        x.f32()[i] = u < 0.2f ? -0.25f + u : 0.05f + (u - 0.2f) * (0.75f / 0.8f);
      }
    // float32 central differences: a larger step where the loss is smooth on that scale
    float eps = k.cosine ? 3e-3f : 1e-2f;
    for (bool mixup : {false, true}) {
      auto f = [&](const std::vector<Tensor>& in) -> Tensor {
        auto run = [&](const Tensor& labels, const Tensor& nz) -> Tensor {
          if (auto* g = dynamic_cast<GCLLoss*>(loss.get())) return g->forward_with_noise(in[0], labels, nz);
          if (auto* g = dynamic_cast<GCLAngLoss*>(loss.get())) return g->forward_with_noise(in[0], labels, nz);
          if (auto* e = dynamic_cast<SoftmaxEQLLoss*>(loss.get())) return e->forward_with_gate(in[0], labels, gate);
          return loss->forward(in[0], labels);
        };
        if (!mixup) return run(y, noise);
        return add(scale(run(y, noise), 0.3f), scale(run(yb, noise_b), 0.7f));
      };
      CHECK_GRAD(gradcheck(f, {x.clone()}, {}, eps));
    }
  }
}

TEST_CASE("every loss under mixup: the device factors (LossInput::mix, what training passes) give the lambda path") {
  // L = lambda L(y_a) + (1 - lambda) L(y_b) with lambda read from a [2] tensor instead of a float: the same
  // products, so value and gradient are bit-identical (each loss's random draws from twin Rngs)
  const std::vector<int64_t> counts = {400, 120, 30, 9, 3};
  const int64_t B = 6, C = 5;
  Rng r(5);
  Tensor x = Tensor::empty({B, C});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = -0.25f + 1.05f * r.uniform();  // cosines in (-1, 1)
  Tensor y = Tensor::from_vector_i32({0, 1, 2, 3, 4, 0}, {B}), yb = Tensor::from_vector_i32({4, 3, 3, 1, 0, 2}, {B});
  const float lam = 0.35f;
  for (const std::string& name : loss_names()) {
    INFO("loss " << name);
    Rng ra(11), rb(11);
    auto la = make_loss(name, LossConfig{}, counts, &ra), lb = make_loss(name, LossConfig{}, counts, &rb);
    Tensor xa = x.clone(), xb = x.clone();
    xa.set_requires_grad(true), xb.set_requires_grad(true);
    Tensor va = la->forward(mixup_input(xa, y, yb, lam));
    LossInput in = mixup_input(xb, y, yb, lam);
    in.mix = Tensor::from_vector({lam, 1.f - lam}, {2});
    Tensor vb = lb->forward(in);
    CHECK(va.item() == vb.item());
    va.backward(), vb.backward();
    CHECK(xa.grad().to_vector() == xb.grad().to_vector());
  }
}

// ---- identities between losses

TEST_CASE("loss identities") {
  const std::vector<int64_t> counts = {500, 211, 87, 40, 13, 5};
  Rng rng(3);
  Tensor z = randn({7, 6}, rng, 2.f);
  Tensor y = Tensor::from_vector_i32({0, 1, 2, 3, 4, 5, 5}, {7}),
         yb = Tensor::from_vector_i32({5, 4, 3, 2, 1, 0, 0}, {7});
  LossConfig cfg;
  float ce = make_loss("ce", cfg, counts)->forward(z, y).item();
  SUBCASE("focal with gamma 0 is CE") {
    cfg.gamma = 0;
    CHECK(make_loss("focal", cfg, counts)->forward(z, y).item() == doctest::Approx(ce).epsilon(1e-6));
  }
  SUBCASE("balanced softmax is logit adjustment with tau 1") {
    float bs = make_loss("balanced_softmax", cfg, counts)->forward(z, y).item();
    CHECK(make_loss("logit_adjust", cfg, counts)->forward(z, y).item() == doctest::Approx(bs).epsilon(1e-6));
  }
  SUBCASE("unweighted mixup CE is soft-target CE") {
    float mix = make_loss("ce", cfg, counts)->forward(mixup_input(z, y, yb, 0.25f)).item();
    Tensor t = add(scale(one_hot(y, 6), 0.25f), scale(one_hot(yb, 6), 0.75f));
    CHECK(soft_cross_entropy(z, t).item() == doctest::Approx(mix).epsilon(1e-6));
  }
  SUBCASE("cb_focal with gamma 0 is cb_sigmoid; beta 0 gives unit weights") {
    cfg.gamma = 0;
    float sig = make_loss("cb_sigmoid", cfg, counts)->forward(z, y).item();
    CHECK(make_loss("cb_focal", cfg, counts)->forward(z, y).item() == doctest::Approx(sig).epsilon(1e-6));
    cfg.beta = 0;
    CHECK(make_loss("cb_softmax", cfg, counts)->forward(z, y).item() == doctest::Approx(ce).epsilon(1e-6));
  }
  SUBCASE("las with zero smoothing is CE") {
    cfg.smooth_head = cfg.smooth_tail = 0;
    CHECK(make_loss("las", cfg, counts)->forward(z, y).item() == doctest::Approx(ce).epsilon(1e-6));
  }
  SUBCASE("eql with no rare class (or gamma 0) is CE") {
    cfg.eql_lambda = 0;
    CHECK(make_loss("eql", cfg, counts)->forward(z, y).item() == doctest::Approx(ce).epsilon(1e-6));
    cfg.eql_lambda = 0.5, cfg.eql_gamma = 0;
    CHECK(make_loss("eql", cfg, counts)->forward(z, y).item() == doctest::Approx(ce).epsilon(1e-6));
  }
  SUBCASE("gcl without noise and margin is CE(s cos); ldam with max_m 0 too") {
    Tensor cos = clamp(scale(z, 0.3f), -1.f, 1.f);
    float ref = make_loss("ce", cfg, counts)->forward(scale(cos, 30.f), y).item();
    LossConfig g;
    g.m = 0, g.noise_mul = 0;
    CHECK(make_loss("gcl", g, counts)->forward(cos, y).item() == doctest::Approx(ref).epsilon(1e-6));
    g.max_m = 0;
    CHECK(make_loss("ldam", g, counts)->forward(cos, y).item() == doctest::Approx(ref).epsilon(1e-6));
    g.epsilon = 0;  // gcl_ang with no noise and no margin: phi = cos
    CHECK(make_loss("gcl_ang", g, counts)->forward(cos, y).item() == doctest::Approx(ref).epsilon(1e-5));
  }
}

TEST_CASE("softplus / BCE building blocks: stable, exact gradient at 0") {
  Tensor x = Tensor::from_vector({-200.f, -1.f, 0.f, 1.f, 200.f}, {5});
  x.set_requires_grad(true);
  Tensor y = softplus(x);
  auto v = y.to_vector();
  CHECK(v[0] == 0.f);
  CHECK(v[2] == doctest::Approx(std::log(2.0)));
  CHECK(v[4] == 200.f);
  sum_all(y).backward();
  auto g = x.grad().to_vector();
  CHECK(g[0] == 0.f);
  CHECK(g[1] == doctest::Approx(1 / (1 + std::exp(1.0))));
  CHECK(g[2] == doctest::Approx(0.5));  // sigmoid(0)
  CHECK(g[4] == 1.f);
  // BCE(z, t) = softplus(z) - z t
  Tensor z = Tensor::from_vector({2.f, -3.f}, {2}), t = Tensor::from_vector({1.f, 1.f}, {2});
  auto b = bce_with_logits(z, t).to_vector();
  CHECK(b[0] == doctest::Approx(std::log1p(std::exp(-2.0))));
  CHECK(b[1] == doctest::Approx(std::log1p(std::exp(3.0))));
}

// ---- GCL specifics

TEST_CASE("GCL cloud sizes, noise and the all-classes-equal edge case") {
  auto d = gcl_cloud_sizes({5000, 500, 50});
  CHECK(d[0] == 0.0);
  CHECK(d[1] == doctest::Approx(0.5));
  CHECK(d[2] == 1.0);
  for (double v : gcl_cloud_sizes({64, 64, 64})) CHECK(v == 0.0);  // max delta = 0: no NaN

  Rng rng(9);
  Tensor n = sample_gcl_noise(200, 50, rng);
  double s2 = 0;
  for (float v : n.to_vector()) s2 += (double)v * v;
  CHECK(std::sqrt(s2 / 10000) == doctest::Approx(1.0 / 3).epsilon(0.03));

  for (const char* name : {"gcl", "gcl_ang"}) {
    LossConfig cfg = gcl_cifar_stage2();
    auto loss = make_loss(name, cfg, {100, 100, 100, 100});
    Tensor cos = clamp(randn({6, 4}, rng, 0.5f), -0.95f, 0.95f);
    cos.set_requires_grad(true);
    Tensor y = Tensor::from_vector_i32({0, 1, 2, 3, 0, 1}, {6});
    Tensor L = loss->forward(cos, y);
    L.backward();
    CHECK(std::isfinite(L.item()));
    for (float g : cos.grad().to_vector()) CHECK(std::isfinite(g));
  }
}

TEST_CASE("GCL draws fresh noise from its Rng, two draws under mixup") {
  const std::vector<int64_t> counts = {500, 90, 12, 5};
  Rng a(42), b(42);
  auto loss = make_loss("gcl", gcl_cifar_stage1(), counts, &a);
  auto& gcl = dynamic_cast<GCLLoss&>(*loss);
  Rng r(1);
  Tensor cos = clamp(randn({3, 4}, r, 0.5f), -0.9f, 0.9f);
  Tensor y = Tensor::from_vector_i32({0, 3, 2}, {3}), yb = Tensor::from_vector_i32({1, 1, 3}, {3});
  float mixed = loss->forward(mixup_input(cos, y, yb, 0.4f)).item();
  Tensor n1 = sample_gcl_noise(3, 4, b), n2 = sample_gcl_noise(3, 4, b);
  float ref = 0.4f * gcl.forward_with_noise(cos, y, n1).item() + 0.6f * gcl.forward_with_noise(cos, yb, n2).item();
  CHECK(mixed == doctest::Approx(ref).epsilon(1e-6));
  // a second call sees different noise
  CHECK(loss->forward(cos, y).item() != loss->forward(cos, y).item());
}

// ---- weights

TEST_CASE("effective-number weights and the DRW schedule") {
  const std::vector<int64_t> counts = {5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50};
  auto w = effective_number_weights(counts, 0.9999);
  double s = 0;
  for (float v : w) s += v;
  CHECK(s == doctest::Approx(10.0).epsilon(1e-6));
  for (size_t j = 1; j < w.size(); ++j) CHECK(w[j] > w[j - 1]);  // rarer class, larger weight
  for (float v : effective_number_weights(counts, 0.0)) CHECK(v == 1.0f);

  CHECK(drw_class_weights("None", counts, 170).empty());
  for (float v : drw_class_weights("DRW", counts, 159)) CHECK(v == 1.0f);
  CHECK(drw_class_weights("DRW", counts, 160) == w);
  CHECK(drw_class_weights("DRW", counts, 400) == w);  // past 2 * drw_epoch (the reference would fail)
  CHECK(drw_class_weights("Reweight", counts, 0) == w);

  auto loss = make_loss("ldam", ldam_drw_cifar(), counts);
  for (float v : loss->class_weight().to_vector()) CHECK(v == 1.0f);
  loss->set_epoch(160);
  CHECK(loss->class_weight().to_vector() == w);
  loss->set_epoch(10);
  for (float v : loss->class_weight().to_vector()) CHECK(v == 1.0f);

  auto m = ldam_margins(counts, 0.5);
  CHECK(m.back() == doctest::Approx(0.5));
  CHECK(m[0] == doctest::Approx(0.5 * std::pow(50.0 / 5000.0, 0.25)));
}

TEST_CASE("label-aware smoothing shapes") {
  const std::vector<int64_t> counts = {500, 275, 50};
  for (const char* shape : {"concave", "linear", "convex", "exp"}) {
    auto e = las_smoothing(counts, 0.4, 0.1, shape, 2.0);
    INFO(shape);
    CHECK(e[0] == doctest::Approx(0.4));  // head gets smooth_head
    CHECK(e[2] == doctest::Approx(0.1));  // tail gets smooth_tail
  }
  CHECK(las_smoothing(counts, 0.4, 0.1, "linear")[1] == doctest::Approx(0.25));
  CHECK(las_smoothing(counts, 0.4, 0.1, "concave")[1] == doctest::Approx(0.1 + 0.3 * std::sin(M_PI / 4)));
  for (double v : las_smoothing({7, 7}, 0.4, 0.1)) CHECK(v == doctest::Approx(0.4));  // equal counts: no NaN
}

// ---- errors

static bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TEST_CASE("the factory names an unknown loss and bad values") {
  const std::vector<int64_t> counts = {10, 5, 2};
  LossConfig cfg;
  auto err = error_of([&] { make_loss("foo", cfg, counts); });
  CHECK(has(err, "unknown loss 'foo'"));
  CHECK(has(err, "gcl"));
  for (auto& n : loss_names()) CHECK_NOTHROW(make_loss(n, cfg, counts));

  auto bad = [&](const char* loss, auto set, const char* what) {
    LossConfig c;
    set(c);
    std::string e = error_of([&] { make_loss(loss, c, counts); });
    INFO(loss << ": " << e);
    CHECK(has(e, loss));
    CHECK(has(e, what));
  };
  bad(
      "ldam", [](LossConfig& c) { c.s = 0; }, "s must be > 0");
  bad(
      "cb_focal", [](LossConfig& c) { c.beta = 1.0; }, "beta must be in [0, 1)");
  bad(
      "focal", [](LossConfig& c) { c.gamma = -1; }, "gamma must be >= 0");
  bad(
      "las", [](LossConfig& c) { c.shape = "cubic"; }, "shape must be");
  bad(
      "ce", [](LossConfig& c) { c.train_rule = "drw"; }, "train_rule must be None, Reweight or DRW");
  bad(
      "gcl", [](LossConfig& c) { c.noise_mul = -0.5; }, "noise_mul must be >= 0");
  bad(
      "cb_softmax",
      [](LossConfig& c) {
        c.weight = {1, 2, 3};
      },
      "takes no class weights");
  bad(
      "las", [](LossConfig& c) { c.train_rule = "DRW"; }, "takes no class weights");
  CHECK(has(error_of([&] { make_loss("ce", cfg, {10, 0, 3}); }), "class 1 has 0 training images"));
  LossConfig wrong;
  wrong.weight = {1, 2};
  CHECK(has(error_of([&] { make_loss("ce", wrong, counts); }), "2 class weights for 3 classes"));
  auto loss = make_loss("ce", cfg, counts);
  Tensor z = Tensor::zeros({2, 4});
  CHECK(has(error_of([&] { loss->forward(z, Tensor::from_vector_i32({0, 1}, {2})); }), "built for 3 classes"));
}
