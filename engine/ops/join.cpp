// Concatenation, the label mismatch mask and the EMA update.
//   concat:  y = [x_0 | x_1 | ...] along dim d. Each x_i is viewed as [outer, inner_i] with outer = the
//            product of the dims before d and inner_i = the product of the rest; y as [outer, sum inner_i],
//            so every piece is one strided block copy. Backward: dx_i = the same block of dy.
//   ema_:    y = m*y + (1-m)*x in place.
#include "engine/ops/common.h"

namespace tailor {

namespace {

// [outer, inner] view of a contiguous tensor split at dim d
int64_t outer_of(const Shape& s, int64_t d) {
  int64_t n = 1;
  for (int64_t i = 0; i < d; ++i) n *= s[i];
  return n;
}
int64_t inner_of(const Shape& s, int64_t d) {
  int64_t n = 1;
  for (size_t i = d; i < s.size(); ++i) n *= s[i];
  return n;
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  TAILOR_CHECK(!xs.empty(), "concat: no tensors");
  const Shape& s0 = xs[0].shape();
  const int64_t nd = (int64_t)s0.size();
  TAILOR_CHECK(nd >= 1, "concat: tensors must have at least one dim, got ", xs[0].desc());
  const int64_t d = dim < 0 ? dim + nd : dim;
  TAILOR_CHECK(d >= 0 && d < nd, "concat: dim ", dim, " out of range for ", nd, "-d tensors");
  Shape out_shape = s0;
  out_shape[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    check_dtype("concat", x, DType::F32, "input");
    check_same_device("concat", xs[0], x);
    bool same = x.dim() == nd;
    for (int64_t k = 0; same && k < nd; ++k) same = k == d || x.shape()[k] == s0[k];
    TAILOR_CHECK(same, "concat: input ", i, " has shape ", x.shape(), ", input 0 ", s0, " (they may differ in dim ",
                 d, " only)");
    out_shape[d] += x.shape()[d];
  }
  Tensor out = Tensor::empty(out_shape, DType::F32, xs[0].device());
  const int64_t outer = outer_of(out_shape, d), total = inner_of(out_shape, d);
  std::vector<int64_t> widths;
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    Tensor xc = x.contiguous();
    const int64_t w = inner_of(x.shape(), d);
    TAILOR_KERNEL(out, copy_block, out.f32() + offset, total, xc.f32(), w, outer, w);
    widths.push_back(w);
    offset += w;
  }
  std::vector<const Tensor*> ins;
  for (const Tensor& x : xs) ins.push_back(&x);
  bool any = false;
  for (const Tensor* x : ins) any = any || should_record({x});
  if (any) {
    auto n = make_node("concat", xs);
    std::vector<Shape> shapes;
    for (const Tensor& x : xs) shapes.push_back(x.shape());
    n->fn = [shapes, widths, outer, total](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      std::vector<Tensor> grads(shapes.size());
      int64_t off = 0;
      for (size_t i = 0; i < shapes.size(); ++i) {
        if (self.needs_grad(i)) {
          grads[i] = Tensor::empty(shapes[i], DType::F32, g.device());
          TAILOR_KERNEL(gc, copy_block, grads[i].f32(), widths[i], gc.f32() + off, total, outer, widths[i]);
        }
        off += widths[i];
      }
      return grads;
    };
    record(out, n);
  }
  return out;
}

Tensor not_equal_outer(const Tensor& a, const Tensor& b) {
  check_dim("not_equal_outer", a, 1, "a");
  check_dim("not_equal_outer", b, 1, "b");
  check_dtype("not_equal_outer", a, DType::I32, "a");
  check_dtype("not_equal_outer", b, DType::I32, "b");
  check_same_device("not_equal_outer", a, b);
  Tensor ac = a.contiguous(), bc = b.contiguous();
  const int64_t N = a.shape()[0], K = b.shape()[0];
  Tensor out = Tensor::empty({N, K}, DType::F32, a.device());
  TAILOR_KERNEL(out, not_equal_outer, out.f32(), ac.i32(), bc.i32(), N, K);
  return out;
}

void ema_(Tensor& y, const Tensor& x, double m) {
  check_same_shape("ema_", y, x);
  require_f32_contig("ema_", y, "y");
  check_dtype("ema_", x, DType::F32, "x");
  check_same_device("ema_", y, x);
  TAILOR_CHECK(m >= 0 && m <= 1, "ema_: momentum must be in [0, 1], got ", m);
  Tensor xc = x.contiguous();
  TAILOR_KERNEL(y, ema, y.f32(), xc.f32(), (float)m, (float)(1.0 - m), y.numel());
}

void copy_where_(Tensor& dst, const Tensor& src, const Tensor& flag) {
  const char* op = "copy_where_";
  TAILOR_CHECK(dst.shape() == src.shape() && dst.dtype() == src.dtype(), op, ": ", src.desc(), " into ", dst.desc());
  TAILOR_CHECK(dst.dtype() == DType::F32 || dst.dtype() == DType::I32, op, ": f32 or i32 tensors, got ", dst.desc());
  TAILOR_CHECK(dst.is_contiguous(), op, ": dst must be contiguous, got ", dst.desc());
  check_same_device(op, dst, src);
  check_same_device(op, dst, flag);
  check_dtype(op, flag, DType::I32, "flag");
  TAILOR_CHECK(flag.numel() == 1, op, ": flag must be one i32, got ", flag.desc());
  Tensor sc = src.contiguous();
  TAILOR_KERNEL(dst, copy_if_flag, (int32_t*)dst.raw_data(), (const int32_t*)sc.raw_data(), flag.i32(), dst.numel());
}

}  // namespace tailor
