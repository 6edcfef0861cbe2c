// CAMC's calibrated pooling (layers/camc.h): values against a direct double-precision loop over the
// formula, lambda 0 = GAP bit for bit, the temperature's limits, gradcheck into the feature map and the class
// weights, and the head's evaluation path (the predicted class's map).
#include <doctest/doctest.h>

#include <cmath>

#include "gradcheck.h"
#include "layers/camc.h"

using namespace tailor;
using namespace tailor::test;

namespace {

// f[n] = mean_u phi(u) + lambda sum_u a(u) phi(u), a = softmax_u(cos(phi(u), w_cls) / T), in double
std::vector<double> naive_pool(const Tensor& phi, const Tensor& w, const std::vector<int32_t>& cls, double T,
                               double lambda) {
  const int64_t N = phi.size(0), U = phi.size(1) * phi.size(2), d = phi.size(3), C = w.size(1);
  std::vector<float> p = phi.to_vector(), wv = w.to_vector();
  std::vector<double> out((size_t)(N * d));
  for (int64_t n = 0; n < N; ++n) {
    const int64_t c = cls[(size_t)n];
    double wn = 0;
    for (int64_t k = 0; k < d; ++k) wn += (double)wv[k * C + c] * wv[k * C + c];
    wn = std::sqrt(wn);
    std::vector<double> cam((size_t)U), a((size_t)U);
    double mx = -1e300, z = 0;
    for (int64_t u = 0; u < U; ++u) {
      double dot = 0, pn = 0;
      for (int64_t k = 0; k < d; ++k) {
        const double v = p[(n * U + u) * d + k];
        dot += v * wv[k * C + c];
        pn += v * v;
      }
      cam[u] = dot / (std::sqrt(pn) * wn) / T;
      mx = std::max(mx, cam[u]);
    }
    for (int64_t u = 0; u < U; ++u) z += (a[u] = std::exp(cam[u] - mx));
    for (int64_t k = 0; k < d; ++k) {
      double gap = 0, att = 0;
      for (int64_t u = 0; u < U; ++u) {
        gap += p[(n * U + u) * d + k];
        att += a[u] / z * p[(n * U + u) * d + k];
      }
      out[(size_t)(n * d + k)] = gap / U + lambda * att;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("CAMC pooling equals the formula computed directly, and lambda 0 is GAP bit for bit") {
  Rng r(13);
  Tensor phi = randn({3, 4, 5, 6}, r), w = randn({6, 7}, r);
  const std::vector<int32_t> cls = {2, 0, 6};
  Tensor c = Tensor::from_vector_i32(cls, {3});
  for (double T : {1.0, 0.1}) {
    for (double lambda : {0.5, 2.0}) {
      CAPTURE(T);
      CAPTURE(lambda);
      std::vector<float> got = camc_pool(phi, w, c, T, lambda).to_vector();
      std::vector<double> want = naive_pool(phi, w, cls, T, lambda);
      for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-5));
    }
  }
  CHECK(camc_pool(phi, w, c, 0.3, 0.0).to_vector() == global_avg_pool(phi).to_vector());
  // a very hot attention is uniform: f = (1 + lambda) GAP
  std::vector<float> hot = camc_pool(phi, w, c, 1e4, 1.0).to_vector(), gap = global_avg_pool(phi).to_vector();
  for (size_t i = 0; i < hot.size(); ++i) CHECK(hot[i] == doctest::Approx(2.0 * gap[i]).epsilon(1e-4));
  // a cold one picks the location of the largest cosine with the class
  std::vector<float> cold = camc_pool(phi, w, c, 1e-4, 1.0).to_vector();
  Tensor maps = class_activation_maps(phi, w);
  REQUIRE(maps.shape() == Shape{3, 4, 5, 7});
  std::vector<float> mv = maps.to_vector(), pv = phi.to_vector();
  for (int n = 0; n < 3; ++n) {
    int best = 0;
    for (int u = 1; u < 20; ++u)
      if (mv[(n * 20 + u) * 7 + cls[n]] > mv[(n * 20 + best) * 7 + cls[n]]) best = u;
    for (int k = 0; k < 6; ++k)
      CHECK(cold[n * 6 + k] == doctest::Approx(gap[n * 6 + k] + pv[(n * 20 + best) * 6 + k]).epsilon(1e-4));
  }
  CHECK_THROWS_WITH(camc_pool(phi, randn({5, 7}, r), c, 1.0, 1.0),
                    "camc: class weights must be [d, C] with d = 6, got [5, 7]");
  CHECK_THROWS_WITH(camc_pool(phi, w, c, 0.0, 1.0), "camc: the temperature must be > 0, got 0.000000");
}

TEST_CASE("CAMC pooling: gradcheck into the feature map and the class weights") {
  Rng r(14);
  Tensor c = Tensor::from_vector_i32({1, 3}, {2});
  for (double T : {1.0, 0.2}) {
    CAPTURE(T);
    auto res = gradcheck([&](const std::vector<Tensor>& x) { return camc_pool(x[0], x[1], c, T, 0.8); },
                         {randn({2, 3, 3, 4}, r), randn({4, 5}, r)});
    CHECK_MESSAGE(res.ok, res.first_failure);
  }
}

TEST_CASE("CamcHead: lambda 0 is the plain normalised classifier; evaluation uses the predicted class's map") {
  Rng r(15);
  Tensor phi = randn({4, 3, 3, 8}, r);
  CamcHead plain(8, 5, 16.0, 0.5, 0.0, r);
  CHECK(plain.forward_map(phi, Tensor::from_vector_i32({0, 1, 2, 3}, {4})).to_vector() ==
        plain.forward(global_avg_pool(phi)).to_vector());
  CamcHead head(8, 5, 16.0, 0.5, 1.0, r);
  CHECK(head.s() == 16.0);
  CHECK(head.temperature() == 0.5);
  CHECK(head.lambda() == 1.0);
  for (float v : head.weight.to_vector()) CHECK(std::fabs(v) <= 1.f);
  Tensor predicted = argmax(head.forward(global_avg_pool(phi)));
  CHECK(head.forward_map(phi, Tensor()).to_vector() == head.forward_map(phi, predicted).to_vector());
  // the logits are s times cosines
  for (float z : head.forward_map(phi, Tensor()).to_vector()) CHECK(std::fabs(z) <= 16.f + 1e-4f);
  auto res = gradcheck([&](const std::vector<Tensor>& x) { return head.forward_map(x[0], Tensor::from_vector_i32({4, 0, 1, 1}, {4})); },
                       {randn({4, 3, 3, 8}, r)});
  CHECK_MESSAGE(res.ok, res.first_failure);
  // the head's weight reaches the logits twice (the attention's class map and the classifier): both paths' sum
  const Tensor cls = Tensor::from_vector_i32({4, 0, 1, 1}, {4});
  auto res_w = gradcheck(
      [&](const std::vector<Tensor>& x) {
        head.weight = x[0];
        return head.forward_map(phi, cls);
      },
      {head.weight.clone()});
  CHECK_MESSAGE(res_w.ok, res_w.first_failure);
}
