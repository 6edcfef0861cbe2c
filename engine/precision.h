// Mixed precision (config key `precision`, docs/precision.md). Like torch.autocast it is a per-thread
// setting that ops read: under Precision::BF16 the convolutions (forward, backward data, backward weights)
// take bfloat16 operands and accumulate and write float32; every other op, the master weights, the
// optimiser state, BatchNorm statistics and the losses stay float32.
#pragma once
#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace tailor {

enum class Precision : uint8_t { F32, BF16 };

const char* precision_name(Precision p);            // "fp32" / "bf16" (the config key's values)
Precision parse_precision(const std::string& name);  // throws naming the value on anything else

Precision conv_precision();  // this thread's setting (F32 unless a PrecisionScope says otherwise)

// Sets this thread's precision for its lifetime, restoring the previous one.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision prev_;
};

// Whether this CPU runs oneDNN's native bf16 convolutions (AVX512-BF16 or AMX): without them oneDNN would
// emulate bf16 slower than float32, so `precision: bf16` is refused on such a CPU.
bool cpu_has_native_bf16();
// Native bf16 convolutions on device d: the CPU as above; a CUDA GPU with bf16 tensor cores (compute
// capability 8.0 or later: A100, H100, ...).
bool has_native_bf16(Device d);
// Throws (naming the CPU or GPU and what to set instead) when precision p cannot run natively on device d.
void check_precision_supported(Precision p, Device d);

// bfloat16 <-> float32: the upper 16 bits of the float, rounded to nearest even (NaN stays NaN).
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN: keep it a (quiet) NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
inline float bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

}  // namespace tailor
