// Kernel profiler: where a training step's time goes, kernel by kernel (`tailor bench --profile N`).
//
// While a thread's profile is on, every kernel call it makes through an op (TAILOR_KERNEL in
// engine/ops/common.h), the optimisers' fused updates and the device memsets, fills and copies
// (engine/allocator.cpp) is timed and added to (kernel name, phase):
//   - on the CPU a call's time is the host's wall time around it (the CPU kernels run synchronously);
//   - on CUDA it is the GPU time between two events recorded on the stream before and after the
//     launch(es), read when the profile is stopped: profiling adds no host wait inside a step.
// The phase is "forward" unless a PhaseScope names another (backward sets "backward", the optimisers
// "optimizer"). A kernel call made while another is being timed (an argument's copy) counts in the outer
// one. Nothing is recorded during a CUDA graph capture (a replay runs no op). When the profile is off (the
// default) a KernelRange costs one thread-local test.
//
// The difference between a step's wall time and the sum of its kernels' times is time no kernel ran: on
// the CPU the engine's own overhead (autograd, allocation, op checks), on the GPU also launch gaps, which is
// what makes small batches launch-bound (and what CUDA graphs remove).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tailor::profile {

struct KernelTime {
  std::string name, phase;
  int64_t calls = 0;
  double ms = 0;  // summed over the calls
};

void start();                    // this thread's kernel calls are timed from now on (earlier records dropped)
std::vector<KernelTime> stop();  // waits for the device; sorted by time, largest first; the profile is off
bool on();                       // this thread's profile is on

// A readable table: per step (divided by `steps`) calls, ms and µs per call, the share of the kernels' sum,
// and the kernels' sum against the measured wall time per step.
std::string table(const std::vector<KernelTime>& kernels, int64_t steps, double wall_ms_per_step, int max_rows = 40);

class PhaseScope {
 public:
  explicit PhaseScope(const char* phase);  // a string literal
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  const char* prev_;
};

class KernelRange {
 public:
  KernelRange(const char* name, bool cuda) {  // name: a string literal
    if (on()) begin(name, cuda);
  }
  ~KernelRange() {
    if (slot_ >= 0) end();
  }
  KernelRange(const KernelRange&) = delete;
  KernelRange& operator=(const KernelRange&) = delete;

 private:
  void begin(const char* name, bool cuda);
  void end();
  int64_t slot_ = -1;  // this call's record, -1 when not timed
};

}  // namespace tailor::profile
