// Step-by-step replay: the same weights and the same batches in tailor and in PyTorch, per-step losses.
//
// Separates "the engines compute different steps" from "the runs saw different data / initial weights":
// benchmarks/pytorch/replay_steps.py writes PyTorch's initial ResNet-32 (torch.manual_seed(S), as
// lt_train.py builds it) and the first N batches of lt_train.py's own loader; this program writes tailor's
// loader stream in the same format, and replays any stream from any weights with tailor's SGD.
//
//   bench_replay --dump-stream DIR --data ROOT [--config recipes/cifar10_lt/ce.json] [--seed S] [--steps N]
//   bench_replay --stream DIR (--weights FILE | --init-seed S) [--config recipes/cifar10_lt/ce.json]
//                [--head linear|norm] [--steps N] [--lr 0.1] [--momentum 0.9] [--weight-decay 2e-4]
//                [--scale 30] [--threads T] [--save FILE]
//
// A stream directory holds stream.json {"steps", "batch", "channels", "height", "width", "counts",
// "mixup", "source"}, images.f32 (steps x batch x H x W x C float32, normalised, NHWC: tailor's layout,
// before mixing), labels.i32 (steps x batch int32) and, for a recipe with mixup, lambda.f32 (steps) and
// perm.i32 (steps x batch): each batch's draw. The replay prints one JSON line per step,
// {"step": k, "loss": v}: the loss of batch k before the k-th SGD update, constant lr, train-mode
// BatchNorm. The loss and the head are the --config recipe's stage 1 (the loss built by the trainer's own
// loss_config / make_loss; the class counts come from the stream); a norm head under plain "ce" has its
// cosines multiplied by --scale first. A stream with lambda.f32 is mixed as the trainer mixes it
// (data::apply_mixup, Loss::forward with the mixup pair). --save writes the weights after the last step (safetensors,
// PyTorch names; `replay_steps.py diff` compares two engines' updates).
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/mixup.h"
#include "engine/ops.h"
#include "engine/rng.h"
#include "layers/resnet.h"
#include "losses/loss.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/run_config.h"
#include "train/run_data.h"
#include "train/sgd.h"

using namespace tailor;

struct Args {
  std::string dump_dir, stream_dir, data_root, config = "recipes/cifar10_lt/ce.json", weights, head, save;
  long long seed = 0, init_seed = -1, steps = 96, threads = 0;
  float lr = 0.1f, momentum = 0.9f, weight_decay = 2e-4f, scale = 30.f;
};

static Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::printf("usage: bench_replay --dump-stream DIR --data ROOT [--config FILE] [--seed S] [--steps N]\n"
                  "       bench_replay --stream DIR (--weights FILE | --init-seed S) [--config FILE] [--head linear|norm]\n"
                  "                    [--steps N] [--lr 0.1] [--momentum 0.9] [--weight-decay 2e-4] [--scale 30]\n"
                  "                    [--threads T] [--save FILE]\n"
                  "(the stream format and what the replay prints: the top of benchmarks/bench_replay.cpp)\n");
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::runtime_error("option " + k + " needs a value (see the top of bench_replay.cpp)");
    std::string v = argv[++i];
    if (k == "--dump-stream") a.dump_dir = v;
    else if (k == "--stream") a.stream_dir = v;
    else if (k == "--data") a.data_root = v;
    else if (k == "--config") a.config = v;
    else if (k == "--weights") a.weights = v;
    else if (k == "--head") a.head = v;
    else if (k == "--seed") a.seed = std::stoll(v);
    else if (k == "--init-seed") a.init_seed = std::stoll(v);
    else if (k == "--steps") a.steps = std::stoll(v);
    else if (k == "--threads") a.threads = std::stoll(v);
    else if (k == "--lr") a.lr = std::stof(v);
    else if (k == "--momentum") a.momentum = std::stof(v);
    else if (k == "--weight-decay") a.weight_decay = std::stof(v);
    else if (k == "--scale") a.scale = std::stof(v);
    else if (k == "--save") a.save = v;
    else throw std::runtime_error("unknown option " + k + " (see the top of bench_replay.cpp)");
  }
  if (a.dump_dir.empty() == a.stream_dir.empty()) throw std::runtime_error("give exactly one of --dump-stream, --stream");
  if (!a.head.empty() && a.head != "linear" && a.head != "norm") throw std::runtime_error("--head is linear or norm, not " + a.head);
  return a;
}

// tailor's own loader stream for a run of `config` with seed S: the LT subset, the instance sampler and the
// train transform exactly as `tailor train` builds them for stage 1.
static void dump_stream(const Args& a) {
  if (a.data_root.empty()) throw std::runtime_error("--dump-stream needs --data ROOT");
  Json cfg = resolve_config(a.config, {"data.root=" + a.data_root, "seed=" + std::to_string(a.seed)}, false);
  RunData d = load_run_data(parse_data_config(cfg.at("data")), std::cerr);
  data::SamplerConfig smp;
  smp.kind = data::SamplerKind::Instance;
  smp.seed = (uint64_t)a.seed;
  data::Sampler sampler(d.train.labels, d.train.num_classes, smp);
  data::LoaderConfig lc;
  lc.batch_size = cfg.at("stage1").at("batch_size");
  lc.drop_last = true;  // a stream has one batch size
  lc.seed = (uint64_t)a.seed;
  data::Loader loader(d.train, sampler, d.train_tf, lc);
  const double alpha = cfg.at("stage1").at("mixup_alpha");
  loader.start_epoch(0);
  const int64_t B = lc.batch_size, H = loader.out_height(), W = loader.out_width(), C = loader.out_channels();
  std::ofstream fx(a.dump_dir + "/images.f32", std::ios::binary), fy(a.dump_dir + "/labels.i32", std::ios::binary);
  if (!fx || !fy) throw std::runtime_error(a.dump_dir + ": cannot write the stream files (does the folder exist?)");
  std::vector<float> lambdas;
  std::vector<int32_t> perms;
  data::Batch b;
  int64_t steps = 0;
  for (; steps < a.steps && loader.next(b); ++steps) {
    std::vector<int32_t> labels = b.labels.to_vector_i32();
    fx.write((const char*)b.images.f32(), (std::streamsize)(b.images.numel() * sizeof(float)));  // NHWC as is
    fy.write((const char*)labels.data(), (std::streamsize)(labels.size() * sizeof(int32_t)));
    if (alpha > 0) {  // the trainer's draw for stage 1 (stage seed = seed), epoch 0, this step
      data::MixupResult mr = data::draw_mixup(labels, alpha, (uint64_t)a.seed, 0, steps);
      lambdas.push_back(mr.lambda);
      perms.insert(perms.end(), mr.perm.begin(), mr.perm.end());
    }
  }
  if (alpha > 0) {
    std::ofstream(a.dump_dir + "/lambda.f32", std::ios::binary)
        .write((const char*)lambdas.data(), (std::streamsize)(lambdas.size() * sizeof(float)));
    std::ofstream(a.dump_dir + "/perm.i32", std::ios::binary)
        .write((const char*)perms.data(), (std::streamsize)(perms.size() * sizeof(int32_t)));
  }
  Json meta = {{"steps", steps}, {"batch", B}, {"channels", C}, {"height", H}, {"width", W},
               {"counts", d.train_counts}, {"mixup", alpha},
               {"source", "tailor loader, " + a.config + ", seed " + std::to_string(a.seed)}};
  std::ofstream(a.dump_dir + "/stream.json") << meta.dump() << "\n";
  std::cerr << "wrote " << steps << " batches of " << B << " to " << a.dump_dir << "\n";
}

static void replay(const Args& a) {
  Json meta = load_config_file(a.stream_dir + "/stream.json");
  const int64_t steps = std::min<int64_t>(a.steps, meta.at("steps").get<int64_t>()), B = meta.at("batch"),
                C = meta.at("channels"), H = meta.at("height"), W = meta.at("width"), P = C * H * W;
  std::ifstream fx(a.stream_dir + "/images.f32", std::ios::binary), fy(a.stream_dir + "/labels.i32", std::ios::binary);
  if (!fx || !fy) throw std::runtime_error(a.stream_dir + ": images.f32 / labels.i32 missing");
  if (a.threads > 0) omp_set_num_threads((int)a.threads);
  if (a.weights.empty() && a.init_seed < 0) throw std::runtime_error("give --weights FILE or --init-seed S");
  const Json cfg = resolve_config(a.config, {}, false), stage1 = cfg.at("stage1");
  std::string head = a.head;
  if (head.empty()) head = cfg.at("model").at("head") == "normed" ? "norm" : "linear";
  const std::string loss_name = stage1.at("loss").at("name");
  std::vector<int64_t> counts(10, 1);  // plain "ce" does not use them
  if (meta.contains("counts")) counts = meta.at("counts").get<std::vector<int64_t>>();
  else if (loss_name != "ce") throw std::runtime_error(a.stream_dir + "/stream.json has no \"counts\", needed by " + loss_name);
  std::unique_ptr<Loss> loss_fn = make_loss(loss_name, loss_config(stage1), counts);
  std::ifstream flam(a.stream_dir + "/lambda.f32", std::ios::binary), fperm(a.stream_dir + "/perm.i32", std::ios::binary);
  const bool mixed = (bool)flam;
  if (mixed && !fperm) throw std::runtime_error(a.stream_dir + ": lambda.f32 without perm.i32");
  if (a.init_seed >= 0) manual_seed((uint64_t)a.init_seed);
  auto net = make_resnet("resnet32", 10, (int)C, head == "norm" ? HeadKind::Normed : HeadKind::Linear, global_rng());
  if (!a.weights.empty()) load_weights(a.weights, *net);
  net->train();
  SGD opt(net->parameters(), SgdOptions{a.lr, a.momentum, 0.f, a.weight_decay, false});
  std::vector<float> images((size_t)(B * P));
  std::vector<int32_t> labels((size_t)B), perm32((size_t)B), labels_b((size_t)B);
  std::vector<int64_t> perm((size_t)B);
  for (int64_t s = 0; s < steps; ++s) {
    fx.read((char*)images.data(), (std::streamsize)(images.size() * sizeof(float)));
    fy.read((char*)labels.data(), (std::streamsize)(labels.size() * sizeof(int32_t)));
    if (!fx || !fy) throw std::runtime_error(a.stream_dir + ": stream shorter than stream.json says");
    float lambda = 1.f;
    if (mixed) {
      flam.read((char*)&lambda, sizeof(float));
      fperm.read((char*)perm32.data(), (std::streamsize)(perm32.size() * sizeof(int32_t)));
      if (!flam || !fperm) throw std::runtime_error(a.stream_dir + ": lambda.f32 / perm.i32 shorter than the stream");
      for (int64_t i = 0; i < B; ++i) {
        if (perm32[(size_t)i] < 0 || perm32[(size_t)i] >= B)
          throw std::runtime_error(a.stream_dir + "/perm.i32: step " + std::to_string(s) + " holds an index outside the batch");
        perm[(size_t)i] = perm32[(size_t)i];
        labels_b[(size_t)i] = labels[(size_t)perm32[(size_t)i]];
      }
      data::apply_mixup(images.data(), B, P, lambda, perm);
    }
    Tensor logits = net->forward(Tensor::from_vector(images, {B, H, W, C}));
    if (head == "norm" && loss_name == "ce") logits = scale(logits, a.scale);
    Tensor y = Tensor::from_vector_i32(labels, {B});
    LossInput in;
    in.logits = logits;
    in.labels = y;
    if (mixed) {
      in.labels_b = Tensor::from_vector_i32(labels_b, {B});
      in.lambda = lambda;
    }
    Tensor loss = loss_fn->forward(in);
    opt.zero_grad();
    loss.backward();
    opt.step();
    std::printf("{\"step\": %lld, \"loss\": %.7g}\n", (long long)s, loss.item());
  }
  if (!a.save.empty()) save_weights(a.save, *net);
}

int main(int argc, char** argv) {
  try {
    Args a = parse(argc, argv);
    if (!a.dump_dir.empty()) dump_stream(a);
    else replay(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_replay: %s\n", e.what());
    return 1;
  }
}
