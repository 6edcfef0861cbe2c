// Weights round-trip through safetensors with PyTorch names; strict loading reports every problem.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "layers/resnet.h"
#include "train/checkpoint.h"

using namespace tailor;

static std::string tmp_path(const char* name) { return std::string("/tmp/tailor_test_") + name; }

TEST_CASE("ResNet-32 weights round-trip bit-exactly, BN counters as int64") {
  manual_seed(1);
  auto a = make_resnet("resnet32", 10);
  Tensor x = Tensor::full({2, 32, 32, 3}, 0.5f);
  a->forward(x);  // one train step of BN statistics (num_batches_tracked = 1)
  std::string path = tmp_path("r32.safetensors");
  save_weights(path, *a, {{"arch", "resnet32"}});
  manual_seed(2);
  auto b = make_resnet("resnet32", 10);
  auto rep = load_weights(path, *b);
  CHECK(rep.ok());
  auto sa = a->state_dict(), sb = b->state_dict();
  for (size_t i = 0; i < sa.size(); ++i) CHECK(sa[i].second.to_vector() == sb[i].second.to_vector());
  CHECK(b->named_buffers()[2].first == "bn1.num_batches_tracked");
  CHECK(b->named_buffers()[2].second.to_vector_i32()[0] == 1);
  a->eval();
  b->eval();
  NoGradGuard ng;
  CHECK(a->forward(x).to_vector() == b->forward(x).to_vector());
  std::remove(path.c_str());
}

TEST_CASE("strict loading names missing, unexpected and mismatched tensors") {
  auto r10 = make_resnet("resnet32", 10);
  std::string path = tmp_path("r10.safetensors");
  save_weights(path, *r10);
  auto r100 = make_resnet("resnet32", 100);
  try {
    load_weights(path, *r100);
    FAIL("expected an error");
  } catch (const std::exception& e) {
    std::string m = e.what();
    CHECK(m.find(path) == 0);
    CHECK(m.find("shape mismatch (2): linear.bias f32[10] cpu vs model f32[100] cpu") != std::string::npos);
  }
  auto rep = load_weights(path, *r100, /*allow_partial=*/true);
  CHECK(rep.mismatched.size() == 2);
  auto normed = make_resnet("resnet32", 10, 3, HeadKind::None);
  try {
    load_weights(path, *normed);
    FAIL("expected an error");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("unexpected (2): linear.bias, linear.weight") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(read_weights("/nonexistent/w.safetensors"), doctest::Contains("/nonexistent/w.safetensors"),
                       std::exception);
  std::remove(path.c_str());
}
