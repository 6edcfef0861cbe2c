// The resolved config of a run (train/config.h), parsed once into typed structs: the loop, the trainer and
// the methods read these, never the JSON. Every value here has been checked by the schema already; a
// method's own keys stay in StageConfig::doc and are read by the method's constructor.
#pragma once
#include "engine/precision.h"
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "data/samplers.h"
#include "data/shots.h"
#include "losses/loss.h"
#include "train/config.h"
#include "train/schedule.h"
#include "train/sgd.h"

namespace tailor {

enum class BnMode { Eval, Train };  // a frozen backbone's BatchNorm: running statistics, or batch ("shifted")
enum class EvalSelect { Test, Val, Last };
enum class NonFinite { Stop, Skip };

// Where a stage's starting weights come from (stage 2 on; stage 1 starts from the built model).
struct LoadFrom {
  enum Kind { Best, Last, File, Fresh } kind = Best;  // the previous stage's best (its last when it kept none) /
                                                      // last / a file / a new model
  std::string path;                             // File: a checkpoint (tailor's, or PyTorch names)
};

struct StageConfig {
  int index = 1;           // 1-based: stage1, stage2, ...
  std::string method;      // a name of train/methods/registry.cpp
  bool trains = true;      // the method has training steps (else post-hoc)
  LoadFrom load;           // index >= 2
  // training (methods with steps)
  int epochs = 0;
  int64_t batch_size = 128;
  int64_t max_steps_per_epoch = -1;
  double mixup_alpha = 0;
  std::string augment;          // "" = data.augment
  data::SamplerConfig sampler;  // kind and its parameters; seed and epoch length are set by the loop
  SgdOptions optim;
  bool decay_head_bias = true;  // false: the linear head's bias in a group of its own without weight decay
  LrSchedule schedule;          // base_lr and total_epochs filled in
  // the loss (methods that take one)
  bool has_loss = false;
  std::string loss_name;
  LossConfig loss;
  BnMode bn_mode = BnMode::Eval;  // methods on a frozen backbone
  Json doc;                       // the resolved stage section (a method reads its own keys from it)
  std::string key() const { return "stage" + std::to_string(index); }
  // The samples one epoch of the stage's sampler draws from a training split of n: n, or on class_aware
  // batches int(n / B) full batches as Decoupling's run_networks counts cRT's epochs (at least one batch).
  int64_t epoch_samples(int64_t n) const {
    if (sampler.kind != data::SamplerKind::ClassAware) return n;
    return std::max<int64_t>(1, n / batch_size) * batch_size;
  }
};

struct DataConfig {
  std::string dataset, root, format, train_list, val_list, test_list;
  std::string imbalance_profile;
  double imbalance_ratio = 100;
  uint32_t imbalance_seed = 0;
  int64_t imbalance_n_max = -1;
  int64_t test_per_class = -1;
  std::string augment;
  int64_t image_size = 0;  // 0: the preset's native size (data/presets.h)
  int64_t eval_batch_size = 500;
  int workers = 2;
  bool resident = false;  // data.resident: the training images on the model's device (data/resident.h)
  std::string on_bad_image;
};

struct ModelConfig {
  std::string arch, head, init_from;
  bool init_allow_partial = false;
  double head_bias_prior = 0;  // head linear: > 0 sets the bias to -log((1 - p) / p)
  double cosine_scale = 20;  // head cosine: the fixed scale sigma
  double camc_scale = 16, camc_temperature = 0.5, camc_lambda = 1;  // head camc (layers/camc.h)
};

// Data parallelism (mpirun -np N; train/data_parallel.h): how the ranks talk.
struct DistConfig {
  std::string backend = "auto";  // auto | mpi | nccl
  bool sync_bn = false;
  double timeout_s = 300;
  double bucket_mb = 25;
  bool overlap = true;  // all-reduce the gradient buckets while backward runs (else after it)
};

struct RunConfig {
  Json doc;  // the resolved document (what config.json holds)
  std::string name, runs_dir;
  uint64_t seed = 0;
  int threads = 0;
  std::string device;
  Precision precision = Precision::F32;  // precision: the convolutions' operand type (engine/precision.h)
  bool deterministic = false;
  bool cuda_graphs = false;  // capture each epoch's training step as a CUDA graph and replay it (train/step_graph.h)
  DataConfig data;
  ModelConfig model;
  std::vector<StageConfig> stages;  // stage1, stage2, ... in order
  int64_t checkpoint_every_steps = 0;
  bool keep_best = true;
  int64_t eval_every_epochs = 1;
  EvalSelect eval_select = EvalSelect::Test;
  data::ShotRule shot_rule;  // eval.groups, eval.many_above, eval.few_below
  NonFinite nonfinite = NonFinite::Stop;
  int64_t max_skips = 10;
  bool step_losses = false;
  std::string progress;
  bool anomaly = false;
  int64_t profile_steps = 0;  // debug.profile_steps (engine/profiler.h)
  DistConfig dist;
};

// Parses a document resolve_config() produced (or a run's config.json).
RunConfig parse_run_config(const Json& resolved);
// What a valid config schedules but never happens in the stage's epochs: a learning-rate milestone or a DRW
// switch at or past the last epoch (a recipe shortened with --set stageK.epochs=...); and a cosine-margin loss
// (ldam, gcl, gcl_ang) on a linear head, whose logits are not cosines. Said in the log.
std::vector<std::string> schedule_warnings(const RunConfig& c);
// "~" and "~/..." as the shell would expand them (it does not inside `--set data.root=~/data`, not a variable
// assignment, and a config file is never expanded): data.root, runs_dir, model.init_from. Other paths as
// they are.
std::string expand_home(const std::string& path, const std::string& key);
DataConfig parse_data_config(const Json& data_section);
ModelConfig parse_model_config(const Json& model_section);
// The shot groups of a resolved eval section (eval.groups, and eval.many_above / few_below for counts).
data::ShotRule parse_shot_rule(const Json& eval_section);

// ---- typed views of one stage section (also used by the benchmarks)
LossConfig loss_config(const Json& stage);
SgdOptions sgd_options(const Json& stage);
LrSchedule lr_schedule(const Json& stage);  // base_lr and total_epochs filled from the stage
data::SamplerConfig sampler_config(const Json& stage, uint64_t seed);

}  // namespace tailor
