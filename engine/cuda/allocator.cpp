// Caching device allocator. Training asks for the same sizes every step, so after the first step
// nothing reaches cudaMalloc (which is slow) or cudaFree (which synchronises the whole device).
//   * sizes are rounded up to 512 bytes (below 1 MiB) or to 128 KiB (above), so nearby sizes share blocks;
//   * a request takes the smallest cached block that fits, if that block wastes at most
//     max(1/8 of the request, 1 MiB) (best fit with bounded waste; blocks are never split);
//   * one stream: a block freed by the host may be handed out again at once, because every later use
//     is queued behind every earlier one on the same stream;
//   * cudaMalloc failure -> release the whole cache -> retry -> error naming requested, allocated,
//     cached, peak and the device's free/total bytes;
//   * CUDA graphs: while a capture runs (pool_begin .. pool_end) every block handed out or freed belongs to
//     the graph's pool; a pool's free blocks serve only that pool's later allocations until pool_release
//     (the graph is gone) gives them back to the cache (runtime.h).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_map>
#include <mutex>
#include <sstream>

#include "engine/cuda/runtime.h"
#include "engine/tensor.h"

namespace tailor::cuda {

namespace {
struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  std::unordered_map<void*, size_t> block_size;  // every live block -> its real (rounded) size
  MemoryStats stats;
  int active_pool = 0, next_pool = 1;  // the pool of the capture under way (0: none)
  std::unordered_map<void*, int> block_pool;               // live blocks that belong to a pool
  std::map<int, std::multimap<size_t, void*>> pool_free;  // free blocks kept for a live graph's pool
  bool caching = [] {
    const char* e = std::getenv("TAILOR_CUDA_CACHING");
    return !(e && std::string(e) == "0");
  }();
};
Cache& cache() {
  static Cache* c = new Cache();  // leaked on purpose: tensors in static storage outlive it otherwise
  return *c;
}
size_t round_size(size_t n) {
  if (n == 0) n = 1;
  const size_t small = 512, large = 128 << 10;
  return n < (1 << 20) ? (n + small - 1) / small * small : (n + large - 1) / large * large;
}
std::string mib(size_t b) {
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << b / 1048576.0 << " MiB";
  return s.str();
}
// Frees a block back to the driver. Never throws (it runs under tensor and graph destructors): a failure means
// the device is already in error, which the next checked call reports; it is cleared here so that it is not
// blamed on an unrelated launch, and said once.
void free_to_driver(void* p) {
  const cudaError_t e = cudaFree(p);
  if (e == cudaSuccess) return;
  cudaGetLastError();
  static bool said = false;
  if (!said) std::fprintf(stderr, "CUDA allocator: cudaFree failed (%s)\n", cudaGetErrorString(e));
  said = true;
}
// Waits for the stream before blocks go back to the driver; like free_to_driver, never throws.
void wait_quietly() {
  if (cudaStreamSynchronize(stream()) != cudaSuccess) cudaGetLastError();
}
void release_all_locked(Cache& c) {
  for (auto& kv : c.free_blocks) free_to_driver(kv.second);
  c.free_blocks.clear();
  c.stats.cached = 0;
}
void note_alloc(MemoryStats& st, size_t n) {
  st.allocated += n;
  if (st.allocated > st.peak) st.peak = st.allocated;
  if (st.allocated + st.cached > st.reserved_peak) st.reserved_peak = st.allocated + st.cached;
}
// The smallest free block of `blocks` that fits n with bounded waste, taken out (null: none).
void* take_fit(Cache& c, std::multimap<size_t, void*>& blocks, size_t n) {
  auto it = blocks.lower_bound(n);
  size_t slack = std::max<size_t>(n / 8, 1 << 20);
  if (it == blocks.end() || it->first - n > slack) return nullptr;
  void* p = it->second;
  size_t got = it->first;
  blocks.erase(it);
  c.stats.cached -= got;
  c.stats.cache_hits++;
  c.block_size[p] = got;  // free() must return the block under its real size
  note_alloc(c.stats, got);
  if (c.active_pool) c.block_pool[p] = c.active_pool;
  return p;
}
}  // namespace

void* alloc(size_t nbytes) {
  size_t n = round_size(nbytes);
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.active_pool)
    if (void* p = take_fit(c, c.pool_free[c.active_pool], n)) return p;
  if (c.caching)
    if (void* p = take_fit(c, c.free_blocks, n)) return p;
  void* p = nullptr;
  cudaError_t e;
  if (c.active_pool) {  // during a capture: cudaMalloc is allowed in relaxed mode (it is not captured)
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    TAILOR_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
    e = cudaMalloc(&p, n);
    TAILOR_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));  // (the thread's mode back)
  } else {
    e = cudaMalloc(&p, n);
  }
  if (e == cudaErrorMemoryAllocation && !c.active_pool) {  // (no cudaFree inside a capture)
    cudaGetLastError();
    if (!c.free_blocks.empty()) synchronize();  // queued kernels may still use the cached blocks
    release_all_locked(c);
    e = cudaMalloc(&p, n);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    fail("CUDA out of memory: tried to allocate " + mib(n) + " (" + cudaGetErrorString(e) + "); tailor has " +
         mib(c.stats.allocated) + " allocated, " + mib(c.stats.cached) + " cached (released and retried), peak " +
         mib(c.stats.peak) + "; the device has " + mib(free_b) + " free of " + mib(total_b) +
         ". Use a smaller batch or image size.");
  }
  c.stats.device_mallocs++;
  c.block_size[p] = n;
  note_alloc(c.stats, n);
  if (c.active_pool) c.block_pool[p] = c.active_pool;
  return p;
}

void free(void* p, size_t /*nbytes*/) {
  if (!p) return;
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.block_size.find(p);
  if (it == c.block_size.end()) fail("CUDA allocator: free of a pointer it did not allocate");
  size_t n = it->second;
  c.block_size.erase(it);
  c.stats.allocated -= n;
  // freed during a capture: a replay may still use it, so it stays the capturing graph's; a block of another
  // live graph stays that graph's (handed to this capture, both replays would write it)
  int pool = c.active_pool;
  if (auto bp = c.block_pool.find(p); bp != c.block_pool.end()) {
    if (!pool || (bp->second != pool && c.pool_free.count(bp->second))) pool = bp->second;
    c.block_pool.erase(bp);
  }
  if (pool && c.pool_free.count(pool)) {  // kept for its graph
    c.pool_free[pool].emplace(n, p);
    c.stats.cached += n;
    return;
  }
  if (c.caching) {
    c.free_blocks.emplace(n, p);
    c.stats.cached += n;
  } else {  // (under a destructor: nothing here throws; a free of a foreign pointer above is a bug, and fails)
    wait_quietly();
    free_to_driver(p);
  }
}

MemoryStats memory_stats() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().stats;
}
void reset_peak() {
  std::lock_guard<std::mutex> lock(cache().mu);
  auto& st = cache().stats;
  st.peak = st.allocated;
  st.reserved_peak = st.allocated + st.cached;
}
void empty_cache() {
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (!c.free_blocks.empty()) synchronize();
  release_all_locked(c);
}
void set_caching(bool on) {
  auto& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.caching = on;
  }
  if (!on) empty_cache();
}
bool caching() { return cache().caching; }

int pool_begin() {
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  TAILOR_CHECK(!c.active_pool, "CUDA allocator: a graph pool is already active");
  c.active_pool = c.next_pool++;
  c.pool_free[c.active_pool];
  return c.active_pool;
}
bool graph_pools_live() {
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.active_pool != 0 || !c.pool_free.empty();
}
void pool_end() {
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.active_pool = 0;
}
void pool_release(int id) {
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.pool_free.find(id);
  if (it == c.pool_free.end()) return;
  // Caching: later work on the one stream is ordered after the graph's. Not caching (compute-sanitizer runs):
  // a launch of the graph may still be running, so wait before handing its memory back to the driver.
  // (called by graph destructors: nothing here throws)
  if (!c.caching && !it->second.empty()) wait_quietly();
  for (auto& [n, p] : it->second) {
    if (c.caching) {
      c.free_blocks.emplace(n, p);
    } else {
      c.stats.cached -= n;
      free_to_driver(p);
    }
  }
  c.pool_free.erase(it);  // its live blocks go to the cache when they are freed
}

}  // namespace tailor::cuda
