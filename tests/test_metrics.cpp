// Evaluation metrics (train/metrics.h) against the NumPy reference of make_loss_fixtures.py on recorded
// logits: counts exactly, means to 1e-12; many / medium / few by training count with empty groups
// (n/a, classes == 0) under three rules each (counts at 100 / 20, counts at other thresholds, thirds),
// with the rule's description; the balanced (class-mean) accuracy, which differs from top-1 on an
// imbalanced test set; ECE / MCE with 15 bins as MiSLAS computes them (bins (lo, hi], confidence =
// max softmax).
#include <doctest/doctest.h>

#include "json_fixture.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "train/metrics.h"

using namespace tailor;
using nlohmann::json;

static json load_fixture(const char* name) { return tailor::test::load_json_fixture(name, "tests/make_loss_fixtures.py"); }

// The line of a formatted table that starts with `head`.
static std::string line_of(const std::string& table, const std::string& head) {
  size_t at = table.find("\n" + head);
  if (at == std::string::npos) return "";
  return table.substr(at + 1, table.find('\n', at + 1) - at - 1);
}

static void check_group(const char* which, const ShotGroup& g, const json& ref) {
  INFO("group " << which);
  CHECK(g.classes == ref["classes"].get<int>());
  if (ref["acc"].is_null()) {
    CHECK(g.empty());
  } else {
    CHECK_FALSE(g.empty());
    CHECK(std::fabs(g.acc - ref["acc"].get<double>()) <= 1e-12);
  }
}

// The metrics of a fixture case under `rule`, the logits fed in uneven batches (accumulation must not
// depend on the batching).
static EvalMetrics metrics_of(const json& c, const ShotRule& rule) {
  auto counts = c["train_counts"].get<std::vector<int64_t>>();
  const int C = (int)counts.size();
  auto y = c["labels"].get<std::vector<int32_t>>();
  const int64_t N = (int64_t)y.size();
  std::vector<float> z;
  for (auto& row : c["logits"])
    for (auto& v : row) z.push_back((float)v.get<double>());
  MetricsAccumulator acc(C, counts, rule);
  for (int64_t lo = 0; lo < N;) {
    int64_t hi = std::min(N, lo + 1 + (lo * 7) % 97);
    acc.add(Tensor::from_vector(std::vector<float>(z.begin() + lo * C, z.begin() + hi * C), {hi - lo, C}),
            Tensor::from_vector_i32(std::vector<int32_t>(y.begin() + lo, y.begin() + hi), {hi - lo}));
    lo = hi;
  }
  return acc.finish();
}

TEST_CASE("metrics equal the NumPy reference on recorded logits") {
  json j = load_fixture("metrics_reference.json");
  REQUIRE(j["bins"].get<int>() == 15);
  REQUIRE(j["cases"].size() == 5);
  for (auto& c : j["cases"]) {
    INFO("case " << c["name"].get<std::string>());
    const int C = (int)c["train_counts"].size();
    const int64_t N = (int64_t)c["labels"].size();
    EvalMetrics m = metrics_of(c, ShotRule{});
    const json& e = c["expected"];
    // counts: exact
    CHECK(m.samples == e["samples"].get<int64_t>());
    CHECK(std::llround(m.top1 * N) == e["top1_count"].get<int64_t>());
    CHECK(std::llround(m.top5 * N) == e["top5_count"].get<int64_t>());
    CHECK(m.confusion == e["confusion"].get<std::vector<int64_t>>());
    CHECK(m.per_class_count == e["per_class_count"].get<std::vector<int64_t>>());
    // means: 1e-12
    CHECK(std::fabs(m.top1 - e["top1"].get<double>()) <= 1e-12);
    CHECK(std::fabs(m.top5 - e["top5"].get<double>()) <= 1e-12);
    REQUIRE(m.per_class_acc.size() == (size_t)C);
    for (int k = 0; k < C; ++k) {
      INFO("class " << k);
      if (e["per_class_acc"][k].is_null())
        CHECK(std::isnan(m.per_class_acc[k]));
      else
        CHECK(std::fabs(m.per_class_acc[k] - e["per_class_acc"][k].get<double>()) <= 1e-12);
    }
    check_group("many", m.many, e["shots"]["many"]);
    check_group("medium", m.medium, e["shots"]["medium"]);
    check_group("few", m.few, e["shots"]["few"]);
    CHECK(std::fabs(m.ece - e["ece"].get<double>()) <= 1e-12);
    CHECK(std::fabs(m.mce - e["mce"].get<double>()) <= 1e-12);
    CHECK(std::fabs(m.mean_loss - e["mean_loss"].get<double>()) <= 1e-12);
    CHECK(std::fabs(m.balanced_acc - e["balanced_acc"].get<double>()) <= 1e-12);
    // an empty group prints n/a, never 0 %
    if (m.many.empty()) CHECK(line_of(format_shot_table(m), "many").find("n/a") != std::string::npos);
    // the groups of every rule: class ids by training count, tested classes and accuracy, the description
    REQUIRE(e["groups"].size() >= 3);
    for (auto& g : e["groups"]) {
      const json& r = g["rule"];
      INFO("rule " << r.dump());
      const ShotRule rule = data::make_shot_rule(r["rule"], r.value("many_above", 100), r.value("few_below", 20));
      EvalMetrics mr = metrics_of(c, rule);
      CHECK(mr.shot_rule_text == g["description"].get<std::string>());
      CHECK(format_shot_table(mr).rfind("groups: " + g["description"].get<std::string>() + "\n", 0) == 0);
      const ShotGroup* got[3] = {&mr.many, &mr.medium, &mr.few};
      for (int k = 0; k < 3; ++k) {
        const char* name = data::kShotGroupName[k];
        CHECK(mr.shot_split.group(k) == g[name]["class_ids"].get<std::vector<int>>());
        check_group(name, *got[k], g[name]);
      }
      CHECK(mr.balanced_acc == m.balanced_acc);  // the rule groups classes; it changes no other number
      CHECK(mr.top1 == m.top1);
    }
  }
}

TEST_CASE("an imbalanced test set: top-1 (per image) and balanced (per class) differ; the table shows both") {
  json j = load_fixture("metrics_reference.json");
  const json* c = nullptr;
  for (auto& x : j["cases"])
    if (x["name"] == "imbalanced_test_set") c = &x;
  REQUIRE(c != nullptr);
  EvalMetrics m = metrics_of(*c, ShotRule{});
  CHECK(m.top1 - m.balanced_acc > 0.1);
  std::string table = format_shot_table(m);
  char want[64];
  std::snprintf(want, sizeof want, "balanced %7.2f%%   10", 100 * m.balanced_acc);
  CHECK(line_of(table, "balanced").rfind(want, 0) == 0);
  std::snprintf(want, sizeof want, "overall  %7.2f%%", 100 * m.top1);
  CHECK(line_of(table, "overall").rfind(want, 0) == 0);
  CHECK(table.find(kTop1VsBalanced) != std::string::npos);
}

TEST_CASE("the table says how many of a group's classes have no test image (cls counts those that have)") {
  EvalMetrics m;
  m.shot_rule_text = "many > 100, medium 20-100, few < 20 training images";
  m.shot_split.medium = {0, 1, 2};
  m.shot_split.few = {3, 4};
  m.per_class_acc = {1, 0.5, 0, NAN, NAN};
  m.per_class_count = {2, 2, 1, 0, 0};
  m.medium = mean_class_accuracy(m.per_class_acc, m.shot_split.medium);
  m.few = mean_class_accuracy(m.per_class_acc, m.shot_split.few);
  const std::string table = format_shot_table(m);
  CHECK(line_of(table, "few") == "few           n/a    0   (of 2 in the group: 2 classes without test images)");
  CHECK(line_of(table, "medium") == "medium     50.00%    3");
  CHECK(line_of(table, "many") == "many          n/a    0");
}

TEST_CASE("a natural long tail (rarest class 210 images): counts says all many, thirds splits 3 / 4 / 3") {
  json j = load_fixture("metrics_reference.json");
  const json& c = j["cases"].back();
  REQUIRE(c["name"] == "natural_long_tail");
  EvalMetrics counts = metrics_of(c, ShotRule{});
  CHECK(counts.many.classes == 10);
  CHECK(counts.medium.empty());
  CHECK(counts.few.empty());
  EvalMetrics thirds = metrics_of(c, data::make_shot_rule("thirds"));
  CHECK(thirds.many.classes == 3);
  CHECK(thirds.medium.classes == 4);
  CHECK(thirds.few.classes == 3);
  CHECK(format_shot_table(thirds).rfind("groups: thirds of the classes by training count: many 3 classes (2250-1328 "
                                        "images), medium 4 (1020-462), few 3 (355-210)\n",
                                        0) == 0);
}

TEST_CASE("empty shot groups report n/a with zero classes") {
  // every class has 20..100 training images: no many-shot and no few-shot class
  MetricsAccumulator acc(3, {90, 50, 20});
  acc.add(Tensor::from_vector({3, 0, 0, 0, 3, 0, 0, 0, 3, 3, 0, 0}, {4, 3}),
          Tensor::from_vector_i32({0, 1, 2, 2}, {4}));
  EvalMetrics m = acc.finish();
  CHECK(m.many.empty());
  CHECK(m.many.classes == 0);
  CHECK(m.few.empty());
  CHECK(m.medium.classes == 3);
  CHECK(m.medium.acc == doctest::Approx((1.0 + 1.0 + 0.5) / 3));
  std::string table = format_shot_table(m);
  CHECK(line_of(table, "many").find("n/a") != std::string::npos);
  CHECK(line_of(table, "few").find("n/a") != std::string::npos);
  CHECK(line_of(table, "medium").find("n/a") == std::string::npos);
}

TEST_CASE("ECE bins are right-closed: a confidence of exactly 1/15 falls in the first bin") {
  // 15 equal logits: confidence 1/15 exactly, prediction class 0 (first maximum)
  MetricsAccumulator acc(15, std::vector<int64_t>(15, 50));
  acc.add(Tensor::zeros({2, 15}), Tensor::from_vector_i32({0, 3}, {2}));
  EvalMetrics m = acc.finish();
  // one bin, accuracy 1/2, confidence 1/15
  CHECK(m.ece == doctest::Approx(0.5 - 1.0 / 15).epsilon(1e-12));
  CHECK(m.mce == doctest::Approx(0.5 - 1.0 / 15).epsilon(1e-12));
  CHECK(m.top5 == doctest::Approx(1.0));  // ties: lower class index ranks first, so class 3 is in the top 5
}

TEST_CASE("non-finite logits are an error naming the sample and class, never an out-of-range calibration bin") {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    MetricsAccumulator acc(3, std::vector<int64_t>(3, 50));
    acc.add(Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}), Tensor::from_vector_i32({0, 1}, {2}));
    CHECK_THROWS_WITH(acc.add(Tensor::from_vector({1, 2, 3, 1, bad, 0}, {2, 3}), Tensor::from_vector_i32({0, 1}, {2})),
                      doctest::Contains("evaluation: the model's logit for class 1 of sample 3 is "));
  }
}

TEST_CASE("above 1000 classes the confusion matrix is its non-zero cells; per-class numbers are unchanged") {
  // 1500 classes, 3 images of each: class c predicted c, c, (c + 7) mod C (the logit of that class highest)
  const int C = 1500;
  std::vector<int64_t> train(C);
  for (int c = 0; c < C; ++c) train[c] = 1 + c % 200;
  MetricsAccumulator acc(C, train);
  std::vector<float> logits((size_t)3 * C * C, 0.f);
  std::vector<int32_t> labels;
  for (int c = 0; c < C; ++c)
    for (int k = 0; k < 3; ++k) {
      const size_t row = labels.size();
      logits[row * C + (k < 2 ? c : (c + 7) % C)] = 5.f;
      labels.push_back(c);
    }
  acc.add(Tensor::from_vector(logits, {3 * C, C}), Tensor::from_vector_i32(labels, {3 * C}));
  EvalMetrics m = acc.finish();
  CHECK(m.confusion.empty());
  REQUIRE(m.confusion_cells.size() == (size_t)2 * C);
  int64_t total = 0;
  for (auto& cell : m.confusion_cells) {
    total += cell[2];
    CHECK(cell[2] == (cell[1] == cell[0] ? 2 : 1));
    CHECK((cell[1] == cell[0] || cell[1] == (cell[0] + 7) % C));
  }
  CHECK(total == 3 * C);
  CHECK(m.per_class_count[1234] == 3);
  CHECK(m.per_class_acc[1234] == doctest::Approx(2.0 / 3));
  CHECK(m.top1 == doctest::Approx(2.0 / 3));
  // at 1000 classes and below also the dense matrix, the same cells
  MetricsAccumulator small(4, {10, 10, 10, 10});
  small.add(Tensor::from_vector({1, 0, 0, 0, 0, 0, 1, 0}, {2, 4}), Tensor::from_vector_i32({0, 1}, {2}));
  EvalMetrics s = small.finish();
  CHECK(s.confusion == std::vector<int64_t>{1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(s.confusion_cells == std::vector<std::array<int64_t, 3>>{{0, 0, 1}, {1, 2, 1}});
}

TEST_CASE("a later stage below an earlier one's best top-1 is named; within 0.5 points or not evaluated it is not") {
  CHECK(stage_drop_note({}).empty());
  CHECK(stage_drop_note({53.4}).empty());
  CHECK(stage_drop_note({53.4, 74.4}).empty());       // cRT raised it
  CHECK(stage_drop_note({53.4, 52.95}).empty());      // within 0.5 points
  CHECK(stage_drop_note({53.4, -1}).empty());         // stage 2 not evaluated
  const std::string n = stage_drop_note({18.5, 2.8});  // a stage 2 that collapsed
  CHECK(n.find("stage 2's best evaluated top-1 (2.80 %) is below stage 1's (18.50 %). On a balanced") == 0);
  // three stages: the highest earlier stage is named, a skipped one is passed over
  CHECK(stage_drop_note({40, 60, -1, 55}).find("stage 4's best evaluated top-1 (55.00 %) is below stage 2's (60.00 %)") == 0);
  CHECK(stage_drop_note({40, 60, 59.8}).empty());
}
