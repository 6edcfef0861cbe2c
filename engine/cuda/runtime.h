// CUDA runtime layer: device discovery, the one stream every kernel runs on, the caching device
// allocator, explicit host<->device copies (uploads go through pinned staging memory), and the
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
cudaStream_t stream();       // the one stream all work is queued on (its creation also opens cuBLAS)
// Loads cuBLAS (engine/cuda/gemm.cpp: opened, not linked); a missing library is an error here, when the
// backend starts, not at the first matrix product.
void open_cublas();
void synchronize();          // waits for that stream
// How many times the host has waited for the device so far (synchronize(), copies to the host, a staging
// buffer still in use). A training step between read points makes none (tests/test_sync_free_step.cpp).
int64_t host_waits();

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

// ---- CUDA graphs (engine/cuda/graph.cpp): one captured training step, replayed (train/step_graph.h)
// While a capture runs, every allocation and every free of the allocator belongs to the graph's memory
// pool: a block the captured kernels touch is never handed to anything else while the graph lives (a
// block freed during the capture included: a replay still reads it). Only the graph's own later
// allocations reuse the pool; when the graph is destroyed, its free blocks return to the cache and its
// live ones when they are freed. A host wait, or a copy from or to the host, during a capture is an error
// naming it (the replay would not repeat it).
bool capturing();  // a capture of the stream is under way
struct Graph;
Graph* graph_begin_capture();
void graph_end_capture(Graph* g);    // ends the capture and instantiates the graph (an error: what broke it)
void graph_abort_capture(Graph* g);  // after an error inside the capture: ends it, nothing kept
void graph_launch(Graph* g);
void graph_destroy(Graph* g);        // safe while a launch is still running (freed when it completes)
// the allocator's side (engine/cuda/allocator.cpp)
int pool_begin();   // routes allocations and frees to a new pool; returns its id
void pool_end();    // stops routing (the pool keeps its blocks)
void pool_release(int id);
bool graph_pools_live();  // a capture is under way or a captured graph still holds its pool

// ---- copies and fills (stream-ordered; a copy to the host waits for the stream, a copy from the host
// goes through pinned staging and does not wait)
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
