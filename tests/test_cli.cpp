// The command-line program rejects bad flags and values with usage and a non-zero exit.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

#include "cli_run.h"
#include "engine/version.h"

TEST_CASE("tailor bench: unknown flags and bad values print usage and exit 2") {
  for (const char* args : {"bench --model resnet32 --bogus 3", "bench --model resnet99", "bench --model resnet32 --batch 0",
                           "bench --model resnet32 --batch 12x", "bench --model resnet32 --device tpu",
                           "bench --batch 4", "bench --model resnet32 --steps"}) {
    CAPTURE(args);
    Run r = run(args);
    CHECK(r.code == 2);
    CHECK(r.out.find("usage: tailor bench") != std::string::npos);
  }
  Run r = run("bench --model resnet32 --bogus 3");
  CHECK(r.out.find("unknown flag --bogus") != std::string::npos);
  r = run("bench --model resnet32 --batch 12x");
  CHECK(r.out.find("--batch expects an integer, got '12x'") != std::string::npos);
}

TEST_CASE("tailor bench prints one JSON line with the documented keys") {
  Run r = run("bench --model resnet32 --batch 4 --steps 1 --warmup 0 --threads 1 --image-size 16");
  REQUIRE(r.code == 0);
  for (const char* key : {"\"model\":\"resnet32\"", "\"device\":\"cpu\"", "\"batch\":4", "\"threads\":1",
                          "\"train_img_per_s\":", "\"eval_img_per_s\":", "\"peak_rss_mb\":"})
    CHECK(r.out.find(key) != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
}

TEST_CASE("tailor bench --profile: the JSON line on stdout, the kernel tables on stderr") {
  const std::string args = "bench --model resnet32 --batch 4 --steps 1 --warmup 0 --threads 1 --image-size 16 "
                           "--profile 2";
  FILE* p = popen((tailor_bin() + " " + args + " 2>/dev/null").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  CHECK(pclose(p) == 0);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);  // stdout: the JSON line only
  CHECK(out.rfind("{\"model\":\"resnet32\"", 0) == 0);
  Run r = run(args);
  REQUIRE(r.code == 0);
  for (const char* text : {"kernel profile: 2 training steps", "kernel profile: 2 evaluation forwards",
                           "conv2d_forward", "conv2d_backward_weights", "sgd_step", "optimizer", "kernels: "})
    CHECK(r.out.find(text) != std::string::npos);
  // every convolution of ResNet-32 (31) once per training step
  CHECK(r.out.find("conv2d_forward                     forward         31.0") != std::string::npos);
}

TEST_CASE("unknown commands and train flags are rejected") {
  Run r = run("frobnicate");
  CHECK(r.code == 2);
  CHECK(r.out.find("unknown command 'frobnicate'") != std::string::npos);
  r = run("train --epochs 3");
  CHECK(r.code == 2);
  CHECK(r.out.find("unknown flag --epochs") != std::string::npos);
  r = run("train --set stage1.epochs=-1");
  CHECK(r.code == 2);
  CHECK(r.out.find("stage1.epochs: value -1 out of range [1, 100000]") != std::string::npos);
  r = run("train --set data.root=/nonexistent/fmnist --set stage1.epochs=1 --set runs_dir=/tmp/tailor_test_cli_runs "
          "--overwrite");
  CHECK(r.code == 1);
  CHECK(r.out.find("/nonexistent/fmnist") != std::string::npos);
}

TEST_CASE("tailor --version: the commit (git describe, -dirty with uncommitted changes) and the build's options") {
  Run r = run("--version");
  CHECK(r.code == 0);
  INFO(r.out);
  const std::string commit = tailor::version_commit();
  CHECK(r.out == tailor::version_line() + "\n");
  CHECK(r.out.rfind("tailor " + commit + " (", 0) == 0);
  // 12 hex digits (git describe --always --abbrev=12 on a commit without tags), or "unknown" outside a checkout
  const std::string hash = commit.substr(0, commit.find('-'));
  CHECK((commit == "unknown" || (hash.size() >= 12 && hash.find_first_not_of("0123456789abcdef") == std::string::npos)));
  CHECK((commit == hash || commit == hash + "-dirty"));
#ifdef TAILOR_CUDA
  CHECK(r.out.find("CUDA on, MPI ") != std::string::npos);
#else
  CHECK(r.out.find("CUDA off, MPI ") != std::string::npos);
#endif
}
