#include "report/tsne.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "engine/rng.h"

namespace tailor {

// Row i of the conditional affinities p_{j|i} for the squared distances d[i, .]: binary search on
// beta = 1 / (2 sigma^2) until H(P_i) = -sum_j p log p is log(perplexity) within 1e-5 (at most 100 steps).
static void calibrate_row(const std::vector<double>& d2, int64_t n, int64_t i, double perplexity, double* p) {
  const double target = std::log(perplexity);
  double beta = 1, lo = 0, hi = INFINITY;
  for (int step = 0; step < 100; ++step) {
    double total = 0, weighted = 0;
    for (int64_t j = 0; j < n; ++j) {
      p[j] = j == i ? 0.0 : std::exp(-beta * d2[i * n + j]);
      total += p[j];
      weighted += p[j] * d2[i * n + j];
    }
    if (total <= 0) total = 1e-300;
    // H = log(sum) + beta * E[d2]
    double h = std::log(total) + beta * weighted / total;
    for (int64_t j = 0; j < n; ++j) p[j] /= total;
    if (std::fabs(h - target) < 1e-5) return;
    if (h > target) {  // too flat: sharpen
      lo = beta;
      beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
    } else {
      hi = beta;
      beta = (beta + lo) / 2;
    }
  }
}

// Map affinities and KL: fills num_ij = (1 + |y_i - y_j|^2)^-1, returns sum num; KL uses p.
static double student_t(const std::vector<double>& y, int64_t n, std::vector<double>& num) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    num[i * n + i] = 0;
    for (int64_t j = i + 1; j < n; ++j) {
      double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      double v = 1.0 / (1.0 + dx * dx + dy * dy);
      num[i * n + j] = num[j * n + i] = v;
      total += 2 * v;
    }
  }
  return total;
}

TsneResult tsne_2d(const std::vector<float>& x, int64_t n, int64_t dim, const TsneOptions& opt) {
  if (n < 2 || (int64_t)x.size() != n * dim)
    throw std::runtime_error("tsne: need n >= 2 points of " + std::to_string(dim) + " values, got " +
                             std::to_string(x.size()) + " values for n = " + std::to_string(n));
  if (!(opt.perplexity > 0 && opt.perplexity < n - 1))
    throw std::runtime_error("tsne: perplexity must be in (0, n - 1) = (0, " + std::to_string(n - 1) + "), got " +
                             std::to_string(opt.perplexity));
  for (float v : x)
    if (!std::isfinite(v)) throw std::runtime_error("tsne: input features are not finite");
  // squared distances, scaled by their max to keep the search for beta well conditioned
  std::vector<double> d2(n * n, 0.0);
  double dmax = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      double s = 0;
      for (int64_t k = 0; k < dim; ++k) {
        double d = (double)x[i * dim + k] - x[j * dim + k];
        s += d * d;
      }
      d2[i * n + j] = d2[j * n + i] = s;
      dmax = std::max(dmax, s);
    }
  if (dmax > 0)
    for (auto& v : d2) v /= dmax;
  // joint P, symmetrised
  std::vector<double> P(n * n);
  for (int64_t i = 0; i < n; ++i) calibrate_row(d2, n, i, opt.perplexity, &P[i * n]);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      double v = std::max((P[i * n + j] + P[j * n + i]) / (2.0 * n), 1e-300);
      P[i * n + j] = P[j * n + i] = v;
    }
  for (int64_t i = 0; i < n; ++i) P[i * n + i] = 0;
  d2.clear();
  d2.shrink_to_fit();

  TsneResult r;
  Rng rng(opt.seed);
  r.y.resize(2 * n);
  for (auto& v : r.y) v = 1e-4 * rng.normal();
  std::vector<double> num(n * n), grad(2 * n), step(2 * n, 0.0), gains(2 * n, 1.0);
  for (int it = 0; it < opt.iterations; ++it) {
    const bool early = it < opt.exaggeration_iters;
    const double ex = early ? opt.exaggeration : 1.0, momentum = early ? 0.5 : 0.8;
    double zsum = student_t(r.y, n, num);
    double kl = 0;
    std::fill(grad.begin(), grad.end(), 0.0);
    for (int64_t i = 0; i < n; ++i)  // each pair once: P, Q symmetric, the pair's force opposite on j
      for (int64_t j = i + 1; j < n; ++j) {
        double p = P[i * n + j], q = num[i * n + j] / zsum;
        if (p > 1e-300) kl += 2 * p * std::log(p / std::max(q, 1e-300));
        double f = 4.0 * (ex * p - q) * num[i * n + j];
        double fx = f * (r.y[2 * i] - r.y[2 * j]), fy = f * (r.y[2 * i + 1] - r.y[2 * j + 1]);
        grad[2 * i] += fx, grad[2 * i + 1] += fy;
        grad[2 * j] -= fx, grad[2 * j + 1] -= fy;
      }
    r.kl.push_back(kl);
    for (int64_t k = 0; k < 2 * n; ++k) {
      gains[k] = (grad[k] > 0) != (step[k] > 0) ? gains[k] + 0.2 : gains[k] * 0.8;
      gains[k] = std::max(gains[k], 0.01);
      step[k] = momentum * step[k] - opt.learning_rate * gains[k] * grad[k];
      r.y[k] += step[k];
    }
    // keep the map centred
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; ++i) mx += r.y[2 * i], my += r.y[2 * i + 1];
    for (int64_t i = 0; i < n; ++i) r.y[2 * i] -= mx / n, r.y[2 * i + 1] -= my / n;
  }
  return r;
}

std::vector<int64_t> stratified_sample(const std::vector<int32_t>& labels, int64_t max_points, uint64_t seed) {
  std::map<int32_t, std::vector<int64_t>> by_class;
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back((int64_t)i);
  // the largest cap q with sum_c min(n_c, q) <= max_points
  auto kept = [&](int64_t q) {
    int64_t s = 0;
    for (auto& [c, v] : by_class) s += std::min<int64_t>((int64_t)v.size(), q);
    return s;
  };
  int64_t q = 0, top = 0;
  for (auto& [c, v] : by_class) top = std::max<int64_t>(top, (int64_t)v.size());
  while (q < top && kept(q + 1) <= max_points) ++q;
  Rng rng(seed);
  std::vector<int64_t> out;
  for (auto& [c, v] : by_class) {
    for (int64_t k = (int64_t)v.size() - 1; k > 0; --k) std::swap(v[k], v[rng.below(k + 1)]);  // Fisher-Yates
    out.insert(out.end(), v.begin(), v.begin() + std::min<int64_t>((int64_t)v.size(), q));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tailor
