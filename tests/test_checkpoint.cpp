// Weights round-trip through safetensors with PyTorch names; strict loading reports every problem.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "layers/resnet.h"
#include "engine/safetensors.h"
#include "train/checkpoint.h"

using namespace tailor;

static std::string tmp_path(const char* name) { return std::string("/tmp/tailor_test_") + name; }

TEST_CASE("ResNet-32 weights round-trip bit-exactly, BN counters as int64") {
  manual_seed(1);
  auto a = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  Tensor x = Tensor::full({2, 32, 32, 3}, 0.5f);
  a->forward(x);  // one train step of BN statistics (num_batches_tracked = 1)
  std::string path = tmp_path("r32.safetensors");
  save_weights(path, *a, {{"arch", "resnet32"}});
  manual_seed(2);
  auto b = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
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
  auto r10 = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  std::string path = tmp_path("r10.safetensors");
  save_weights(path, *r10);
  auto r100 = make_resnet("resnet32", 100, 3, HeadKind::Linear, global_rng());
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
  auto normed = make_resnet("resnet32", 10, 3, HeadKind::None, global_rng());
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

// With TAILOR_EXPORT_DIR set, writes resnet32.safetensors (weights after one train-mode step of BN
// statistics) and resnet32_io.safetensors (an NCHW input and tailor's eval-mode logits) for
// benchmarks/pytorch/check_checkpoint.py, which loads the weights into the PyTorch model strictly.
TEST_CASE("export a ResNet-32 checkpoint for the PyTorch strict-load check") {
  const char* dir = std::getenv("TAILOR_EXPORT_DIR");
  if (!dir) return;
  manual_seed(5);
  auto net = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  Rng rng(6);
  Tensor x = Tensor::empty({4, 32, 32, 3});
  normal_(x, 0.f, 1.f, rng);
  net->forward(x);  // updates BN running statistics and counters
  save_weights(std::string(dir) + "/resnet32.safetensors", *net, {{"arch", "resnet32"}});
  net->eval();
  NoGradGuard ng;
  Tensor logits = net->forward(x);
  std::vector<float> nchw(x.numel());
  for (int n = 0; n < 4; ++n)
    for (int h = 0; h < 32; ++h)
      for (int w = 0; w < 32; ++w)
        for (int c = 0; c < 3; ++c) nchw[((n * 3 + c) * 32 + h) * 32 + w] = x.f32()[((n * 32 + h) * 32 + w) * 3 + c];
  SafeTensorFile io;
  io.tensors["input_nchw"] = make_safetensor_f32({4, 3, 32, 32}, nchw);
  io.tensors["logits"] = make_safetensor_f32({4, 10}, logits.to_vector());
  write_safetensors(std::string(dir) + "/resnet32_io.safetensors", io);
}

TEST_CASE("a write killed at a random moment leaves either the old or the new file, never a broken one") {
  const std::string path = tmp_path("atomic.safetensors");
  // two versions of a 4 MB tensor; the child rewrites the file alternately until it is killed
  auto version = [](float v) { return std::map<std::string, Tensor>{{"w", Tensor::full({1024, 1024}, v)}}; };
  save_tensors(path, version(1.f), {{"v", "1"}});
  for (int trial = 0; trial < 6; ++trial) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (int i = 0;; ++i) save_tensors(path, version(i % 2 ? 2.f : 1.f), {{"v", i % 2 ? "2" : "1"}});
    }
    usleep(20000 + 37000 * trial);  // kill at different points of the write cycle
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    std::map<std::string, std::string> meta;
    std::map<std::string, Tensor> t;
    REQUIRE_NOTHROW(t = read_weights(path, &meta));
    const float want = meta.at("v") == "2" ? 2.f : 1.f;
    std::vector<float> v = t.at("w").to_vector();
    CHECK(std::all_of(v.begin(), v.end(), [&](float x) { return x == want; }));
  }
  std::remove(path.c_str());
  std::remove((path + ".tmp").c_str());
}
