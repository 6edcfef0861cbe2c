#include "engine/profiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <utility>

#ifdef TAILOR_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace tailor::profile {

namespace {

struct Record {
  const char* name = nullptr;
  const char* phase = nullptr;
  bool cuda = false;
  double ms = 0;  // the CPU's: measured at end(); CUDA's: read from the events at stop()
  std::chrono::steady_clock::time_point t0;
#ifdef TAILOR_CUDA
  cudaEvent_t before = nullptr, after = nullptr;
  bool recorded = false;  // the second event was recorded (a failed record: the call is left out)
#endif
};

struct State {
  bool on = false;
  bool timing = false;  // a KernelRange of this thread is open (the outer one counts)
  const char* phase = "forward";
  std::vector<Record> records;
};
thread_local State t_state;

#ifdef TAILOR_CUDA
cudaEvent_t new_event() {
  cudaEvent_t e;
  TAILOR_CUDA_CHECK(cudaEventCreate(&e));
  return e;
}
#endif

// Reads the CUDA records' times (after a device wait) and frees their events.
void settle(std::vector<Record>& records) {
#ifdef TAILOR_CUDA
  bool any = false;
  for (const Record& r : records) any = any || r.cuda;
  if (!any) return;
  cuda::synchronize();
  for (Record& r : records) {
    if (!r.cuda) continue;
    float ms = 0;
    if (r.recorded) TAILOR_CUDA_CHECK(cudaEventElapsedTime(&ms, r.before, r.after));
    r.ms = ms;
    TAILOR_CUDA_CHECK(cudaEventDestroy(r.before));
    TAILOR_CUDA_CHECK(cudaEventDestroy(r.after));
  }
#else
  (void)records;
#endif
}

}  // namespace

void start() {
  State& s = t_state;
  settle(s.records);
  s.records.clear();
  s.on = true;
}

bool on() { return t_state.on; }

std::vector<KernelTime> stop() {
  State& s = t_state;
  s.on = false;
  settle(s.records);
  std::map<std::pair<std::string, std::string>, KernelTime> by_key;
  for (const Record& r : s.records) {
    KernelTime& k = by_key[{r.name, r.phase}];
    k.name = r.name;
    k.phase = r.phase;
    ++k.calls;
    k.ms += r.ms;
  }
  s.records.clear();
  std::vector<KernelTime> out;
  for (auto& [key, k] : by_key) out.push_back(k);
  std::stable_sort(out.begin(), out.end(), [](const KernelTime& a, const KernelTime& b) { return a.ms > b.ms; });
  return out;
}

std::string table(const std::vector<KernelTime>& kernels, int64_t steps, double wall_ms_per_step, int max_rows) {
  const double n = (double)std::max<int64_t>(steps, 1);
  double total = 0;
  for (const KernelTime& k : kernels) total += k.ms;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-34s %-9s %10s %10s %8s %10s\n", "kernel", "phase", "calls/step", "ms/step",
                "share", "us/call");
  out += line;
  int rows = 0;
  double rest_ms = 0;
  int64_t rest_calls = 0;
  for (const KernelTime& k : kernels) {
    if (rows++ >= max_rows) {
      rest_ms += k.ms;
      rest_calls += k.calls;
      continue;
    }
    std::snprintf(line, sizeof line, "%-34s %-9s %10.1f %10.3f %7.1f%% %10.1f\n", k.name.c_str(), k.phase.c_str(),
                  k.calls / n, k.ms / n, total > 0 ? 100 * k.ms / total : 0.0, k.calls ? 1000 * k.ms / k.calls : 0.0);
    out += line;
  }
  if (rest_calls) {
    std::snprintf(line, sizeof line, "%-34s %-9s %10.1f %10.3f %7.1f%%\n", "(the other kernels)", "", rest_calls / n,
                  rest_ms / n, total > 0 ? 100 * rest_ms / total : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof line, "kernels: %.3f ms/step; wall: %.3f ms/step (no kernel running: %.1f%%)\n",
                total / n, wall_ms_per_step,
                wall_ms_per_step > 0 ? std::max(0.0, 100 * (1 - total / n / wall_ms_per_step)) : 0.0);
  out += line;
  return out;
}

PhaseScope::PhaseScope(const char* phase) : prev_(t_state.phase) { t_state.phase = phase; }
PhaseScope::~PhaseScope() { t_state.phase = prev_; }

void KernelRange::begin(const char* name, bool cuda) {
  State& s = t_state;
  if (s.timing) return;
#ifdef TAILOR_CUDA
  if (cuda && cuda::capturing()) return;  // a replay runs no op: nothing to attribute
#else
  if (cuda) return;
#endif
  Record r;
  r.name = name;
  r.phase = s.phase;
  r.cuda = cuda;
#ifdef TAILOR_CUDA
  if (cuda) {
    r.before = new_event();
    r.after = new_event();
    TAILOR_CUDA_CHECK(cudaEventRecord(r.before, cuda::stream()));
  }
#endif
  s.timing = true;
  slot_ = (int64_t)s.records.size();
  r.t0 = std::chrono::steady_clock::now();
  s.records.push_back(r);
}

// Runs in a destructor, so it never throws: a failed event record (the device is already in error, which
// the kernel's own check reports) leaves the call out of the profile.
void KernelRange::end() {
  State& s = t_state;
  s.timing = false;
  const size_t slot = (size_t)slot_;
  slot_ = -1;
  if (slot >= s.records.size()) return;  // the profile was restarted inside the call
  Record& r = s.records[slot];
#ifdef TAILOR_CUDA
  if (r.cuda) {
    r.recorded = cudaEventRecord(r.after, cuda::stream()) == cudaSuccess;
    return;
  }
#endif
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r.t0).count();
}

}  // namespace tailor::profile
