// Long-tailed methods on Fashion-MNIST-LT (exp profile, rho = 100) with ResNet-32 (1 input channel,
// 28x28), short schedule: cross-entropy, Balanced Softmax, and GCL two-stage (stage 1: GCL loss with a
// NormedLinear head and mixup; stage 2: the head retrained with the GCL stage-2 loss on CBEN-sampled
// batches, backbone frozen, BN in eval mode). Prints one table: top-1 and many / medium / few-shot
// accuracy (many > 100, medium 20-100, few < 20 training images) and wall time. Every run goes through
// train_run (train/trainer.h) on the cut-down data, into --work-dir/bench_lt_<method>_<seed>.
//
//   bench_lt_methods [--epochs N] [--stage2-epochs N] [--threads N] [--limit N] [--test-limit N]
//                    [--batch N] [--lr F] [--mixup F] [--seed N] [--data-root DIR] [--work-dir DIR]
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "data/idx.h"
#include "data/imbalance.h"
#include "train/config.h"
#include "train/metrics.h"
#include "train/trainer.h"

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

std::string pct(const Json& v) {  // a percentage of summary.json / metrics.jsonl, null = n/a
  if (v.is_null()) return "   n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%6.2f", v.get<double>());
  return b;
}

// The last metrics.jsonl line of `stage` (its final evaluation).
Json last_line(const std::string& run_dir, int stage) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  Json last;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && Json::parse(line).at("stage") == stage) last = Json::parse(line);
  return last;
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

    RunData d;
    d.train = std::move(train);
    d.test = std::make_unique<data::Dataset>(std::move(test));
    d.train_counts = counts;
    d.description = "Fashion-MNIST-LT exp rho 100";
    d.train_tf.crop = data::CropMode::RandomCrop;
    d.train_tf.size = 28;
    d.train_tf.padding = 2;
    d.train_tf.hflip = true;
    d.train_tf.mean = d.eval_tf.mean = {0.2860f};
    d.train_tf.std = d.eval_tf.std = {0.3530f};
    auto copy = [&] {
      RunData c;
      c.train = d.train;
      c.test = std::make_unique<data::Dataset>(*d.test);
      c.train_counts = d.train_counts;
      c.description = d.description;
      c.train_tf = d.train_tf;
      c.eval_tf = d.eval_tf;
      return c;
    };
    // every run goes through the trainer, as `tailor train` does; one stage-1 evaluation at its end
    const std::vector<std::string> common = {
        "seed=" + std::to_string(seed), "threads=" + std::to_string(threads), "data.workers=1",
        "runs_dir=" + work, "eval.every_epochs=0", "eval.select=last", "stage1.epochs=" + std::to_string(epochs),
        "stage1.batch_size=" + std::to_string(batch), "stage1.schedule.kind=cosine",
        "stage1.schedule.warmup_epochs=" + std::to_string(epochs > 1 ? 1 : 0), "stage1.optim.lr=" + std::to_string(lr),
        "stage1.optim.weight_decay=5e-4"};
    auto run = [&](const std::string& name, std::vector<std::string> sets) {
      sets.insert(sets.begin(), common.begin(), common.end());
      sets.push_back("name=bench_lt_" + name + "_" + std::to_string(seed));
      const Json cfg = resolve_config("", sets, false);
      std::printf("\n== %s ==\n", name.c_str());
      TrainFlags f;
      f.overwrite = true;
      f.report = false;
      return train_run(cfg, copy(), run_dir_of(cfg), f, std::cout);
    };
    struct Row {
      std::string method;
      Json top1, many, medium, few;
      double seconds;
    };
    std::vector<Row> rows;
    auto row = [](const std::string& m, const Json& s) {
      return Row{m, s["top1"], s["many"], s["medium"], s["few"], s["wall_s"].get<double>()};
    };
    rows.push_back(row("CE", run("ce", {"stage1.loss.name=ce"})));
    rows.push_back(row("Balanced Softmax", run("balanced_softmax", {"stage1.loss.name=balanced_softmax"})));
    const LossConfig g = gcl_cifar_stage1();
    char lr2[32];
    std::snprintf(lr2, sizeof lr2, "%g", 0.02 * lr);  // GCL stage 2 (its released script): cosine from 0.02 lr_max
    Json gcl = run("gcl", {"model.head=normed", "stage1.loss.name=gcl", "stage1.loss.s=" + std::to_string(g.s),
                           "stage1.loss.m=" + std::to_string(g.m), "stage1.loss.noise_mul=" + std::to_string(g.noise_mul),
                           "stage1.mixup_alpha=" + std::to_string(mixup), "stage2.method=gcl_retrain",
                           "stage2.sampler.name=cben", "stage2.bn_mode=eval", "stage2.load=last",
                           "stage2.mixup_alpha=" + std::to_string(mixup), "stage2.epochs=" + std::to_string(s2_epochs),
                           "stage2.batch_size=" + std::to_string(batch), "stage2.optim.lr=" + std::string(lr2),
                           "stage2.optim.weight_decay=5e-4"});
    const Json s1 = last_line(gcl["run_dir"], 1);
    rows.push_back(Row{"GCL (stage 1)", s1["top1"], s1["many"], s1["medium"], s1["few"], NAN});
    rows.push_back(row("GCL two-stage", gcl));

    std::printf("\nFashion-MNIST-LT rho 100, ResNet-32, %d epochs (+%d stage 2), test accuracy %%:\n", epochs,
                s2_epochs);
    std::printf("%-18s %7s %7s %7s %7s %9s\n", "method", "top-1", "many", "medium", "few", "wall s");
    for (auto& r : rows)
      std::printf("%-18s %7s %7s %7s %7s %9.1f\n", r.method.c_str(), pct(r.top1).c_str(), pct(r.many).c_str(),
                  pct(r.medium).c_str(), pct(r.few).c_str(), r.seconds);
  } catch (const std::exception& e) {
    std::cerr << "bench_lt_methods: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
