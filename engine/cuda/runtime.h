// CUDA runtime layer: device discovery, the one stream every kernel runs on, the caching device
// allocator, explicit host<->device copies (input batches go through pinned staging buffers), and the
// global switches (deterministic algorithms, TF32, allocator caching). Only built with TAILOR_CUDA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime.h>

namespace tailor::cuda {

// Number of usable devices; 0 when the driver reports an error (no GPU, no driver).
int device_count();
std::string device_name();   // "NVIDIA H100 80GB HBM3"
int compute_major();         // the compute capability's major number (9 for an H100; 0 without a device)
cudaStream_t stream();       // the one stream all work is queued on
void synchronize();          // waits for that stream

// Checks a CUDA call; on error fails with the call, file:line and the CUDA message.
void check(cudaError_t e, const char* what, const char* file, int line);
#define TAILOR_CUDA_CHECK(call) ::tailor::cuda::check((call), #call, __FILE__, __LINE__)
// After a kernel launch: catches bad launch configurations at the launch site.
#define TAILOR_CUDA_LAUNCH_CHECK() ::tailor::cuda::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

// ---- caching allocator (engine/cuda/allocator.cpp)
// Freed blocks are kept per rounded size and handed out again (best fit, bounded waste) instead of
// going back to cudaFree, which synchronises the device. On cudaMalloc failure the cache is released
// and the allocation retried once; a second failure is a clear error with the allocator's numbers.
// TAILOR_CUDA_CACHING=0 (or set_caching(false)) frees every block at once, for compute-sanitizer.
void* alloc(size_t nbytes);
void free(void* p, size_t nbytes);
struct MemoryStats {
  size_t allocated = 0;  // bytes handed out now
  size_t cached = 0;     // bytes held in the cache, free for reuse
  size_t peak = 0;       // high-water mark of `allocated`
  size_t reserved_peak = 0;  // high-water mark of allocated + cached (what the device actually gave)
  int64_t device_mallocs = 0, cache_hits = 0;
};
MemoryStats memory_stats();
void reset_peak();
void empty_cache();  // returns every cached block to the device
void set_caching(bool on);
bool caching();

// ---- copies and fills (stream-ordered; a copy to host waits for the stream)
void memset(void* p, int value, size_t nbytes);
void fill_f32(float* p, float value, int64_t n);
void copy(void* dst, bool dst_cuda, const void* src, bool src_cuda, size_t nbytes);

// ---- switches
// Deterministic: cuDNN algorithms restricted to deterministic ones (no atomics in our own reductions,
// ever). TF32: tensor-core TF32 for cuDNN convolutions and cuBLAS GEMMs (PyTorch's default allows it
// for convolutions only; tailor's default matches that: conv on, matmul off).
void set_deterministic(bool on);
bool deterministic();
void set_allow_tf32(bool conv, bool matmul);
bool allow_tf32_conv();
bool allow_tf32_matmul();

// Launch helper: blocks of `threads` covering n items, capped so huge tensors loop in-kernel.
inline unsigned grid_for(int64_t n, int threads = 256) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 16) b = 65535LL * 16;
  return (unsigned)b;
}

}  // namespace tailor::cuda
