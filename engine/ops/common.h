// Small helpers shared by the op files (not part of the public API).
#pragma once
#include <memory>

#include "engine/autograd.h"
#include "engine/cpu/kernels.h"
#include "engine/ops.h"

namespace tailor {

// Every op runs its CPU kernel unless the input lives on a CUDA device; until the CUDA backend has
// the op, that is a clear error rather than a silent copy.
inline void require_cpu(const char* op, const Tensor& t) {
  TAILOR_CHECK(t.device().is_cpu(), op, ": no kernel for device ", t.device().str(), " in this build");
}
inline void require_f32_contig(const char* op, const Tensor& t, const char* arg) {
  check_dtype(op, t, DType::F32, arg);
  TAILOR_CHECK(t.is_contiguous(), op, ": ", arg, " must be contiguous, got strides ", t.strides(), " for shape ",
               t.shape());
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
