// CPU allocator with an exact-size free-list cache, and the device dispatch of raw memory calls.
#include "engine/allocator.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/cpu/kernels.h"
#include "engine/profiler.h"

#ifdef TAILOR_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace tailor {

namespace {
struct CpuCache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  CpuMemoryStats stats;
};
CpuCache& cpu_cache() {
  static CpuCache* c = new CpuCache();  // leaked on purpose: outlives static tensors
  return *c;
}
size_t round_up(size_t n) { return n == 0 ? 64 : (n + 63) / 64 * 64; }

void* cpu_alloc(size_t nbytes) {
  size_t n = round_up(nbytes);
  auto& c = cpu_cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(n);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cached -= n;
      c.stats.allocated += n;
      if (c.stats.allocated > c.stats.peak) c.stats.peak = c.stats.allocated;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, n);
  if (!p) {
    cpu_empty_cache();
    p = std::aligned_alloc(64, n);
  }
  TAILOR_CHECK(p != nullptr, "out of host memory allocating ", n, " bytes");
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.allocated += n;
  if (c.stats.allocated > c.stats.peak) c.stats.peak = c.stats.allocated;
  return p;
}
void cpu_free(void* p, size_t nbytes) {
  if (!p) return;
  size_t n = round_up(nbytes);
  auto& c = cpu_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.free_blocks[n].push_back(p);
  c.stats.allocated -= n;
  c.stats.cached += n;
}
}  // namespace

CpuMemoryStats cpu_memory_stats() {
  std::lock_guard<std::mutex> lock(cpu_cache().mu);
  return cpu_cache().stats;
}
void cpu_release_conv_setups() { cpu::conv2d_release_setups(); }
void cpu_reset_peak_memory() {
  std::lock_guard<std::mutex> lock(cpu_cache().mu);
  cpu_cache().stats.peak = cpu_cache().stats.allocated;
}
void cpu_empty_cache() {
  auto& c = cpu_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& kv : c.free_blocks)
    for (void* p : kv.second) std::free(p);
  c.free_blocks.clear();
  c.stats.cached = 0;
}

#ifndef TAILOR_CUDA
[[noreturn]] static void no_cuda() { fail("this tailor was built without CUDA (configure with -DTAILOR_CUDA=ON)"); }
bool cuda_available() { return false; }
CudaMemoryStats cuda_memory_stats() { return {}; }
void cuda_reset_peak_memory() {}
void cuda_synchronize() {}
int64_t cuda_host_waits() { return 0; }
std::string cuda_device_name() { return "no CUDA backend in this build"; }
int cuda_compute_major() { return 0; }
void cuda_set_deterministic(bool) {}
void cuda_set_allow_tf32(bool, bool) {}
void cuda_use_device(int) {}
#else
bool cuda_available() { return cuda::device_count() > 0; }
CudaMemoryStats cuda_memory_stats() {
  if (!cuda_available()) return {};
  cuda::MemoryStats m = cuda::memory_stats();
  return {m.allocated, m.cached, m.peak, m.reserved_peak};
}
void cuda_reset_peak_memory() {
  if (cuda_available()) cuda::reset_peak();
}
void cuda_synchronize() {
  if (cuda_available()) cuda::synchronize();
}
int64_t cuda_host_waits() { return cuda_available() ? cuda::host_waits() : 0; }
std::string cuda_device_name() { return cuda::device_name(); }
int cuda_compute_major() { return cuda::compute_major(); }
void cuda_set_deterministic(bool on) { cuda::set_deterministic(on); }
void cuda_set_allow_tf32(bool conv, bool matmul) { cuda::set_allow_tf32(conv, matmul); }
void cuda_use_device(int index) {
  const int n = cuda::device_count();
  TAILOR_CHECK(index >= 0 && index < n, "device cuda:", index, ": this machine has ", n, " visible GPU(s)");
  TAILOR_CUDA_CHECK(cudaSetDevice(index));
}
#endif

void* device_alloc(Device d, size_t nbytes) {
  if (d.is_cpu()) return cpu_alloc(nbytes);
#ifdef TAILOR_CUDA
  return cuda::alloc(nbytes);
#else
  no_cuda();
#endif
}
void device_free(Device d, void* p, size_t nbytes) {
  if (d.is_cpu()) return cpu_free(p, nbytes);
#ifdef TAILOR_CUDA
  cuda::free(p, nbytes);
#endif
}
// (memsets, fills and copies are timed by the kernel profiler too: engine/profiler.h)
void device_memset(Device d, void* p, int value, size_t nbytes) {
  if (nbytes == 0) return;  // (p may be null, as in device_copy)
  profile::KernelRange timed("memset", d.is_cuda());
  if (d.is_cpu()) {
    std::memset(p, value, nbytes);
    return;
  }
#ifdef TAILOR_CUDA
  cuda::memset(p, value, nbytes);
#else
  no_cuda();
#endif
}
void device_fill_f32(Device d, float* p, float value, int64_t n) {
  profile::KernelRange timed("fill", d.is_cuda());
  if (d.is_cpu()) {
    std::fill(p, p + n, value);
    return;
  }
#ifdef TAILOR_CUDA
  cuda::fill_f32(p, value, n);
#else
  no_cuda();
#endif
}
void device_copy(Device dst_dev, void* dst, Device src_dev, const void* src, size_t nbytes) {
  if (nbytes == 0) return;  // (an empty tensor's pointer may be null: memcpy of null is undefined even for 0 bytes)
  const bool to_gpu = dst_dev.is_cuda(), from_gpu = src_dev.is_cuda();
  profile::KernelRange timed(to_gpu   ? (from_gpu ? "copy_device_to_device" : "copy_host_to_device")
                             : from_gpu ? "copy_device_to_host"
                                        : "copy",
                             to_gpu || from_gpu);
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, nbytes);
    return;
  }
#ifdef TAILOR_CUDA
  cuda::copy(dst, dst_dev.is_cuda(), src, src_dev.is_cuda(), nbytes);
#else
  no_cuda();
#endif
}

}  // namespace tailor
