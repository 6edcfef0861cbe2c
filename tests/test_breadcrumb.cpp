// Breadcrumb's feature memory (train/methods/breadcrumb.h) against the official train.py's construction
// (tests/make_breadcrumb_fixtures.py): FIFO lengths ceil(n_b / n_c), the ready flag after every epoch, the
// EMANATE rows; the state round trip; and that g_c's step on detached features leaves F without gradient.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/autograd.h"
#include "gradcheck.h"
#include "json_fixture.h"
#include "layers/resnet.h"
#include "train/methods/breadcrumb.h"

using namespace tailor;
using namespace tailor::test;
using json = nlohmann::json;

TEST_CASE("Breadcrumb: n_b and the FIFO lengths") {
  CHECK(breadcrumb_nb(10, 16, 10) == 16);     // ceil(160 / 10)
  CHECK(breadcrumb_nb(227, 512, 1000) == 117);  // ImageNet-LT: ceil(227 * 512 / 1000)
  FeatureFifos f({40, 30, 4, 5, 16, 17, 0}, 16, 3);
  CHECK(f.lengths() == std::vector<int64_t>{1, 1, 4, 4, 1, 1, 1});  // a class without images: 1
  CHECK_FALSE(f.ready());
}

TEST_CASE("Breadcrumb: FIFOs and EMANATE equal the official code's construction") {
  const json fx = load_json_fixture("breadcrumb_reference.json", "tests/make_breadcrumb_fixtures.py");
  for (const json& c : fx.at("cases")) {
    CAPTURE(c.at("name").get<std::string>());
    const int64_t dim = c.at("dim");
    FeatureFifos f(c.at("counts").get<std::vector<int64_t>>(), c.at("nb"), dim);
    CHECK(f.lengths() == c.at("lengths").get<std::vector<int64_t>>());
    for (const json& e : c.at("epochs")) {
      f.push_epoch(e.at("feats").get<std::vector<float>>(), e.at("labels").get<std::vector<int32_t>>());
      CHECK(f.ready() == e.at("ready").get<bool>());
    }
    std::vector<float> got;
    std::vector<int32_t> labels;
    f.emanate(&got, &labels);
    CHECK(labels == c.at("emanate_labels").get<std::vector<int32_t>>());
    const std::vector<double> want = c.at("emanate_feats").get<std::vector<double>>();
    REQUIRE(got.size() == want.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    CHECK(worst < 2e-6);  // the centroids: here summed in double, there in float32
    // the state round trip gives the same memory
    Json j;
    std::map<std::string, Tensor> t;
    f.save(j, t, "fifo.");
    FeatureFifos g(c.at("counts").get<std::vector<int64_t>>(), c.at("nb"), dim);
    g.load(j, t, "fifo.");
    std::vector<float> again;
    std::vector<int32_t> labels_again;
    g.emanate(&again, &labels_again);
    CHECK(again == got);
    CHECK(labels_again == labels);
    CHECK(g.ready() == f.ready());
  }
}

TEST_CASE("Breadcrumb: the oldest epoch leaves a full FIFO, and EMANATE re-centres on the newest centroid") {
  FeatureFifos f({2}, 4, 1);  // L = 2
  f.push_epoch({1.f, 3.f}, {0, 0});        // mean 2
  f.push_epoch({10.f, 14.f}, {0, 0});      // mean 12
  CHECK(f.ready());
  std::vector<float> x;
  std::vector<int32_t> y;
  f.emanate(&x, &y);
  CHECK(x == std::vector<float>{10.f, 14.f, 11.f, 13.f});  // newest first: 10-12+12, 14-12+12, 1-2+12, 3-2+12
  f.push_epoch({100.f, 104.f, 108.f}, {0, 0, 0});          // mean 104; the first epoch leaves
  f.emanate(&x, &y);
  CHECK(x == std::vector<float>{100.f, 104.f, 108.f, 102.f});  // the first n_b = 4 rows
  CHECK(f.filled(0) == 2);
}

TEST_CASE("Breadcrumb: g_c trains on detached features and never sends gradient into F") {
  Rng r(3);
  ResNetConfig rc;
  rc.num_classes = 4;
  ResNet net(rc, r);
  Linear gc(net.feature_dim(), 4, true, r);
  Tensor images = randn({3, 32, 32, 3}, r);
  Tensor f;
  {
    NoGradGuard ng;
    f = net.features(images).detach();
  }
  CHECK_FALSE(f.requires_grad());
  softmax_cross_entropy(gc.forward(f), Tensor::from_vector_i32({0, 1, 3}, {3})).backward();
  CHECK(gc.weight.grad().defined());
  for (auto& [name, p] : net.named_parameters()) {
    CAPTURE(name);
    CHECK_FALSE(p.grad().defined());
  }
}
