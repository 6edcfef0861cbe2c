// Two-stage (decoupled) long-tailed training as plain functions.
//
//  Stage 1 (run_stage1): backbone + head trained jointly with any loss of losses/ (set_epoch every epoch
//  so DRW rules apply), optional mixup (data/mixup.h), a multistep / cosine / constant schedule; the
//  weights are written with save_weights.
//
//  Stage 2 (run_stage2): the stage-1 weights are loaded STRICTLY (load_weights; a missing file is an
//  error, never a fresh start; missing / unexpected / shape-mismatched names fail naming the file and
//  the tensors unless allow_partial), the backbone is frozen (requires_grad false; BN in eval mode or,
//  with bn_mode "train", in train mode = "shifted BN"), and the classifier is re-trained or re-balanced:
//    crt          classifier re-initialised (nn.Linear default init), trained   (Kang et al. §4.2)
//    gcl_retrain  the stage-1 head kept and trained (GCL stage 2, §1.8)
//    lws          LWSClassifier over the frozen stage-1 Linear, only the scales train (§4.3)
//    tau_norm     post-hoc w_j / ||w_j||^tau, tau in {0, 0.1, ..., 2.0}; chosen on the validation split,
//                 or on the test split only when choose_tau_on_test is set (else all are reported and
//                 tau = 1 is kept)
//  Any sampler drives stage 2 (default: class_aware for crt / lws, cben for gcl_retrain). Features are
//  computed under no-grad, so nothing flows into the backbone.
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "data/augment.h"
#include "layers/resnet.h"
#include "losses/loss.h"
#include "train/metrics.h"
#include "train/schedule.h"
#include "train/sgd.h"

namespace tailor {

// The data both stages read. Pointers must outlive the call; val / test may be null.
struct TwoStageData {
  const data::Dataset* train = nullptr;
  const data::Dataset* val = nullptr;   // model selection (tau-norm); null = none
  const data::Dataset* test = nullptr;  // final report; null = none
  data::TransformConfig train_tf, eval_tf;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 500;
  int num_workers = 1;
  uint64_t seed = 0;
};

struct Stage1Config {
  std::string loss = "ce";  // any make_loss name
  LossConfig loss_cfg;
  double mixup_alpha = 0;   // <= 0: no mixup
  int epochs = 200;
  LrSchedule sched;         // total_epochs is set to `epochs`
  SgdOptions sgd;
  std::string sampler = "instance";
  std::string save_path;    // empty = do not save
  int64_t max_steps_per_epoch = -1;  // -1 = the whole epoch (tests cap it)
  bool eval_each_epoch = false;      // evaluate on test after every epoch (else only at the end)
};

struct EpochLog {
  int epoch = 0;
  float lr = 0;
  double loss = 0;
  int64_t images = 0;
  double seconds = 0;
};

struct StageResult {
  std::vector<EpochLog> epochs;
  EvalMetrics test;      // final metrics on data.test (samples == 0 when no test split)
  EvalMetrics val;       // final metrics on data.val (samples == 0 when none)
  double seconds = 0;    // wall time of the whole stage
  Module::LoadReport load;                               // stage 2: the load report
  std::string bn_mode;                                   // stage 2: "eval" or "train"
  std::vector<std::pair<double, EvalMetrics>> tau_sweep;  // tau_norm: (tau, metrics on the selection split)
  std::string tau_split;                                 // "val", "test" or "" (not chosen)
  double tau = -1;                                       // tau_norm: the chosen tau
};

StageResult run_stage1(ResNet& net, const TwoStageData& data, const Stage1Config& cfg, std::ostream* log = nullptr);

struct Stage2Config {
  std::string method = "crt";       // crt | gcl_retrain | lws | tau_norm
  std::string checkpoint;           // stage-1 weights (required)
  bool allow_partial = false;       // load what matches, report the rest
  std::string bn_mode = "eval";     // eval: BN uses and keeps its running stats; train: shifted BN
  std::string sampler;              // "" = class_aware (crt, lws, tau_norm) or cben (gcl_retrain)
  int samples_per_class = 4;        // class_aware k
  std::string loss;                 // "" = ce (crt, lws) or gcl with gcl_cifar_stage2() (gcl_retrain)
  LossConfig loss_cfg;              // used when `loss` is given
  double mixup_alpha = 0;
  int epochs = 10;
  LrSchedule sched;                 // default cosine from sgd.lr; total_epochs set to `epochs`
  SgdOptions sgd;
  int64_t max_steps_per_epoch = -1;
  std::vector<double> taus;         // tau_norm sweep; empty = 0, 0.1, ..., 2.0
  bool choose_tau_on_test = false;  // tau_norm without a val split: allow selection on test
  std::string save_path;            // empty = do not save
};

// `net` must have the stage-1 architecture (arch, class count, head kind); its weights are replaced by the
// checkpoint's. On return its head is the stage-2 classifier.
StageResult run_stage2(ResNet& net, const TwoStageData& data, const Stage2Config& cfg, std::ostream* log = nullptr);

// ---- pieces shared with the config-driven trainer (train/trainer.cpp)
// Stage-2 entry: checks method and bn_mode, loads the stage-1 checkpoint STRICTLY into `net` (a missing
// file or a mismatch is an error naming the file) and freezes every parameter. Logs both.
void load_stage1_weights(ResNet& net, const std::string& method, const std::string& checkpoint, bool allow_partial,
                         const std::string& bn_mode, Module::LoadReport* report, std::ostream* log);
// The stage-2 classifier of crt / gcl_retrain / lws, installed as net's head; its trainable parameters
// are the ones stage 2 optimises. (crt draws its fresh init from global_rng().)
std::shared_ptr<Module> make_stage2_head(ResNet& net, const std::string& method);
std::string stage2_default_sampler(const std::string& method);               // cben | class_aware
std::string stage2_default_loss(const std::string& method, LossConfig* cfg);  // gcl (stage-2 form) | ce

// tau-normalisation sweep: for each tau, net's head := tau_normalize(trained, tau), then eval(net). Returns
// (tau, metrics) per tau; the head of the last tau stays installed.
using TauSweep = std::vector<std::pair<double, EvalMetrics>>;
TauSweep sweep_tau(ResNet& net, const Linear& trained, const std::vector<double>& taus,
                   const std::function<EvalMetrics(ResNet&)>& eval);
double best_tau(const TauSweep& sweep);  // highest top-1; the first on ties

// The tau grid 0, 0.1, ..., 2.0 (21 values).
std::vector<double> default_tau_grid();

}  // namespace tailor
