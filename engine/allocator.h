// Device memory entry points. CPU: 64-byte aligned blocks from an exact-size cache (training
// repeats the same shapes every step, so after the first step nothing is malloc'ed).
// CUDA: the caching allocator of engine/cuda (only in TAILOR_CUDA builds).
#pragma once
#include <cstddef>

#include "engine/tensor.h"

namespace tailor {

void* device_alloc(Device d, size_t nbytes);
void device_free(Device d, void* p, size_t nbytes);
void device_memset(Device d, void* p, int value, size_t nbytes);
void device_fill_f32(Device d, float* p, float value, int64_t n);
void device_copy(Device dst_dev, void* dst, Device src_dev, const void* src, size_t nbytes);
bool cuda_available();  // false in CPU-only builds or when no device is present

struct CpuMemoryStats {
  size_t allocated = 0, cached = 0, peak = 0;
};
CpuMemoryStats cpu_memory_stats();
void cpu_empty_cache();

}  // namespace tailor
