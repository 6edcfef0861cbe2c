// Small helpers shared by the op files (not part of the public API).
#pragma once
#include <memory>

#include "engine/autograd.h"
#include "engine/cpu/kernels.h"
#ifdef TAILOR_CUDA
#include "engine/cuda/kernels.h"
#endif
#include "engine/ops.h"
#include "engine/profiler.h"

namespace tailor {

// TAILOR_KERNEL(t, name, args...) runs cpu::name(args...) or, when tensor t lives on a CUDA device,
// cuda::name(args...): both backends declare every kernel with the same name and signature.
// The call is timed under its name when this thread's kernel profile is on (engine/profiler.h).
#ifdef TAILOR_CUDA
#define TAILOR_KERNEL(t, name, ...)                                   \
  (::tailor::profile::KernelRange(#name, (t).is_cuda()),              \
   (t).is_cuda() ? ::tailor::cuda::name(__VA_ARGS__) : ::tailor::cpu::name(__VA_ARGS__))
#else
#define TAILOR_KERNEL(t, name, ...) \
  (::tailor::profile::KernelRange(#name, false), ::tailor::cpu::name(__VA_ARGS__))
#endif
inline void require_f32_contig(const char* op, const Tensor& t, const char* arg) {
  check_dtype(op, t, DType::F32, arg);
  TAILOR_CHECK(t.is_contiguous(), op, ": ", arg, " must be contiguous, got strides ", t.strides(), " for shape ",
               t.shape());
}
// An activation of the ops that take float32 or bfloat16 (precision bf16 stores activations between
// convolutions in bf16, docs/precision.md): contiguous, F32 or BF16. Returns whether it is BF16.
inline bool require_activation(const char* op, const Tensor& t, const char* arg) {
  TAILOR_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16, op, ": ", arg, " must be float32 or bfloat16, got ",
               dtype_name(t.dtype()));
  TAILOR_CHECK(t.is_contiguous(), op, ": ", arg, " must be contiguous, got strides ", t.strides(), " for shape ",
               t.shape());
  return t.dtype() == DType::BF16;
}
inline Tensor empty_like(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }

// Create a LambdaNode with inputs; the caller sets fn and saved, then record(out, node).
inline std::shared_ptr<LambdaNode> make_node(const char* name, std::vector<Tensor> inputs) {
  auto n = std::make_shared<LambdaNode>();
  n->name = name;
  n->inputs = std::move(inputs);
  return n;
}

// numpy broadcasting of two shapes; fails naming the op and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
// strides of `t` against a broadcast output shape (0 on broadcast dims)
Shape broadcast_strides(const Tensor& t, const Shape& out);

}  // namespace tailor
