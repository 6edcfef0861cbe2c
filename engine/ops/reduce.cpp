// Sums and means over one dim or everything; sum_to reduces a broadcast gradient to a shape.
#include "engine/ops/common.h"

namespace tailor {

static int64_t norm_dim(const char* op, const Tensor& x, int64_t dim) {
  int64_t nd = x.dim();
  if (dim < 0) dim += nd;
  TAILOR_CHECK(dim >= 0 && dim < nd, op, ": dim out of range for shape ", x.shape());
  return dim;
}

// Broadcast g (shape with `dim` removed or kept as 1) back over `dim` of length len.
static Tensor expand_dim(const Tensor& g, const Shape& in_shape, int64_t dim) {
  Shape keep = in_shape;
  keep[dim] = 1;
  Tensor gk = g.contiguous().reshape(keep);
  return add(Tensor::zeros(in_shape, DType::F32, g.device()), gk);
}

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  require_f32_contig("sum", x, "x");
  dim = norm_dim("sum", x, dim);
  int64_t outer = 1, inner = 1, len = x.shape()[dim];
  for (int64_t i = 0; i < dim; ++i) outer *= x.shape()[i];
  for (int64_t i = dim + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  Shape os = x.shape();
  if (keepdim)
    os[dim] = 1;
  else
    os.erase(os.begin() + dim);
  Tensor out = Tensor::empty(os, DType::F32, x.device());
  TAILOR_KERNEL(out, sum_dim, out.f32(), x.f32(), outer, len, inner);
  if (should_record({&x})) {
    auto n = make_node("sum", {x});
    Shape in_shape = x.shape();
    n->fn = [in_shape, dim](LambdaNode&, const Tensor& g) {
      return std::vector<Tensor>{expand_dim(g, in_shape, dim)};
    };
    record(out, n);
  }
  return out;
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  int64_t len = x.shape()[norm_dim("mean", x, dim)];
  return scale(sum(x, dim, keepdim), 1.f / (float)len);
}

Tensor sum_all(const Tensor& x) {
  require_f32_contig("sum_all", x, "x");
  Tensor out = Tensor::empty({}, DType::F32, x.device());
  TAILOR_KERNEL(x, sum_all, out.f32(), x.f32(), x.numel());
  if (should_record({&x})) {
    auto n = make_node("sum_all", {x});
    Shape in_shape = x.shape();
    n->fn = [in_shape](LambdaNode&, const Tensor& g) {
      return std::vector<Tensor>{mul(Tensor::ones(in_shape, g.device()), g)};  // no host round trip
    };
    record(out, n);
  }
  return out;
}

Tensor mean_all(const Tensor& x) { return scale(sum_all(x), 1.f / (float)std::max<int64_t>(1, x.numel())); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  TAILOR_CHECK(shape.size() <= x.shape().size(), "sum_to: cannot reduce ", x.shape(), " to ", shape);
  Tensor cur = x.contiguous();
  size_t lead = x.shape().size() - shape.size();
  for (size_t i = 0; i < lead; ++i) cur = sum(cur, 0, false);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 1 && cur.shape()[i] != 1) cur = sum(cur, (int64_t)i, true);
  TAILOR_CHECK(cur.shape() == shape, "sum_to: cannot reduce ", x.shape(), " to ", shape);
  return cur;
}

int64_t first_nonfinite(const std::vector<Tensor>& ts) {
  if (ts.empty()) return -1;
  Tensor out = Tensor::empty({1}, DType::I32, ts[0].device());
  nonfinite_index(ts, out);
  return (int64_t)out.to_vector_i32()[0] - 1;  // the one round trip
}

void nonfinite_index(const std::vector<Tensor>& ts, Tensor& out, const Tensor& others) {
  const char* op = "nonfinite_index";
  check_dtype(op, out, DType::I32, "out");
  TAILOR_CHECK(out.numel() == 1 && out.is_contiguous(), op, ": out must be one contiguous i32, got ", out.desc());
  if (others.defined()) {
    check_same_device(op, out, others);
    check_dtype(op, others, DType::I32, "others");
    TAILOR_CHECK(others.numel() == 1, op, ": others must be one i32, got ", others.desc());
  }
  std::vector<Tensor> keep;
  keep.reserve(ts.size());
  std::vector<const float*> xs;
  std::vector<int64_t> ns;
  for (const Tensor& t : ts) {
    if (!t.defined() || t.numel() == 0) {
      xs.push_back(nullptr);
      ns.push_back(0);
      continue;
    }
    check_same_device(op, out, t);
    check_dtype(op, t, DType::F32, "tensor");
    keep.push_back(t.contiguous());
    xs.push_back(keep.back().f32());
    ns.push_back(keep.back().numel());
  }
  const int count = (int)ts.size();
  Tensor flags = out.is_cuda() ? Tensor::empty({std::max(1, count)}, DType::I32, out.device()) : Tensor();
  TAILOR_KERNEL(out, nonfinite_index, out.i32(), flags.defined() ? flags.i32() : nullptr, xs.data(), ns.data(), count,
                others.defined() ? others.i32() : nullptr);
}

}  // namespace tailor
