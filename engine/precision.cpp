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

}  // namespace tailor
