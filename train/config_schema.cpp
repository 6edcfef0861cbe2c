// The config schema: every key of a run declared once (train/config.h). Defaults of the loss, optimiser,
// schedule, sampler and shot-group keys are the defaults of their structs (LossConfig, SgdOptions,
// LrSchedule, data::SamplerConfig, data::ShotRule), so each is stated in one place; a method's own keys
// and defaults are in its MethodSpec (train/methods/).
// Also the lookups by name: stage_number, did_you_mean.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/presets.h"
#include "data/samplers.h"
#include "data/shots.h"
#include "losses/loss.h"
#include "train/config.h"
#include "train/method.h"
#include "train/schedule.h"
#include "train/sgd.h"

namespace tailor {

namespace {

// A float default as the shortest decimal that reads back to it (0.1f -> 0.1, not 0.10000000149).
Json f32(float x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.7g", x);
  return std::stod(b);
}

void add(std::vector<ConfigKey>& s, const std::string& path, const std::string& type, Json def, double lo, double hi,
         std::vector<std::string> choices, const std::string& help) {
  s.push_back(ConfigKey{path, type, std::move(def), lo, hi, std::move(choices), help});
}

std::vector<ConfigKey> build_schema() {
  std::vector<ConfigKey> s;
  add(s, "description", "string", "", 0, 0, {}, "free text: what the recipe is and where it comes from");
  add(s, "name", "string", "", 0, 0, {}, "run name: runs_dir/name (\"\" = the config file's stem, or \"default\")");
  add(s, "runs_dir", "string", "runs", 0, 0, {}, "parent folder of run directories");
  add(s, "seed", "int", 0, 0, 2147483647, {}, "training seed (init, sampler, augmentation, mixup, loss noise)");
  add(s, "threads", "int", 0, 0, 1024, {}, "CPU threads (0 = the cores this process may use; under mpirun, a rank's share)");
  add(s, "device", "string", "cpu", 0, 0, {"cpu", "cuda"}, "compute device");
  add(s, "deterministic", "bool", false, 0, 0, {}, "CUDA: deterministic cuDNN algorithms only (bit-identical reruns)");
  add(s, "cuda_graphs", "bool", false, 0, 0, {},
      "CUDA: capture each epoch's training step and each evaluation's forward once as CUDA graphs and replay "
      "them (the same numbers, fewer launches; docs/DESIGN.md \"CUDA backend\", its CUDA graphs item)");
  add(s, "precision", "string", "fp32", 0, 0, {"fp32", "bf16"},
      "bf16: convolutions with bfloat16 operands, bfloat16 activations between them and their gradients; "
      "parameter gradients, weights, heads and losses float32 (docs/precision.md; CPUs with AVX512-BF16 / AMX, "
      "GPUs of compute capability 8.0+)");
  add(s, "data.dataset", "string", "fashion_mnist", 0, 0,
      {"fashion_mnist", "mnist", "cifar10", "cifar100", "image_folder", "list", "inat"}, "dataset kind");
  add(s, "data.root", "string", "", 0, 0, {},
      "dataset folder (\"\" = /usr/share/datasets/fashion-mnist for fashion_mnist)");
  add(s, "data.format", "string", "auto", 0, 0, {"auto", "bin", "folder"},
      "cifar: binary batches or <root>/{train,test}/<class>/*.jpg");
  add(s, "data.train_list", "string", "", 0, 0, {}, "list / inat: training list or JSON (relative to root)");
  add(s, "data.val_list", "string", "", 0, 0, {}, "list / inat: validation list (model selection, tau)");
  add(s, "data.test_list", "string", "", 0, 0, {}, "list / inat: test list");
  add(s, "data.imbalance.profile", "string", "auto", 0, 0, {"auto", "exp", "step", "none"},
      "LT subset of the training set: exp / step cut it to the ratio, none keeps its own counts; auto = exp for "
      "the balanced sets (mnist, fashion_mnist, cifar10, cifar100), none for folders, lists and inat");
  add(s, "data.imbalance.ratio", "number", 100.0, 1, 1e6, {}, "rho = n_max / n_min");
  add(s, "data.imbalance.seed", "int", 0, 0, 4294967295.0, {}, "numpy seed of the subset (LDAM-DRW: 0)");
  add(s, "data.imbalance.n_max", "int", -1, -1, 1e9, {}, "head-class count (-1 = the per-class count of the data)");
  add(s, "data.test_per_class", "int", -1, -1, 1e9, {}, "evaluate on the first k test images per class (-1: all)");
  add(s, "data.augment", "string", "auto", 0, 0, data::preset_names(),
      "train + eval transforms (data/presets.h); auto: by dataset, and for folders / lists by the first image's "
      "size (<= 64: cifar, kept as is; else imagenet, resized)");
  add(s, "data.image_size", "int", 0, 0, 4096, {},
      "image side S of the transforms (0: the images' own for cifar / mnist, 224 for imagenet / inat)");
  add(s, "data.eval_batch_size", "int", 500, 1, 1 << 20, {}, "evaluation batch size");
  add(s, "data.workers", "int", 2, 0, 256, {}, "loader worker threads");
  add(s, "data.resident", "bool", false, 0, 0, {},
      "training images on the model's device as u8, batches gathered there (crop + flip + normalise; docs/data.md)");
  add(s, "data.on_bad_image", "string", "error", 0, 0, {"error", "skip"}, "an undecodable image stops or is skipped");
  add(s, "model.arch", "string", "resnet32", 0, 0, {"resnet10", "resnet32", "resnet50", "resnet152", "resnext50_32x4d"},
      "backbone");
  add(s, "model.head", "string", "linear", 0, 0, {"linear", "normed", "cosine", "camc"},
      "classifier: linear, normed (LDAM's NormedLinear: raw cosines), cosine (CBD's: sigma * cosine, fixed sigma) or "
      "camc (CAMC's calibrated pooling + s * cosine; a reconstruction, layers/camc.h)");
  add(s, "model.cosine_scale", "number", 20.0, 1e-3, 1e4, {}, "head cosine: the fixed scale sigma (CBD: 20)");
  add(s, "model.camc_scale", "number", 16.0, 1e-3, 1e4, {}, "head camc: the fixed logit scale s");
  add(s, "model.camc_temperature", "number", 0.5, 1e-4, 1e4, {},
      "head camc: temperature T of the spatial attention softmax_u(CAM(u) / T)");
  add(s, "model.camc_lambda", "number", 1.0, 0, 1e4, {},
      "head camc: weight lambda of the attended feature added to GAP (0 = the plain normalised classifier)");
  add(s, "model.head_bias_prior", "number", 0.0, 0, 0.999999, {},
      "head linear: 0 keeps nn.Linear's bias init; p > 0 sets every class's bias to -log((1 - p) / p), the prior of "
      "sigmoid / focal models (class-balanced focal: p = 1 / classes, a bias of -log(C - 1))");
  add(s, "model.init_from", "string", "", 0, 0, {}, "pretrained weights (safetensors) loaded before stage 1");
  add(s, "model.init_allow_partial", "bool", false, 0, 0, {},
      "init_from: load the matching names and report the rest (else strict)");
  add(s, "checkpoint.every_steps", "int", 0, 0, 1e12, {}, "also write the training state every N steps (0 = epoch ends)");
  add(s, "checkpoint.keep_best", "bool", true, 0, 0, {}, "keep the best weights of each stage besides the last");
  add(s, "eval.every_epochs", "int", 1, 0, 1e6, {}, "evaluate every N epochs (0 = only at the end of each stage)");
  add(s, "eval.select", "string", "test", 0, 0, {"test", "val", "last"},
      "what picks the best checkpoint (test = the LDAM/GCL repos' practice)");
  const data::ShotRule G;  // data/shots.h
  add(s, "eval.groups", "string", data::shot_rule_name(G.kind), 0, 0, {"counts", "thirds"},
      "many / medium / few by training count: counts (the thresholds below) or thirds of the classes");
  add(s, "eval.many_above", "int", G.many_above, 0, 1e12, {}, "counts: many-shot classes have more training images");
  add(s, "eval.few_below", "int", G.few_below, 0, 1e12, {},
      "counts: few-shot classes have fewer training images (<= many_above + 1)");
  add(s, "guard.nonfinite", "string", "stop", 0, 0, {"stop", "skip"}, "non-finite loss or gradient: stop, or skip the step");
  add(s, "guard.max_skips", "int", 10, 0, 1e9, {}, "skip: stop after this many skipped steps");
  add(s, "log.step_losses", "bool", false, 0, 0, {}, "write every step's loss to steps.jsonl");
  add(s, "log.progress", "string", "auto", 0, 0, {"auto", "bar", "plain"}, "live bar on a terminal, plain lines otherwise");
  add(s, "debug.anomaly", "bool", false, 0, 0, {}, "anomaly detection: name the first op producing a NaN/Inf");
  add(s, "debug.profile_steps", "int", 0, 0, 1e9, {},
      "time every kernel of this many steps per stage (from its third step run here) into profile_stageK.txt; "
      "those stages run without cuda graphs");
  add(s, "dist.backend", "string", "auto", 0, 0, {"auto", "mpi", "nccl"},
      "mpirun -np N: collectives over MPI, or NCCL between GPUs (auto: nccl on cuda when built with it)");
  add(s, "dist.sync_bn", "bool", false, 0, 0, {},
      "BatchNorm statistics over the whole global batch, every rank's samples (else each rank's own)");
  add(s, "dist.timeout_s", "number", 300.0, 0, 1e7, {}, "mpirun: a collective waiting longer ends the job (0 = never)");
  add(s, "dist.bucket_mb", "number", 25.0, 0.001, 1e6, {}, "mpirun: gradients are averaged in buckets of this size");
  add(s, "dist.overlap", "bool", true, 0, 0, {},
      "mpirun: all-reduce each gradient bucket as backward completes it (false: all after backward; same result)");
  return s;
}

// The keys of one stage, relative to it. Which of them a stage reads depends on its method, loss,
// sampler and schedule (train/config.cpp, stage_key_applies).
std::vector<ConfigKey> build_stage_schema() {
  std::vector<ConfigKey> s;
  std::vector<std::string> methods;
  for (auto& m : method_specs()) methods.push_back(m.name);
  methods.push_back("none");
  add(s, "method", "string", "joint", 0, 0, methods,
      "what the stage does (train/methods/); none = no such stage; stage 2 on need one");
  add(s, "load", "string", "best", 0, 0, {},
      "stage 2 on: start from the previous stage's best (its last when it kept none) or last, a checkpoint file, "
      "or fresh (a new model, its weights drawn from the seed and the stage: another teacher, a student)");
  add(s, "epochs", "int", 200, 1, 100000, {}, "training epochs of this stage");
  add(s, "batch_size", "int", 128, 1, 1 << 20, {}, "training batch size");
  add(s, "max_steps_per_epoch", "int", -1, -1, 1e12, {}, "cap on steps per epoch (-1: the whole epoch; 0 is refused)");
  add(s, "mixup_alpha", "number", 0.0, 0, 1000, {}, "mixup Beta(alpha, alpha); 0 = off");
  std::vector<std::string> stage_presets = data::preset_names();
  stage_presets.front() = "";  // "" (data.augment's) in place of auto
  add(s, "augment", "string", "", 0, 0, stage_presets,
      "this stage's training augmentation (\"\" = data.augment's); same image size and evaluation as data.augment");
  const data::SamplerConfig P;
  add(s, "sampler.name", "string", "instance", 0, 0,
      {"instance", "class_aware", "sqrt", "progressive", "effective_number", "balanced_rs", "cben", "resample"},
      "training sampler (data/samplers.h; resample: CBD's over/under-sampling)");
  add(s, "sampler.samples_per_class", "int", P.samples_per_class, 1, 1e6, {},
      "class_aware: k consecutive samples per class");
  add(s, "sampler.beta", "number", P.beta, 0, 0.999999999, {}, "effective_number sampler beta");
  add(s, "sampler.cben_beta_a", "number", P.cben_beta_a, 0, 0.999999999, {}, "cben: beta_a");
  add(s, "sampler.cben_beta_b", "number", P.cben_beta_b, 0, 1, {},
      "cben: beta_b (beta_a + beta_b < 1: the rarest class's beta)");
  const SgdOptions O;
  add(s, "optim.lr", "number", f32(O.lr), 0, 1000, {}, "base learning rate");
  add(s, "optim.momentum", "number", f32(O.momentum), 0, 1, {}, "SGD momentum");
  add(s, "optim.dampening", "number", f32(O.dampening), 0, 1, {}, "SGD dampening");
  add(s, "optim.weight_decay", "number", f32(O.weight_decay), 0, 1, {}, "L2 weight decay (every parameter)");
  add(s, "optim.nesterov", "bool", O.nesterov, 0, 0, {}, "Nesterov momentum");
  add(s, "optim.decay_head_bias", "bool", true, 0, 0, {},
      "false: the linear head's bias takes no weight decay (the class-balanced sigmoid / focal reference)");
  const LrSchedule S;
  add(s, "schedule.kind", "string", schedule_kind_name(S.kind), 0, 0, {"multistep", "cosine", "constant"},
      "learning-rate schedule");
  add(s, "schedule.warmup_epochs", "int", S.warmup_epochs, 0, 1e6, {},
      "linear warm-up lr*(e+1)/W for e < W (per_step: rising every step from 0)");
  add(s, "schedule.warmup_from", "number", f32(S.warmup_from), 0, 1, {},
      "> 0: the warm-up is lr*(f + (1-f) e/W), from f*lr (BALMS: 0.5)");
  add(s, "schedule.milestones", "ints", Json::array(), 0, 1e9, {}, "multistep: 0-based epochs of each decay");
  add(s, "schedule.gamma", "number", f32(S.gamma), 0, 1, {}, "multistep: factor gamma^k after milestone k");
  add(s, "schedule.factors", "numbers", Json::array(), 0, 1e6, {}, "multistep: explicit factor per milestone");
  add(s, "schedule.min_lr", "number", f32(S.min_lr), 0, 1000, {}, "cosine: final learning rate");
  add(s, "schedule.per_step", "bool", S.per_step, 0, 0, {},
      "the warm-up and the cosine advance every step (multistep milestones stay per epoch)");
  const LossConfig L;
  add(s, "loss.name", "string", "ce", 0, 0, loss_names(), "loss (losses/)");
  add(s, "loss.weight", "numbers", Json::array(), 0, 1e9, {}, "per-class weights inside the softmax CE");
  add(s, "loss.train_rule", "string", L.train_rule, 0, 0, {"None", "Reweight", "DRW"}, "LDAM-DRW class re-weighting");
  add(s, "loss.drw_epoch", "int", L.drw_epoch, 0, 1e9, {}, "DRW: first re-weighted epoch (0-based)");
  add(s, "loss.beta", "number", L.beta, 0, 0.999999999, {}, "effective-number beta (cb_*, Reweight, DRW)");
  add(s, "loss.gamma", "number", L.gamma, 0, 100, {}, "focal exponent (focal, cb_focal, gcl / gcl_ang with train_cls)");
  add(s, "loss.detach_p", "bool", L.detach_p, 0, 0, {}, "focal: stop the gradient through (1-p)^gamma");
  add(s, "loss.max_m", "number", L.max_m, 0, 10, {}, "ldam: margin of the rarest class");
  add(s, "loss.s", "number", L.s, 1e-6, 1e4, {}, "ldam / gcl / gcl_ang: logit scale");
  add(s, "loss.tau", "number", L.tau, 0, 100, {}, "logit_adjust: prior exponent");
  add(s, "loss.m", "number", L.m, 0, 10, {}, "gcl / gcl_ang: additive margin on the target cosine");
  add(s, "loss.noise_mul", "number", L.noise_mul, 0, 100, {}, "gcl: amplitude nu of the Gaussian cloud");
  add(s, "loss.train_cls", "bool", L.train_cls, 0, 0, {}, "gcl / gcl_ang: stage-2 form (focal, detached p)");
  add(s, "loss.epsilon", "number", L.epsilon, 0, 10, {}, "gcl_ang: angular noise amplitude");
  add(s, "loss.easy_margin", "bool", L.easy_margin, 0, 0, {}, "gcl_ang: ArcFace easy margin");
  add(s, "loss.smooth_head", "number", L.smooth_head, 0, 1, {}, "las: smoothing of the largest class");
  add(s, "loss.smooth_tail", "number", L.smooth_tail, 0, 1, {}, "las: smoothing of the smallest class");
  add(s, "loss.shape", "string", L.shape, 0, 0, {"concave", "linear", "convex", "exp"}, "las: smoothing curve");
  add(s, "loss.power", "number", L.power, 1e-6, 100, {}, "las: exponent of the exp shape");
  add(s, "loss.eql_lambda", "number", L.eql_lambda, 0, 1, {}, "eql: rare-class frequency threshold");
  add(s, "loss.eql_gamma", "number", L.eql_gamma, 0, 1, {}, "eql: probability of dropping rare logits");
  add(s, "bn_mode", "string", "eval", 0, 0, {"eval", "train"},
      "frozen backbone's BatchNorm: eval (running statistics), or train (shifted BN, re-estimated)");
  // every method's own keys; a key two methods share must be declared the same way
  for (auto& m : method_specs())
    for (const ConfigKey& k : m.keys) {
      const ConfigKey* seen = nullptr;
      for (auto& x : s)
        if (x.path == k.path) seen = &x;
      if (!seen) {
        s.push_back(k);
      } else if (seen->type != k.type || seen->def != k.def) {
        fail("config schema: stage key '" + k.path + "' of method " + m.name + " clashes with another declaration");
      }
    }
  return s;
}

}  // namespace

const std::vector<ConfigKey>& config_schema() {
  static const std::vector<ConfigKey> s = build_schema();
  return s;
}

const std::vector<ConfigKey>& stage_schema() {
  static const std::vector<ConfigKey> s = build_stage_schema();
  return s;
}

const char* embedded_default_overrides() {
  // Keep in sync with recipes/fashion_mnist_lt/gcl_default.json (a test compares them).
  return R"JSON({
  "name": "fashion_mnist_lt_gcl",
  "data": {
    "dataset": "fashion_mnist",
    "imbalance": {"profile": "exp", "ratio": 100, "seed": 0},
    "augment": "mnist",
    "workers": 2
  },
  "model": {"arch": "resnet32", "head": "normed"},
  "stage1": {
    "method": "joint",
    "epochs": 3,
    "batch_size": 128,
    "loss": {"name": "gcl", "s": 30, "m": 0.0, "noise_mul": 0.5},
    "sampler": {"name": "instance"},
    "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4},
    "schedule": {"kind": "cosine", "warmup_epochs": 1},
    "mixup_alpha": 0
  },
  "stage2": {
    "method": "gcl_retrain",
    "epochs": 1,
    "batch_size": 128,
    "load": "last",
    "loss": {"name": "gcl", "s": 20, "m": 0.1, "noise_mul": 0.5, "train_cls": true, "gamma": 1},
    "sampler": {"name": "cben"},
    "optim": {"lr": 0.02, "momentum": 0.9, "weight_decay": 2e-4},
    "schedule": {"kind": "cosine"},
    "mixup_alpha": 0
  },
  "eval": {"every_epochs": 1, "select": "last"}
}
)JSON";
}

std::string describe_schema() {
  std::string out;
  char buf[512];
  auto line = [&](const std::string& path, const ConfigKey& k) {
    std::string range;
    if (!k.choices.empty()) {
      for (auto& c : k.choices) range += (range.empty() ? "" : " | ") + (c.empty() ? std::string("\"\"") : c);
    } else if (!(k.lo == 0 && k.hi == 0)) {
      auto num = [](double x) {  // short (%g) where that is the value itself: 0.999999999 is not 1
        char b[40];
        std::snprintf(b, sizeof b, "%g", x);
        if (std::strtod(b, nullptr) != x) std::snprintf(b, sizeof b, "%.10g", x);
        return std::string(b);
      };
      range = "[" + num(k.lo) + ", " + num(k.hi) + "]";
    }
    std::snprintf(buf, sizeof buf, "  %-34s %-7s %-12s %-s%s%s\n", path.c_str(), k.type.c_str(), k.def.dump().c_str(),
                  k.help.c_str(), range.empty() ? "" : "  ", range.c_str());
    out += buf;
  };
  for (auto& k : config_schema()) line(k.path, k);
  out += "\nevery stage (stage1, stage2, ...; the method decides which of these it reads):\n";
  for (auto& k : stage_schema()) line("stageN." + k.path, k);
  out += "\nmethods (stageN.method) and the defaults they change:\n";
  for (auto& m : method_specs()) {
    out += "  " + m.name + ": " + m.summary + "\n";
    if (!m.defaults.empty()) out += "      defaults: " + m.defaults.dump() + "\n";
  }
  return out;
}

// Looking keys up by name: a stage section's number, and the closest key to a misspelt one.

int stage_number(const std::string& name) {
  if (name.size() < 6 || name.rfind("stage", 0) != 0 || name[5] == '0') return 0;
  int n = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || n > 99) return 0;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string did_you_mean(const std::string& key) {
  std::string best;
  size_t best_d = (size_t)-1;
  const std::string head = key.substr(0, key.find('.')), leaf = key.substr(key.find_last_of('.') + 1);
  std::vector<std::string> paths;
  for (auto& k : config_schema()) paths.push_back(k.path);
  const std::string stage = stage_number(head) > 0 ? head : "stage1";
  for (auto& k : stage_schema()) paths.push_back(stage + "." + k.path);
  for (auto& p : paths) {
    size_t d = edit_distance(key, p);
    // a right leaf in a wrong section ("stage1.lr" -> "stage1.optim.lr") counts as close
    const std::string pleaf = p.substr(p.find_last_of('.') + 1);
    if (pleaf == leaf && p.rfind(head, 0) == 0) d = std::min<size_t>(d, 2);
    if (d < best_d) {
      best_d = d;
      best = p;
    }
  }
  return best_d <= std::max<size_t>(3, key.size() / 4) ? best : "";
}

}  // namespace tailor
