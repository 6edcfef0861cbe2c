// `tailor train` (and `tailor` with no arguments): the embedded default run — a short long-tailed
// training of ResNet-32 on Fashion-MNIST-LT (Debian package dataset-fashion-mnist), exp profile
// rho = 100, cross-entropy, ending with the many / medium / few-shot table.
// (The full config-driven trainer with LT losses and two-stage recipes builds on the same loop.)
#include <omp.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "data/idx.h"
#include "data/imbalance.h"
#include "data/loader.h"
#include "layers/resnet.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/loop.h"
#include "train/schedule.h"

namespace tailor {

static const char* kTrainUsage =
    "usage: tailor train [--epochs N] [--batch N] [--lr F] [--imbalance-ratio R] [--seed N] [--threads N]\n"
    "                    [--data-root DIR]\n"
    "Short long-tailed run: ResNet-32 on Fashion-MNIST-LT (exp profile), cross-entropy, SGD momentum 0.9,\n"
    "weight decay 5e-4, one warm-up epoch then cosine; prints the many/medium/few-shot table.\n"
    "Defaults: 4 epochs, batch 128, lr 0.1, imbalance ratio 100, seed 0, data in\n"
    "/usr/share/datasets/fashion-mnist.\n";

int cmd_train(int argc, char** argv) {
  long long epochs, batch, seed, threads;
  double lr, ratio;
  std::string root;
  try {
    Args a(argc, argv, {"epochs", "batch", "lr", "imbalance-ratio", "seed", "threads", "data-root"}, {"help"});
    if (a.has("help")) {
      std::cout << kTrainUsage;
      return 0;
    }
    epochs = a.integer("epochs", 4, 1, 10000);
    batch = a.integer("batch", 128, 2, 1 << 16);
    seed = a.integer("seed", 0, 0, 1LL << 31);
    threads = a.integer("threads", std::max(1u, std::thread::hardware_concurrency()), 1, 1024);
    lr = a.number("lr", 0.1, 0, 10);
    ratio = a.number("imbalance-ratio", 100, 1, 1e6);
    root = a.str("data-root", data::kFashionMnistRoot);
  } catch (const UsageError& e) {
    std::cerr << "tailor train: " << e.what() << "\n" << kTrainUsage;
    return 2;
  }
  omp_set_num_threads((int)threads);
  manual_seed((uint64_t)seed);

  data::LtIdxData d = data::load_idx_lt(root, ratio, data::LtProfile::Exp, (uint32_t)seed, std::cout);
  const data::Dataset &train = d.train, &test = d.test;
  const data::LtSubset& lt = d.subset;
  std::printf("test: %lld images (balanced)\n", (long long)test.size());

  data::TransformConfig train_tf, test_tf;
  train_tf.crop = data::CropMode::RandomCrop;
  train_tf.size = 28;
  train_tf.padding = 2;
  train_tf.hflip = true;
  train_tf.mean = test_tf.mean = {0.2860f};
  train_tf.std = test_tf.std = {0.3530f};
  data::SamplerConfig sc;
  sc.kind = data::SamplerKind::Instance;
  sc.seed = (uint64_t)seed;
  data::Sampler train_sampler(train.labels, train.num_classes, sc);
  sc.kind = data::SamplerKind::Sequential;
  data::Sampler test_sampler(test.labels, test.num_classes, sc);
  data::LoaderConfig lc;
  lc.batch_size = batch;
  lc.num_workers = 1;
  lc.seed = (uint64_t)seed;
  data::Loader train_loader(train, train_sampler, train_tf, lc);
  lc.batch_size = 500;
  data::Loader test_loader(test, test_sampler, test_tf, lc);

  auto net = make_resnet("resnet32", train.num_classes, 1);
  SGD opt(net->parameters(), SgdOptions{(float)lr, 0.9f, 0.f, 5e-4f, false});
  LrSchedule sched;
  sched.kind = "cosine";
  sched.base_lr = (float)lr;
  sched.warmup_epochs = epochs > 1 ? 1 : 0;
  sched.total_epochs = (int)epochs;
  LossFn ce = [](const Tensor& logits, const Tensor& y) { return softmax_cross_entropy(logits, y); };

  std::printf("model: resnet32 (%lld parameters), %lld epochs, batch %lld, %lld threads\n",
              (long long)net->num_parameters(), epochs, batch, threads);
  EvalMetrics m;
  for (long long e = 0; e < epochs; ++e) {
    opt.set_lr(sched.lr_at((int)e));
    EpochStats st = train_epoch(*net, train_loader, opt, ce, e);
    m = evaluate(*net, test_loader, 0, test.num_classes, lt.counts);
    std::printf("epoch %lld/%lld  lr %.4f  loss %.4f  %.0f img/s  test top-1 %.2f%%  (%.1f s)\n", e + 1, epochs,
                opt.lr(), st.mean_loss, st.img_per_s(), 100 * m.top1, st.seconds);
    std::fflush(stdout);
  }
  std::printf("\nfinal test accuracy by training-set frequency (many > 100, medium 20-100, few < 20 images):\n%s",
              format_shot_table(m).c_str());
  return 0;
}

}  // namespace tailor
