// Where a run is: everything an exact resume needs besides tensors, stored as the JSON document "state"
// inside checkpoints/train_state.safetensors (the tensors beside it: the model, the optimiser moments, the
// method's modules and state; train/trainer.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "train/config.h"  // Json
#include "train/run_config.h"

namespace tailor {

// One tailor build that trained a run: the first started it, each later one continued it (a resume by another
// commit or build) from where the state then was.
struct EngineEntry {
  std::string version, build;  // engine/version.h: version_commit(), version_build()
  int stage = 1, epoch = 0;    // where it took over (1-based stage, 0-based epoch)
  int64_t global_step = 0;
};

struct RunState {
  static constexpr int kFormat = 2;  // 2: runs of any number of stages, each with its method
  // The revision of the steps tailor trains for a config, raised whenever the same config trains other steps than
  // before (a resume across it would finish a run with steps its start never had; steps_revision_change):
  //   1: a class_aware stage ran ceil(N / B) batches an epoch, the last one short
  //   2: a class_aware stage runs int(N / B) full batches, as Decoupling counts them (StageConfig::epoch_samples)
  //   0 (read from a state without the key): 1 or 2 — revision 2 came before the key; check_steps_revision tells
  //     them apart by the images the stage in progress has trained
  static constexpr int kStepsRevision = 2;
  int steps_revision = kStepsRevision;
  int stage = 1;                     // 1-based stage in progress; the number of stages + 1 = finished
  bool stage_started = false;        // the stage was set up: the state's tensors are this stage's
  int epoch = 0;                     // 0-based epoch in progress / next to run
  int64_t cursor = 0, step_in_epoch = 0, global_step = 0;
  double loss_sum = 0, epoch_seconds = 0;  // accumulators of the epoch in progress
  int64_t epoch_images = 0, skipped = 0;
  int64_t epoch_loss_images = 0;     // the images of the epoch's applied steps (loss_sum's; skipped ones are not)
  double best_top1 = -1;             // of the stage in progress
  int best_epoch = -1;
  std::vector<double> stage_top1;    // per finished stage: its best (else last) evaluated top-1 (post-hoc:
                                     // its model on eval.select's split), -1 = none
  double train_seconds = 0, wall_before = 0;
  int64_t train_images = 0;
  std::vector<double> stage_seconds;    // per finished stage: its training seconds and images
  std::vector<int64_t> stage_images;
  uint64_t metrics_bytes = 0, steps_bytes = 0;  // log lengths to truncate to on resume
  Rng::State loss_rng{};             // the run's loss-noise stream, now
  Rng::State model_rng{};            // the model's init stream as it was when the stage in progress started
  std::string data_fingerprint;      // train/run_data.h
  Json method = Json::object();      // the method's own state document (Method::save_state)
  int world = 1;                     // ranks of the job that wrote it (train/data_parallel.h); a resume needs as many
  std::vector<Rng::State> rank_loss_rngs;  // world > 1: every rank's loss-noise stream, by rank
  // the builds that trained the run, in order (empty in a state written before they were kept; a resume then puts
  // an entry of version "" first: not recorded)
  std::vector<EngineEntry> engines;
};

// The state with the config hash a resume must match.
Json state_json(const RunState& s, const std::string& config_hash);
// The inverse; a state of another format, or one missing a key, is an error naming `file`.
RunState state_from_json(const Json& j, const std::string& file);

// How stage `c` of a run whose state is of an older steps revision `revision` trains other steps in this tailor
// than in the one that wrote the state, on a training split of `n_train` images (which revisions' changes touch
// it, and how); empty when they do not.
std::string steps_revision_change(int revision, const StageConfig& c, int64_t n_train);

// A resume of state `s` by this tailor: refused when the stage in progress would train other steps than it started
// with (steps_revision_change) or the state is of a newer revision (its changes are unknown here); the later stages
// that will train as this tailor does, not as the one that started the run, are notes for the log.
struct StepsRevisionCheck {
  std::string refusal;  // empty: the resume goes on
  std::vector<std::string> notes;
};
StepsRevisionCheck check_steps_revision(const RunState& s, const std::vector<StageConfig>& stages, int64_t n_train);

// Records that tailor `version` (`build`) trains the run from the state's point on: the first entry of a fresh run,
// or a new one when the last entry names another commit or build. Returns the log's note for a resume by another
// build ("" when nothing changed or the run is fresh).
std::string continue_with_engine(RunState& s, const std::string& version, const std::string& build);
// summary.json's engine_history: [{version, build, from_stage, from_epoch, from_global_step}, ...].
Json engine_history_json(const RunState& s);

// summary.json's totals of a finished run: each stage's best top-1 (stage1_top1, stage_top1, in percent),
// wall_s, train_img_per_s over all steps, stage_img_per_s (null for a stage without steps) and peak_mem_mb
// (this process's peak resident memory).
void add_run_totals(Json& summary, const RunState& s, double wall_s);

}  // namespace tailor
