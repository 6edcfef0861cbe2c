// Balanced Meta-Softmax's Meta Sampler (train/methods/balms.cpp): the closed-form meta-gradient equals the
// official code's second-order autograd through a one-step SGD-with-momentum look-ahead
// (tests/make_balms_fixtures.py, float64), the Gumbel draws sample class c with probability
// n_c q_c / sum_k n_k q_k, and the stage trains and logs its learned rates.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "json_fixture.h"
#include "layers/basic.h"
#include "train/config.h"
#include "train/method.h"
#include "train/methods/balms.h"
#include "train/trainer.h"
#include "train_cli.h"

using namespace tailor;
using nlohmann::json;

namespace {

Tensor matrix(const json& rows) {
  std::vector<float> v;
  for (auto& r : rows)
    for (auto& x : r) v.push_back(x.get<float>());
  return Tensor::from_vector(v, {(int64_t)rows.size(), (int64_t)rows[0].size()});
}

Tensor vec(const json& a) { return Tensor::from_vector(a.get<std::vector<float>>(), {(int64_t)a.size()}); }

// max |a - b| / max |b|
double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  double top = 0, worst = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    top = std::max(top, std::fabs(b[i]));
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  }
  return worst / top;
}

}  // namespace

TEST_CASE("the meta-gradient equals the reference's second-order autograd through the look-ahead") {
  json j = tailor::test::load_json_fixture("balms_reference.json", "tests/make_balms_fixtures.py");
  REQUIRE(j["cases"].size() == 3);
  for (auto& c : j["cases"]) {
    INFO("case " << c["name"].get<std::string>());
    const auto labels = c["labels"].get<std::vector<int32_t>>();
    const auto counts = c["counts"].get<std::vector<int64_t>>();
    const int C = (int)counts.size();
    const int64_t B = c["B"], N = (int64_t)labels.size();
    // the draw with the fixture's noise
    const auto w = c["w"].get<std::vector<double>>();
    std::vector<double> q(C), log_s(N);
    for (int k = 0; k < C; ++k) q[k] = 1.0 / (1.0 + std::exp(-(double)(float)w[k]));
    for (int64_t i = 0; i < N; ++i) log_s[i] = std::log(q[labels[i]]);
    const json& noise = c["noise"];
    BalmsDraw d = balms_draw(log_s, labels, C, B, [&](int64_t b, double* g) {
      for (int64_t i = 0; i < N; ++i) g[i] = noise[b][i].get<double>();
    });
    CHECK(d.chosen == c["chosen"].get<std::vector<int64_t>>());
    // the batch: the chosen rows' features and labels; the classifier and its optimiser state
    const json& feats = c["features"];
    std::vector<float> fv;
    std::vector<int32_t> yv;
    for (int64_t k : d.chosen) {
      for (auto& x : feats[k]) fv.push_back(x.get<float>());
      yv.push_back(labels[k]);
    }
    const int64_t dim = (int64_t)feats[0].size();
    Tensor f = Tensor::from_vector(fv, {B, dim}), y = Tensor::from_vector_i32(yv, {B});
    Rng scratch(0);
    Linear head(dim, C, true, scratch);
    head.weight.copy_from(matrix(c["W"]));
    head.bias.copy_from(vec(c["b"]));
    SgdOptions o{(float)c["lr"].get<double>(), (float)c["momentum"].get<double>(), 0.f,
                 (float)c["weight_decay"].get<double>(), c["nesterov"].get<bool>()};
    SGD opt({head.weight, head.bias}, o);
    const bool first = c["first_step"];
    if (!first) {
      opt.momentum_buffers()[0] = matrix(c["momentum_W"]);
      opt.momentum_buffers()[1] = vec(c["momentum_b"]);
    }
    // the ordinary Balanced-Softmax step: theta' of the look-ahead
    auto loss = make_loss("balanced_softmax", LossConfig{}, counts);
    Tensor z = head.forward(f);
    Tensor zd = z.detach();
    loss->forward(z, y).backward();
    opt.step();
    std::vector<double> wa, ra;
    for (float x : head.weight.to_vector()) wa.push_back(x);
    for (auto& r : c["W_ahead"])
      for (auto& x : r) ra.push_back(x.get<double>());
    CHECK(rel_err(wa, ra) < 1e-5);
    // the meta-gradient
    const std::vector<double> dw = balms_meta_gradient(
        d, labels, q, *loss, zd, y, f, head, matrix(c["meta_features"]),
        Tensor::from_vector_i32(c["meta_labels"].get<std::vector<int32_t>>(), {(int64_t)c["meta_labels"].size()}),
        sgd_gradient_scale(o, o.lr, first));
    const double e = rel_err(dw, c["dw"].get<std::vector<double>>());
    MESSAGE(c["name"].get<std::string>() << ": dL/dw relative error " << e);
    CHECK(e < 1e-5);
  }
}

TEST_CASE("the meta-gradient's lr_eff is d theta' / d gradient of the stage's SGD step (dampening, Nesterov)") {
  // theta' is linear in the gradient g; two steps from the same state with g and g + delta give
  // theta'(g + delta) - theta'(g) = -lr_eff delta, the factor sgd_gradient_scale gives the meta-gradient
  struct Case {
    float momentum, dampening;
    bool nesterov, first;
  };
  for (const Case& k : {Case{0.5f, 0.25f, false, false}, Case{0.5f, 0.25f, false, true}, Case{0.5f, 0.f, true, false},
                        Case{0.f, 0.f, false, false}}) {  // (Nesterov refuses dampening, as torch)
    CAPTURE(k.momentum);
    CAPTURE(k.dampening);
    CAPTURE(k.nesterov);
    CAPTURE(k.first);
    const SgdOptions o{0.5f, k.momentum, k.dampening, 0.125f, k.nesterov};
    auto stepped = [&](float g) {
      Tensor w = Tensor::from_vector({0.75f}, {1});
      w.set_requires_grad(true);
      SGD opt({w}, o);
      if (!k.first && k.momentum != 0.f) opt.momentum_buffers()[0] = Tensor::from_vector({0.375f}, {1});
      w.set_grad(Tensor::from_vector({g}, {1}));
      opt.step();
      return (double)w.to_vector()[0];
    };
    const double delta = 0.25;
    CHECK((stepped(1.f) - stepped(1.25f)) / delta == doctest::Approx(sgd_gradient_scale(o, o.lr, k.first)).epsilon(1e-6));
  }
}

TEST_CASE("Gumbel draws pick class c with probability n_c q_c / sum_k n_k q_k (5 sigma)") {
  const std::vector<int64_t> counts = {50, 20, 10, 5, 2};
  const std::vector<double> q = {0.2, 0.5, 0.7, 0.9, 0.95};
  std::vector<int32_t> labels;
  for (size_t c = 0; c < counts.size(); ++c) labels.insert(labels.end(), counts[c], (int32_t)c);
  std::vector<double> log_s;
  for (int32_t y : labels) log_s.push_back(std::log(q[y]));
  const int64_t N = (int64_t)labels.size(), B = 64, steps = 150;
  std::vector<double> seen(counts.size(), 0);
  for (int64_t s = 0; s < steps; ++s) {
    BalmsDraw d = balms_draw(log_s, labels, (int)counts.size(), B,
                             [&](int64_t b, double* g) { balms_gumbel_row(7, 0, s, b, N, g); });
    for (int64_t j : d.chosen) ++seen[labels[j]];
  }
  double total = 0;
  for (size_t c = 0; c < counts.size(); ++c) total += counts[c] * q[c];
  const double n = (double)(B * steps);
  for (size_t c = 0; c < counts.size(); ++c) {
    const double p = counts[c] * q[c] / total, sigma = std::sqrt(n * p * (1 - p));
    CAPTURE(c);
    CHECK(std::fabs(seen[c] - n * p) < 5 * sigma);
  }
  // the draws are a pure function of (seed, epoch, step, row)
  std::vector<double> a(N), b(N);
  balms_gumbel_row(7, 2, 5, 3, N, a.data());
  balms_gumbel_row(7, 2, 5, 3, N, b.data());
  CHECK(a == b);
}

TEST_CASE("balms trains on the val split's images under meta_set val only (a resume's data check reads it)") {
  auto stage2 = [](const std::string& meta_set) {
    return parse_run_config(resolve_config("", {"stage2.method=balms", "stage2.balms.meta_set=" + meta_set},
                                           false)).stages.at(1);
  };
  const MethodSpec& balms = method_spec("balms");
  REQUIRE(balms.trains_on_val);
  CHECK(balms.trains_on_val(stage2("val")));
  CHECK_FALSE(balms.trains_on_val(stage2("train")));
  for (const MethodSpec& m : method_specs())  // no other method reads val as training data
    if (m.name != "balms") CHECK_MESSAGE(!m.trains_on_val, m.name);  // (a method that does: a test of its own)
}
