// The files of a run directory besides the tensors: whole-file writes that replace atomically (a crash
// leaves the old file or the new one, never half of one), appended logs (.jsonl), and the lock that makes
// one process the only writer of a run directory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

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
// Each stage's best evaluated top-1 in metrics.jsonl, up to the last stage evaluated (index stage - 1; -1 for
// a stage with none): what the run's log and its report judge stages by (train/metrics.h: stage_drop_note).
std::vector<double> best_logged_top1(const std::filesystem::path& metrics_jsonl);

// A resume with --set data.root (the data moved): writes `root` into the run's config.json (atomically) when
// it differs and returns the old value; returns "" and leaves the file alone when they are equal.
std::string update_data_root(const std::filesystem::path& config_json, const std::string& root);

// Exclusive ownership of a run directory for the life of this object: an flock on the directory itself,
// which the operating system releases when the process ends, however it ends (no stale lock after a kill).
// A second process — a fresh `train`, a `--resume` or an `--overwrite` of the same directory — is refused
// with a message naming the directory. `create` makes the directory first when it does not exist, and
// `created()` says whether this lock made it (so a failed start can remove what it made).
class RunDirLock {
 public:
  RunDirLock() = default;
  RunDirLock(const std::filesystem::path& dir, bool create);
  ~RunDirLock();
  RunDirLock(RunDirLock&& o) noexcept;
  RunDirLock& operator=(RunDirLock&& o) noexcept;
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;
  bool created() const { return created_; }

 private:
  int fd_ = -1;
  bool created_ = false;
};

// DIR/checkpoints/train_state.safetensors: the state a --resume continues from.
std::filesystem::path run_state_path(const std::filesystem::path& dir);
// Whether `dir` holds a tailor run: a training state, or a config.json that is a run's resolved config.
bool holds_run(const std::filesystem::path& dir);
// The lock of a fresh run's directory (made when missing), after the checks: a folder holding a run is
// refused unless `overwrite` (the caller empties it once the new run is past its checks), a folder holding
// anything else is refused always.
RunDirLock claim_fresh_run_dir(const std::filesystem::path& dir, bool overwrite);
// Removes everything inside `dir` (not `dir` itself), its config.json last. Throws naming what could not be
// removed and why.
void empty_run_dir(const std::filesystem::path& dir);
// Throws "run directory DIR: cannot write into it (reason)" when a file cannot be created there (a read-only
// file system, no inodes left): said before a resume trains, not at its first save.
void check_writable(const std::filesystem::path& dir);

}  // namespace tailor
