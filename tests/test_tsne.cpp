// t-SNE (report/tsne.h): on well-separated Gaussian clusters the 2-D map keeps every point's nearest
// neighbour in its cluster and the KL objective decreases; the stratified sample's equal cap; the
// report's t-SNE files and section.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "engine/rng.h"
#include "report/report_tsne.h"
#include "report/tsne.h"

using namespace tailor;

// k clusters of m points in `dim` dimensions: centres 8 apart on the axes, unit-variance noise
static std::vector<float> clusters(int k, int m, int dim, uint64_t seed, std::vector<int>& label) {
  Rng rng(seed);
  std::vector<float> x;
  for (int c = 0; c < k; ++c)
    for (int i = 0; i < m; ++i) {
      for (int d = 0; d < dim; ++d) x.push_back((float)((d == c ? 8.0 : 0.0) + rng.normal()));
      label.push_back(c);
    }
  return x;
}

TEST_CASE("tsne_2d: separated clusters stay separated and KL decreases") {
  std::vector<int> label;
  const int k = 4, m = 40, dim = 10, n = k * m;
  std::vector<float> x = clusters(k, m, dim, 5, label);
  TsneOptions o;
  o.perplexity = 15;
  o.iterations = 400;
  o.exaggeration_iters = 100;
  o.seed = 1;
  TsneResult r = tsne_2d(x, n, dim, o);
  REQUIRE(r.kl.size() == 400);
  // every point's nearest neighbour in the map is in its own cluster
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    int best = -1;
    double bd = INFINITY;
    for (int j = 0; j < n; ++j) {
      if (j == i) continue;
      double dx = r.y[2 * i] - r.y[2 * j], dy = r.y[2 * i + 1] - r.y[2 * j + 1];
      if (dx * dx + dy * dy < bd) bd = dx * dx + dy * dy, best = j;
    }
    wrong += label[best] != label[i];
  }
  CHECK(wrong == 0);
  // KL: lower at the end than at the start and than when the exaggeration stops. Once the map has
  // settled from the switch (exaggeration off, momentum 0.5 -> 0.8) the mean KL of every 20-iteration
  // window is below the previous window's (single steps may rise by a hair under momentum).
  CHECK(r.kl.back() < 0.5 * r.kl.front());
  CHECK(r.kl.back() < r.kl[o.exaggeration_iters]);
  double previous = INFINITY;
  for (size_t t = o.exaggeration_iters + 20; t + 20 <= r.kl.size(); t += 20) {
    double mean = 0;
    for (size_t u = t; u < t + 20; ++u) mean += r.kl[u] / 20;
    CHECK(mean < previous + 1e-9);
    previous = mean;
  }
  // deterministic from its seed
  TsneResult again = tsne_2d(x, n, dim, o);
  CHECK(again.y == r.y);
}

TEST_CASE("tsne_2d: bad input is refused") {
  std::vector<float> x(20, 0.f);
  TsneOptions o;
  o.perplexity = 30;
  CHECK_THROWS_WITH_AS(tsne_2d(x, 10, 2, o), doctest::Contains("perplexity must be in (0, n - 1)"), std::runtime_error);
  x[3] = NAN;
  o.perplexity = 3;
  CHECK_THROWS_WITH_AS(tsne_2d(x, 10, 2, o), doctest::Contains("not finite"), std::runtime_error);
}

TEST_CASE("stratified_sample: equal cap, rare classes kept whole") {
  std::vector<int32_t> labels;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < std::vector<int>{500, 50, 5}[c]; ++i) labels.push_back(c);
  std::vector<int64_t> s = stratified_sample(labels, 100, 3);
  std::map<int, int> per;
  for (int64_t i : s) per[labels[i]]++;
  // q = 47: 47 + 47 + 5 = 99 <= 100 < 48 + 48 + 5
  CHECK(per[0] == 47);
  CHECK(per[1] == 47);
  CHECK(per[2] == 5);
  CHECK(std::is_sorted(s.begin(), s.end()));
  CHECK(stratified_sample(labels, 1000, 3).size() == labels.size());
  CHECK(stratified_sample(labels, 100, 3) == s);
}

// An empty folder of that name under the system's temporary directory.
static std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The training split of write_tsne: k clusters of m points in dim dimensions (clusters above).
static TsneSplit cluster_split(int k, int m, int dim, uint64_t seed) {
  std::vector<int> label;
  std::vector<float> x = clusters(k, m, dim, seed, label);
  return TsneSplit{"train", x, dim, std::vector<int32_t>(label.begin(), label.end())};
}

TEST_CASE("write_tsne: the report's figure, numbers and section") {
  namespace fs = std::filesystem;
  const fs::path dir = fresh_dir("tailor_test_report_tsne");
  const TsneSplit train = cluster_split(3, 30, 6, 9);
  TsneOptions o;
  o.iterations = 300;
  CHECK(tsne_section_html(dir.string()).empty());
  write_tsne(dir.string(), {train}, {300, 100, 10}, data::make_shot_rule("counts"), {"a", "b", "c"}, 50, o, "ck.safetensors");
  CHECK(fs::file_size(dir / "plots" / "tsne.png") > 1000);
  std::ifstream f(dir / "tsne.json");
  nlohmann::json j;
  f >> j;
  REQUIRE(j["splits"].size() == 1);
  // equal cap 16: 3 x 16 = 48 <= 50 < 3 x 17
  CHECK(j["splits"][0]["points"] == 48);
  CHECK(j["splits"][0]["points_per_class"] == nlohmann::json::array({16, 16, 16}));
  CHECK(j["checkpoint"] == "ck.safetensors");
  std::string html = tsne_section_html(dir.string());
  CHECK(html.find("plots/tsne.png") != std::string::npos);
  CHECK(html.find("ck.safetensors") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("write_tsne: more classes than the points can stratify: a subset of classes, head to tail") {
  namespace fs = std::filesystem;
  const fs::path dir = fresh_dir("tailor_test_report_tsne_many");
  // 40 classes x 3 samples, at most 50 points: 40 x 5 > 50, so 50 / 5 = 10 classes are shown, 3 points each
  const TsneSplit train = cluster_split(40, 3, 4, 5);
  std::vector<int64_t> counts(40);
  for (int c = 0; c < 40; ++c) counts[c] = (c * 7) % 40 + 1;  // the head class is not class 0: order by count
  TsneOptions o;
  o.iterations = 260;
  std::ostringstream log;
  write_tsne(dir.string(), {train}, counts, data::make_shot_rule("thirds"), {}, 50, o, "ck", &log);
  std::ifstream f(dir / "tsne.json");
  nlohmann::json j;
  f >> j;
  CHECK(j["classes"] == 40);
  CHECK(j["classes_shown"] == 10);
  CHECK(j["splits"][0]["points"] == 30);
  std::vector<int64_t> per = j["splits"][0]["points_per_class"];
  int shown = 0;
  for (int c = 0; c < 40; ++c) {
    CHECK((per[c] == 0 || per[c] == 3));
    shown += per[c] == 3;
  }
  CHECK(shown == 10);
  // the most and the fewest training images are both in the map: counts 40 (class 17) and 1 (class 0)
  CHECK(per[17] == 3);
  CHECK(per[0] == 3);
  CHECK(log.str().find("the map shows 10 of them") != std::string::npos);
  CHECK(tsne_section_html(dir.string()).find("of the 40 classes, 10 evenly spaced") != std::string::npos);
  // the panel (560) and the legend's rows of 14 px under it, then one line of notes (10 classes shown: 2 rows);
  // all 40 shown (40 x 5 <= 200 points): 20 of them named, head to tail, in 3 rows, and a second note line
  auto png_height = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    unsigned char h[24] = {};
    in.read((char*)h, 24);
    return h[20] << 24 | h[21] << 16 | h[22] << 8 | h[23];  // IHDR's height, big-endian
  };
  CHECK(png_height(dir / "plots" / "tsne.png") == 620);
  write_tsne(dir.string(), {train}, counts, data::make_shot_rule("thirds"), {}, 200, o, "ck");
  CHECK(png_height(dir / "plots" / "tsne.png") == 650);
  fs::remove_all(dir);
}

TEST_CASE("tailor report: the t-SNE flags need --tsne") {
  Run r = run("report --run /nonexistent --tsne-points 100");
  CHECK(r.code == 2);
  CHECK(r.out.find("--tsne-points is for --tsne only") != std::string::npos);
}
