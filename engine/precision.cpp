#include "engine/precision.h"

#include <stdexcept>

#include <oneapi/dnnl/dnnl.hpp>

#include "engine/allocator.h"

namespace tailor {

namespace {
thread_local Precision current = Precision::F32;
}

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::F32;
  if (name == "bf16") return Precision::BF16;
  throw std::runtime_error("unknown precision '" + name + "' (expected fp32 or bf16)");
}

Precision conv_precision() { return current; }

PrecisionScope::PrecisionScope(Precision p) : prev_(current) { current = p; }
PrecisionScope::~PrecisionScope() { current = prev_; }

bool cpu_has_native_bf16() {
  // oneDNN's ISA levels nest (each includes the ones below); avx512_core_bf16 is the first with vdpbf16ps.
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const unsigned need = (unsigned)dnnl::cpu_isa::avx512_core_bf16;
  return ((unsigned)isa & need) == need;
}

bool has_native_bf16(Device d) { return d.is_cpu() ? cpu_has_native_bf16() : cuda_compute_major() >= 8; }

void check_precision_supported(Precision p, Device dev) {
  if (p == Precision::F32) return;
  if (dev.is_cuda()) {
    if (cuda_available() && !has_native_bf16(dev))  // (no GPU at all: the device check says so)
      throw std::runtime_error("precision bf16: this GPU (" + cuda_device_name() + ") has no bf16 tensor cores "
                               "(compute capability 8.0 or later); set precision fp32");
    return;
  }
  if (!cpu_has_native_bf16())
    throw std::runtime_error("precision bf16: this CPU has no native bf16 convolutions (oneDNN needs AVX512-BF16 or "
                             "AMX; emulated bf16 would be slower than fp32); set precision fp32");
}

}  // namespace tailor
