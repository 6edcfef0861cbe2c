// `tailor bench`: times full training steps (forward, cross-entropy, backward, SGD) on a synthetic
// batch after a warm-up, then eval forwards, and prints one JSON line (same as
// benchmarks/pytorch/bench_resnet.py).
#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "engine/allocator.h"
#include "engine/cuda_graph.h"
#include "engine/precision.h"
#include "engine/profiler.h"
#include "layers/resnet.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/sgd.h"

namespace tailor {

static const char* kBenchUsage =
    "usage: tailor bench --model resnet10|resnet32|resnet50|resnet152|resnext50_32x4d [--batch N] [--steps N]\n"
    "                    [--warmup N] [--device cpu|cuda] [--threads N] [--image-size N] [--classes N]\n"
    "                    [--precision fp32|bf16] [--deterministic] [--no-tf32] [--cuda-graphs] [--profile N]\n"
    "Times training steps (forward, loss, backward, SGD) on a synthetic batch and prints one JSON line:\n"
    "{\"model\",\"device\",\"batch\",\"threads\",\"image_size\",\"classes\",\"steps\",\"precision\"[,\"cuda_graphs\"],\n"
    " \"train_img_per_s\",\"eval_img_per_s\",\"peak_rss_mb\"[,\"peak_gpu_mb\",\"gpu\",\"tf32_conv\",\"deterministic\"]}\n"
    "CUDA: TF32 is allowed for convolutions and off for GEMMs (PyTorch's defaults) unless --no-tf32;\n"
    "--deterministic restricts cuDNN to deterministic algorithms. --precision bf16: convolutions with bfloat16\n"
    "operands and bf16 activations between them (docs/precision.md). --cuda-graphs: the training step and the\n"
    "evaluation forward captured once after the warm-up and replayed (train/step_graph.h).\n"
    "--profile N: after the timed steps, N more eager training steps and N evaluation forwards with every kernel\n"
    "timed (engine/profiler.h: host time on the CPU, GPU time between CUDA events); on stderr one table for\n"
    "the training steps and one for the evaluation forwards, each with the time per kernel and phase and\n"
    "ending with the kernels' sum against the wall time per step.\n";

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int cmd_bench(int argc, char** argv) {
  std::string model, device_name, precision_arg;
  bool deterministic = false, no_tf32 = false, graphs = false;
  long long batch, steps, warmup, threads, image_size, classes, profile_steps;
  try {
    Args a(argc, argv, {"model", "batch", "steps", "warmup", "device", "threads", "image-size", "classes", "precision",
            "profile"},
           {"help", "deterministic", "no-tf32", "cuda-graphs"});
    if (a.has("help")) {
      std::cout << kBenchUsage;
      return 0;
    }
    if (!a.has("model")) throw UsageError("--model is required");
    model = a.choice("model", "", {"resnet10", "resnet32", "resnet50", "resnet152", "resnext50_32x4d"});
    device_name = a.choice("device", "cpu", {"cpu", "cuda"});
    precision_arg = a.choice("precision", "fp32", {"fp32", "bf16"});
    deterministic = a.has("deterministic");
    no_tf32 = a.has("no-tf32");
    graphs = a.has("cuda-graphs");
    batch = a.integer("batch", 128, 1, 1 << 20);
    steps = a.integer("steps", 20, 1, 1 << 20);
    warmup = a.integer("warmup", 3, graphs ? 1 : 0, 1 << 20);
    threads = a.integer("threads", omp_get_max_threads(), 1, 1024);
    image_size = a.integer("image-size", model == "resnet32" ? 32 : 224, 8, 4096);
    classes = a.integer("classes", model == "resnet32" ? 10 : 1000, 1, 1 << 20);
    profile_steps = a.integer("profile", 0, 0, 1 << 20);
  } catch (const UsageError& e) {
    std::cerr << "tailor bench: " << e.what() << "\n" << kBenchUsage;
    return 2;
  }
  Device dev = parse_device(device_name);
  TAILOR_CHECK(dev.is_cpu() || cuda_available(), "tailor bench: --device cuda requested but no CUDA device is "
               "available (or this build has no CUDA backend)");
  TAILOR_CHECK(!graphs || dev.is_cuda(), "tailor bench: --cuda-graphs needs --device cuda");
  const Precision precision = parse_precision(precision_arg);
  TAILOR_CHECK(precision == Precision::F32 || has_native_bf16(dev),
               "tailor bench: --precision bf16 needs native bf16 convolutions (a CPU with AVX512-BF16 or AMX, a GPU "
               "with compute capability 8.0 or later)");
  PrecisionScope precision_scope(precision);
  omp_set_num_threads((int)threads);
  if (dev.is_cuda()) {
    cuda_set_deterministic(deterministic);
    cuda_set_allow_tf32(!no_tf32, false);
  }
  manual_seed(0);
  auto net = make_resnet(model, classes, 3, HeadKind::Linear, global_rng());
  net->to(dev);
  net->train();
  SGD opt(net->parameters(), SgdOptions{0.01f, 0.9f, 0.f, 5e-4f, false});

  Rng rng(1);
  Tensor x = Tensor::empty({batch, image_size, image_size, 3});
  normal_(x, 0.f, 1.f, rng);
  x = x.to(dev);
  std::vector<int32_t> labels(batch);
  for (auto& l : labels) l = (int32_t)rng.below(classes);
  Tensor y = Tensor::from_vector_i32(labels, {batch}, dev);

  // like the PyTorch script: no host round trip per step; the device is synchronised around each phase
  Tensor loss;
  auto train_step = [&] {
    loss = softmax_cross_entropy(net->forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  for (long long i = 0; i < warmup; ++i) train_step();
  // --cuda-graphs: one more step captured (and run), the timed ones replayed
  CudaGraph train_graph, eval_graph;
  auto capture = [](CudaGraph& g, const std::function<void()>& f) {
    g.begin_capture();
    try {
      f();
      g.end_capture();
    } catch (...) {
      g.abort_capture();
      throw;
    }
    g.launch();
  };
  if (graphs) capture(train_graph, train_step);
  cuda_synchronize();
  double t0 = now_s();
  for (long long i = 0; i < steps; ++i) graphs ? train_graph.launch() : train_step();
  cuda_synchronize();
  double train_s = now_s() - t0;
  if (!std::isfinite(loss.item())) std::cerr << "warning: non-finite training loss\n";

  net->eval();
  double eval_s;
  {
    NoGradGuard ng;
    for (long long i = 0; i < std::max(1LL, warmup); ++i) net->forward(x);
    if (graphs) capture(eval_graph, [&] { net->forward(x); });
    cuda_synchronize();
    double t1 = now_s();
    for (long long i = 0; i < steps; ++i) graphs ? eval_graph.launch() : (void)net->forward(x);
    cuda_synchronize();
    eval_s = now_s() - t1;
  }
  if (profile_steps > 0) {
    // eager steps even with --cuda-graphs (a replay runs no op to attribute time to)
    char what[200];
    std::snprintf(what, sizeof what, "%s batch %lld %lldx%lld %s on %s", model.c_str(), batch, image_size, image_size,
                  precision_arg.c_str(), dev.is_cuda() ? cuda_device_name().c_str() : "the CPU");
    auto profiled = [&](const char* title, const std::function<void()>& f) {
      cuda_synchronize();
      profile::start();
      const double t = now_s();
      for (long long i = 0; i < profile_steps; ++i) f();
      cuda_synchronize();
      const double wall_ms = (now_s() - t) * 1000 / profile_steps;
      std::vector<profile::KernelTime> kernels = profile::stop();
      std::cerr << "kernel profile: " << profile_steps << " " << title << ", " << what << "\n"
                << profile::table(kernels, profile_steps, wall_ms) << "\n";
    };
    net->train();
    profiled("training steps (forward, loss, backward, SGD; eager)", train_step);
    net->eval();
    NoGradGuard ng;
    profiled("evaluation forwards (eager)", [&] { net->forward(x); });
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  nlohmann::ordered_json j;
  j["model"] = model;
  j["device"] = device_name;
  j["batch"] = batch;
  j["threads"] = threads;
  j["image_size"] = image_size;
  j["classes"] = classes;
  j["steps"] = steps;
  j["precision"] = precision_arg;
  if (graphs) j["cuda_graphs"] = true;
  j["train_img_per_s"] = std::round(batch * steps / train_s * 10) / 10;
  j["eval_img_per_s"] = std::round(batch * steps / eval_s * 10) / 10;
  j["peak_rss_mb"] = std::round(ru.ru_maxrss / 1024.0 * 10) / 10;
  if (dev.is_cuda()) {
    j["peak_gpu_mb"] = std::round(cuda_memory_stats().peak / 1048576.0 * 10) / 10;
    j["gpu"] = cuda_device_name();
    j["tf32_conv"] = !no_tf32;
    j["deterministic"] = deterministic;
  }
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace tailor
