// A training method: what one stage of a run does. The loop (train/loop.h) owns what every method
// shares — the schedule, the optimiser steps, mixup, the non-finite guard, logging, progress, evaluation,
// checkpoints and exact resume; a method decides the rest:
//
//   setup()            which modules exist (the run's model and any extra: a teacher loaded from a
//                      checkpoint, an EMA copy, a second head), which train and which are frozen, its loss
//   param_groups()     what the optimiser updates, each group with its lr multiplier
//   set_train_mode()   train / eval (BatchNorm) modes of every module for a training epoch
//   step()             what one step computes: forward, the loss's inputs, the scalar loss
//   after_step()       updates after the optimiser step (momentum encoders, memories, queues); a method
//                      with one says so in has_after_step(), and its steps then read the guard's outcome
//                      on the host (after_step never sees a skipped step)
//   save/load_state()  everything else it keeps, so that kill-and-resume stays bit-identical
//   run_posthoc()      a stage without steps (tau-normalisation, NCM): runs once instead of epochs
//
// Each method is one file under train/methods/ that opens with its paper's formulas, and one line in
// train/methods/registry.cpp. Its config keys and their defaults live in its MethodSpec, and the config
// resolution (train/config.cpp) refuses a key the method does not read. docs/DESIGN.md, "Adding a
// method", walks through one.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/comm.h"
#include "layers/resnet.h"
#include "losses/loss.h"
#include "train/config.h"
#include "train/metrics.h"
#include "train/run_config.h"
#include "train/run_data.h"
#include "train/sgd.h"  // ParamGroup

namespace tailor {

// What a method is given when its stage starts (a fresh start and a resume alike). Before setup() the loop
// has put the stage's starting weights into `model`: the fresh model (stage 1, after model.init_from), or
// the checkpoint the stage's `load` key names, with the head structure that checkpoint describes.
struct StageSetup {
  const StageConfig& cfg;
  const RunData& data;
  ResNet& model;    // the run's model: trained or not, evaluated and checkpointed after every epoch
  Rng& model_rng;   // the model's initialisation stream: a new part of the model (a head) draws from it
  Rng& loss_rng;    // the run's stream for random losses (GCL's cloud, EQL's gate)
  uint64_t seed;    // the run seed; an extra model draws from Rng::keyed(seed, role_key(role))
  uint64_t stage_seed;  // the stage's seed (its sampler, augmentation and mixup streams)
  int workers;          // data loader threads (data.workers), for a method's own loaders
  Device device;
  std::ostream& log;
  // A teacher reference of the config: "stageK" (an earlier stage of this run: its last checkpoint) or a
  // checkpoint file, as a path.
  std::function<std::string(const std::string& ref)> checkpoint_of;
  // The job's ranks (train/data_parallel.h); nullptr or world 1 in one process. A method that runs data-
  // parallel and keeps state from each step's batch gathers the ranks' rows with all_gather_rows, so that
  // every rank keeps the single process's state.
  Communicator* comm = nullptr;
};

// One training step's data, as the loop hands it to step(): on the device, already mixed under mixup.
struct StepBatch {
  Tensor images;    // f32 [N, H, W, C]
  Tensor images2;   // f32 [N, H, W, C]: a second view of the same samples, for a method that asks for one
  Tensor labels;    // i32 [N] (mixup: the first partner's labels y_a)
  Tensor labels_b;  // i32 [N] mixup: the second partner's labels y_b; undefined without mixup
  float lambda = 1.f;
  Tensor mix;       // f32 [2] = (lambda, 1 - lambda) on the device, under mixup (what the loss reads)
  const std::vector<int64_t>* indices = nullptr;  // dataset indices of the N samples
  int epoch = 0;                                  // 0-based epoch of the stage
  float lr = 0;                                   // the step's learning rate (the schedule's, lr_scale 1)
  // The loss input of these logits: labels, mixup pair and indices filled in.
  LossInput loss_input(const Tensor& logits) const;
};

// A module a method keeps besides the run's model.
struct ExtraModule {
  std::string role;  // "teacher", "ema", ...: prefixes its tensors in the training state
  std::shared_ptr<Module> module;
  bool in_state = true;  // false: constant, and setup() rebuilds it identically (a frozen teacher from a file)
};

// What a post-hoc stage may use.
struct PosthocContext {
  const RunData& data;
  ResNet& model;
  std::ostream& log;
  int64_t eval_batch_size;
  int workers;
  data::ShotRule shot_rule;  // eval.groups
  bool data_parallel;        // under mpirun: `evaluate` shards the split over the ranks and gathers
  std::function<EvalMetrics(ResNet&, const data::Dataset&)> evaluate;       // eval transform, no grad
  std::function<void(const std::string& file, const std::string& text)> write;  // into the run directory
};

class Method {
 public:
  virtual ~Method() = default;
  virtual void setup(StageSetup& s) = 0;
  virtual std::vector<ParamGroup> param_groups() { return {}; }
  virtual void set_train_mode() {}
  virtual void start_epoch(int epoch) {}
  virtual Tensor step(const StepBatch& b) { fail("this method has no training steps"); }
  virtual void after_step(const StepBatch& b) {}
  // True for a method that overrides after_step: the loop then reads every step's outcome (applied or
  // skipped by the non-finite guard) on the host before calling it, only for applied steps. False (the
  // default): after_step is never called, and the steps make no host read (train/loop.h).
  virtual bool has_after_step() const { return false; }
  virtual std::vector<ExtraModule> extra_modules() const { return {}; }
  virtual void save_state(Json& j, std::map<std::string, Tensor>& t) const {}
  virtual void load_state(const Json& j, const std::map<std::string, Tensor>& t) {}
  virtual void run_posthoc(PosthocContext& ctx) {}
  // Written into the stage's checkpoints besides the loop's own keys (tau-norm: the chosen tau).
  virtual std::map<std::string, std::string> checkpoint_metadata() const { return {}; }
  // One line for the log when the stage starts ("loss ce, classifier re-initialised").
  virtual std::string describe() const { return ""; }
  // A method that chooses its batches as it trains (a learned sampler): the loop asks it for every step's
  // dataset indices instead of reading the stage's sampler, for batches_per_epoch steps per epoch.
  virtual bool chooses_batches() const { return false; }
  virtual int64_t batches_per_epoch(int64_t dataset_size, int64_t batch_size) const { return 0; }
  virtual std::vector<int64_t> choose_batch(int epoch, int64_t step, int64_t batch_size) { return {}; }
  // Values logged with each epoch (merged into its metrics.jsonl line), e.g. learned sample rates.
  virtual Json epoch_log() const { return nullptr; }
  // A method that compares two views of each image (contrastive learning): the augmentation preset of the
  // second view (StepBatch::images2); "" = one view.
  virtual std::string second_view() const { return ""; }
};

// A method's entry in the registry: its name, its config keys and defaults, and how to build it.
struct MethodSpec {
  std::string name;
  std::string summary;           // one line: what it is and where it comes from
  bool trains = true;            // epochs of steps; false = post-hoc (no training keys at all)
  bool takes_loss = true;        // reads loss.name and the keys of that loss
  bool frozen_backbone = false;  // the backbone does not train: reads bn_mode
  bool first_stage = true;       // may be stage 1 (false: it starts from trained weights: an earlier stage's,
                                 // or model.init_from's when it is stage 1)
  bool chooses_batches = false;  // draws its own batches (no sampler.* keys)
  // Runs on several ranks (train/data_parallel.h): false for a method whose per-step state (a learned
  // sampler, a memory, a queue) would differ between ranks; such a stage is refused under mpirun.
  bool data_parallel = true;
  // Stage-key defaults that differ from the stage schema's (train/config.cpp), e.g. {"epochs": 10}. A
  // "loss" block applies only when the stage's loss is the block's loss.
  Json defaults = Json::object();
  std::vector<ConfigKey> keys;  // the method's own keys, relative to the stage ("taus", "kd.teacher")
  // The classifier heads the stage's setup can start from, as checkpoints name them (head_kind: "linear",
  // "tau_norm", "lws", "camc", ...); empty: any. Checked for every stage before any trains, on the head the
  // stages before it leave (train/stage_plan.h).
  std::vector<std::string> starts_from;  // (methods training the head they get: trainable_head_kinds())
  std::string leaves_head;  // the head the stage leaves the model with; "": the one it starts from
  // Keys naming teachers (a string or a list: stageK or checkpoint files), e.g. "kd.teacher": a teacher file
  // is read and checked against the run's classes and input channels before any stage trains.
  std::vector<std::string> teacher_keys;
  // Checks that need the file system (a teacher file exists), run before any data is loaded; may be empty.
  std::function<void(const StageConfig&)> check;
  // Checks that need the data or the ranks (a meta batch against the meta set), run once the data is loaded,
  // before any stage trains; may be empty. The method's setup makes the same checks.
  std::function<void(const StageConfig&, const RunData&, int world)> check_data;
  // Whether the stage learns from the val split's images (BALMS's meta set on val); empty: never. A resume
  // that accepts changed evaluation images then treats val as training data (train/run_data.h).
  std::function<bool(const StageConfig&)> trains_on_val;
  std::function<std::unique_ptr<Method>(const StageConfig&)> make;
};

// The method's parameter groups, with the stage's optimiser options applied: optim.decay_head_bias false
// moves the Linear head's bias into a group without weight decay (an error naming the key when the stage's
// head has no bias it trains).
std::vector<ParamGroup> stage_param_groups(Method& method, const StageConfig& c, const ResNet& model);

const std::vector<MethodSpec>& method_specs();           // train/methods/registry.cpp
const MethodSpec& method_spec(const std::string& name);  // throws naming the known methods

// The whole model — backbone and classifier — trained end to end on the stage's loss: the `joint` method
// (train/methods/joint.cpp), and the base of methods that add to its step (distillation).
class JointTraining : public Method {
 public:
  void setup(StageSetup& s) override;
  std::vector<ParamGroup> param_groups() override;  // every parameter of the model, lr x 1
  void set_train_mode() override;
  void start_epoch(int epoch) override;
  Tensor step(const StepBatch& b) override;  // the stage's loss of the model's logits
  std::string describe() const override;

 protected:
  ResNet* model_ = nullptr;
  std::unique_ptr<Loss> loss_;
  std::string loss_name_;
};

// The shape the decoupled classifier methods share (cRT, LWS, GCL re-training, MiSLAS; Kang et al. 2020):
// the backbone frozen (requires_grad false; its BatchNorm per bn_mode), a classifier on its features
// trained with the stage's loss. Such a method says only which classifier (make_head) and, when some of
// its parameters train at another rate, param_groups.
class ClassifierRetraining : public Method {
 public:
  void setup(StageSetup& s) override;
  std::vector<ParamGroup> param_groups() override;  // the head's trainable parameters, lr x 1
  void set_train_mode() override;
  void start_epoch(int epoch) override;
  Tensor step(const StepBatch& b) override;
  std::string describe() const override;

 protected:
  // The stage's classifier, built from (or around) the loaded head; installed by setup().
  virtual std::shared_ptr<Module> make_head(StageSetup& s) = 0;
  ResNet* model_ = nullptr;
  BnMode bn_ = BnMode::Eval;
  std::unique_ptr<Loss> loss_;
  std::string loss_name_;
};

// ---- helpers shared by methods

// The key of an extra model's initialisation stream: Rng::keyed(seed, role_key("teacher")) — derived from
// the run seed and the role, so adding a model to a run leaves every other model's weights unchanged.
uint64_t role_key(const std::string& role);
// The heads a method can train as it finds them (every kind but NCM's class means, which have no parameters).
const std::vector<std::string>& trainable_head_kinds();
// A frozen backbone's modes for a training epoch: eval, or with BnMode::Train train mode (batch statistics,
// running statistics re-estimated: "shifted BN"); the head in train mode.
void set_backbone_mode(ResNet& model, BnMode bn);
// The head's trainable parameters, named as in the model ("linear.weight").
NamedTensors trainable_head_params(const ResNet& model);
// The classifier on frozen features: features under no-grad, only the head is differentiated.
Tensor head_on_frozen_features(ResNet& model, const Tensor& images);
// The stage's loss (cfg.loss_name, cfg.loss) for the run's training counts; GCL / EQL draw from loss_rng.
std::unique_ptr<Loss> stage_loss(const StageSetup& s);

// ---- teachers: frozen models loaded from checkpoints (distillation methods)

// A frozen model loaded from a checkpoint, with the file's checksum (its identity in the training state).
struct Teacher {
  std::string ref, path, crc32;
  std::shared_ptr<ResNet> net;
};
// Loads `ref` (s.checkpoint_of) frozen on the stage's device; errors name `key` and the file. The teacher must
// classify the run's classes.
Teacher load_teacher(StageSetup& s, const std::string& key, const std::string& ref);
// Config check of a teacher reference: "stageK" with K before this stage, or an existing file.
void check_teacher_ref(const StageConfig& c, const std::string& key, const std::string& ref);
// The training state keeps teachers' checksums: a resume with other teacher files is refused.
void save_teacher_crcs(Json& j, const std::vector<Teacher>& ts);
void check_teacher_crcs(const Json& j, const std::vector<Teacher>& ts);

}  // namespace tailor
