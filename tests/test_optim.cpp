// Adam / AdamW against torch.optim.Adam / AdamW 1.13 (tests/fixtures/optim_reference.json, written by
// tests/make_optim_fixtures.py): four cases, three parameters, six steps, one parameter without a
// gradient on two of them. The float32 trajectories must match torch's bit for bit (and so within the
// stated tolerance of 1e-6 relative, which is checked too); the float64 ones show float32's own error.
// Also: step counts of skipped parameters, a checkpoint-style state round trip, argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "json_fixture.h"
#include "train/adam.h"

using namespace tailor;
using nlohmann::json;

static const char* kGenerator = "tests/make_optim_fixtures.py";
static const double kRelTol = 1e-6;  // max |tailor - torch| / |torch| per element (bit-exact expected)

static const json& fixture_cases() {
  static const json j = test::load_json_fixture("optim_reference.json", kGenerator);
  return j["cases"];
}

static AdamOptions options_of(const json& c) {
  AdamOptions o;
  o.lr = c["lr"].get<float>();
  o.beta1 = c["beta1"].get<float>();
  o.beta2 = c["beta2"].get<float>();
  o.eps = c["eps"].get<float>();
  o.weight_decay = c["weight_decay"].get<float>();
  o.decoupled = c["optimizer"] == "adamw";
  return o;
}

// A case's parameters in a fixed order (the fixture's key order), from `init` or given values.
struct Params {
  std::vector<std::string> names;
  std::vector<Tensor> tensors;
};
static Params make_params(const json& c) {
  Params p;
  for (auto& [name, shape] : c["shapes"].items()) {
    p.names.push_back(name);
    Tensor t = Tensor::from_vector(c["init"][name].get<std::vector<float>>(), shape.get<Shape>());
    t.set_requires_grad(true);
    p.tensors.push_back(t);
  }
  return p;
}

// Gradients of step `s`: a parameter missing from the set gets none.
static void set_grads(const Params& p, const json& c, size_t s) {
  const json& gs = c["grads"][s];
  for (size_t i = 0; i < p.names.size(); ++i) {
    Tensor t = p.tensors[i];
    if (gs.contains(p.names[i]))
      t.set_grad(Tensor::from_vector(gs[p.names[i]].get<std::vector<float>>(), t.shape()));
    else
      t.zero_grad();
  }
}

struct Agreement {
  double max_rel = 0;
  int64_t differing_bits = 0;  // elements whose float32 bits differ
};
// want: float32 values (written as the shortest decimal that reads back to them), or float64 ones.
static void compare(const Tensor& t, const json& want, bool float32, Agreement& a) {
  std::vector<float> got = t.to_vector();
  std::vector<double> ref = want.get<std::vector<double>>();
  REQUIRE(got.size() == ref.size());
  for (size_t i = 0; i < got.size(); ++i) {
    float r32 = (float)ref[i];
    double r = float32 ? r32 : ref[i];
    double d = std::fabs((double)got[i] - r);
    a.max_rel = std::max(a.max_rel, r != 0 ? d / std::fabs(r) : d);
    a.differing_bits += std::memcmp(&got[i], &r32, sizeof(float)) != 0;
  }
}

static std::vector<float> values(const Tensor& t) { return t.defined() ? t.to_vector() : std::vector<float>{}; }

TEST_CASE("Adam / AdamW reproduce torch.optim's float32 trajectories bit for bit") {
  for (const json& c : fixture_cases()) {
    CAPTURE(c["name"].get<std::string>());
    Params p = make_params(c);
    Adam opt(p.tensors, options_of(c));
    Agreement vs32, vs64;
    for (size_t s = 0; s < c["grads"].size(); ++s) {
      CAPTURE(s);
      set_grads(p, c, s);
      opt.step();
      for (size_t i = 0; i < p.names.size(); ++i) {
        compare(p.tensors[i], c["params32"][s][p.names[i]], true, vs32);
        compare(p.tensors[i], c["params64"][s][p.names[i]], false, vs64);  // its differing_bits mean nothing
        CHECK(opt.steps()[i] == c["steps"][s][p.names[i]].get<int64_t>());
      }
    }
    MESSAGE(c["name"].get<std::string>() << ": max relative error vs torch float32 " << vs32.max_rel << " ("
                                         << vs32.differing_bits << " elements differ), vs float64 " << vs64.max_rel);
    CHECK(vs32.differing_bits == 0);
    CHECK(vs32.max_rel <= kRelTol);
    for (size_t i = 0; i < p.names.size(); ++i) {  // the state after the last step, as torch holds it
      Agreement m, v;
      compare(opt.exp_avg()[i], c["exp_avg"][p.names[i]], true, m);
      compare(opt.exp_avg_sq()[i], c["exp_avg_sq"][p.names[i]], true, v);
      CHECK(m.differing_bits + v.differing_bits == 0);
    }
  }
}

TEST_CASE("a parameter without a gradient is skipped: weights, state and step count untouched") {
  const json& c = fixture_cases()[1];  // Adam with weight decay: a skipped step must not decay either
  Params p = make_params(c);
  Adam opt(p.tensors, options_of(c));
  size_t ci = 0;
  while (p.names[ci] != "c") ++ci;
  for (size_t s = 0; s < c["grads"].size(); ++s) {
    bool has_grad = c["grads"][s].contains("c");
    std::vector<float> w = values(p.tensors[ci]), m = values(opt.exp_avg()[ci]), v = values(opt.exp_avg_sq()[ci]);
    int64_t before = opt.steps()[ci];
    set_grads(p, c, s);
    opt.step();
    CAPTURE(s);
    CHECK(opt.steps()[ci] == before + (has_grad ? 1 : 0));
    if (!has_grad) {
      CHECK(values(p.tensors[ci]) == w);
      CHECK(values(opt.exp_avg()[ci]) == m);
      CHECK(values(opt.exp_avg_sq()[ci]) == v);
    }
    if (s == 0) CHECK_FALSE(opt.exp_avg()[ci].defined());  // no state before its first step
  }
}

TEST_CASE("state round trip: a new Adam given the moments and step counts continues bit for bit") {
  const json& c = fixture_cases()[3];  // AdamW, betas (0.8, 0.99), eps 1e-6
  const size_t split = 2, steps = c["grads"].size();
  Params a = make_params(c);
  Adam whole(a.tensors, options_of(c));
  for (size_t s = 0; s < steps; ++s) {
    set_grads(a, c, s);
    whole.step();
  }
  Params b = make_params(c);
  Adam first(b.tensors, options_of(c));
  for (size_t s = 0; s < split; ++s) {
    set_grads(b, c, s);
    first.step();
  }
  Params r = make_params(c);  // the restored run: weights, moments and step counts copied
  Adam resumed(r.tensors, options_of(c));
  for (size_t i = 0; i < r.tensors.size(); ++i) {
    r.tensors[i].copy_from(b.tensors[i]);
    if (first.exp_avg()[i].defined()) {
      resumed.exp_avg()[i] = first.exp_avg()[i].clone();
      resumed.exp_avg_sq()[i] = first.exp_avg_sq()[i].clone();
    }
  }
  resumed.steps() = first.steps();
  CHECK(resumed.steps() == std::vector<int64_t>{2, 1, 2});  // b, c (no gradient on step 0), w
  for (size_t s = split; s < steps; ++s) {
    set_grads(r, c, s);
    resumed.step();
  }
  for (size_t i = 0; i < r.tensors.size(); ++i) {
    CAPTURE(r.names[i]);
    CHECK(values(r.tensors[i]) == values(a.tensors[i]));
    CHECK(values(resumed.exp_avg()[i]) == values(whole.exp_avg()[i]));
    CHECK(values(resumed.exp_avg_sq()[i]) == values(whole.exp_avg_sq()[i]));
  }
  CHECK(resumed.steps() == whole.steps());
}

TEST_CASE("Adam: options, learning rate and zero_grad") {
  Tensor w = Tensor::from_vector({1.f, -2.f}, {2});
  w.set_requires_grad(true);
  Adam opt({w}, AdamOptions{});
  CHECK(opt.options().lr == 1e-3f);
  CHECK(opt.options().beta2 == 0.999f);
  CHECK_FALSE(opt.options().decoupled);
  opt.set_lr(0.5f);
  CHECK(opt.lr() == 0.5f);
  w.set_grad(Tensor::from_vector({1.f, 1.f}, {2}));
  opt.step();  // first step: m = 0.1 g, v = 0.001 g^2, bias-corrected to g and g^2: w -= lr * g / (|g| + eps)
  CHECK(w.to_vector()[0] == doctest::Approx(0.5));
  opt.zero_grad();
  CHECK_FALSE(w.grad().defined());
  CHECK(opt.params().size() == 1);
}

TEST_CASE("Adam: bad arguments and inconsistent state give clear errors") {
  Tensor w = Tensor::from_vector({1.f, 2.f, 3.f}, {3});
  w.set_requires_grad(true);
  auto make = [&](AdamOptions o) { return Adam({w}, o); };
  using doctest::Contains;
  CHECK_THROWS_WITH_AS(make({-1e-3f}), Contains("lr must be >= 0"), std::runtime_error);
  CHECK_THROWS_WITH_AS(make({NAN}), Contains("lr must be >= 0"), std::runtime_error);
  CHECK_THROWS_WITH_AS(make({1e-3f, 1.f}), Contains("beta1 must be in [0, 1)"), std::runtime_error);
  CHECK_THROWS_WITH_AS(make({1e-3f, -0.1f}), Contains("beta1 must be in [0, 1)"), std::runtime_error);
  CHECK_THROWS_WITH_AS(make({1e-3f, 0.9f, 1.f}), Contains("beta2 must be in [0, 1)"), std::runtime_error);
  CHECK_THROWS_WITH_AS(make({1e-3f, 0.9f, 0.999f, 0.f}), Contains("eps must be > 0"), std::runtime_error);
  CHECK_THROWS_WITH_AS(make({1e-3f, 0.9f, 0.999f, 1e-8f, -1e-2f}), Contains("weight_decay must be >= 0"),
                       std::runtime_error);
  Adam opt({w}, AdamOptions{});
  CHECK_THROWS_WITH_AS(opt.set_lr(-1.f), Contains("lr must be >= 0"), std::runtime_error);
  w.set_grad(Tensor::from_vector({1.f, 1.f, 1.f}, {3}));
  opt.steps()[0] = 3;  // a step count without its moments
  CHECK_THROWS_WITH_AS(opt.step(), Contains("has step count 3 but exp_avg undefined"), std::runtime_error);
  opt.exp_avg()[0] = Tensor::zeros({2});
  opt.exp_avg_sq()[0] = Tensor::zeros({3});
  CHECK_THROWS_WITH_AS(opt.step(), Contains("the state of parameter 0 is f32[2]"), std::runtime_error);
  opt.steps().push_back(1);
  CHECK_THROWS_WITH_AS(opt.step(), Contains("expected 1"), std::runtime_error);
}
