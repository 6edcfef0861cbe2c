// The live progress line of a training epoch. On a terminal: one line redrawn in place (at most ~5
// times a second) with a bar, step count, running loss, img/s and the epoch's ETA; the epoch summary
// then replaces it. When stdout is not a terminal (a log file, CI): a plain line at every tenth of the
// epoch (and at least once a minute), flushed at once, then the summary line.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace tailor {

class Progress {
 public:
  // mode: "auto" (bar when `out` is a terminal), "bar" or "plain".
  Progress(std::FILE* out, const std::string& mode);
  // `label` e.g. "stage 1 epoch 3/200"; steps already done (resume) count toward the bar, not the speed.
  void start(const std::string& label, int64_t total_steps, int64_t done_steps);
  void step(int64_t done_steps, double running_loss, int64_t images_since_start);
  // Whether step(done_steps, ...) would draw now (the training loop reads the running loss only then).
  bool due(int64_t done_steps) const;
  // Ends the epoch's line with `summary` (printed in both modes).
  void finish(const std::string& summary);
  bool is_bar() const { return bar_; }

 private:
  std::FILE* out_;
  bool bar_;
  std::string label_;
  int64_t total_ = 0, done0_ = 0;
  double t0_ = 0, last_draw_ = 0;
  size_t last_len_ = 0;
};

// Seconds on a monotonic clock (durations only).
double monotonic_seconds();

// "1:02:03" / "4:05"
std::string format_duration(double seconds);

}  // namespace tailor
