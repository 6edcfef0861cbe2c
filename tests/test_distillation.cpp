// The pieces of the distillation methods (CBD, SSD): concatenation (gradcheck), the EMA update (closed form
// after k steps), the label mismatch mask, the queue of labelled keys (exact enqueue / dequeue), CBD's
// feature distillation and SSD's label-masked MoCo loss against float64 PyTorch references
// (tests/make_distill_fixtures.py), the heads, and CBD's resample sampler (per-pass copies, per-class counts).
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "data/samplers.h"
#include "gradcheck.h"
#include "json_fixture.h"
#include "layers/distill_heads.h"
#include "losses/contrastive.h"
#include "losses/distillation.h"

using namespace tailor;
using namespace tailor::test;
using json = nlohmann::json;

namespace {

json load_fixture(const std::string& name) { return load_json_fixture(name, "tests/make_distill_fixtures.py"); }

Tensor matrix(const json& rows) {
  std::vector<float> v;
  int64_t r = 0, c = 0;
  for (auto& row : rows) {
    c = (int64_t)row.size();
    for (auto& x : row) v.push_back(x.get<float>());
    ++r;
  }
  return Tensor::from_vector(v, {r, c});
}

Tensor labels_of(const json& a) {
  std::vector<int32_t> v;
  for (auto& x : a) v.push_back(x.get<int32_t>());
  return Tensor::from_vector_i32(v, {(int64_t)v.size()});
}

double rel_err(const std::vector<float>& got, const json& ref_rows) {
  double num = 0, den = 0;
  size_t i = 0;
  for (auto& row : ref_rows)
    for (auto& x : row) {
      const double r = x.get<double>();
      num += (got[i] - r) * (got[i] - r);
      den += r * r;
      ++i;
    }
  REQUIRE(i == got.size());
  return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace

TEST_CASE("concat: values along every dim, and finite-difference gradients") {
  Rng r(3);
  Tensor a = randn({2, 3, 4}, r), b = randn({2, 1, 4}, r), c = randn({2, 2, 4}, r);
  Tensor y = concat({a, b, c}, 1);
  REQUIRE(y.shape() == Shape{2, 6, 4});
  std::vector<float> va = a.to_vector(), vb = b.to_vector(), vc = c.to_vector(), vy = y.to_vector();
  for (int n = 0; n < 2; ++n)
    for (int j = 0; j < 6; ++j)
      for (int k = 0; k < 4; ++k) {
        const float want = j < 3 ? va[(n * 3 + j) * 4 + k] : j < 4 ? vb[n * 4 + k] : vc[(n * 2 + j - 4) * 4 + k];
        CHECK(vy[(n * 6 + j) * 4 + k] == want);
      }
  CHECK(concat({a, a}, 0).shape() == Shape{4, 3, 4});
  CHECK(concat({a, a}, -1).shape() == Shape{2, 3, 8});
  CHECK_THROWS_WITH(concat({a, randn({2, 3, 5}, r)}, 1),
                    "concat: input 1 has shape [2, 3, 5], input 0 [2, 3, 4] (they may differ in dim 1 only)");
  for (int64_t dim : {0, 1, 2}) {
    CAPTURE(dim);
    Shape sb = {2, 3, 4};
    sb[dim] = 2;
    auto res = gradcheck([dim](const std::vector<Tensor>& x) { return concat({x[0], x[1], x[2]}, dim); },
                         {randn({2, 3, 4}, r), randn(sb, r), randn({2, 3, 4}, r)}, {true, false, true});
    CHECK_MESSAGE(res.ok, res.first_failure);
  }
}

TEST_CASE("ema_: one update has PyTorch's roundings, and k updates equal the closed form") {
  // y_k = m^k y_0 + (1 - m) sum_{j=1..k} m^(k-j) x_j   (MoCo's key encoder after k steps)
  Rng r(5);
  const double m = 0.9;
  Tensor y = randn({50}, r);
  const std::vector<float> y0 = y.to_vector();
  std::vector<std::vector<float>> xs;
  for (int k = 0; k < 20; ++k) {
    Tensor x = randn({50}, r);
    xs.push_back(x.to_vector());
    const std::vector<float> before = y.to_vector();
    ema_(y, x, m);
    const std::vector<float> after = y.to_vector();
    for (int i = 0; i < 50; ++i) {
      const float a = before[i] * (float)m, b = xs.back()[i] * (float)(1.0 - m);  // two float products, then the sum
      CHECK(after[i] == a + b);
    }
  }
  const std::vector<float> yk = y.to_vector();
  for (int i = 0; i < 50; ++i) {
    double want = std::pow(m, 20) * y0[i];
    for (int j = 1; j <= 20; ++j) want += (1 - m) * std::pow(m, 20 - j) * xs[j - 1][i];
    CHECK(yk[i] == doctest::Approx(want).epsilon(1e-5));
  }
  Tensor z = Tensor::zeros({3});
  CHECK_THROWS_WITH(ema_(z, Tensor::zeros({4}), 0.5), doctest::Contains("ema_"));
}

TEST_CASE("ema_update: each parameter of the target follows the source's namesake; buffers stay") {
  Rng r(1), s(2);
  MlpProjection target(4, 5, 3, r), source(4, 5, 3, s);
  const auto t0 = target.state_dict();
  std::map<std::string, std::vector<float>> before;
  for (auto& [n, t] : t0) before[n] = t.to_vector();
  ema_update(target, source, 0.75);
  auto src = source.state_dict();
  for (auto& [name, t] : target.state_dict()) {
    CAPTURE(name);
    std::vector<float> got = t.to_vector(), x;
    for (auto& [n2, t2] : src)
      if (n2 == name) x = t2.to_vector();
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == before[name][i] * 0.75f + x[i] * 0.25f);
  }
  CosineClassifier other(4, 3, 20, r);
  CHECK_THROWS_WITH(ema_update(target, other, 0.5), "ema_update: the source has no parameter 0.weight");
}

TEST_CASE("not_equal_outer marks the queue keys of another class than each query") {
  Tensor m = not_equal_outer(Tensor::from_vector_i32({0, 2}, {2}), Tensor::from_vector_i32({2, 0, 0, 1}, {4}));
  CHECK(m.shape() == Shape{2, 4});
  CHECK(m.to_vector() == std::vector<float>{1, 0, 0, 1, 0, 1, 1, 1});
}

TEST_CASE("CBD's feature distillation equals the reference (value and gradient), one and three teachers") {
  json j = load_fixture("distill_reference.json");
  REQUIRE(j["cbd"].size() == 2);
  for (auto& c : j["cbd"]) {
    INFO("case " << c["name"].get<std::string>());
    Tensor fs = matrix(c["student"]);
    fs.set_requires_grad(true);
    std::vector<Tensor> parts;
    for (auto& t : c["teachers"]) parts.push_back(l2_normalize(matrix(t), 1));  // each teacher normalised
    Tensor ft = parts.size() == 1 ? parts[0] : concat(parts, 1);
    Tensor L = cosine_feature_distillation(fs, ft);
    L.backward();
    const double ref = c["loss"].get<double>();
    CHECK(std::fabs(L.item() - ref) / std::fabs(ref) < 1e-5);
    CHECK(rel_err(fs.grad().to_vector(), c["grad"]) < 1e-5);
  }
  Rng r(4);
  Tensor f = randn({3, 6}, r);
  CHECK(cosine_feature_distillation(f, scale(f, 7.f)).item() == doctest::Approx(0.0).epsilon(1e-6));  // same direction
  CHECK(cosine_feature_distillation(f, neg(f)).item() == doctest::Approx(2.0).epsilon(1e-6));         // opposite
}

TEST_CASE("SSD's label-masked MoCo loss equals the reference (value and gradient), same-class queues included") {
  json j = load_fixture("distill_reference.json");
  REQUIRE(j["moco"].size() == 4);
  for (auto& c : j["moco"]) {
    INFO("case " << c["name"].get<std::string>());
    Tensor q = matrix(c["q"]), k = matrix(c["k"]), queue = matrix(c["queue"]);
    q.set_requires_grad(true);
    Tensor mask = not_equal_outer(labels_of(c["labels"]), labels_of(c["queue_labels"]));
    Tensor L = label_masked_moco_loss(q, k, queue, mask, c["temperature"].get<double>());
    L.backward();
    const double ref = c["loss"].get<double>();
    CHECK(std::fabs(L.item() - ref) / std::fabs(ref) < 1e-5);
    CHECK(rel_err(q.grad().to_vector(), c["grad"]) < 1e-5);
  }
  // a query whose every queue key shares its class has only its positive: loss 0, no gradient
  Rng r(8);
  Tensor q = l2_normalize(randn({1, 4}, r), 1), k = l2_normalize(randn({1, 4}, r), 1);
  q.set_requires_grad(true);
  Tensor mask = not_equal_outer(Tensor::from_vector_i32({3}, {1}), Tensor::from_vector_i32({3, 3, 3}, {3}));
  Tensor L = label_masked_moco_loss(q, k, l2_normalize(randn({3, 4}, r), 1), mask, 0.2);
  L.backward();
  CHECK(L.item() == doctest::Approx(0.0).epsilon(1e-6));
  for (float g : q.grad().to_vector()) CHECK(std::fabs(g) < 1e-6);
}

TEST_CASE("distillation losses pass the finite-difference gradient check (student side)") {
  Rng r(21);
  // KD's T^2 KL: a larger step, its float32 value is a small difference of larger terms
  Tensor zt = randn({3, 5}, r);
  CHECK_GRAD(gradcheck([&](const std::vector<Tensor>& v) { return kd_soft_target_loss(v[0], zt, 4.0); }, {randn({3, 5}, r, 3.f)}, {}, 3e-2f));
  Tensor ft = randn({3, 6}, r);
  CHECK_GRAD(gradcheck([&](const std::vector<Tensor>& v) { return cosine_feature_distillation(v[0], ft); }, {randn({3, 6}, r)}));
  Tensor k = l2_normalize(randn({3, 4}, r), 1), queue = l2_normalize(randn({6, 4}, r), 1);
  Tensor mask = not_equal_outer(Tensor::from_vector_i32({0, 1, 2}, {3}), Tensor::from_vector_i32({0, 0, 1, 2, 2, 1}, {6}));
  CHECK_GRAD(gradcheck([&](const std::vector<Tensor>& v) { return label_masked_moco_loss(v[0], k, queue, mask, 0.2); },
                       {l2_normalize(randn({3, 4}, r), 1)}));
}

TEST_CASE("the labelled key queue: starts random with labels 0, enqueues in order, wraps, drops the oldest") {
  Rng r(9);
  LabeledKeyQueue Q(5, 3, r, Device::cpu());
  for (int32_t y : Q.labels.to_vector_i32()) CHECK(y == 0);
  std::vector<float> init = Q.keys.to_vector();
  for (int i = 0; i < 5; ++i) {
    double n = 0;
    for (int d = 0; d < 3; ++d) n += (double)init[i * 3 + d] * init[i * 3 + d];
    CHECK(n == doctest::Approx(1.0).epsilon(1e-6));  // unit keys
  }
  auto batch = [](float base, int n) {
    std::vector<float> v;
    for (int i = 0; i < n; ++i)
      for (int d = 0; d < 3; ++d) v.push_back(base + i + 0.1f * d);
    return Tensor::from_vector(v, {n, 3});
  };
  Q.enqueue(batch(10, 2), Tensor::from_vector_i32({1, 2}, {2}));  // slots 0, 1
  CHECK(Q.ptr == 2);
  Q.enqueue(batch(20, 2), Tensor::from_vector_i32({3, 4}, {2}));  // slots 2, 3
  Q.enqueue(batch(30, 3), Tensor::from_vector_i32({5, 6, 7}, {3}));  // slot 4, then wraps to 0, 1
  CHECK(Q.ptr == 2);
  CHECK(Q.labels.to_vector_i32() == std::vector<int32_t>{6, 7, 3, 4, 5});
  const std::vector<float> k = Q.keys.to_vector();
  const std::vector<float> want_rows = {31, 32, 20, 21, 30};  // each row's first value
  for (int i = 0; i < 5; ++i) {
    CHECK(k[i * 3] == want_rows[i]);
    CHECK(k[i * 3 + 2] == want_rows[i] + 0.2f);
  }
  CHECK_THROWS_WITH(Q.enqueue(batch(0, 6), Tensor::from_vector_i32({0, 0, 0, 0, 0, 0}, {6})),
                    "LabeledKeyQueue: a batch of 6 keys does not fit a queue of 5");
}

TEST_CASE("CBD's heads: the cosine classifier is sigma * cosine, the projected head normalises its embedding") {
  Rng r(11);
  CosineClassifier cls(4, 3, 20.0, r);
  CHECK(cls.scale() == 20.0);
  CHECK(cls.named_parameters().size() == 1);  // sigma is a buffer: not trained
  const float limit = std::sqrt(6.f / 7.f);
  for (float w : cls.weight.to_vector()) CHECK(std::fabs(w) <= limit);
  Tensor x = randn({2, 4}, r);
  std::vector<float> z = cls.forward(x).to_vector(), xv = x.to_vector(), wv = cls.weight.to_vector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      double dot = 0, nx = 0, nw = 0;
      for (int k = 0; k < 4; ++k) {
        dot += (double)xv[i * 4 + k] * wv[k * 3 + j];
        nx += (double)xv[i * 4 + k] * xv[i * 4 + k];
        nw += (double)wv[k * 3 + j] * wv[k * 3 + j];
      }
      CHECK(z[i * 3 + j] == doctest::Approx(20 * dot / std::sqrt(nx * nw)).epsilon(1e-5));
    }
  ProjectedCosineHead head(4, 6, 3, 20.0, r);
  CHECK(head.proj_dim() == 6);
  for (float b : head.proj->bias.to_vector()) CHECK(b == 0.f);
  std::vector<float> e = head.embed(x).to_vector();
  for (int i = 0; i < 2; ++i) {
    double n = 0;
    for (int k = 0; k < 6; ++k) n += (double)e[i * 6 + k] * e[i * 6 + k];
    if (n > 0) CHECK(n == doctest::Approx(1.0).epsilon(1e-5));
  }
  auto res = gradcheck([&head](const std::vector<Tensor>& in) { return head.forward(in[0]); }, {randn({3, 4}, r)});
  CHECK_MESSAGE(res.ok, res.first_failure);
}

TEST_CASE("CBD's resample sampler: each pass keeps head examples at most once and repeats tail examples "
          "floor(r) or floor(r) + 1 times; every class gets N/C draws per epoch on average") {
  std::vector<int32_t> labels;
  const std::vector<int64_t> counts = {60, 25, 10, 4, 1};  // N = 100, C = 5: r = 1/3, 0.8, 2, 5, 20
  for (int c = 0; c < 5; ++c)
    for (int64_t i = 0; i < counts[c]; ++i) labels.push_back(c);
  const double N = 100;
  for (int pass = 0; pass < 20; ++pass) {
    data::CounterRng rng(data::hash_combine(7, pass));
    std::vector<int64_t> p = data::resample_pass(labels, counts, rng);
    std::vector<int64_t> copies(labels.size(), 0);
    for (int64_t i : p) ++copies[(size_t)i];
    for (size_t i = 0; i < labels.size(); ++i) {
      const double r = (1.0 / 5) / (counts[labels[i]] / N);
      if (r < 1) CHECK(copies[i] <= 1);
      else CHECK((copies[i] == (int64_t)std::floor(r) || copies[i] == (int64_t)std::floor(r) + 1));
    }
  }
  data::SamplerConfig sc;
  sc.kind = data::SamplerKind::Resample;
  sc.seed = 3;
  data::Sampler s(labels, 5, sc);
  CHECK(s.length() == 100);
  for (double p : s.class_probabilities()) CHECK(p == doctest::Approx(0.2));
  std::vector<double> per_class(5, 0);
  const int epochs = 400;
  for (int e = 0; e < epochs; ++e)
    for (int64_t i : s.epoch_indices(e)) per_class[(size_t)labels[(size_t)i]] += 1;
  for (int c = 0; c < 5; ++c) {
    CAPTURE(c);
    const double mean = per_class[c] / epochs;  // expected 20 draws of each class per epoch
    CHECK(std::fabs(mean - 20.0) < 5 * std::sqrt(20.0 / epochs) + 0.5);
  }
}
