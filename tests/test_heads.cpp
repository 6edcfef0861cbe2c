// Classifier heads of decoupled training: tau-normalisation, LWS, MiSLAS' learnable weight scaling and
// the nearest-class-mean classifier.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/rng.h"
#include "gradcheck.h"
#include "layers/heads.h"

using namespace tailor;
using namespace tailor::test;

static std::vector<std::string> names(const NamedTensors& t) {
  std::vector<std::string> r;
  for (auto& [n, v] : t) r.push_back(n);
  return r;
}

static double max_diff(const Tensor& a, const Tensor& b) {
  auto va = a.to_vector(), vb = b.to_vector();
  REQUIRE(va.size() == vb.size());
  double d = 0;
  for (size_t i = 0; i < va.size(); ++i) d = std::max(d, (double)std::fabs(va[i] - vb[i]));
  return d;
}

// A "trained" stage-1 classifier: random weights with very different row norms, non-zero bias.
static std::shared_ptr<Linear> stage1_classifier(int64_t in, int64_t out, Rng& rng) {
  auto lin = std::make_shared<Linear>(in, out, true, global_rng());
  normal_(lin->weight, 0.f, 1.f, rng);
  for (int64_t j = 0; j < out; ++j)
    for (int64_t k = 0; k < in; ++k) lin->weight.f32()[j * in + k] *= 0.2f + 0.5f * (float)j;
  normal_(lin->bias, 0.f, 1.f, rng);
  return lin;
}

TEST_CASE("tau-norm with tau = 0 equals the stage-1 logits minus the bias") {
  Rng rng(1);
  auto lin = stage1_classifier(8, 5, rng);
  Tensor x = randn({6, 8}, rng);
  auto st = global_rng().state();
  auto head = tau_normalize(*lin, 0.0);
  CHECK(global_rng().state().s[0] == st.s[0]);  // building the head draws nothing
  CHECK(names(head->named_parameters()) == std::vector<std::string>{"weight"});
  CHECK_FALSE(head->bias.defined());
  Tensor stage1 = lin->forward(x);
  Tensor minus_bias = sub(stage1, lin->bias);
  CHECK(max_diff(head->forward(x), minus_bias) < 1e-5);
}

TEST_CASE("tau-norm rescales every class row by ||w_j||^-tau") {
  Rng rng(2);
  auto lin = stage1_classifier(8, 5, rng);
  for (double tau : {0.5, 1.0, 2.0}) {
    auto head = tau_normalize(*lin, tau);
    for (int64_t j = 0; j < 5; ++j) {
      double n0 = 0, n1 = 0;
      for (int64_t k = 0; k < 8; ++k) {
        n0 += std::pow(lin->weight.f32()[j * 8 + k], 2);
        n1 += std::pow(head->weight.f32()[j * 8 + k], 2);
      }
      CHECK(std::sqrt(n1) == doctest::Approx(std::pow(std::sqrt(n0), 1.0 - tau)).epsilon(1e-5));
    }
  }
}

TEST_CASE("LWS with all scales 1 equals the frozen classifier") {
  Rng rng(3);
  auto lin = stage1_classifier(8, 5, rng);
  LWSClassifier lws(*lin);
  CHECK(names(lws.named_parameters()) == std::vector<std::string>{"scales", "fc.weight", "fc.bias"});
  Tensor x = randn({6, 8}, rng);
  CHECK(max_diff(lws.forward(x), lin->forward(x)) == 0.0);

  // only the scales train: the copied classifier is frozen
  CHECK(lws.scales.requires_grad());
  CHECK_FALSE(lws.fc->weight.requires_grad());
  CHECK_FALSE(lws.fc->bias.requires_grad());
  sum_all(lws.forward(x)).backward();
  CHECK(lws.scales.grad().defined());
  CHECK_FALSE(lws.fc->weight.grad().defined());
  // d sum / d f_j = sum_i (x W^T + b)_ij
  auto g = lws.scales.grad().to_vector();
  auto col = sum(lin->forward(x), 0).to_vector();
  for (size_t j = 0; j < g.size(); ++j) CHECK(g[j] == doctest::Approx(col[j]).epsilon(1e-5));

  // logits = f * (x W^T + b) for non-unit scales, and the finite-difference check
  Tensor f = randn({5}, rng);
  lws.scales.copy_from(f);
  CHECK(max_diff(lws.forward(x), mul(lin->forward(x), f)) < 1e-5);
  CHECK_GRAD(
      gradcheck([&](const std::vector<Tensor>& in) { return mul(linear(in[0], lws.fc->weight, lws.fc->bias), in[1]); },
                {x.clone(), f.clone()}));
}

TEST_CASE("NCM classifies separable features right") {
  Rng rng(5);
  const int64_t C = 5, d = 16, per_class = 30;
  // class centres far apart, features = centre + small noise; classes have different sizes and norms
  Tensor centres = randn({C, d}, rng, 3.f);
  auto sample = [&](int64_t n_per, Tensor& feats, Tensor& labels) {
    std::vector<float> f;
    std::vector<int32_t> y;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < n_per * (c + 1) / C + 1; ++i) {
        for (int64_t k = 0; k < d; ++k) f.push_back(centres.f32()[c * d + k] + 0.3f * (float)rng.normal());
        y.push_back((int32_t)c);
      }
    feats = Tensor::from_vector(f, {(int64_t)y.size(), d});
    labels = Tensor::from_vector_i32(y, {(int64_t)y.size()});
  };
  Tensor train_x, train_y, test_x, test_y;
  sample(per_class, train_x, train_y);
  sample(per_class, test_x, test_y);
  for (auto [ft, dt] : std::vector<std::pair<const char*, const char*>>{
           {"cl2n", "l2"}, {"l2n", "l2"}, {"un", "l2"}, {"cl2n", "cos"}, {"cl2n", "cosine"}, {"l2n", "cosine"}}) {
    INFO(ft << " / " << dt);
    NCMClassifier ncm(d, C, ft, dt);
    ncm.fit(train_x, train_y);
    Tensor scores = ncm.forward(test_x);
    CHECK(scores.shape() == Shape{test_x.size(0), C});
    CHECK(argmax(scores).to_vector_i32() == test_y.to_vector_i32());
  }
  // "un": the centroids are the plain class means, and buffers keep the reference's names
  NCMClassifier ncm(d, C, "un", "l2");
  ncm.fit(train_x, train_y);
  CHECK(names(ncm.named_buffers()) == std::vector<std::string>{"centroids", "feat_mean"});
  double s = 0;
  int n = 0;
  for (int64_t i = 0; i < train_x.size(0); ++i)
    if (train_y.i32()[i] == 2) s += train_x.f32()[i * d + 3], ++n;
  CHECK(ncm.centroids.f32()[2 * d + 3] == doctest::Approx(s / n).epsilon(1e-5));
}

TEST_CASE("NCM errors") {
  NCMClassifier ncm(4, 3);
  Tensor x = Tensor::zeros({2, 4});
  CHECK_THROWS_WITH(ncm.fit(x, Tensor::from_vector_i32({0, 1}, {2})),
                    doctest::Contains("class 2 has no training feature"));
  CHECK_THROWS_WITH(NCMClassifier(4, 3, "l3n"), doctest::Contains("feat_type must be un, l2n or cl2n"));
  CHECK_THROWS_WITH(ncm.forward(Tensor::zeros({2, 5})), doctest::Contains("features must be [N, 4]"));
}
