// Finite-difference gradient check for float32 ops (dlib's test_layer criterion):
// loss = sum(f(inputs) * r) for a fixed random r, accumulated in double; central differences with
// step eps for every input element. An element fails when |rel| > 0.05 AND |abs| > 0.006; the check
// fails if any element fails or the mean relative error exceeds 0.003. Relative errors are taken
// against max(|num|, |ana|, 1% of the input's largest |ana|), so float32 noise on gradients that are
// ~0 by structure (e.g. batch-norm inputs) does not count as relative error.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"

namespace tailor::test {

inline Tensor randn(const Shape& s, Rng& rng, float stdv = 1.f) {
  Tensor t = Tensor::empty(s);
  normal_(t, 0.f, stdv, rng);
  return t;
}

// Values bounded away from 0 (for relu/abs kinks): sign * U(0.1, 1)
inline Tensor rand_away_from_zero(const Shape& s, Rng& rng) {
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = (rng.uniform() < 0.5f ? -1.f : 1.f) * rng.uniform(0.1f, 1.f);
  return t;
}

struct GradcheckResult {
  bool ok = true;
  double max_abs = 0, mean_rel = 0;
  std::string first_failure;
};

inline double weighted_sum(const Tensor& out, const std::vector<float>& r) {
  std::vector<float> v = out.to_vector();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += (double)v[i] * r[i];
  return s;
}

// f maps inputs (which require grad where check[i]) to one output tensor.
inline GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                 std::vector<Tensor> inputs, std::vector<bool> check = {}, float eps = 1e-3f,
                                 uint64_t seed = 7) {
  if (check.empty()) check.assign(inputs.size(), true);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (check[i]) inputs[i].set_requires_grad(true);
  Tensor out = f(inputs);
  Rng rng(seed);
  std::vector<float> r(out.numel());
  for (auto& v : r) v = (float)rng.normal();
  Tensor rt = Tensor::from_vector(r, out.shape());
  for (auto& t : inputs)
    if (t.defined()) t.zero_grad();
  Tensor loss = sum_all(mul(out, rt));
  loss.backward();
  GradcheckResult res;
  double rel_sum = 0;
  int64_t count = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!check[i]) continue;
    Tensor x = inputs[i];
    Tensor g = x.grad();
    REQUIRE_MESSAGE(g.defined(), "no gradient reached input " << i);
    std::vector<float> ana = g.to_vector();
    double floor = 1e-6;
    for (float a : ana) floor = std::max(floor, 0.01 * std::fabs((double)a));
    for (int64_t k = 0; k < x.numel(); ++k) {
      float orig = x.f32()[k];
      double lp, lm;
      {
        NoGradGuard ng;
        x.f32()[k] = orig + eps;
        lp = weighted_sum(f(inputs), r);
        x.f32()[k] = orig - eps;
        lm = weighted_sum(f(inputs), r);
        x.f32()[k] = orig;
      }
      double num = (lp - lm) / (2.0 * eps);
      double abs_err = std::fabs(num - ana[k]);
      double rel = abs_err / std::max(floor, std::max(std::fabs(num), std::fabs((double)ana[k])));
      res.max_abs = std::max(res.max_abs, abs_err);
      rel_sum += std::min(rel, 1.0);
      ++count;
      if (rel > 0.05 && abs_err > 0.006 && res.ok) {
        res.ok = false;
        res.first_failure = "input " + std::to_string(i) + " element " + std::to_string(k) +
                            ": numeric " + std::to_string(num) + " analytic " + std::to_string(ana[k]);
      }
    }
  }
  res.mean_rel = count ? rel_sum / count : 0;
  if (res.mean_rel > 0.003 && res.ok) {
    res.ok = false;
    res.first_failure = "mean relative error " + std::to_string(res.mean_rel);
  }
  return res;
}

#define CHECK_GRAD(res)                                                                             \
  do {                                                                                              \
    auto _r = (res);                                                                                \
    CHECK_MESSAGE(_r.ok, _r.first_failure << " (max abs " << _r.max_abs << ", mean rel " << _r.mean_rel \
                                          << ")");                                                  \
  } while (0)

}  // namespace tailor::test
