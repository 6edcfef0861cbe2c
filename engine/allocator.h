// Device memory entry points. CPU: 64-byte aligned blocks from an exact-size cache (training
// repeats the same shapes every step, so after the first step nothing is malloc'ed).
// CUDA: the caching allocator of engine/cuda (only in TAILOR_CUDA builds).
#pragma once
#include <cstddef>
#include <string>

#include "engine/tensor.h"

namespace tailor {

void* device_alloc(Device d, size_t nbytes);
void device_free(Device d, void* p, size_t nbytes);
void device_memset(Device d, void* p, int value, size_t nbytes);
void device_fill_f32(Device d, float* p, float value, int64_t n);
void device_copy(Device dst_dev, void* dst, Device src_dev, const void* src, size_t nbytes);
bool cuda_available();  // false in CPU-only builds or when no device is present

// CUDA facade for code outside engine/ (no-ops / zeros in CPU-only builds or without a device).
struct CudaMemoryStats {
  size_t allocated = 0, cached = 0, peak = 0, reserved_peak = 0;
};
CudaMemoryStats cuda_memory_stats();
void cuda_reset_peak_memory();
void cuda_synchronize();
int64_t cuda_host_waits();  // times the host has waited for the device (0 without CUDA), engine/cuda/runtime.h
std::string cuda_device_name();
int cuda_compute_major();  // compute capability major of the device (0: none)
// Deterministic: only deterministic cuDNN algorithms. TF32: tensor-core TF32 for convolutions and for
// GEMMs (defaults: conv on, matmul off, as PyTorch).
void cuda_set_deterministic(bool on);
void cuda_set_allow_tf32(bool conv, bool matmul);
// Makes GPU `index` this process's device (a data-parallel rank's own GPU): before the first CUDA stream,
// handle or allocation, which all belong to the device current when they are made.
void cuda_use_device(int index);

struct CpuMemoryStats {
  size_t allocated = 0, cached = 0, peak = 0;
};
CpuMemoryStats cpu_memory_stats();
void cpu_reset_peak_memory();  // peak = what is allocated now
void cpu_empty_cache();
// The CPU convolutions' cached setups (oneDNN primitives with weight-sized buffers, kept per shape and batch
// size) released, e.g. after a probe on batch sizes training never uses (one running keeps its setup until done).
void cpu_release_conv_setups();

}  // namespace tailor
