// conv2d op: NHWC input [N,H,W,C], OIHW weight [K,C/groups,R,S] -> [N,OH,OW,K]; no bias (ResNets put
// BN after every conv). Backward: dx by the transposed convolution, dw by correlating x with dy (both
// per group when grouped).
// Under PrecisionScope(BF16) (engine/precision.h) x (unless it is bf16 already: the previous op's activation)
// is rounded to bfloat16 and the weights converted (oneDNN's reorder on the CPU, a cast on CUDA); products
// accumulate in float32; y is bf16 (the activation the next op reads), so its gradient dy is bf16 too; dx is
// rounded to bf16 (widened back when x was float32) and dw is float32. x is saved for backward as bf16
// (docs/precision.md).
#include "engine/ops/common.h"
#include "engine/precision.h"

namespace tailor {

namespace {

Tensor to_bf16(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), DType::BF16, t.device());
  TAILOR_KERNEL(t, cast_to_bf16, out.bf16(), t.f32(), t.numel());
  return out;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, int stride, int pad, int groups) {
  const char* op = "conv2d";
  check_dim(op, x, 4, "input (NHWC)");
  check_dim(op, w, 4, "weight (KCRS)");
  const bool bf16 = conv_precision() == Precision::BF16;
  const bool x_bf16 = require_activation(op, x, "input");
  TAILOR_CHECK(bf16 || !x_bf16, op, ": a bfloat16 input outside precision bf16 (PrecisionScope)");
  require_f32_contig(op, w, "weight");
  check_same_device(op, x, w);
  TAILOR_CHECK(stride >= 1 && pad >= 0, op, ": invalid stride ", stride, " / pad ", pad);
  cpu::ConvShape s{x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3], w.shape()[0], w.shape()[2], w.shape()[3],
                   stride, pad, groups};
  TAILOR_CHECK(groups >= 1 && s.C % groups == 0 && s.K % groups == 0, op, ": groups ", groups,
               " must divide the input channels and the output channels: input ", x.shape(), " (NHWC), weight ",
               w.shape());
  TAILOR_CHECK(w.shape()[1] == s.Cg(), op, ": input ", x.shape(), " has ", s.C, " channels (NHWC) but weight ",
               w.shape(), " expects ", w.shape()[1] * groups,
               groups > 1 ? " (groups " + std::to_string(groups) + ")" : std::string());
  TAILOR_CHECK(s.OH() >= 1 && s.OW() >= 1, op, ": kernel ", w.shape(), " larger than padded input ", x.shape());
  Tensor xs = bf16 && !x_bf16 ? to_bf16(x) : x.detach();  // the input as the passes read it, saved for backward
  Tensor out = Tensor::empty({s.N, s.OH(), s.OW(), s.K}, bf16 ? DType::BF16 : DType::F32, x.device());
  if (bf16)
    TAILOR_KERNEL(out, conv2d_forward_bf16, out.bf16(), xs.bf16(), w.f32(), s);
  else
    TAILOR_KERNEL(out, conv2d_forward, out.f32(), x.f32(), w.f32(), s);
  if (should_record({&x, &w})) {
    auto n = make_node(op, {x, w});
    n->saved = {xs, w.detach()};
    const DType x_dtype = x.dtype();
    n->fn = [s, bf16, x_dtype](LambdaNode& self, const Tensor& g) {
      Tensor gc = g.contiguous();
      TAILOR_CHECK(gc.dtype() == (bf16 ? DType::BF16 : DType::F32), "conv2d backward: the output's gradient is ",
                   dtype_name(gc.dtype()), ", the output ", bf16 ? "bfloat16" : "float32");
      Tensor dx, dw;
      if (self.needs_grad(0)) {
        if (bf16) {
          dx = Tensor::empty({s.N, s.H, s.W, s.C}, DType::BF16, g.device());
          TAILOR_KERNEL(dx, conv2d_backward_data_bf16, dx.bf16(), gc.bf16(), self.saved[1].f32(), s);
          dx = to_dtype(dx, x_dtype);  // a float32 input (an image) gets its gradient widened
        } else {
          dx = Tensor::empty({s.N, s.H, s.W, s.C}, DType::F32, g.device());
          TAILOR_KERNEL(dx, conv2d_backward_data, dx.f32(), gc.f32(), self.saved[1].f32(), s);
        }
      }
      if (self.needs_grad(1)) {
        dw = Tensor::empty({s.K, s.Cg(), s.R, s.S}, DType::F32, g.device());
        if (bf16)
          TAILOR_KERNEL(dw, conv2d_backward_weights_bf16, dw.f32(), gc.bf16(), self.saved[0].bf16(), s);
        else
          TAILOR_KERNEL(dw, conv2d_backward_weights, dw.f32(), gc.f32(), self.saved[0].f32(), s);
      }
      return std::vector<Tensor>{dx, dw};
    };
    record(out, n);
  }
  return out;
}

}  // namespace tailor
