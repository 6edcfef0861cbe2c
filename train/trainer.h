// A whole run: its stages one after another, in a run directory that one process owns at a time.
//
//   <run_dir>/config.json          the resolved config (defaults + file + --set; train/config.h)
//   <run_dir>/metrics.jsonl        one line per epoch: stage, epoch, lr, loss, time, img/s, top-1, many /
//                                  medium / few, ECE (percent)
//   <run_dir>/steps.jsonl          every step's loss (log.step_losses)
//   <run_dir>/checkpoints/stage<k>_{last,best}.safetensors   the model after stage k (PyTorch names)
//   <run_dir>/checkpoints/train_state.safetensors            the exact-resume state
//   <run_dir>/eval.json, summary.json, tau_sweep.json (tau_norm), report.html + plots/
//
// Stage k starts from the built model (stage 1: model.init_from when given) or from the checkpoint its
// `load` key names (stage 2 on: the previous stage's best or last, or a file); its method (train/method.h)
// sets it up, the loop (train/loop.h) trains it, or it runs once (post-hoc methods).
//
// Exact resume: every source of randomness is either a pure function of (seed, epoch, position) — the
// sampler, the augmentation, mixup — or an Rng whose state is saved: the run's loss-noise stream, the
// model's initialisation stream as of the stage's start (so a resumed stage re-draws the same new head),
// and whatever a method keeps. The state holds the model, the optimiser moments, the method's modules and
// state; it is written at every epoch end and every checkpoint.every_steps steps. A resumed run truncates
// the logs to the state's lengths and replays from the saved sampler cursor, so on the CPU (same thread
// count) its losses and weights are bit-identical to an uninterrupted run.
#pragma once
#include <iosfwd>
#include <string>

#include "train/config.h"
#include "train/run_config.h"
#include "train/run_data.h"

namespace tailor {

struct TrainFlags {
  bool resume = false;     // continue <run_dir> from its training state (missing state = error)
  bool overwrite = false;  // replace an existing run directory (not one in use)
  bool report = true;      // write report.html at the end
  double stop_after_s = 0; // > 0: stop with the state saved after the first epoch that ends past this many
                           // seconds of this process (a time-limited job); train_run then returns
                           // {"stopped": true, ...} and `--resume` continues
  bool accept_changed_eval_images = false;  // a resume goes on when only the val / test images changed
};

// Runs (or resumes) the run `cfg` (a resolved document, train/config.h) describes in `run_dir`. Returns
// summary.json's document (top1, many / medium / few, wall_s, ...), or {"stopped": true, "stage", "epoch",
// "run_dir"} when flags.stop_after_s ended the process's share early. Throws with a message naming the
// key, file or step at fault; a second process on the same directory is refused (rundir/files.h).
Json train_run(const Json& cfg, const std::string& run_dir, const TrainFlags& flags, std::ostream& log);
// The same on data the caller built (tests and benchmarks: in-memory or cut-down datasets); cfg's data
// section is then only recorded.
Json train_run(const Json& cfg, RunData data, const std::string& run_dir, const TrainFlags& flags, std::ostream& log);

// The checkpoint a finished run reports: the last stage's best (when kept, and the stage trains) or last.
std::string final_checkpoint(const RunConfig& cfg, const std::string& run_dir);
std::string final_checkpoint(const Json& cfg, const std::string& run_dir);

// runs_dir/name of a resolved config.
std::string run_dir_of(const Json& cfg);

}  // namespace tailor
