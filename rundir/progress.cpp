#include "rundir/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace tailor {

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  long t = (long)std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

Progress::Progress(std::FILE* out, const std::string& mode) : out_(out) {
  bar_ = mode == "bar" || (mode == "auto" && isatty(fileno(out)));
}

void Progress::start(const std::string& label, int64_t total_steps, int64_t done_steps) {
  label_ = label;
  total_ = total_steps;
  done0_ = done_steps;
  t0_ = monotonic_seconds();
  last_draw_ = t0_;
  last_len_ = 0;
}

bool Progress::due(int64_t done) const {
  const double t = monotonic_seconds();
  if (!bar_) {
    // a plain line per tenth of the epoch (or per minute), flushed, so a log file shows the run moving; the
    // epoch's summary line covers its end
    const int64_t tenth = std::max<int64_t>(1, (total_ + 9) / 10);
    return !(done >= total_ || (done % tenth != 0 && t - last_draw_ < 60));
  }
  return !(done < total_ && t - last_draw_ < 0.2);
}

void Progress::step(int64_t done, double loss, int64_t images) {
  if (!due(done)) return;
  const double t = monotonic_seconds();
  if (!bar_) {
    last_draw_ = t;
    const double el = t - t0_, steps_rate = el > 0 ? (done - done0_) / el : 0;
    std::fprintf(out_, "%s  %lld/%lld steps  loss %.4f  %.0f img/s  ETA %s\n", label_.c_str(), (long long)done,
                 (long long)total_, loss, el > 0 ? images / el : 0.0,
                 format_duration(steps_rate > 0 ? (total_ - done) / steps_rate : 0).c_str());
    std::fflush(out_);
    return;
  }
  last_draw_ = t;
  const int width = 24;
  int fill = total_ > 0 ? (int)(width * done / total_) : 0;
  std::string bar(fill, '#');
  bar += std::string(width - fill, '.');
  double el = t - t0_, rate = el > 0 ? images / el : 0;
  double steps_rate = el > 0 ? (done - done0_) / el : 0;
  double eta = steps_rate > 0 ? (total_ - done) / steps_rate : 0;
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "\r%s [%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s", label_.c_str(),
                        bar.c_str(), (long long)done, (long long)total_, loss, rate, format_duration(eta).c_str());
  std::string line(buf, n > 0 ? (size_t)n : 0);
  if (line.size() < last_len_) line += std::string(last_len_ - line.size(), ' ');
  last_len_ = line.size();
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
}

void Progress::finish(const std::string& summary) {
  if (bar_ && last_len_ > 0) std::fprintf(out_, "\r%s\r", std::string(last_len_, ' ').c_str());
  std::fprintf(out_, "%s\n", summary.c_str());
  std::fflush(out_);
  last_len_ = 0;
}

}  // namespace tailor
