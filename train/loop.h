// The training loop: the one place a training step is driven, for every method of every stage (the CLI,
// the tests and the benchmarks all come here through train_run, train/trainer.h).
//
// One step, in order: the learning rate of (epoch, position) -> the next batch -> mixup drawn from (stage
// seed, epoch, step) and applied on the host -> batch to the device -> under guard.nonfinite skip, device
// copies of the BatchNorm statistics -> the method's step() (its loss) -> (data parallel: the number of
// ranks whose loss is non-finite, summed on the device) -> backward, always (data parallel: the gradients
// averaged over the ranks) -> the non-finite guard on the device: one pass over the loss and every gradient
// gives the step's code (0 = good; else the loss, another rank's loss, or the first non-finite gradient)
// -> the optimiser step masked by the code (weights and momentum untouched when it is not 0; a skipped
// first step does not count as the first, train/sgd.h) -> under skip, the BatchNorm statistics put back
// from their copies where the code is not 0 -> the loss and the code into the epoch's step queue (device
// tensors). None of this reads the device from the host: on a GPU the steps queue up without a stall. With
// cuda_graphs the step from the method's step() to the BatchNorm restore is captured once per epoch and
// replayed (train/step_graph.h).
//
// READ POINTS, where the host reads the queued losses and codes (one small copy each) and does, step by
// step, the bookkeeping of every step since the last one: the guard's decision (guard.nonfinite stop, the
// default: the error naming the FIRST bad step's stage, epoch, step and global step and what was
// non-finite; skip: one "guard: skipped the step" line per bad step, guard.max_skips enforced), the epoch's
// loss sum (sum of loss x images over applied steps, in double, in step order: the same numbers as a read
// after every step) and image count, and steps.jsonl (log.step_losses). They are: the end of an epoch,
// every checkpoint.every_steps steps (before the state is saved), the kill / stall test hooks' steps, a
// full queue (1024 steps), and the progress display: when it would redraw (the bar: every 0.2 s; plain:
// every tenth of the epoch or minute), or, data parallel, at every tenth of the epoch on every rank alike
// (the reads are collectives there). Results never depend on where the read points fall.
//
// Sync-free steps (tests/test_sync_free_step.cpp counts the host reads): every method without an
// after_step(), with any loss of losses/ (every one keeps the labels and the logits on the device: per-class
// tables cached on the device, label lookups and branch masks computed there; the random draws of gcl,
// gcl_ang and eql made on the host and uploaded) — joint training (mixup included: it is applied on the host
// before the upload), the decoupled classifier methods (cRT, LWS, GCL re-training, MiSLAS), distillation.
// Not sync-free: balms, breadcrumb and ssd_contrastive, whose after_step() must see only applied steps
// (Method::has_after_step): every one of their steps is a read point (the documented fallback); and a loss
// given per-sample weights (LossInput::sample_weight, balms), whose denominator sums the labels' class
// weights on the host.
//
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
  int64_t skipped_said = 0;  // the loader's undecodable images (data.on_bad_image skip) already in the log
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
  int stop_signal = 0;               // set by train_stage when a stop signal ended it (rundir/stop_signal.h)
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
// process's share at an epoch end, or a stop signal after a step (run.stop_signal; the state is saved either
// way), true when the stage is done.
bool train_stage(RunContext& run, StageRun& stage);

// Counts of this process's training steps (tests): steps, read points, and the host reads
// (Tensor::host_reads) and, on a GPU, the host's waits for the device (cuda_host_waits: reads, and uploads
// that find their staging memory still in use) made inside steps, from loading the batch to the read-point
// test (a read point's own not included). 0 for sync-free steps.
struct LoopCounters {
  int64_t steps = 0, read_points = 0, step_host_reads = 0, step_host_waits = 0;
  int64_t graph_captures = 0, graph_replays = 0;  // steps captured / replayed as CUDA graphs (train/step_graph.h)
  int64_t graph_failures = 0;                      // captures that failed (the step and its stage ran eagerly)
};
LoopCounters& loop_counters();

}  // namespace tailor
