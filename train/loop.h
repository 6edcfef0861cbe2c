// The training loop: the one place a training step is driven, for every method of every stage (the CLI,
// the tests and the benchmarks all come here through train_run, train/trainer.h).
//
// One step, in order: the learning rate of (epoch, position) -> the next batch -> mixup drawn from (stage
// seed, epoch, step) and applied on the host -> batch to the device -> the method's step() (its loss) ->
// the non-finite guard (the loss, then every gradient in one device round trip) -> the optimiser step or,
// under guard.nonfinite skip, the step undone (BatchNorm statistics restored) -> the method's after_step()
// -> steps.jsonl, progress, the training state every checkpoint.every_steps steps.
// At the end of an epoch: metrics.jsonl, evaluation (every eval.every_epochs and at the stage's end), the
// stage's best and last checkpoints, the training state.
#pragma once
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include "data/loader.h"
#include "engine/comm.h"
#include "rundir/progress.h"
#include "rundir/state.h"
#include "train/method.h"
#include "train/run_config.h"
#include "train/run_data.h"

namespace tailor {

// One training stage in progress, as the trainer built it.
struct StageRun {
  const StageConfig& cfg;
  Method& method;
  GroupedSGD& opt;
  data::Loader& loader;
  LrSchedule sched;
  uint64_t seed;  // the stage's seed: sampler, augmentation, mixup
};

// What the loop reads and writes of the run around it.
struct RunContext {
  const RunConfig& cfg;
  const RunData& data;
  ResNet& model;
  Device dev;
  RunState& st;
  std::filesystem::path dir;
  Progress& progress;
  std::ostream& log;
  std::function<void()> save_state;  // checkpoints/train_state.safetensors as of now
  double stop_after_s = 0;           // > 0: stop at the first epoch end past this many seconds of the process
  double session_t0 = 0;
  // Data parallel (train/data_parallel.h): the job's ranks (one process: world 1); only the writer (rank 0)
  // writes the run directory.
  Communicator* comm = nullptr;
  bool writer = true;
  double bucket_mb = 25;
  std::string checkpoint(int stage, const char* which) const;  // checkpoints/stage<k>_<which>.safetensors
  const data::Dataset* eval_split() const;                    // eval.select's split (null: none)
  EvalMetrics evaluate(ResNet& net, const data::Dataset& ds) const;  // sharded over the ranks when world > 1
  int world() const { return comm ? comm->world() : 1; }
  bool data_parallel() const;  // launched by mpirun (train/data_parallel.h), with any number of ranks
};

// Runs the stage's remaining epochs from run.st (epoch, cursor). Returns false when --stop-after ended the
// process's share at an epoch end (the state is saved), true when the stage is done.
bool train_stage(RunContext& run, StageRun& stage);

}  // namespace tailor
