// CIFAR-LT subset generation: numpy-legacy MT19937 reproduction and the golden counts (docs/data.md "Long-tailed subsets").
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "data/imbalance.h"
#include "data/rng.h"

using namespace tailor::data;

static nlohmann::json load_fixture() {
  std::ifstream f(std::string(TAILOR_FIXTURES) + "/data_lt_numpy.json");
  REQUIRE_MESSAGE(f.good(), "missing fixture data_lt_numpy.json (run tests/gen_data_fixtures.py)");
  nlohmann::json j;
  f >> j;
  return j;
}

static uint64_t digest(const std::vector<int64_t>& v) {  // sum (k + 1) * v[k] mod 2^61, as the generator
  unsigned __int128 s = 0;
  for (size_t k = 0; k < v.size(); ++k) s += (unsigned __int128)(k + 1) * (uint64_t)v[k];
  return (uint64_t)(s % ((unsigned __int128)1 << 61));
}

TEST_CASE("numpy legacy RNG: seed 0 stream") {
  auto j = load_fixture();
  NumpyLegacyRng r(0);
  CHECK(r.random_sample() == j["seed0_random_sample"].get<double>());
  CHECK(j["seed0_random_sample"].get<double>() == 0.5488135039273248);
  NumpyLegacyRng r2(0);
  std::vector<int64_t> a(10);
  for (int i = 0; i < 10; ++i) a[i] = i;
  r2.shuffle(a);
  CHECK(a == j["seed0_permutation10"].get<std::vector<int64_t>>());
  CHECK(a == std::vector<int64_t>{2, 8, 4, 9, 1, 6, 7, 3, 0, 5});
}

TEST_CASE("numpy legacy RNG: shuffles of several lengths equal numpy's") {
  auto j = load_fixture();
  for (auto& s : j["shuffles"]) {
    int64_t n = s["n"];
    NumpyLegacyRng r(s["seed"].get<uint32_t>());
    std::vector<int64_t> a((size_t)n);
    for (int64_t i = 0; i < n; ++i) a[(size_t)i] = i;
    r.shuffle(a);
    auto head = s["head"].get<std::vector<int64_t>>();
    CAPTURE(n);
    CHECK(std::vector<int64_t>(a.begin(), a.begin() + (int64_t)head.size()) == head);
    CHECK(digest(a) == s["digest"].get<uint64_t>());
  }
}

TEST_CASE("numpy legacy interval: masked rejection") {
  NumpyLegacyRng r(123);
  for (uint64_t m : {1ull, 2ull, 3ull, 7ull, 100ull, 65535ull, 0xffffffffull, 0x1ffffffffull})
    for (int k = 0; k < 200; ++k) CHECK(r.interval(m) <= m);
  CHECK(r.interval(0) == 0);
}

TEST_CASE("LT counts: golden values (the LDAM-DRW subset rule, as its IMBALANCECIFAR10 draws them)") {
  CHECK(lt_class_counts(5000, 10, 100, LtProfile::Exp) ==
        std::vector<int64_t>{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50});
  CHECK(lt_class_counts(5000, 10, 50, LtProfile::Exp) ==
        std::vector<int64_t>{5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100});
  CHECK(lt_class_counts(5000, 10, 200, LtProfile::Exp) ==
        std::vector<int64_t>{5000, 2775, 1540, 854, 474, 263, 146, 81, 45, 25});
  auto total = [](const std::vector<int64_t>& v) {
    int64_t s = 0;
    for (auto x : v) s += x;
    return s;
  };
  CHECK(total(lt_class_counts(5000, 10, 100, LtProfile::Exp)) == 12406);
  CHECK(total(lt_class_counts(5000, 10, 50, LtProfile::Exp)) == 13996);
  CHECK(total(lt_class_counts(5000, 10, 200, LtProfile::Exp)) == 11203);
  CHECK(total(lt_class_counts(5000, 10, 10, LtProfile::Exp)) == 20431);
  auto c100 = lt_class_counts(500, 100, 100, LtProfile::Exp);
  CHECK(total(c100) == 10847);
  CHECK(c100.back() == 5);
  CHECK(total(lt_class_counts(500, 100, 50, LtProfile::Exp)) == 12608);
  CHECK(total(lt_class_counts(500, 100, 200, LtProfile::Exp)) == 9502);
  CHECK(lt_class_counts(500, 100, 200, LtProfile::Exp).back() == 2);
  CHECK(total(lt_class_counts(500, 100, 10, LtProfile::Exp)) == 19573);
  auto st = lt_class_counts(5000, 10, 100, LtProfile::Step);
  CHECK(st == std::vector<int64_t>{5000, 5000, 5000, 5000, 5000, 50, 50, 50, 50, 50});
  CHECK(lt_class_counts(10, 3, 2, LtProfile::Step) == std::vector<int64_t>{10, 5, 5});
}

TEST_CASE("LT subset: chosen indices equal numpy's (synthetic labels i % C)") {
  auto j = load_fixture();
  for (auto& s : j["subsets"]) {
    int C = s["classes"];
    double ratio = s["ratio"];
    std::string profile = s["profile"];
    uint32_t seed = s["seed"];
    std::vector<int32_t> labels(50000);
    for (int i = 0; i < 50000; ++i) labels[(size_t)i] = i % C;
    LtSubset sub = make_lt_subset(labels, C, ratio, parse_lt_profile(profile), seed);
    CAPTURE(C);
    CAPTURE(ratio);
    CAPTURE(profile);
    CAPTURE(seed);
    CHECK(sub.counts == s["counts"].get<std::vector<int64_t>>());
    CHECK(sub.total == s["total"].get<int64_t>());
    CHECK((int64_t)sub.indices.size() == sub.total);
    auto head = s["head"].get<std::vector<int64_t>>();
    CHECK(std::vector<int64_t>(sub.indices.begin(), sub.indices.begin() + (int64_t)head.size()) == head);
    CHECK(digest(sub.indices) == s["digest"].get<uint64_t>());
    if (s.contains("indices")) CHECK(sub.indices == s["indices"].get<std::vector<int64_t>>());
  }
}

TEST_CASE("LT subset: classes kept in order, indices valid and distinct, logged") {
  std::vector<int32_t> labels(50000);
  for (int i = 0; i < 50000; ++i) labels[(size_t)i] = i % 10;
  LtSubset s = make_lt_subset(labels, 10, 100, LtProfile::Exp, 0);
  CHECK(s.total == 12406);
  std::vector<char> seen(50000, 0);
  size_t k = 0;
  for (int c = 0; c < 10; ++c)
    for (int64_t n = 0; n < s.counts[(size_t)c]; ++n, ++k) {
      int64_t i = s.indices[k];
      REQUIRE(labels[(size_t)i] == c);
      CHECK(!seen[(size_t)i]);
      seen[(size_t)i] = 1;
    }
  std::ostringstream os;
  log_lt_subset(os, s, 100, LtProfile::Exp, 0);
  CHECK(os.str() ==
        "LT subset (exp, imbalance_ratio 100, seed 0): 12406 images, counts [5000, 2997, 1796, 1077, 645, 387, 232, "
        "139, 83, 50]\n");
  // A different seed draws different images with the same counts.
  LtSubset s7 = make_lt_subset(labels, 10, 100, LtProfile::Exp, 7);
  CHECK(s7.counts == s.counts);
  CHECK(s7.indices != s.indices);
}

TEST_CASE("LT subset: argument errors") {
  std::vector<int32_t> labels(100);
  for (int i = 0; i < 100; ++i) labels[(size_t)i] = i % 10;
  CHECK_THROWS_WITH_AS(make_lt_subset(labels, 10, 0.01, LtProfile::Exp), doctest::Contains("imb_factor"),
                       std::runtime_error);
  CHECK_THROWS_AS(make_lt_subset(labels, 10, 0, LtProfile::Exp), std::runtime_error);
  CHECK_THROWS_AS(make_lt_subset(labels, 1, 10, LtProfile::Exp), std::runtime_error);
  CHECK_THROWS_AS(make_lt_subset(labels, 5, 10, LtProfile::Exp), std::runtime_error);  // label 9 >= 5
  CHECK_THROWS_AS(make_lt_subset(labels, 10, 10, LtProfile::Exp, 0, 20), std::runtime_error);  // n_max > available
  CHECK_THROWS_AS(parse_lt_profile("linear"), std::runtime_error);
  // An unbalanced source: n_max defaults to the smallest class.
  labels.push_back(0);
  LtSubset s = make_lt_subset(labels, 10, 10, LtProfile::Exp, 0);
  CHECK(s.counts[0] == 10);
  CHECK(s.counts[9] == 1);
}

TEST_CASE("per-class counts in a log line: all of them up to 100 classes, the first and last five above") {
  std::vector<int64_t> c(101);
  for (size_t i = 0; i < c.size(); ++i) c[i] = 1000 - (int64_t)i;
  CHECK(tailor::data::counts_list({5, 1, 1}) == "[5, 1, 1]");
  CHECK(tailor::data::counts_list(c) ==
        "[1000, 999, 998, 997, 996, ..., 904, 903, 902, 901, 900] (101 classes; eval.json lists every count)");
  c.pop_back();
  CHECK(tailor::data::counts_list(c).find("...") == std::string::npos);
}

TEST_CASE("the classes an evaluation split lacks, in words: the first five, names when given") {
  using tailor::data::classes_without_images;
  CHECK(classes_without_images({1, 2, 3}, {9, 8, 7}, {}) == "");
  CHECK(classes_without_images({1, 0, 3}, {9, 8, 7}, {"a", "b", "c"}) == "1 class (1 'b' with 8 training images)");
  CHECK(classes_without_images(std::vector<int64_t>(7, 0), std::vector<int64_t>(7, 1), {}) ==
        "7 classes (0 with 1 training image, 1 with 1 training image, 2 with 1 training image, 3 with 1 training "
        "image, 4 with 1 training image, ...)");
}
