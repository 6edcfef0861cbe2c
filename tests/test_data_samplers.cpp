// Samplers: empirical class distributions against their formulas, CBEN numbers (GCL's released sampler),
// determinism, sharding and resume state.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "data/imbalance.h"
#include "data/samplers.h"

using namespace tailor::data;

static const std::vector<int64_t> kCifar10Lt100 = {5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50};

static std::vector<int32_t> labels_from_counts(const std::vector<int64_t>& counts) {
  std::vector<int32_t> y;
  for (size_t c = 0; c < counts.size(); ++c)
    for (int64_t i = 0; i < counts[c]; ++i) y.push_back((int32_t)c);
  // interleave a little so that class members are not contiguous
  std::vector<int32_t> out(y.size());
  for (size_t i = 0; i < y.size(); ++i) out[(i * 7919) % y.size()] = y[i];
  return out;
}

static SamplerConfig cfg_of(SamplerKind k, uint64_t seed = 1) {
  SamplerConfig c;
  c.kind = k;
  c.seed = seed;
  return c;
}

// Draws `reps` epoch streams (epochs 0..reps-1, or the fixed epoch `fixed` with seeds seed..seed+reps-1) and
// checks every class frequency within 5 binomial standard deviations of the formula.
static void check_empirical(const Sampler& s, const std::vector<int32_t>& labels, int reps, int64_t fixed = -1) {
  const size_t C = s.class_counts().size();
  std::vector<double> hits(C, 0.0);
  double total = 0;
  for (int r = 0; r < reps; ++r) {
    SamplerConfig c = s.config();
    c.seed += (uint64_t)r;
    Sampler sr(labels, (int)C, c);
    for (int64_t i : fixed >= 0 ? sr.global_indices(fixed) : s.global_indices(r)) {
      hits[(size_t)labels[(size_t)i]] += 1;
      total += 1;
    }
  }
  auto p = s.class_probabilities(fixed >= 0 ? fixed : 0);
  for (size_t c = 0; c < C; ++c) {
    double sd = std::sqrt(total * p[c] * (1 - p[c]));
    CAPTURE(c);
    CAPTURE(p[c]);
    CHECK(std::fabs(hits[c] - total * p[c]) <= 5 * sd + 1);
  }
}

TEST_CASE("CBEN probabilities for CIFAR-10-LT rho=100 match the reference sampler's") {
  auto y = labels_from_counts(kCifar10Lt100);
  Sampler s(y, 10, cfg_of(SamplerKind::CBEN));
  auto p = s.class_probabilities();
  const double ref[10] = {0.1194, 0.1086, 0.1025, 0.0989, 0.0969, 0.0957, 0.0950, 0.0946, 0.0943, 0.0942};
  for (int c = 0; c < 10; ++c) {
    CAPTURE(c);
    CHECK(std::fabs(p[(size_t)c] - ref[c]) < 5e-4);  // 3 decimals (reference printed to 4)
  }
  // Direct formula (double): P(c) ∝ n_c (1 - b_c) / (1 - b_c^n_c).
  double w[10], sum = 0, dmax = std::log(5000.0) - std::log(50.0);
  for (int c = 0; c < 10; ++c) {
    double d = (std::log(5000.0) - std::log((double)kCifar10Lt100[(size_t)c])) / dmax;
    double b = 0.9999 + 1e-5 * d;
    w[c] = kCifar10Lt100[(size_t)c] * (1 - b) / (1 - std::pow(b, (double)kCifar10Lt100[(size_t)c]));
    sum += w[c];
  }
  for (int c = 0; c < 10; ++c) CHECK(p[(size_t)c] == doctest::Approx(w[c] / sum).epsilon(1e-12));
  check_empirical(s, y, 20);
  CHECK(s.global_length() == 12406);
}

TEST_CASE("CBEN on CIFAR-100-LT is almost uniform") {
  auto y = labels_from_counts(lt_class_counts(500, 100, 100, LtProfile::Exp));
  Sampler s(y, 100, cfg_of(SamplerKind::CBEN));
  auto p = s.class_probabilities();
  for (double v : p) CHECK(std::fabs(v - 0.01) < 0.0006);
}

TEST_CASE("instance and sequential samplers") {
  auto y = labels_from_counts(kCifar10Lt100);
  Sampler s(y, 10, cfg_of(SamplerKind::Instance));
  auto a = s.global_indices(0);
  CHECK(a.size() == y.size());
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) REQUIRE(sorted[i] == (int64_t)i);
  CHECK(a != s.global_indices(1));
  CHECK(a == s.global_indices(0));
  Sampler s2(y, 10, cfg_of(SamplerKind::Instance, 2));
  CHECK(a != s2.global_indices(0));
  auto p = s.class_probabilities();
  CHECK(p[0] == doctest::Approx(5000.0 / 12406));
  Sampler q(y, 10, cfg_of(SamplerKind::Sequential));
  auto b = q.global_indices(3);
  for (size_t i = 0; i < b.size(); ++i) REQUIRE(b[i] == (int64_t)i);
}

TEST_CASE("square-root sampler: P(c) ∝ sqrt(n_c)") {
  auto y = labels_from_counts(kCifar10Lt100);
  Sampler s(y, 10, cfg_of(SamplerKind::SquareRoot));
  auto p = s.class_probabilities();
  double z = 0;
  for (auto n : kCifar10Lt100) z += std::sqrt((double)n);
  for (int c = 0; c < 10; ++c) CHECK(p[(size_t)c] == doctest::Approx(std::sqrt((double)kCifar10Lt100[(size_t)c]) / z));
  CHECK(s.global_length() == 12406);
  check_empirical(s, y, 20);
}

TEST_CASE("effective-number sampler: P(c) ∝ n_c (1-b)/(1-b^n_c)") {
  auto y = labels_from_counts(kCifar10Lt100);
  SamplerConfig cfg = cfg_of(SamplerKind::EffectiveNumber);
  cfg.beta = 0.999;
  Sampler s(y, 10, cfg);
  auto p = s.class_probabilities();
  double w[10], z = 0;
  for (int c = 0; c < 10; ++c) {
    double n = (double)kCifar10Lt100[(size_t)c];
    w[c] = n * (1 - 0.999) / (1 - std::pow(0.999, n));
    z += w[c];
  }
  for (int c = 0; c < 10; ++c) CHECK(p[(size_t)c] == doctest::Approx(w[c] / z));
  check_empirical(s, y, 20);
}

TEST_CASE("BalancedRS: class-uniform with replacement") {
  auto y = labels_from_counts(kCifar10Lt100);
  Sampler s(y, 10, cfg_of(SamplerKind::BalancedRS));
  for (double v : s.class_probabilities()) CHECK(v == doctest::Approx(0.1));
  CHECK(s.global_length() == 12406);
  check_empirical(s, y, 20);
  // with replacement: tail samples repeat within an epoch
  auto a = s.global_indices(0);
  std::set<int64_t> uniq(a.begin(), a.end());
  CHECK(uniq.size() < a.size());
}

TEST_CASE("class-aware sampler: k per class turn, uniform classes, without replacement within a class") {
  auto y = labels_from_counts(kCifar10Lt100);
  SamplerConfig cfg = cfg_of(SamplerKind::ClassAware);
  cfg.samples_per_class = 4;
  Sampler s(y, 10, cfg);
  CHECK(s.global_length() == 5000 * 10);
  auto a = s.global_indices(0);
  REQUIRE(a.size() == 50000);
  // runs of 4 from one class; consecutive class turns cycle through all classes before repeating
  std::vector<int64_t> per(10, 0);
  for (size_t t = 0; t < a.size() / 4; ++t) {
    int c = y[(size_t)a[t * 4]];
    for (int j = 1; j < 4; ++j) REQUIRE(y[(size_t)a[t * 4 + j]] == c);
    per[(size_t)c] += 4;
  }
  for (int c = 0; c < 10; ++c) CHECK(per[(size_t)c] == 5000);  // 50000 / (4*10) = 1250 full class cycles
  for (size_t cyc = 0; cyc < 1250; ++cyc) {
    std::set<int> cls;
    for (size_t t = cyc * 10; t < cyc * 10 + 10; ++t) cls.insert(y[(size_t)a[t * 4]]);
    REQUIRE(cls.size() == 10);
  }
  // the first n_c draws of class c are all distinct (a full pass before any repeat)
  for (int c = 0; c < 10; ++c) {
    std::set<int64_t> firsts;
    for (int64_t i : a) {
      if (y[(size_t)i] != c) continue;
      if ((int64_t)firsts.size() == kCifar10Lt100[(size_t)c]) break;
      REQUIRE(firsts.insert(i).second);
    }
  }
  for (double v : s.class_probabilities()) CHECK(v == doctest::Approx(0.1));
  SamplerConfig one = cfg;
  one.samples_per_class = 1;
  one.num_samples = 12406;  // an epoch length set by the stage (num_samples overrides n_max x C)
  Sampler s1(y, 10, one);
  CHECK(s1.global_length() == 12406);
  check_empirical(s1, y, 10);
}

TEST_CASE("progressively balanced sampler: instance at t=0, balanced at t=T-1") {
  auto y = labels_from_counts(kCifar10Lt100);
  SamplerConfig cfg = cfg_of(SamplerKind::Progressive);
  cfg.total_epochs = 5;
  Sampler s(y, 10, cfg);
  auto p0 = s.class_probabilities(0), p4 = s.class_probabilities(4), p2 = s.class_probabilities(2);
  for (int c = 0; c < 10; ++c) {
    double pi = kCifar10Lt100[(size_t)c] / 12406.0;
    CHECK(p0[(size_t)c] == doctest::Approx(pi));
    CHECK(p4[(size_t)c] == doctest::Approx(0.1));
    CHECK(p2[(size_t)c] == doctest::Approx(0.5 * pi + 0.5 * 0.1));  // l = 2 / (5 - 1)
  }
  CHECK(s.class_probabilities(9)[9] == doctest::Approx(0.1));  // past T - 1 stays balanced
  for (int64_t e : {0, 2, 4}) check_empirical(s, y, 8, e);
  cfg.total_epochs = 1;  // the reference's np.linspace(0, 1, 1) = [0]: a one-epoch stage is instance-balanced
  Sampler one(y, 10, cfg);
  CHECK(one.class_probabilities(0)[0] == doctest::Approx(kCifar10Lt100[0] / 12406.0));
}

TEST_CASE("CBEN with beta_a + beta_b = 1 (the rarest class's beta 1): refused, never NaN weights") {
  auto y = labels_from_counts(kCifar10Lt100);
  SamplerConfig cfg = cfg_of(SamplerKind::CBEN);
  cfg.cben_beta_a = 0.9999;
  cfg.cben_beta_b = 1e-4;
  CHECK_THROWS_WITH_AS(Sampler(y, 10, cfg).class_probabilities(0),
                       doctest::Contains("class weights are not finite"), std::runtime_error);
}

TEST_CASE("sharding: ranks partition the padded global stream") {
  auto y = labels_from_counts(kCifar10Lt100);
  for (SamplerKind k : {SamplerKind::Instance, SamplerKind::ClassAware, SamplerKind::CBEN}) {
    SamplerConfig g = cfg_of(k, 5);
    g.world = 3;
    Sampler ref(y, 10, g);
    auto global = ref.global_indices(2);
    CHECK(global.size() == (size_t)ref.length() * 3);
    CHECK(ref.length() == (ref.global_length() + 2) / 3);
    for (int r = 0; r < 3; ++r) {
      SamplerConfig c = g;
      c.rank = r;
      Sampler s(y, 10, c);
      auto mine = s.epoch_indices(2);
      REQUIRE(mine.size() == (size_t)s.length());
      for (size_t i = 0; i < mine.size(); ++i) REQUIRE(mine[i] == global[(size_t)s.global_position((int64_t)i)]);
    }
    // the unpadded stream does not depend on world
    SamplerConfig w1 = g;
    w1.world = 1;
    auto single = Sampler(y, 10, w1).global_indices(2);
    CHECK(std::equal(single.begin(), single.end(), global.begin()));
  }
  SamplerConfig bad = cfg_of(SamplerKind::Instance);
  bad.world = 2;
  bad.rank = 2;
  CHECK_THROWS_AS(Sampler(y, 10, bad), std::runtime_error);
}

TEST_CASE("cursor state: next() and resume") {
  auto y = labels_from_counts(kCifar10Lt100);
  Sampler s(y, 10, cfg_of(SamplerKind::Instance));
  s.set_epoch(3);
  auto ref = s.epoch_indices(3);
  int64_t v;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(s.next(&v));
    CHECK(v == ref[(size_t)i]);
  }
  SamplerState st = s.state();
  CHECK(st.epoch == 3);
  CHECK(st.cursor == 100);
  Sampler t(y, 10, cfg_of(SamplerKind::Instance));
  t.load_state(st);
  REQUIRE(t.next(&v));
  CHECK(v == ref[100]);
  SamplerState end{3, s.length()};
  t.load_state(end);
  CHECK_FALSE(t.next(&v));
  CHECK_THROWS_AS(t.load_state(SamplerState{3, s.length() + 1}), std::runtime_error);
}

TEST_CASE("sampler argument errors") {
  std::vector<int32_t> y = {0, 1, 2, 5};
  CHECK_THROWS_AS(Sampler(y, 3, cfg_of(SamplerKind::Instance)), std::runtime_error);
  CHECK_THROWS_AS(Sampler({}, 3, cfg_of(SamplerKind::Instance)), std::runtime_error);
  CHECK_THROWS_AS(parse_sampler_kind("balanced"), std::runtime_error);
  for (const char* n : {"sequential", "instance", "class_aware", "sqrt", "progressive", "effective_number",
                        "balanced_rs", "cben"})
    CHECK(std::string(sampler_kind_name(parse_sampler_kind(n))) == n);
  // an empty class is never drawn
  std::vector<int32_t> z = {0, 0, 0, 2, 2};
  for (SamplerKind k : {SamplerKind::ClassAware, SamplerKind::SquareRoot, SamplerKind::BalancedRS, SamplerKind::CBEN,
                        SamplerKind::EffectiveNumber, SamplerKind::Progressive}) {
    Sampler s(z, 3, cfg_of(k));
    for (int64_t i : s.global_indices(0)) CHECK(z[(size_t)i] != 1);
    CHECK(s.class_probabilities(0)[1] == 0.0);
  }
}
