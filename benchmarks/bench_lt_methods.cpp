// Long-tailed methods on Fashion-MNIST-LT (exp profile, rho = 100) with ResNet-32 (1 input channel,
// 28x28), short schedule: cross-entropy, Balanced Softmax, and GCL two-stage (stage 1: GCL loss with a
// NormedLinear head and mixup; stage 2: the head retrained with the GCL stage-2 loss on CBEN-sampled
// batches, backbone frozen, BN in eval mode). Prints one table: top-1 and many / medium / few-shot
// accuracy (many > 100, medium 20-100, few < 20 training images) and wall time.
//
//   bench_lt_methods [--epochs N] [--stage2-epochs N] [--threads N] [--limit N] [--test-limit N]
//                    [--batch N] [--lr F] [--mixup F] [--seed N] [--data-root DIR] [--work-dir DIR]
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "data/idx.h"
#include "data/imbalance.h"
#include "layers/resnet.h"
#include "train/two_stage.h"

using namespace tailor;

namespace {

const char* kUsage =
    "usage: bench_lt_methods [--epochs N] [--stage2-epochs N] [--threads N] [--limit N] [--test-limit N]\n"
    "                        [--batch N] [--lr F] [--mixup F] [--seed N] [--data-root DIR] [--work-dir DIR]\n"
    "Fashion-MNIST-LT (exp, rho 100), ResNet-32: CE, Balanced Softmax, GCL two-stage.\n"
    "Defaults: 10 epochs, 3 stage-2 epochs, all cores, batch 128, lr 0.1, mixup 1.0 (GCL only), seed 0.\n"
    "--limit N caps the training images (the LT class proportions are kept, >= 1 per class);\n"
    "--test-limit N caps the test images (first N of each class in proportion).\n";

// Keeps about n of the subset's images, scaling every class count (at least 1 per class).
std::vector<int64_t> limit_per_class(const std::vector<int32_t>& labels, int C, int64_t n) {
  std::vector<int64_t> counts(C, 0), keep(C), out;
  for (int32_t y : labels) ++counts[y];
  const double f = std::min(1.0, (double)n / (double)labels.size());
  for (int c = 0; c < C; ++c) keep[c] = std::max<int64_t>(1, (int64_t)(counts[c] * f));
  std::vector<int64_t> taken(C, 0);
  for (int64_t i = 0; i < (int64_t)labels.size(); ++i)
    if (taken[labels[i]] < keep[labels[i]]) {
      ++taken[labels[i]];
      out.push_back(i);
    }
  return out;
}

std::string pct(const ShotGroup& g) {
  if (g.empty()) return "   n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%6.2f", 100 * g.acc);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
      std::cerr << "bench_lt_methods: bad argument '" << k << "'\n" << kUsage;
      return 2;
    }
    a[k.substr(2)] = argv[++i];
  }
  static const char* known[] = {"epochs", "stage2-epochs", "threads", "limit", "test-limit", "batch",
                                "lr",     "mixup",         "seed",    "data-root", "work-dir"};
  for (auto& [k, v] : a)
    if (std::find_if(std::begin(known), std::end(known), [&](const char* s) { return k == s; }) == std::end(known)) {
      std::cerr << "bench_lt_methods: unknown flag --" << k << "\n" << kUsage;
      return 2;
    }
  auto num = [&](const char* k, double def) { return a.count(k) ? std::atof(a[k].c_str()) : def; };
  const int epochs = (int)num("epochs", 10), s2_epochs = (int)num("stage2-epochs", 3);
  const int threads = (int)num("threads", std::max(1u, std::thread::hardware_concurrency()));
  const int64_t limit = (int64_t)num("limit", -1), test_limit = (int64_t)num("test-limit", -1);
  const int64_t batch = (int64_t)num("batch", 128);
  const float lr = (float)num("lr", 0.1);
  const double mixup = num("mixup", 1.0);
  const uint64_t seed = (uint64_t)num("seed", 0);
  const std::string root = a.count("data-root") ? a["data-root"] : data::kFashionMnistRoot;
  const std::string work = a.count("work-dir") ? a["work-dir"] : std::filesystem::temp_directory_path().string();
  if (epochs < 1 || s2_epochs < 1 || threads < 1 || batch < 2) {
    std::cerr << "bench_lt_methods: --epochs, --stage2-epochs, --threads must be >= 1, --batch >= 2\n";
    return 2;
  }
  omp_set_num_threads(threads);

  try {
    const double ratio = 100;
    data::LtIdxData lt_data = data::load_idx_lt(root, ratio, data::LtProfile::Exp, (uint32_t)seed, std::cout);
    data::Dataset train = std::move(lt_data.train), test = std::move(lt_data.test);
    if (limit > 0) train = data::subset(train, limit_per_class(train.labels, train.num_classes, limit));
    if (test_limit > 0) test = data::subset(test, limit_per_class(test.labels, test.num_classes, test_limit));
    const std::vector<int64_t> counts = data::class_counts(train.labels, train.num_classes);
    std::printf("train %lld images (counts", (long long)train.size());
    for (auto c : counts) std::printf(" %lld", (long long)c);
    std::printf("), test %lld images; %d + %d epochs, batch %lld, lr %g, %d threads\n", (long long)test.size(),
                epochs, s2_epochs, (long long)batch, lr, threads);
    if (limit > 0) std::printf("note: --limit changes the class counts; many/medium/few use the limited counts\n");

    TwoStageData d;
    d.train = &train;
    d.test = &test;
    d.train_tf.crop = data::CropMode::RandomCrop;
    d.train_tf.size = 28;
    d.train_tf.padding = 2;
    d.train_tf.hflip = true;
    d.train_tf.mean = d.eval_tf.mean = {0.2860f};
    d.train_tf.std = d.eval_tf.std = {0.3530f};
    d.batch_size = batch;
    d.eval_batch_size = 500;
    d.num_workers = 1;
    d.seed = seed;

    Stage1Config s1;
    s1.epochs = epochs;
    s1.sched.kind = "cosine";
    s1.sched.warmup_epochs = epochs > 1 ? 1 : 0;
    s1.sgd = SgdOptions{lr, 0.9f, 0.f, 5e-4f, false};

    struct Row {
      std::string method;
      EvalMetrics m;
      double seconds;
    };
    std::vector<Row> rows;
    for (const std::string loss : {"ce", "balanced_softmax"}) {
      manual_seed(seed);
      std::printf("\n== %s ==\n", loss.c_str());
      auto net = make_resnet("resnet32", train.num_classes, 1);
      Stage1Config c = s1;
      c.loss = loss;
      StageResult r = run_stage1(*net, d, c, &std::cout);
      rows.push_back({loss == "ce" ? "CE" : "Balanced Softmax", r.test, r.seconds});
    }
    {
      manual_seed(seed);
      std::printf("\n== GCL two-stage ==\n");
      const std::string ck = (std::filesystem::path(work) / ("bench_lt_gcl_stage1_" + std::to_string(seed) +
                                                            ".safetensors")).string();
      auto net = make_resnet("resnet32", train.num_classes, 1, HeadKind::Normed);
      Stage1Config c = s1;
      c.loss = "gcl";
      c.loss_cfg = gcl_cifar_stage1();
      c.mixup_alpha = mixup;
      c.save_path = ck;
      StageResult r1 = run_stage1(*net, d, c, &std::cout);
      std::printf("stage 1 alone: top-1 %.2f %%\n", 100 * r1.test.top1);
      auto net2 = make_resnet("resnet32", train.num_classes, 1, HeadKind::Normed);
      Stage2Config c2;
      c2.method = "gcl_retrain";
      c2.checkpoint = ck;
      c2.sampler = "cben";
      c2.bn_mode = "eval";
      c2.mixup_alpha = mixup;
      c2.epochs = s2_epochs;
      c2.sched.kind = "cosine";
      // GCL stage 2 (LT_METHODS §1.8): lr_e = 0.01 lr_max (1 + cos(pi e / E)) = cosine from 0.02 lr_max
      c2.sgd = SgdOptions{0.02f * lr, 0.9f, 0.f, 5e-4f, false};
      StageResult r2 = run_stage2(*net2, d, c2, &std::cout);
      rows.push_back({"GCL (stage 1)", r1.test, r1.seconds});
      rows.push_back({"GCL two-stage", r2.test, r1.seconds + r2.seconds});
      std::filesystem::remove(ck);
    }

    std::printf("\nFashion-MNIST-LT rho 100, ResNet-32, %d epochs (+%d stage 2), test accuracy %%:\n", epochs,
                s2_epochs);
    std::printf("%-18s %7s %7s %7s %7s %9s\n", "method", "top-1", "many", "medium", "few", "wall s");
    for (auto& r : rows)
      std::printf("%-18s %7.2f %7s %7s %7s %9.1f\n", r.method.c_str(), 100 * r.m.top1, pct(r.m.many).c_str(),
                  pct(r.m.medium).c_str(), pct(r.m.few).c_str(), r.seconds);
    if (!rows.empty()) std::printf("\nshot groups (last row): %s\n", format_shot_table(rows.back().m).c_str());
  } catch (const std::exception& e) {
    std::cerr << "bench_lt_methods: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
