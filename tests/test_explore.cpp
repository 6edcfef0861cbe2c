// The embedding lab (train/lab.h, `tailor explore`): a reduced lab on a synthetic Gaussian-mixture LT set;
// every number of lab.json is recomputed here from the features and predictions the lab wrote.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_run.h"
#include "train/lab.h"

using namespace tailor;
namespace fs = std::filesystem;

struct Rows {
  std::vector<double> x, y;
  std::vector<int> label, pred;
};

static Rows read_csv(const fs::path& p) {
  std::ifstream f(p);
  REQUIRE_MESSAGE(f.good(), "missing " << p);
  std::string line;
  std::getline(f, line);
  const bool with_pred = line == "x,y,label,pred";
  Rows r;
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    std::string a, b, c, d;
    std::getline(ss, a, ','), std::getline(ss, b, ','), std::getline(ss, c, ',');
    r.x.push_back(std::stod(a)), r.y.push_back(std::stod(b)), r.label.push_back(std::stoi(c));
    if (with_pred) std::getline(ss, d, ','), r.pred.push_back(std::stoi(d));
  }
  return r;
}

// Spread of one class computed another way: the circular mean angle atan2(sum sin, sum cos) of the
// feature angles, then the mean absolute wrapped angle difference, in degrees.
static double spread_by_angles(const Rows& r, int c) {
  double s = 0, co = 0, total = 0, n = 0;
  for (size_t i = 0; i < r.x.size(); ++i)
    if (r.label[i] == c) s += std::sin(std::atan2(r.y[i], r.x[i])), co += std::cos(std::atan2(r.y[i], r.x[i]));
  const double mean = std::atan2(s, co);
  for (size_t i = 0; i < r.x.size(); ++i)
    if (r.label[i] == c) {
      double d = std::remainder(std::atan2(r.y[i], r.x[i]) - mean, 2 * M_PI);
      total += std::fabs(d) * 180 / M_PI, n += 1;
    }
  return total / n;
}

TEST_CASE("gaussian_lab_set: its name gives the counts drawn and their own ratio") {
  CHECK(gaussian_lab_set(3, 500, 50, 2, 1, 0).name == "Gaussian mixture (3 classes, 2-D, counts 500 .. 10: imbalance 50)");
  CHECK(gaussian_lab_set(3, 1, 50, 2, 1, 0).name == "Gaussian mixture (3 classes, 2-D, counts 1 .. 1: imbalance 1)");
}

TEST_CASE("angular_spread: a hand example") {
  // class 0 at 0 and 90 degrees (mean direction 45: spread 45); class 1 all on one ray (spread 0)
  std::vector<float> f = {2, 0, 0, 5, -1, -1, -3, -3};
  std::vector<double> s = angular_spread(f, {0, 0, 1, 1}, 3);
  CHECK(s[0] == doctest::Approx(45.0));
  CHECK(s[1] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(std::isnan(s[2]));
}

TEST_CASE("tailor explore: a reduced lab, its numbers recomputed from its files") {
  fs::path dir = fs::temp_directory_path() / "tailor_test_explore";
  fs::remove_all(dir);
  const std::string args = "explore --data gaussian --classes 4 --n-max 200 --ratio 20 --epochs 6 --seed 2 "
                           "--losses ce,balanced_softmax,gcl,gcl_no_cloud --threads 1 --out ";
  Run r = run(args + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.out);
  std::ifstream jf(dir / "lab.json");
  nlohmann::json lab;
  jf >> lab;
  // thirds of 4 classes: 1 many, 2 medium, 1 few
  std::vector<int> groups = lab["group_of_class"].get<std::vector<int>>();
  CHECK(groups == std::vector<int>{0, 1, 1, 2});
  REQUIRE(lab["variants"].size() == 4);
  std::map<std::string, double> few_to_many;
  for (auto& v : lab["variants"]) {
    const std::string name = v["label"];
    INFO(name);
    Rows tr = read_csv(dir / "features" / (name + "_train.csv"));
    for (int c = 0; c < 4; ++c) CHECK(v["spread_per_class"][c].get<double>() == doctest::Approx(spread_by_angles(tr, c)).epsilon(1e-4));
    CHECK(v["spread_many"].get<double>() == doctest::Approx(spread_by_angles(tr, 0)).epsilon(1e-4));
    CHECK(v["spread_few"].get<double>() == doctest::Approx(spread_by_angles(tr, 3)).epsilon(1e-4));
    CHECK(v["spread_medium"].get<double>() ==
          doctest::Approx((spread_by_angles(tr, 1) + spread_by_angles(tr, 2)) / 2).epsilon(1e-4));
    Rows te = read_csv(dir / "features" / (name + "_test.csv"));
    REQUIRE(te.pred.size() == 800);
    double correct = 0, few = 0, few_many = 0;
    std::vector<double> hit(4, 0), seen(4, 0);
    for (size_t i = 0; i < te.pred.size(); ++i) {
      correct += te.pred[i] == te.label[i];
      hit[te.label[i]] += te.pred[i] == te.label[i], seen[te.label[i]] += 1;
      if (groups[te.label[i]] == 2) few += 1, few_many += groups[te.pred[i]] == 0;
    }
    CHECK(v["test_acc"].get<double>() == doctest::Approx(100 * correct / 800));
    CHECK(v["acc_few"].get<double>() == doctest::Approx(100 * hit[3] / seen[3]));
    CHECK(v["acc_medium"].get<double>() == doctest::Approx(50 * (hit[1] / seen[1] + hit[2] / seen[2])));
    CHECK(v["few_to_many"].get<double>() == doctest::Approx(100 * few_many / few));
    few_to_many[name] = v["few_to_many"];
    // decision-region widths from the written head: 3600 directions on the circle of the given radius
    std::vector<double> w = v["head_w"], b = v["head_b"], width(4, 0.0);
    const double R = v["region_radius"];
    const bool cosine = v["cosine_head"];
    for (int k = 0; k < 3600; ++k) {
      double fx = R * std::cos(k * M_PI / 1800), fy = R * std::sin(k * M_PI / 1800), best = -1e300;
      int arg = 0;
      for (int c = 0; c < 4; ++c) {
        double s = cosine ? (fx * w[2 * c] + fy * w[2 * c + 1]) / (R * std::hypot(w[2 * c], w[2 * c + 1]))
                          : fx * w[2 * c] + fy * w[2 * c + 1] + b[c];
        if (s > best) best = s, arg = c;
      }
      width[arg] += 0.1;
    }
    // (a direction on a boundary may fall either way in float vs double: up to 2 steps of 0.1 degree)
    for (int c = 0; c < 4; ++c) CHECK(std::fabs(v["region_per_class"][c].get<double>() - width[c]) <= 0.25);
    CHECK(std::fabs(v["region_few"].get<double>() - width[3]) <= 0.25);
    // the radius is the median training-feature norm
    std::vector<double> norms;
    for (size_t i = 0; i < tr.x.size(); ++i) norms.push_back(std::hypot(tr.x[i], tr.y[i]));
    std::sort(norms.begin(), norms.end());
    CHECK(R == doctest::Approx(norms[norms.size() / 2]).epsilon(1e-5));
    CHECK(fs::file_size(dir / "plots" / (name + ".png")) > 1000);
  }
  // the claims say what the numbers say
  bool bs_claim_found = false;
  for (auto& k : lab["claims"]) {
    std::string claim = k["claim"];
    if (claim.rfind("balanced_softmax", 0) == 0) {
      bs_claim_found = true;
      CHECK(k["holds"].get<bool>() == (few_to_many["balanced_softmax"] < few_to_many["ce"]));
    }
  }
  CHECK(bs_claim_found);
  std::ifstream hf(dir / "explore.html");
  std::string html((std::istreambuf_iterator<char>(hf)), std::istreambuf_iterator<char>());
  CHECK(html.find("plots/gcl_no_cloud.png") != std::string::npos);
  CHECK((html.find("does not hold") != std::string::npos || html.find(">holds<") != std::string::npos));
  // deterministic from the seed
  fs::path again = dir.string() + "_again";
  REQUIRE(run(args + again.string()).code == 0);
  std::ifstream jf2(again / "lab.json");
  nlohmann::json lab2;
  jf2 >> lab2;
  for (auto& v : lab2["variants"]) v.erase("seconds");
  for (auto& v : lab["variants"]) v.erase("seconds");
  CHECK(lab == lab2);
  // bad input
  r = run("explore --data gaussian --losses ce,nope --out " + dir.string());
  CHECK(r.code == 2);
  CHECK(r.out.find("unknown lab loss 'nope'") != std::string::npos);
  for (const auto& [flags, why] : {std::pair<std::string, std::string>{"--losses ce,ce", "--losses: 'ce' given twice"},
                                   {"--losses=", "--losses: give at least one lab loss"},
                                   {"--losses ce --out " + (dir / "lab.json").string(), " is a file, not a folder"}}) {
    r = run("explore --data gaussian " + flags);  // refused before any training
    CHECK(r.code == 2);
    CHECK_MESSAGE(r.out.find(why) != std::string::npos, r.out);
    CHECK(r.out.find("lab: ") == std::string::npos);
  }
  fs::remove_all(dir);
  fs::remove_all(again);
}
