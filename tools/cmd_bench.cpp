// `tailor bench`: times full training steps (forward, cross-entropy, backward, SGD) on a synthetic
// batch after a warm-up, then eval forwards, and prints one JSON line (same as
// benchmarks/pytorch/bench_resnet.py).
#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "engine/allocator.h"
#include "layers/resnet.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/sgd.h"

namespace tailor {

static const char* kBenchUsage =
    "usage: tailor bench --model resnet32|resnet50|resnet152 [--batch N] [--steps N] [--warmup N]\n"
    "                    [--device cpu|cuda] [--threads N] [--image-size N] [--classes N]\n"
    "Times training steps (forward, loss, backward, SGD) on a synthetic batch and prints one JSON line:\n"
    "{\"model\",\"device\",\"batch\",\"threads\",\"train_img_per_s\",\"eval_img_per_s\",\"peak_rss_mb\"}\n";

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int cmd_bench(int argc, char** argv) {
  std::string model, device_name;
  long long batch, steps, warmup, threads, image_size, classes;
  try {
    Args a(argc, argv, {"model", "batch", "steps", "warmup", "device", "threads", "image-size", "classes"}, {"help"});
    if (a.has("help")) {
      std::cout << kBenchUsage;
      return 0;
    }
    if (!a.has("model")) throw UsageError("--model is required");
    model = a.choice("model", "", {"resnet32", "resnet50", "resnet152"});
    device_name = a.choice("device", "cpu", {"cpu", "cuda"});
    batch = a.integer("batch", 128, 1, 1 << 20);
    steps = a.integer("steps", 20, 1, 1 << 20);
    warmup = a.integer("warmup", 3, 0, 1 << 20);
    threads = a.integer("threads", omp_get_max_threads(), 1, 1024);
    image_size = a.integer("image-size", model == "resnet32" ? 32 : 224, 8, 4096);
    classes = a.integer("classes", model == "resnet32" ? 10 : 1000, 1, 1 << 20);
  } catch (const UsageError& e) {
    std::cerr << "tailor bench: " << e.what() << "\n" << kBenchUsage;
    return 2;
  }
  Device dev = parse_device(device_name);
  TAILOR_CHECK(dev.is_cpu() || cuda_available(), "tailor bench: --device cuda requested but no CUDA device is "
               "available (or this build has no CUDA backend)");
  omp_set_num_threads((int)threads);
  manual_seed(0);
  auto net = make_resnet(model, classes, 3);
  net->train();
  SGD opt(net->parameters(), SgdOptions{0.01f, 0.9f, 0.f, 5e-4f, false});

  Rng rng(1);
  Tensor x = Tensor::empty({batch, image_size, image_size, 3});
  normal_(x, 0.f, 1.f, rng);
  std::vector<int32_t> labels(batch);
  for (auto& l : labels) l = (int32_t)rng.below(classes);
  Tensor y = Tensor::from_vector_i32(labels, {batch});

  auto train_step = [&] {
    Tensor loss = softmax_cross_entropy(net->forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    return loss.item();
  };
  for (long long i = 0; i < warmup; ++i) train_step();
  double t0 = now_s();
  for (long long i = 0; i < steps; ++i) train_step();
  double train_s = now_s() - t0;

  net->eval();
  double eval_s;
  {
    NoGradGuard ng;
    for (long long i = 0; i < std::max(1LL, warmup); ++i) net->forward(x);
    double t1 = now_s();
    for (long long i = 0; i < steps; ++i) net->forward(x);
    eval_s = now_s() - t1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  nlohmann::ordered_json j;
  j["model"] = model;
  j["device"] = device_name;
  j["batch"] = batch;
  j["threads"] = threads;
  j["train_img_per_s"] = std::round(batch * steps / train_s * 10) / 10;
  j["eval_img_per_s"] = std::round(batch * steps / eval_s * 10) / 10;
  j["peak_rss_mb"] = std::round(ru.ru_maxrss / 1024.0 * 10) / 10;
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace tailor
