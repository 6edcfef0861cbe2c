// Pooling ops and the option-A shortcut (NHWC). Each takes a float32 or a bfloat16 activation (precision
// bf16): max_pool2d and shortcut_pad keep its type, global_avg_pool returns float32; each input's gradient has
// the input's type (a bf16 dx is the float32 twin's, rounded once).
#include "engine/ops/common.h"

namespace tailor {

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int pad) {
  const char* op = "max_pool2d";
  check_dim(op, x, 4, "input (NHWC)");
  const bool bf16 = require_activation(op, x, "input");
  TAILOR_CHECK(kernel >= 1 && stride >= 1 && pad >= 0 && 2 * pad <= kernel, op, ": invalid kernel ", kernel,
               " stride ", stride, " pad ", pad);
  int64_t N = x.shape()[0], H = x.shape()[1], W = x.shape()[2], C = x.shape()[3];
  int64_t OH = (H + 2 * pad - kernel) / stride + 1, OW = (W + 2 * pad - kernel) / stride + 1;
  TAILOR_CHECK(OH >= 1 && OW >= 1, op, ": kernel ", kernel, " larger than input ", x.shape());
  Tensor out = Tensor::empty({N, OH, OW, C}, x.dtype(), x.device());
  Tensor am = Tensor::empty({N, OH, OW, C}, DType::I32, x.device());
  if (bf16)
    TAILOR_KERNEL(out, max_pool2d_bf16, out.bf16(), am.i32(), x.bf16(), N, H, W, C, kernel, stride, pad, OH, OW);
  else
    TAILOR_KERNEL(out, max_pool2d, out.f32(), am.i32(), x.f32(), N, H, W, C, kernel, stride, pad, OH, OW);
  if (should_record({&x})) {
    auto n = make_node(op, {x});
    n->saved = {am};
    n->fn = [N, H, W, C, OH, OW, bf16](LambdaNode& self, const Tensor& g) {
      // bf16: the windows' gradients summed in float32 (overlapping windows), then rounded once
      Tensor gf = to_dtype(g.contiguous(), DType::F32);
      Tensor gi = Tensor::empty({N, H, W, C}, DType::F32, g.device());
      TAILOR_KERNEL(gi, max_pool2d_backward, gi.f32(), gf.f32(), self.saved[0].i32(), N, H * W * C, OH * OW * C, C);
      return std::vector<Tensor>{bf16 ? to_dtype(gi, DType::BF16) : gi};
    };
    record(out, n);
  }
  return out;
}

Tensor global_avg_pool(const Tensor& x) {
  const char* op = "global_avg_pool";
  check_dim(op, x, 4, "input (NHWC)");
  const bool bf16 = require_activation(op, x, "input");  // the output is float32 either way
  int64_t N = x.shape()[0], HW = x.shape()[1] * x.shape()[2], C = x.shape()[3];
  Tensor out = Tensor::empty({N, C}, DType::F32, x.device());
  if (bf16)
    TAILOR_KERNEL(out, global_avg_pool_bf16, out.f32(), x.bf16(), N, HW, C);
  else
    TAILOR_KERNEL(out, global_avg_pool, out.f32(), x.f32(), N, HW, C);
  if (should_record({&x})) {
    auto n = make_node(op, {x});
    Shape in_shape = x.shape();
    n->fn = [in_shape, N, HW, C, bf16](LambdaNode&, const Tensor& g) {
      Tensor gi = Tensor::empty(in_shape, bf16 ? DType::BF16 : DType::F32, g.device());
      if (bf16)
        TAILOR_KERNEL(gi, global_avg_pool_backward_bf16, gi.bf16(), g.contiguous().f32(), N, HW, C);
      else
        TAILOR_KERNEL(gi, global_avg_pool_backward, gi.f32(), g.contiguous().f32(), N, HW, C);
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

Tensor shortcut_pad(const Tensor& x, int stride, int pad_before, int pad_after) {
  const char* op = "shortcut_pad";
  check_dim(op, x, 4, "input (NHWC)");
  const bool bf16 = require_activation(op, x, "input");
  TAILOR_CHECK(stride >= 1 && pad_before >= 0 && pad_after >= 0, op, ": invalid stride/pad");
  int64_t N = x.shape()[0], H = x.shape()[1], W = x.shape()[2], C = x.shape()[3];
  int64_t OH = (H + stride - 1) / stride, OW = (W + stride - 1) / stride;
  Tensor out = Tensor::empty({N, OH, OW, C + pad_before + pad_after}, x.dtype(), x.device());
  if (bf16)
    TAILOR_KERNEL(out, shortcut_pad_bf16, out.bf16(), x.bf16(), N, H, W, C, stride, pad_before, pad_after);
  else
    TAILOR_KERNEL(out, shortcut_pad, out.f32(), x.f32(), N, H, W, C, stride, pad_before, pad_after);
  if (should_record({&x})) {
    auto n = make_node(op, {x});
    n->fn = [N, H, W, C, stride, pad_before, pad_after, bf16](LambdaNode&, const Tensor& g) {
      Tensor gc = g.contiguous();
      TAILOR_CHECK(gc.dtype() == (bf16 ? DType::BF16 : DType::F32),
                   "shortcut_pad backward: the gradient's type differs from the output's");
      Tensor gi = Tensor::empty({N, H, W, C}, gc.dtype(), g.device());
      if (bf16)
        TAILOR_KERNEL(gi, shortcut_pad_backward_bf16, gi.bf16(), gc.bf16(), N, H, W, C, stride, pad_before, pad_after);
      else
        TAILOR_KERNEL(gi, shortcut_pad_backward, gi.f32(), gc.f32(), N, H, W, C, stride, pad_before, pad_after);
      return std::vector<Tensor>{gi};
    };
    record(out, n);
  }
  return out;
}

}  // namespace tailor
