// bfloat16 on the device (engine/precision.h), and reading and writing one activation element as float for the
// kernels that exist for float32 and bfloat16 activations (precision bf16, docs/precision.md): the CUDA twin
// of engine/cpu/element_io.h. A bf16 value is widened exactly; a bf16 output is rounded to nearest even once,
// when it is stored. For float both are the identity, so a kernel templated on the element type does the same
// arithmetic in the same order for both.
#pragma once
#include <cstdint>

namespace tailor::cuda {

// The upper 16 bits of a float, rounded to nearest even; a NaN stays a quiet NaN. The integer arithmetic of
// float_to_bf16, so a rounding on the GPU equals the CPU's bit for bit (layout.cu's casts use it too).
__device__ __forceinline__ uint16_t to_bf16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
__device__ __forceinline__ float from_bf16_bits(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

__device__ __forceinline__ float widen(float v) { return v; }
__device__ __forceinline__ float widen(uint16_t h) { return from_bf16_bits(h); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(uint16_t* p, float v) { *p = to_bf16_bits(v); }
// v already a bf16 number (a widened element, or +-inf): stored as its exact bits, like a copy of the element
// (store would turn a signalling NaN into a quiet one).
__device__ __forceinline__ void store_exact(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_exact(uint16_t* p, float v) { *p = (uint16_t)(__float_as_uint(v) >> 16); }

}  // namespace tailor::cuda
