#include "train/lab.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "engine/autograd.h"
#include "layers/basic.h"
#include "train/adam.h"

namespace tailor {

LabSet gaussian_lab_set(int C, int64_t n_max, double ratio, int64_t dim, int64_t test_per_class, uint64_t seed) {
  TAILOR_CHECK(C >= 2 && n_max >= 1 && ratio >= 1 && dim >= 2 && test_per_class >= 1,
               "gaussian_lab_set: need C >= 2, n_max >= 1, ratio >= 1, dim >= 2, test_per_class >= 1");
  Rng rng(seed);
  LabSet s;
  s.dim = dim;
  std::vector<double> mean(C * dim);
  for (int c = 0; c < C; ++c) {  // mean: 3 x a random unit direction
    double norm = 0;
    for (int64_t d = 0; d < dim; ++d) norm += std::pow(mean[c * dim + d] = rng.normal(), 2);
    for (int64_t d = 0; d < dim; ++d) mean[c * dim + d] *= 3.0 / std::sqrt(norm);
  }
  auto draw = [&](int c, std::vector<float>& x, std::vector<int32_t>& y) {
    for (int64_t d = 0; d < dim; ++d) x.push_back((float)(mean[c * dim + d] + rng.normal()));
    y.push_back(c);
  };
  for (int c = 0; c < C; ++c) {
    int64_t n = std::max<int64_t>(1, std::llround(n_max * std::pow(ratio, -(double)c / (C - 1))));
    s.counts.push_back(n);
    s.class_names.push_back("class " + std::to_string(c));
    for (int64_t i = 0; i < n; ++i) draw(c, s.train_x, s.train_y);
    for (int64_t i = 0; i < test_per_class; ++i) draw(c, s.test_x, s.test_y);
  }
  // the counts drawn, and their own ratio (n_max 1 gives 1 .. 1 whatever the ratio asked)
  char imbalance[32];
  std::snprintf(imbalance, sizeof imbalance, "%g", (double)s.counts.front() / (double)s.counts.back());
  s.name = "Gaussian mixture (" + std::to_string(C) + " classes, " + std::to_string(dim) + "-D, counts " +
           std::to_string(s.counts.front()) + " .. " + std::to_string(s.counts.back()) + ": imbalance " + imbalance + ")";
  return s;
}

std::vector<LabVariant> lab_variants() {
  std::vector<LabVariant> v;
  LossConfig plain;
  v.push_back({"ce", "ce", plain, false, "softmax cross-entropy, linear head"});
  LossConfig focal;
  focal.gamma = 2;
  v.push_back({"focal", "focal", focal, false, "gamma 2, linear head"});
  LossConfig ldam;
  ldam.s = 30, ldam.max_m = 0.5;
  v.push_back({"ldam", "ldam", ldam, true, "s 30, max_m 0.5, cosine head"});
  LossConfig la;
  la.tau = 1;
  v.push_back({"logit_adjust", "logit_adjust", la, false,
               "tau 1, linear head (the same loss as balanced_softmax: log pi_j and log n_j differ by a constant)"});
  v.push_back({"balanced_softmax", "balanced_softmax", plain, false, "z + log n_j, linear head"});
  LossConfig gcl = gcl_cifar_stage1();
  v.push_back({"gcl", "gcl", gcl, true, "s 30, m 0, nu 0.5 (stage-1 recipe), cosine head"});
  LossConfig nocloud = gcl;
  nocloud.noise_mul = 0;
  v.push_back({"gcl_no_cloud", "gcl", nocloud, true, "s 30, m 0, nu 0: the same cosine loss without the cloud"});
  return v;
}

std::vector<double> angular_spread(const std::vector<float>& f, const std::vector<int32_t>& labels, int C) {
  std::vector<double> sx(C, 0), sy(C, 0), total(C, 0), n(C, 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    double x = f[2 * i], y = f[2 * i + 1], r = std::hypot(x, y);
    if (r == 0) continue;  // no direction
    sx[labels[i]] += x / r, sy[labels[i]] += y / r;
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    int c = labels[i];
    double x = f[2 * i], y = f[2 * i + 1], r = std::hypot(x, y), m = std::hypot(sx[c], sy[c]);
    if (r == 0 || m == 0) continue;
    double cosine = std::clamp((x * sx[c] + y * sy[c]) / (r * m), -1.0, 1.0);
    total[c] += std::acos(cosine) * 180.0 / M_PI;
    n[c] += 1;
  }
  std::vector<double> out(C);
  for (int c = 0; c < C; ++c) out[c] = n[c] > 0 ? total[c] / n[c] : NAN;
  return out;
}

std::vector<int32_t> lab_predict(const LabResult& r, const std::vector<float>& f) {
  const int C = (int)r.head_b.size();
  std::vector<int32_t> pred(f.size() / 2);
  for (size_t i = 0; i < pred.size(); ++i) {
    double x = f[2 * i], y = f[2 * i + 1], best = -INFINITY;
    for (int c = 0; c < C; ++c) {
      double wx = r.head_w[2 * c], wy = r.head_w[2 * c + 1];
      double s = r.variant.cosine_head ? (x * wx + y * wy) / (std::hypot(x, y) * std::hypot(wx, wy) + 1e-30)
                                       : x * wx + y * wy + r.head_b[c];
      if (s > best) best = s, pred[i] = c;
    }
  }
  return pred;
}

std::vector<double> region_widths(const LabResult& r, double radius) {
  std::vector<float> ring;
  for (int k = 0; k < 3600; ++k) {
    double a = k * M_PI / 1800;
    ring.push_back((float)(radius * std::cos(a))), ring.push_back((float)(radius * std::sin(a)));
  }
  std::vector<double> width(r.head_b.size(), 0.0);
  for (int32_t p : lab_predict(r, ring)) width[p] += 0.1;
  return width;
}

namespace {

// The MLP of lab.h; `head` is a Linear(2, C) or a NormedLinear(2, C).
struct LabNet {
  Linear l1, l2, l3;
  std::shared_ptr<Linear> lin;
  std::shared_ptr<NormedLinear> cos;
  LabNet(int64_t D, int64_t C, bool cosine, Rng& rng) : l1(D, 128, true, rng), l2(128, 64, true, rng), l3(64, 2, true, rng) {
    if (cosine) cos = std::make_shared<NormedLinear>(2, C, rng);
    else lin = std::make_shared<Linear>(2, C, true, rng);
  }
  Tensor features(const Tensor& x) { return l3(relu(l2(relu(l1(x))))); }
  Tensor head(const Tensor& f) { return cos ? cos->forward(f) : lin->forward(f); }
  std::vector<Tensor> parameters() {
    std::vector<Tensor> p;
    for (Module* m : {(Module*)&l1, (Module*)&l2, (Module*)&l3, cos ? (Module*)cos.get() : (Module*)lin.get()})
      for (auto& t : m->parameters()) p.push_back(t);
    return p;
  }
};

// rows `idx[from, to)` of x [N, D] as a tensor
Tensor gather(const std::vector<float>& x, int64_t D, const std::vector<int64_t>& idx, size_t from, size_t to) {
  std::vector<float> b((to - from) * D);
  for (size_t k = from; k < to; ++k) std::copy_n(x.begin() + idx[k] * D, D, b.begin() + (k - from) * D);
  return Tensor::from_vector(b, {(int64_t)(to - from), D});
}

// 2-D features of every row of x, in batches, without gradient
std::vector<float> all_features(LabNet& net, const std::vector<float>& x, int64_t D) {
  NoGradGuard ng;
  const int64_t N = (int64_t)x.size() / D;
  std::vector<int64_t> idx(N);
  for (int64_t i = 0; i < N; ++i) idx[i] = i;
  std::vector<float> out;
  for (int64_t s = 0; s < N; s += 1024) {
    std::vector<float> f = net.features(gather(x, D, idx, s, std::min(N, s + 1024))).to_vector();
    out.insert(out.end(), f.begin(), f.end());
  }
  return out;
}

}  // namespace

LabResult run_lab_variant(const LabSet& set, const LabVariant& v, const LabOptions& opt, const std::vector<int>& groups) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t D = set.dim, C = (int64_t)set.counts.size(), N = (int64_t)set.train_y.size();
  TAILOR_CHECK((int64_t)groups.size() == C, "lab: ", groups.size(), " group entries for ", C, " classes");
  Rng rng(opt.seed);
  LabNet net(D, C, v.cosine_head, rng);
  Rng loss_rng = Rng::keyed(opt.seed, 1);
  std::unique_ptr<Loss> loss = make_loss(v.loss, v.cfg, set.counts, &loss_rng);
  AdamOptions ao;
  ao.lr = opt.lr;
  Adam adam(net.parameters(), ao);
  std::vector<int64_t> order(N);
  for (int64_t i = 0; i < N; ++i) order[i] = i;
  Rng shuffle = Rng::keyed(opt.seed, 2);
  for (int e = 0; e < opt.epochs; ++e) {
    for (int64_t k = N - 1; k > 0; --k) std::swap(order[k], order[shuffle.below(k + 1)]);
    for (int64_t s = 0; s < N; s += opt.batch) {
      const size_t to = (size_t)std::min(N, s + opt.batch);
      std::vector<int32_t> y;
      for (size_t k = s; k < to; ++k) y.push_back(set.train_y[order[k]]);
      Tensor logits = net.head(net.features(gather(set.train_x, D, order, s, to)));
      Tensor l = loss->forward(logits, Tensor::from_vector_i32(y, {(int64_t)y.size()}));
      adam.zero_grad();
      l.backward();
      adam.step();
    }
  }
  LabResult r;
  r.variant = v;
  r.train_f = all_features(net, set.train_x, D);
  r.test_f = all_features(net, set.test_x, D);
  if (v.cosine_head) {  // NormedLinear weight [2, C]: column c is class c's direction
    std::vector<float> w = net.cos->weight.to_vector();
    for (int64_t c = 0; c < C; ++c) r.head_w.push_back(w[c]), r.head_w.push_back(w[C + c]);
    r.head_b.assign(C, 0.f);
  } else {  // Linear weight [C, 2]
    r.head_w = net.lin->weight.to_vector();
    r.head_b = net.lin->bias.to_vector();
  }
  r.test_pred = lab_predict(r, r.test_f);
  // measurements
  r.spread = angular_spread(r.train_f, set.train_y, (int)C);
  std::vector<double> norms;
  for (size_t i = 0; i < r.train_f.size() / 2; ++i) norms.push_back(std::hypot(r.train_f[2 * i], r.train_f[2 * i + 1]));
  std::nth_element(norms.begin(), norms.begin() + norms.size() / 2, norms.end());
  r.region_radius = norms.empty() ? 1.0 : norms[norms.size() / 2];
  r.region = region_widths(r, r.region_radius);
  std::vector<double> hit(C, 0), seen(C, 0);
  double few_total = 0, few_as_many = 0, correct = 0;
  for (size_t i = 0; i < set.test_y.size(); ++i) {
    int y = set.test_y[i], p = r.test_pred[i];
    seen[y] += 1, hit[y] += p == y, correct += p == y;
    if (groups[y] == 2) few_total += 1, few_as_many += groups[p] == 0;
  }
  r.acc = 100.0 * correct / std::max<size_t>(1, set.test_y.size());
  for (int g = 0; g < 3; ++g) {
    double acc = 0, spread = 0, n = 0, ns = 0, region = 0, nr = 0;
    for (int64_t c = 0; c < C; ++c) {
      if (groups[c] != g) continue;
      region += r.region[c], nr += 1;
      if (seen[c] > 0) acc += 100.0 * hit[c] / seen[c], n += 1;
      if (std::isfinite(r.spread[c])) spread += r.spread[c], ns += 1;
    }
    r.acc_group[g] = n > 0 ? acc / n : NAN;
    r.spread_group[g] = ns > 0 ? spread / ns : NAN;
    r.region_group[g] = nr > 0 ? region / nr : NAN;
  }
  r.few_to_many = few_total > 0 ? 100.0 * few_as_many / few_total : NAN;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace tailor
