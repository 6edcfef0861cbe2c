// The files of a run directory besides the tensors: whole-file writes that replace atomically (a crash
// leaves the old file or the new one, never half of one), appended logs (.jsonl), and the resume state —
// where the run is, as JSON inside train_state.safetensors (train/trainer.h describes the layout).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "engine/rng.h"
#include "train/config.h"  // Json

namespace tailor {

// path.tmp, then rename over path. Throws naming the file when it cannot be written.
void write_text_atomic(const std::filesystem::path& path, const std::string& text);
// One line appended (and flushed) to a log.
void append_line(const std::filesystem::path& path, const std::string& line);
// 0 when the file does not exist (a log that was never written).
uint64_t file_size_or_zero(const std::filesystem::path& path);

// The top-1 of the last evaluated epoch of `stage` in metrics.jsonl (null when none was evaluated).
Json last_logged_top1(const std::filesystem::path& metrics_jsonl, int stage);

// A resume with --set data.root (the data moved): writes `root` into the run's config.json (atomically) when
// it differs and returns the old value; returns "" and leaves the file alone when they are equal.
std::string update_data_root(const std::filesystem::path& config_json, const std::string& root);

// Where a run is: everything the resume needs besides tensors.
struct RunState {
  int stage = 1;  // 1, 2, or 3 = finished
  int epoch = 0;  // 0-based epoch in progress / next to run
  int64_t cursor = 0, step_in_epoch = 0, global_step = 0;
  double loss_sum = 0, epoch_seconds = 0;  // accumulators of the epoch in progress
  int64_t epoch_images = 0, skipped = 0;
  double best_top1 = -1;
  int best_epoch = -1;
  double stage1_top1 = -1;
  double train_seconds = 0, wall_before = 0;
  int64_t train_images = 0;
  uint64_t metrics_bytes = 0, steps_bytes = 0;  // log lengths to truncate to on resume
  Rng::State loss_rng{}, global_rng{};
  std::string data_fingerprint;  // train/run_data.h; empty in states written before it existed
};

// The state with the config hash a resume must match; the inverse throws (nlohmann) on a missing key.
Json state_json(const RunState& s, const std::string& config_hash);
RunState state_from_json(const Json& j);

}  // namespace tailor
