// The config-driven trainer behind `tailor train`: runs (or resumes) a whole run described by a resolved
// config (train/config.h) in a run directory:
//
//   <run_dir>/config.json          the resolved config (defaults + file + --set)
//   <run_dir>/metrics.jsonl        one line per epoch: stage, epoch, lr, loss, time, img/s, top-1, many /
//                                  medium / few, ECE (percent)
//   <run_dir>/steps.jsonl          every step's loss (log.step_losses)
//   <run_dir>/checkpoints/stage{1,2}_{last,best}.safetensors   model weights (PyTorch names)
//   <run_dir>/checkpoints/train_state.safetensors              the exact-resume state (train/checkpoint.h)
//   <run_dir>/eval.json, summary.json, tau_sweep.json (tau_norm), report.html + plots/
//
// Exact resume: every source of randomness is either a pure function of (seed, epoch, position) — the
// sampler, the augmentation, mixup — or an Rng whose state is saved (the loss noise of GCL / EQL, the
// global init stream). The state is written at every epoch end and every checkpoint.every_steps steps;
// a resumed run truncates the logs to the state's lengths and replays from the saved sampler cursor, so
// on the CPU (same thread count) its losses and final weights are bit-identical to an uninterrupted run.
#pragma once
#include <iosfwd>
#include <string>

#include "train/config.h"

namespace tailor {

struct TrainFlags {
  bool resume = false;     // continue <run_dir> from its training state (missing state = error)
  bool overwrite = false;  // replace an existing run directory
  bool report = true;      // write report.html at the end
  double stop_after_s = 0; // > 0: stop with the state saved after the first epoch that ends past this many
                           // seconds of this process (a time-limited job); train_run then returns
                           // {"stopped": true, ...} and `--resume` continues
};

// Returns summary.json's document (top1, many / medium / few, wall_s, train_img_per_s, peak_mem_mb, ...), or
// {"stopped": true, "stage", "epoch", "run_dir"} when flags.stop_after_s ended the process's share early.
Json train_run(const Json& cfg, const std::string& run_dir, const TrainFlags& flags, std::ostream& log);

// The checkpoint a finished run reports: the final stage's best (eval.select test / val, when kept) or last.
std::string final_checkpoint(const Json& cfg, const std::string& run_dir);

// runs_dir/name of a resolved config.
std::string run_dir_of(const Json& cfg);

}  // namespace tailor
