// Reading and writing one activation element as float, for the kernels that exist for float32 and bfloat16
// activations (precision bf16, docs/precision.md): a bf16 value is widened exactly; a bf16 output is rounded to
// nearest even once, when it is stored. For float both are the identity, so a kernel templated on the element
// type does the same arithmetic in the same order for both.
#pragma once
#include <cstdint>

#include "engine/precision.h"

namespace tailor::cpu {

inline float widen(float v) { return v; }
inline float widen(uint16_t h) { return bf16_to_float(h); }
// out[i] = narrow<T>(v): v itself, or v rounded to bf16 (written as an assignment so that loops vectorise)
template <class T>
inline T narrow(float v);
template <>
inline float narrow<float>(float v) { return v; }
template <>
inline uint16_t narrow<uint16_t>(float v) { return float_to_bf16(v); }

}  // namespace tailor::cpu
