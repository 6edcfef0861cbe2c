// The loss inspector (losses/inspect.h, `tailor inspect-loss`): value and gradient against NumPy
// references (tests/make_inspect_fixtures.py), the CE gap sweep against the closed form of GCL Eq. 3,
// seeding of the random losses, and the command's files and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_run.h"
#include "json_fixture.h"
#include "losses/inspect.h"
#include "train/run_config.h"

using namespace tailor;

TEST_CASE("inspect_loss: value and gradient equal the NumPy reference") {
  auto cases = test::load_json_fixture("inspect_loss_reference.json", "tests/make_inspect_fixtures.py");
  REQUIRE(cases.size() >= 10);
  for (auto& c : cases) {
    Json stage;
    stage["loss"] = Json::parse(c["set"].dump());
    LossConfig cfg = loss_config(stage);
    std::vector<int64_t> counts = c["counts"].get<std::vector<int64_t>>();
    std::vector<double> z = c["logits"].get<std::vector<double>>(), noise;
    if (c.contains("noise")) noise = c["noise"].get<std::vector<double>>();
    const std::string name = c["loss"];
    INFO(name << " " << c["set"].dump() << " target " << c["target"]);
    LossInspection r = inspect_loss(name, cfg, counts, z, c["target"].get<int>(), 0, noise);
    double v = c["value"];
    CHECK(r.value == doctest::Approx(v).epsilon(1e-5));
    auto g = c["grad"].get<std::vector<double>>();
    REQUIRE(r.grad.size() == g.size());
    for (size_t j = 0; j < g.size(); ++j) CHECK(r.grad[j] == doctest::Approx(g[j]).epsilon(1e-4).scale(1e-4));
  }
}

TEST_CASE("inspect_loss: adjusted logits as the methods define them") {
  std::vector<int64_t> n = {5000, 500, 50};
  LossInspection b = inspect_loss("balanced_softmax", LossConfig(), n, {2, 1, 0.5}, 2, 0);
  for (int j = 0; j < 3; ++j) CHECK(b.adjusted[j] == doctest::Approx(std::vector<double>{2, 1, 0.5}[j] + std::log((double)n[j])));
  // softmax(adjusted) - onehot is the gradient of a plain shifted-logit CE
  for (int j = 0; j < 3; ++j) CHECK(b.grad[j] == doctest::Approx(b.probs[j] - (j == 2)).epsilon(1e-5));
  LossInspection s = inspect_loss("las", LossConfig(), n, {2, 1, 0.5}, 2, 0);
  CHECK(s.adjusted.empty());
  CHECK(s.adjusted_formula.find("none") == 0);
  // a gap where the softmax underflows (p_y = e^-699): the self-check's CE is a log-sum-exp, the loss 699
  LossInspection far = inspect_loss("ce", LossConfig(), {100, 10}, {1, 700}, 0, 0);
  CHECK(far.value == doctest::Approx(699.0));
  CHECK(inspect_loss("balanced_softmax", LossConfig(), {100, 10}, {1, 800}, 0, 0).value ==
        doctest::Approx(799 + std::log(10.0) - std::log(100.0)));
}

TEST_CASE("inspect_loss: class weights that divide out on one sample are said, weights that act are not") {
  std::vector<int64_t> n = {1000, 10, 1};
  LossConfig w;
  w.weight = {1, 1, 5};
  LossInspection ce = inspect_loss("ce", w, n, {0.5, 0.2, -0.1}, 2, 0);
  CHECK(ce.value == doctest::Approx(inspect_loss("ce", LossConfig(), n, {0.5, 0.2, -0.1}, 2, 0).value));
  CHECK(ce.weights_note.find("the class weights divide out on one sample: ce averages a batch as sum_i w_i l_i / "
                             "sum_i w_i") == 0);
  LossConfig reweight = ldam_drw_cifar();
  reweight.train_rule = "Reweight";
  CHECK(!inspect_loss("ldam", reweight, n, {0.5, 0.2, -0.1}, 2, 0).weights_note.empty());
  // focal weights each sample's term (a plain mean over the batch): its value changes, nothing to say
  LossInspection focal = inspect_loss("focal", w, n, {0.5, 0.2, -0.1}, 2, 0);
  CHECK(focal.value != doctest::Approx(inspect_loss("focal", LossConfig(), n, {0.5, 0.2, -0.1}, 2, 0).value));
  CHECK(focal.weights_note.empty());
  // a target weight of 1 leaves focal's value as it is, but its weights still act (a plain mean of w_i l_i)
  CHECK(inspect_loss("focal", w, n, {0.5, 0.2, -0.1}, 0, 0).weights_note.empty());
  LossConfig zero;  // the target's weight 0: the loss is 0 whatever the scale, nothing to say
  zero.weight = {0, 1, 1};
  CHECK(inspect_loss("focal", zero, n, {0.5, 0.2, -0.1}, 0, 0).weights_note.empty());
  CHECK(inspect_loss("ce", LossConfig(), n, {0.5, 0.2, -0.1}, 2, 0).weights_note.empty());
}

TEST_CASE("inspect_loss: random losses are seeded") {
  std::vector<int64_t> n = {5000, 500, 50};
  LossConfig c = gcl_cifar_stage1();
  LossInspection a = inspect_loss("gcl", c, n, {0.5, 0.2, 0.1}, 2, 7), b = inspect_loss("gcl", c, n, {0.5, 0.2, 0.1}, 2, 7),
                 d = inspect_loss("gcl", c, n, {0.5, 0.2, 0.1}, 2, 8);
  CHECK(a.randomness.find("seed 7") != std::string::npos);
  CHECK(a.value == b.value);
  CHECK(a.noise == b.noise);
  CHECK(a.value != d.value);
  CHECK(inspect_loss("ce", LossConfig(), n, {0.5, 0.2, 0.1}, 2, 7).randomness.empty());
}

TEST_CASE("sweep_target_gap: CE follows 1 - p_y, and the LT losses keep the rare target's gradient") {
  std::vector<int64_t> n = {5000, 500, 50, 5};
  GapSweep s = sweep_target_gap(n, -5, 15, 41, 50, 3);
  REQUIRE(s.names[0] == "ce");
  for (size_t i = 0; i < s.gaps.size(); ++i) {
    double p = std::exp(s.gaps[i]) / (std::exp(s.gaps[i]) + 3.0);  // C = 4, other logits 0
    CHECK(s.ce_closed_form[i] == doctest::Approx(1 - p).epsilon(1e-9));
    // float32 autograd: 1 - p_y is exact up to the float spacing near 1 (6e-8), plus 1e-5 relative
    CHECK(std::fabs(s.grads[0][i] - (1 - p)) <= 1e-7 + 1e-5 * (1 - p));
  }
  // Balanced Softmax for the rarest target: p_y = n_y e^g / (n_y e^g + sum_others n_j)
  for (size_t i = 0; i < s.gaps.size(); ++i) {
    double p = 5 * std::exp(s.gaps[i]) / (5 * std::exp(s.gaps[i]) + 5550.0);
    CHECK(std::fabs(s.grads[3][i] - (1 - p)) <= 1e-7 + 1e-5 * (1 - p));
  }
  // at a gap of 5 the CE gradient has nearly died; gcl, ldam and balanced_softmax keep more of it
  size_t at5 = 20;
  REQUIRE(s.gaps[at5] == doctest::Approx(5.0));
  for (size_t k = 1; k < s.names.size(); ++k) CHECK(s.grads[k][at5] > 5 * s.grads[0][at5]);
  // the CSV has the header and one row per gap
  std::string csv = gap_sweep_csv(s);
  CHECK(csv.rfind("gap,ce,gcl,ldam,balanced_softmax,ce_closed_form\n", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 42);
}

TEST_CASE("tailor inspect-loss: prints the inspection, writes the sweep, names bad input") {
  Run r = run("inspect-loss --loss gcl --counts 5000,500,50 --logits 0.5,0.2,0.1 --target 2 --seed 3 --set loss.m=0");
  CHECK(r.code == 0);
  CHECK(r.out.find("drawn from seed 3") != std::string::npos);
  CHECK(r.out.find("dL/dz") != std::string::npos);
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "tailor_test_inspect_sweep";
  fs::remove_all(dir);
  r = run("inspect-loss --sweep-gap --counts 5000,500,50 --steps 11 --draws 5 --out " + dir.string());
  CHECK(r.code == 0);
  CHECK(fs::file_size(dir / "gap_sweep.png") > 1000);
  std::ifstream f(dir / "gap_sweep.csv");
  std::string header;
  std::getline(f, header);
  CHECK(header == "gap,ce,gcl,ldam,balanced_softmax,ce_closed_form");
  r = run("inspect-loss --loss ldam --counts 5,3 --logits 0.1,0.2 --target 0 --set loss.tau=2");
  CHECK(r.code == 2);
  CHECK(r.out.find("loss.tau: the loss ldam does not read it") != std::string::npos);
  r = run("inspect-loss --loss ce --counts 5,3 --logits 0.1 --target 0");
  CHECK(r.code == 2);
  CHECK(r.out.find("--logits has 1 values but --counts has 2") != std::string::npos);
  r = run("inspect-loss --loss nope --counts 5,3 --logits 0.1,1 --target 0");
  CHECK(r.code == 2);  // usage errors, as every other bad flag
  CHECK(r.out.find("--loss: unknown loss 'nope' (known: ce, focal,") != std::string::npos);
  r = run("inspect-loss --sweep-gap --counts 5,3 --gap-min 5 --gap-max 1");
  CHECK(r.code == 2);
  CHECK(r.out.find("--gap-max (1) must be above --gap-min (5)") != std::string::npos);
  r = run("inspect-loss --sweep-gap --counts 5");
  CHECK(r.code == 2);
  CHECK(r.out.find("--sweep-gap needs at least 2 classes in --counts") != std::string::npos);
  fs::remove_all(dir);
}
