// Elementwise ops with numpy broadcasting, and their backwards. Gradients of broadcast operands are
// summed back to the operand's shape (sum_to).
#include <cmath>

#include "engine/ops/common.h"

namespace tailor {

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TAILOR_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b, " cannot be broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& out) {
  Shape st(out.size(), 0);
  size_t off = out.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i) st[off + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

static Tensor binary_forward(const char* op, cpu::BinaryOp kind, const Tensor& a, const Tensor& b) {
  check_dtype(op, a, DType::F32, "a");
  check_dtype(op, b, DType::F32, "b");
  check_same_device(op, a, b);
  Shape out_shape = broadcast_shapes(op, a.shape(), b.shape());
  Tensor out = Tensor::empty(out_shape, DType::F32, a.device());
  Shape sa = broadcast_strides(a, out_shape), sb = broadcast_strides(b, out_shape);
  TAILOR_KERNEL(out, binary, out.f32(), a.f32(), b.f32(), kind, out_shape.data(), sa.data(), sb.data(), (int)out_shape.size());
  return out;
}

// Two bfloat16 tensors of one shape (precision bf16's activation gradients, summed by backward): the float32
// sum of the widened values, rounded once. Otherwise float32 with broadcasting.
static Tensor add_bf16(const Tensor& a, const Tensor& b) {
  check_same_device("add", a, b);
  check_same_shape("add", a, b);
  Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = empty_like(ac);
  TAILOR_KERNEL(out, add_bf16, out.bf16(), ac.bf16(), bc.bf16(), out.numel());
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  const bool bf16 = a.dtype() == DType::BF16 && b.dtype() == DType::BF16;
  Tensor out = bf16 ? add_bf16(a, b) : binary_forward("add", cpu::BinaryOp::Add, a, b);
  if (should_record({&a, &b})) {
    auto n = make_node("add", {a, b});
    Shape sa = a.shape(), sb = b.shape();
    n->fn = [sa, sb](LambdaNode& self, const Tensor& g) {
      return std::vector<Tensor>{self.needs_grad(0) ? sum_to(g, sa) : Tensor(),
                                 self.needs_grad(1) ? sum_to(g, sb) : Tensor()};
    };
    record(out, n);
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("sub", cpu::BinaryOp::Sub, a, b);
  if (should_record({&a, &b})) {
    auto n = make_node("sub", {a, b});
    Shape sa = a.shape(), sb = b.shape();
    n->fn = [sa, sb](LambdaNode& self, const Tensor& g) {
      return std::vector<Tensor>{self.needs_grad(0) ? sum_to(g, sa) : Tensor(),
                                 self.needs_grad(1) ? sum_to(neg(g), sb) : Tensor()};
    };
    record(out, n);
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("mul", cpu::BinaryOp::Mul, a, b);
  if (should_record({&a, &b})) {
    auto n = make_node("mul", {a, b});
    n->saved = {a.detach(), b.detach()};
    n->fn = [](LambdaNode& self, const Tensor& g) {
      const Tensor &a = self.saved[0], &b = self.saved[1];
      return std::vector<Tensor>{self.needs_grad(0) ? sum_to(mul(g, b), a.shape()) : Tensor(),
                                 self.needs_grad(1) ? sum_to(mul(g, a), b.shape()) : Tensor()};
    };
    record(out, n);
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("div", cpu::BinaryOp::Div, a, b);
  if (should_record({&a, &b})) {
    auto n = make_node("div", {a, b});
    n->saved = {b.detach(), out.detach()};
    // d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b
    n->fn = [](LambdaNode& self, const Tensor& g) {
      const Tensor &b = self.saved[0], &q = self.saved[1];
      Tensor gb = self.needs_grad(1) ? sum_to(neg(div(mul(g, q), b)), b.shape()) : Tensor();
      Tensor ga = self.needs_grad(0) ? sum_to(div(g, b), self.inputs[0].shape()) : Tensor();
      return std::vector<Tensor>{ga, gb};
    };
    record(out, n);
  }
  return out;
}

Tensor greater(const Tensor& a, const Tensor& b) { return binary_forward("greater", cpu::BinaryOp::Greater, a, b); }

Tensor scale(const Tensor& x, float s) {
  require_f32_contig("scale", x, "x");
  Tensor out = empty_like(x);
  TAILOR_KERNEL(out, scale_add, out.f32(), x.f32(), s, 0.f, x.numel());
  if (should_record({&x})) {
    auto n = make_node("scale", {x});
    n->fn = [s](LambdaNode&, const Tensor& g) { return std::vector<Tensor>{scale(g, s)}; };
    record(out, n);
  }
  return out;
}

Tensor add_scalar(const Tensor& x, float s) {
  require_f32_contig("add_scalar", x, "x");
  Tensor out = empty_like(x);
  TAILOR_KERNEL(out, scale_add, out.f32(), x.f32(), 1.f, s, x.numel());
  if (should_record({&x})) {
    auto n = make_node("add_scalar", {x});
    n->fn = [](LambdaNode&, const Tensor& g) { return std::vector<Tensor>{g}; };
    record(out, n);
  }
  return out;
}

Tensor neg(const Tensor& x) { return scale(x, -1.f); }

void increment_(Tensor& counter, int32_t v) {
  check_dtype("increment_", counter, DType::I32, "counter");
  TAILOR_CHECK(counter.is_contiguous(), "increment_: counter must be contiguous");
  TAILOR_KERNEL(counter, add_i32, counter.i32(), v, counter.numel());
}

// float32 <-> bfloat16 (round to nearest even / exact widening); the gradient is cast back to x's type.
Tensor to_dtype(const Tensor& x, DType dtype) {
  const bool to_bf16 = dtype == DType::BF16;
  TAILOR_CHECK(dtype == DType::F32 || to_bf16, "to_dtype: only float32 and bfloat16, got ", dtype_name(dtype));
  require_activation("to_dtype", x, "x");
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  if (to_bf16)
    TAILOR_KERNEL(out, cast_to_bf16, out.bf16(), x.f32(), x.numel());
  else
    TAILOR_KERNEL(out, bf16_to_f32, out.f32(), x.bf16(), x.numel());
  if (should_record({&x})) {
    auto n = make_node("to_dtype", {x});
    const DType x_dtype = x.dtype();
    n->fn = [x_dtype](LambdaNode&, const Tensor& g) { return std::vector<Tensor>{to_dtype(g.contiguous(), x_dtype)}; };
    record(out, n);
  }
  return out;
}

// relu backward uses the saved OUTPUT: dx = dy * (y > 0)
Tensor relu(const Tensor& x) {
  require_f32_contig("relu", x, "x");
  Tensor out = empty_like(x);
  TAILOR_KERNEL(out, unary, out.f32(), x.f32(), cpu::UnaryOp::Relu, x.numel());
  if (should_record({&x})) {
    auto n = make_node("relu", {x});
    n->saved = {out.detach()};
    n->fn = [](LambdaNode& self, const Tensor& g) {
      Tensor gi = empty_like(g);
      TAILOR_KERNEL(gi, relu_backward, gi.f32(), g.contiguous().f32(), self.saved[0].f32(), g.numel());
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

// y = relu(a + b): the residual join of ResNet blocks in one pass; both inputs get the same gradient.
// a and b both float32 or both bfloat16 (precision bf16: y bf16, rounded once; the gradient bf16 too).
Tensor add_relu(const Tensor& a, const Tensor& b) {
  const bool bf16 = require_activation("add_relu", a, "a");
  require_activation("add_relu", b, "b");
  TAILOR_CHECK(a.dtype() == b.dtype(), "add_relu: a is ", dtype_name(a.dtype()), " but b is ", dtype_name(b.dtype()));
  check_same_shape("add_relu", a, b);
  check_same_device("add_relu", a, b);
  Tensor out = empty_like(a);
  if (bf16)
    TAILOR_KERNEL(out, add_relu_bf16, out.bf16(), a.bf16(), b.bf16(), a.numel());
  else
    TAILOR_KERNEL(out, add_relu, out.f32(), a.f32(), b.f32(), a.numel());
  if (should_record({&a, &b})) {
    auto n = make_node("add_relu", {a, b});
    n->saved = {out.detach()};
    n->fn = [bf16](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      TAILOR_CHECK(gc.dtype() == self.saved[0].dtype(),
                   "add_relu backward: the gradient's type differs from the output's");
      Tensor gi = empty_like(gc);
      if (bf16)
        TAILOR_KERNEL(gi, relu_backward_bf16, gi.bf16(), gc.bf16(), self.saved[0].bf16(), g.numel());
      else
        TAILOR_KERNEL(gi, relu_backward, gi.f32(), gc.f32(), self.saved[0].f32(), g.numel());
      return std::vector<Tensor>{self.needs_grad(0) ? gi : Tensor(), self.needs_grad(1) ? gi : Tensor()};
    };
    record(out, n);
  }
  return out;
}

static Tensor unary_forward(const char* op, cpu::UnaryOp kind, const Tensor& x) {
  require_f32_contig(op, x, "x");
  Tensor out = empty_like(x);
  TAILOR_KERNEL(out, unary, out.f32(), x.f32(), kind, x.numel());
  return out;
}

Tensor exp(const Tensor& x) {  // d/dx e^x = e^x (saved output)
  Tensor out = unary_forward("exp", cpu::UnaryOp::Exp, x);
  if (should_record({&x})) {
    auto n = make_node("exp", {x});
    n->saved = {out.detach()};
    n->fn = [](LambdaNode& self, const Tensor& g) { return std::vector<Tensor>{mul(g, self.saved[0])}; };
    record(out, n);
  }
  return out;
}

Tensor log(const Tensor& x) {  // d/dx log x = 1/x
  Tensor out = unary_forward("log", cpu::UnaryOp::Log, x);
  if (should_record({&x})) {
    auto n = make_node("log", {x});
    n->saved = {x.detach()};
    n->fn = [](LambdaNode& self, const Tensor& g) { return std::vector<Tensor>{div(g, self.saved[0])}; };
    record(out, n);
  }
  return out;
}

Tensor sigmoid(const Tensor& x) {  // s' = s (1 - s)
  Tensor out = unary_forward("sigmoid", cpu::UnaryOp::Sigmoid, x);
  if (should_record({&x})) {
    auto n = make_node("sigmoid", {x});
    n->saved = {out.detach()};
    n->fn = [](LambdaNode& self, const Tensor& g) {
      const Tensor& s = self.saved[0];
      return std::vector<Tensor>{mul(g, mul(s, add_scalar(neg(s), 1.f)))};
    };
    record(out, n);
  }
  return out;
}

Tensor pow(const Tensor& x, float p) {  // d/dx x^p = p x^(p-1)
  require_f32_contig("pow", x, "x");
  Tensor out = empty_like(x);
  TAILOR_KERNEL(out, pow_scalar, out.f32(), x.f32(), p, x.numel());
  if (should_record({&x})) {
    auto n = make_node("pow", {x});
    n->saved = {x.detach()};
    n->fn = [p](LambdaNode& self, const Tensor& g) {
      return std::vector<Tensor>{mul(g, scale(pow(self.saved[0], p - 1.f), p))};
    };
    record(out, n);
  }
  return out;
}

Tensor clamp(const Tensor& x, float lo, float hi) {
  require_f32_contig("clamp", x, "x");
  Tensor out = empty_like(x);
  TAILOR_KERNEL(out, clamp, out.f32(), x.f32(), lo, hi, x.numel());
  if (should_record({&x})) {
    auto n = make_node("clamp", {x});
    n->saved = {x.detach()};
    n->fn = [lo, hi](LambdaNode& self, const Tensor& g) {
      Tensor gi = empty_like(g);
      TAILOR_KERNEL(gi, clamp_backward, gi.f32(), g.contiguous().f32(), self.saved[0].f32(), lo, hi, g.numel());
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

}  // namespace tailor
