// matmul, linear (y = x W^T + b) and a 2-D transpose. Backward:
//   C = A B:        dA = dC B^T,  dB = A^T dC
//   y = x W^T + b:  dx = dy W,    dW = dy^T x,  db = sum_rows dy
#include "engine/ops/common.h"

namespace tailor {

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_dim("matmul", a, 2, "a");
  check_dim("matmul", b, 2, "b");
  TAILOR_CHECK(a.shape()[1] == b.shape()[0], "matmul: inner dimensions differ: ", a.shape(), " @ ", b.shape());
  Tensor ac = a.contiguous(), bc = b.contiguous();
  require_f32_contig("matmul", ac, "a");
  require_f32_contig("matmul", bc, "b");
  check_same_device("matmul", a, b);
  int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  Tensor out = Tensor::empty({M, N}, DType::F32, a.device());
  TAILOR_KERNEL(out, gemm, false, false, M, N, K, 1.f, ac.f32(), K, bc.f32(), N, 0.f, out.f32(), N);
  if (should_record({&a, &b})) {
    auto n = make_node("matmul", {a, b});
    n->saved = {ac.detach(), bc.detach()};
    n->fn = [M, N, K](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      Tensor ga, gb;
      if (self.needs_grad(0)) {
        ga = Tensor::empty({M, K}, DType::F32, g.device());
        TAILOR_KERNEL(ga, gemm, false, true, M, K, N, 1.f, gc.f32(), N, self.saved[1].f32(), N, 0.f, ga.f32(), K);
      }
      if (self.needs_grad(1)) {
        gb = Tensor::empty({K, N}, DType::F32, g.device());
        TAILOR_KERNEL(gb, gemm, true, false, K, N, M, 1.f, self.saved[0].f32(), K, gc.f32(), N, 0.f, gb.f32(), N);
      }
      return std::vector<Tensor>{ga, gb};
    };
    record(out, n);
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_dim("linear", x, 2, "x");
  check_dim("linear", w, 2, "weight");
  TAILOR_CHECK(x.shape()[1] == w.shape()[1], "linear: input features ", x.shape()[1], " do not match weight ",
               w.shape(), " (x is ", x.shape(), ")");
  require_f32_contig("linear", w, "weight");
  check_same_device("linear", x, w);
  Tensor xc = x.contiguous();
  int64_t M = x.shape()[0], K = x.shape()[1], N = w.shape()[0];
  Tensor out = Tensor::empty({M, N}, DType::F32, x.device());
  if (b.defined()) {
    TAILOR_CHECK(b.dim() == 1 && b.shape()[0] == N, "linear: bias shape ", b.shape(), " does not match weight ",
                 w.shape());
    check_same_device("linear", x, b);
    Tensor bc = b.contiguous();
    TAILOR_KERNEL(out, broadcast_rows, out.f32(), bc.f32(), M, N);
  }
  TAILOR_KERNEL(out, gemm, false, true, M, N, K, 1.f, xc.f32(), K, w.f32(), K, b.defined() ? 1.f : 0.f, out.f32(), N);
  if (should_record({&x, &w, &b})) {
    auto n = make_node("linear", {x, w, b});
    n->saved = {xc.detach(), w.detach()};
    n->fn = [M, N, K](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      Tensor gx, gw, gb;
      if (self.needs_grad(0)) {
        gx = Tensor::empty({M, K}, DType::F32, g.device());
        TAILOR_KERNEL(gx, gemm, false, false, M, K, N, 1.f, gc.f32(), N, self.saved[1].f32(), K, 0.f, gx.f32(), K);
      }
      if (self.needs_grad(1)) {
        gw = Tensor::empty({N, K}, DType::F32, g.device());
        TAILOR_KERNEL(gw, gemm, true, false, N, K, M, 1.f, gc.f32(), N, self.saved[0].f32(), K, 0.f, gw.f32(), K);
      }
      if (self.needs_grad(2)) gb = sum(gc, 0);
      return std::vector<Tensor>{gx, gw, gb};
    };
    record(out, n);
  }
  return out;
}

Tensor transpose2d(const Tensor& x) {
  check_dim("transpose2d", x, 2, "x");
  Tensor xc = x.contiguous();
  int64_t M = x.shape()[0], N = x.shape()[1];
  check_dtype("transpose2d", x, DType::F32, "x");
  Tensor out = Tensor::empty({N, M}, x.dtype(), x.device());
  TAILOR_KERNEL(out, transpose2d, out.f32(), xc.f32(), M, N);
  if (should_record({&x})) {
    auto n = make_node("transpose2d", {x});
    n->fn = [](LambdaNode&, const Tensor& g) { return std::vector<Tensor>{transpose2d(g)}; };
    record(out, n);
  }
  return out;
}

}  // namespace tailor
