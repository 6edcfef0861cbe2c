#include "rundir/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "engine/atomic_file.h"

namespace tailor {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void run_fail(const std::string& msg) { throw std::runtime_error(msg); }

}  // namespace

void write_text_atomic(const fs::path& p, const std::string& text) {
  write_file_atomic(p.string(), text.data(), text.size());
}

void append_line(const fs::path& p, const std::string& line) { append_line_to(p.string(), line); }

uint64_t file_size_or_zero(const fs::path& p) {
  if (!fs::exists(p)) return 0;
  if (fs::is_directory(p)) throw std::runtime_error(p.string() + ": a folder, not the run's log file");
  return (uint64_t)fs::file_size(p);
}

namespace {

// Every line of metrics.jsonl in order; a line that is not a JSON object is an error naming the file and line.
std::vector<Json> read_metrics_lines(const fs::path& metrics_jsonl) {
  std::ifstream in(metrics_jsonl);
  std::string line;
  std::vector<Json> out;
  for (int n = 1; std::getline(in, line); ++n)
    if (!line.empty()) {
      Json l = Json::parse(line, nullptr, false);
      if (!l.is_object())
        run_fail(metrics_jsonl.string() + ":" + std::to_string(n) + ": not a JSON object (the log is damaged)");
      out.push_back(std::move(l));
    }
  return out;
}

}  // namespace

Json last_logged_top1(const fs::path& metrics_jsonl, int stage) {
  Json top1 = nullptr;
  for (const Json& l : read_metrics_lines(metrics_jsonl))
    if (l.contains("top1") && l.value("stage", 0) == stage) top1 = l["top1"];
  return top1;
}

std::vector<double> best_logged_top1(const fs::path& metrics_jsonl) {
  std::vector<double> best;
  for (const Json& l : read_metrics_lines(metrics_jsonl)) {
    const int k = l.value("stage", 0);
    if (k < 1 || k > 1000 || !l.contains("top1") || !l["top1"].is_number()) continue;
    if ((size_t)k > best.size()) best.resize((size_t)k, -1.0);
    best[(size_t)k - 1] = std::max(best[(size_t)k - 1], l["top1"].get<double>());
  }
  return best;
}

std::string update_data_root(const fs::path& config_json, const std::string& root) {
  Json saved = load_config_file(config_json.string());
  const std::string old = saved.contains("data") ? saved["data"].value("root", std::string()) : std::string();
  if (old == root) return "";
  saved["data"]["root"] = root;
  write_text_atomic(config_json, saved.dump(2) + "\n");
  return old.empty() ? "(empty)" : old;
}

RunDirLock::RunDirLock(const fs::path& dir, bool create) {
  std::error_code ec;
  if (create && !fs::exists(dir)) {
    fs::create_directories(dir.parent_path().empty() ? fs::path(".") : dir.parent_path(), ec);
    if (!ec) created_ = fs::create_directory(dir, ec);
    if (ec && !fs::is_directory(dir))  // (made meanwhile by another process: the lock below decides)
      run_fail("run directory " + dir.string() + ": cannot create it (" + ec.message() + ")");
  }
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) run_fail("run directory " + dir.string() + ": cannot open (" + std::strerror(errno) + ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      run_fail("run directory " + dir.string() + " is in use by another process (a `tailor train` still running "
               "on it); wait for it to end" + (create ? ", or give this run another name (--set name=...)" : ""));
    run_fail("run directory " + dir.string() + ": cannot lock (" + std::strerror(err) + ")");
  }
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

RunDirLock::RunDirLock(RunDirLock&& o) noexcept : fd_(o.fd_), created_(o.created_) { o.fd_ = -1; }

RunDirLock& RunDirLock::operator=(RunDirLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    created_ = o.created_;
    o.fd_ = -1;
  }
  return *this;
}

fs::path run_state_path(const fs::path& dir) { return dir / "checkpoints" / "train_state.safetensors"; }

bool holds_run(const fs::path& dir) {
  if (fs::exists(run_state_path(dir))) return true;
  std::ifstream in(dir / "config.json");
  if (!in) return false;
  const Json j = Json::parse(in, nullptr, false);
  return j.is_object() && j.contains("runs_dir") && j.contains("stage1") && j.contains("data");
}

RunDirLock claim_fresh_run_dir(const fs::path& dir, bool overwrite) {
  RunDirLock lock(dir, true);
  if (holds_run(dir)) {
    if (overwrite) return lock;
    if (!fs::exists(run_state_path(dir)))
      run_fail("run directory " + dir.string() + " holds a run that stopped before its first training state: "
               "start it again with --overwrite, or choose another name (--set name=...)");
    run_fail("run directory " + dir.string() + " already holds a run: continue it with `tailor train --resume " +
             dir.string() + "`, choose another name (--set name=...), or pass --overwrite");
  }
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (!ec && it != fs::directory_iterator())  // never written into, never emptied (--overwrite or not)
    run_fail("run directory " + dir.string() + " is not empty and holds no tailor run (it has '" +
             it->path().filename().string() + "'): a run writes only into a new or empty folder; choose another "
             "name (--set name=...) or runs_dir");
  return lock;
}

void empty_run_dir(const fs::path& dir) {
  // config.json last: a removal that fails half-way leaves a folder that still holds a run (holds_run), which
  // --overwrite takes again once the cause is gone
  std::vector<fs::path> entries;
  for (auto& e : fs::directory_iterator(dir)) entries.push_back(e.path());
  std::stable_partition(entries.begin(), entries.end(),
                        [](const fs::path& p) { return p.filename() != "config.json"; });
  for (const fs::path& p : entries) {
    std::error_code ec;
    fs::remove_all(p, ec);
    if (ec)
      run_fail("run directory " + dir.string() + ": cannot remove " + p.string() + " (" + ec.message() + ")" +
               (fs::exists(dir / "config.json") ? "; the folder still holds the run's config.json: once the cause is "
                                                  "gone, --overwrite takes it again"
                                                : ""));
  }
}

void check_writable(const fs::path& dir) {
  const std::string why = cannot_create_in(dir.string());
  if (!why.empty()) run_fail("run directory " + dir.string() + ": cannot write into it (" + why + ")");
}

}  // namespace tailor
