// The kernel profiler (engine/profiler.h): what it records, under which phase, and only while it is on.
#include <doctest/doctest.h>

#include <thread>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/profiler.h"
#include "train/sgd.h"

using namespace tailor;

namespace {

const profile::KernelTime* find(const std::vector<profile::KernelTime>& ks, const std::string& name,
                                const std::string& phase) {
  for (const auto& k : ks)
    if (k.name == name && k.phase == phase) return &k;
  return nullptr;
}

}  // namespace

TEST_CASE("the profile counts each kernel call once, under its phase, only while it is on") {
  Tensor w = Tensor::from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {3, 2});
  w.set_requires_grad(true);
  Tensor x = Tensor::from_vector({1.f, -1.f, 0.5f, 2.f}, {2, 2});
  SGD opt({w}, SgdOptions{0.1f, 0.9f, 0.f, 0.f, false});

  matmul(x, transpose2d(w));  // before start(): not recorded
  profile::start();
  CHECK(profile::on());
  for (int step = 0; step < 2; ++step) {
    Tensor y = matmul(x, transpose2d(w).contiguous());  // [2, 3]
    opt.zero_grad();
    sum_all(y).backward();
    opt.step();
  }
  std::vector<profile::KernelTime> ks = profile::stop();
  CHECK_FALSE(profile::on());
  matmul(x, transpose2d(w));  // after stop(): not recorded

  const auto* fwd = find(ks, "gemm", "forward");
  const auto* bwd = find(ks, "gemm", "backward");
  const auto* sgd = find(ks, "sgd_step", "optimizer");
  REQUIRE(fwd);
  REQUIRE(bwd);
  REQUIRE(sgd);
  CHECK(fwd->calls == 2);  // one forward GEMM per step
  CHECK(bwd->calls == 2);  // dW only (x needs no gradient)
  CHECK(sgd->calls == 2);  // one parameter, one update per step
  for (const auto& k : ks) {
    CHECK(k.ms >= 0);
    CHECK(k.phase != "");
  }
  // sorted by time, largest first
  for (size_t i = 1; i < ks.size(); ++i) CHECK(ks[i - 1].ms >= ks[i].ms);

  // a new profile starts empty
  profile::start();
  CHECK(profile::stop().empty());
}

TEST_CASE("copies and fills are timed too") {
  Tensor a = Tensor::from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  profile::start();
  Tensor c = a.clone();
  c.fill_(2.f);
  Tensor t = transpose2d(a);
  matmul(t.contiguous(), c);
  std::vector<profile::KernelTime> ks = profile::stop();
  REQUIRE(find(ks, "copy", "forward"));
  CHECK(find(ks, "copy", "forward")->calls >= 1);
  REQUIRE(find(ks, "fill", "forward"));
  CHECK(find(ks, "fill", "forward")->calls == 1);
  REQUIRE(find(ks, "gemm", "forward"));
  CHECK(find(ks, "gemm", "forward")->calls == 1);
}

TEST_CASE("another thread's kernels are not in this thread's profile") {
  profile::start();
  std::thread other([] {
    Tensor a = Tensor::from_vector({1.f, 2.f}, {1, 2}), b = Tensor::from_vector({3.f, 4.f}, {2, 1});
    CHECK_FALSE(profile::on());
    matmul(a, b);
  });
  other.join();
  CHECK(profile::stop().empty());
}

TEST_CASE("a phase scope names the phase and restores the previous one") {
  Tensor a = Tensor::from_vector({1.f, 2.f}, {1, 2}), b = Tensor::from_vector({3.f, 4.f}, {2, 1});
  profile::start();
  {
    profile::PhaseScope eval("eval");
    matmul(a, b);
    {
      profile::PhaseScope inner("other");
      matmul(a, b);
    }
    matmul(a, b);
  }
  matmul(a, b);
  std::vector<profile::KernelTime> ks = profile::stop();
  REQUIRE(find(ks, "gemm", "eval"));
  CHECK(find(ks, "gemm", "eval")->calls == 2);
  REQUIRE(find(ks, "gemm", "other"));
  CHECK(find(ks, "gemm", "other")->calls == 1);
  REQUIRE(find(ks, "gemm", "forward"));
  CHECK(find(ks, "gemm", "forward")->calls == 1);
}

TEST_CASE("the table: per-step figures, shares, and the kernels' sum against the wall time") {
  std::vector<profile::KernelTime> ks{{"conv2d_forward", "forward", 62, 30.0}, {"gemm", "backward", 4, 10.0}};
  std::string t = profile::table(ks, 2, 25.0);
  CHECK(t.find("conv2d_forward") != std::string::npos);
  // 62 calls over 2 steps = 31 per step, 15 ms per step, 75% of the kernels, 30 ms / 62 calls = 483.9 us
  CHECK(t.find("31.0     15.000    75.0%      483.9") != std::string::npos);
  CHECK(t.find("2.0      5.000    25.0%     2500.0") != std::string::npos);
  CHECK(t.find("kernels: 20.000 ms/step; wall: 25.000 ms/step (no kernel running: 20.0%)") != std::string::npos);
  // rows past max_rows are summed into one
  std::string short_table = profile::table(ks, 2, 25.0, 1);
  CHECK(short_table.find("(the other kernels)") != std::string::npos);
  CHECK(short_table.find("gemm") == std::string::npos);
}
