// 2-D convolution on the CPU through oneDNN (the CPU twin of cuDNN): activations NHWC (oneDNN tag
// nhwc, where its AVX-512 kernels run ~3x faster than on plain NCHW, see docs/DESIGN.md), weights
// in PyTorch's OIHW, reordered to/from the layout the primitive prefers. Primitives are created once
// per shape and cached (creation JIT-compiles the kernel).
//   y[n,oh,ow,k] = sum_{c,r,s} x[n, oh*stride-pad+r, ow*stride-pad+s, g*Cg + c] * w[k,c,r,s]
// with Cg = C/groups and g = k / (K/groups). Grouped weights [K, Cg, R, S] are, byte for byte,
// oneDNN's goihw [groups, K/groups, Cg, R, S], so the same OIHW buffer is described as that.
#include <map>
#include <mutex>
#include <tuple>

#include <oneapi/dnnl/dnnl.hpp>

#include "engine/cpu/kernels.h"
#include "engine/tensor.h"

namespace tailor::cpu {

using dnnl::memory;
using tag = memory::format_tag;

namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}
dnnl::stream& cpu_stream() {
  static dnnl::stream s(cpu_engine());
  return s;
}

// Everything oneDNN needs for one convolution shape.
struct ConvPrimitives {
  memory::desc x_user, y_user, w_user;  // our layouts: nhwc / nhwc / oihw (goihw when grouped)
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd;
  dnnl::convolution_backward_weights::primitive_desc bwd_w_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights bwd_w;
  // Weight reorders between OIHW and the primitives' blocked layouts, created once (creating a
  // oneDNN primitive JIT-compiles it: milliseconds) with their destination buffers.
  memory w_fwd, w_bwd_data, dw_blocked;
  dnnl::reorder to_fwd, to_bwd_data, from_dw;
  bool fwd_reorder = false, bwd_data_reorder = false, dw_reorder = false;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int>;

ConvPrimitives& get_primitives(const ConvShape& s) {
  static std::map<Key, ConvPrimitives> cache;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  Key key{s.N, s.H, s.W, s.C, s.K, s.R, s.S, s.stride, s.pad, s.groups};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;

  auto& eng = cpu_engine();
  const bool grouped = s.groups > 1;
  memory::dims xd{s.N, s.C, s.H, s.W}, yd{s.N, s.K, s.OH(), s.OW()};
  memory::dims wd = grouped ? memory::dims{s.groups, s.K / s.groups, s.Cg(), s.R, s.S}
                            : memory::dims{s.K, s.C, s.R, s.S};
  memory::dims strides{s.stride, s.stride}, pad{s.pad, s.pad};
  auto f32 = memory::data_type::f32;
  ConvPrimitives p;
  p.x_user = memory::desc(xd, f32, tag::nhwc);
  p.y_user = memory::desc(yd, f32, tag::nhwc);
  p.w_user = memory::desc(wd, f32, grouped ? tag::goihw : tag::oihw);
  auto w_any = memory::desc(wd, f32, tag::any);
  p.fwd_pd = dnnl::convolution_forward::primitive_desc(
      {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, p.x_user, w_any, p.y_user, strides,
       pad, pad},
      eng);
  p.bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
      {dnnl::algorithm::convolution_direct, p.x_user, w_any, p.y_user, strides, pad, pad}, eng, p.fwd_pd);
  p.bwd_w_pd = dnnl::convolution_backward_weights::primitive_desc(
      {dnnl::algorithm::convolution_direct, p.x_user, w_any, p.y_user, strides, pad, pad}, eng, p.fwd_pd);
  p.fwd = dnnl::convolution_forward(p.fwd_pd);
  p.bwd_data = dnnl::convolution_backward_data(p.bwd_data_pd);
  p.bwd_w = dnnl::convolution_backward_weights(p.bwd_w_pd);
  if ((p.fwd_reorder = p.fwd_pd.weights_desc() != p.w_user)) {
    p.w_fwd = memory(p.fwd_pd.weights_desc(), eng);
    p.to_fwd = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p.w_user, eng, p.fwd_pd.weights_desc()));
  }
  if ((p.bwd_data_reorder = p.bwd_data_pd.weights_desc() != p.w_user)) {
    p.w_bwd_data = memory(p.bwd_data_pd.weights_desc(), eng);
    p.to_bwd_data = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p.w_user, eng, p.bwd_data_pd.weights_desc()));
  }
  if ((p.dw_reorder = p.bwd_w_pd.diff_weights_desc() != p.w_user)) {
    p.dw_blocked = memory(p.bwd_w_pd.diff_weights_desc(), eng);
    p.from_dw = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p.bwd_w_pd.diff_weights_desc(), eng, p.w_user));
  }
  return cache.emplace(key, std::move(p)).first->second;
}


}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const ConvShape& s) {
  auto& p = get_primitives(s);
  auto& eng = cpu_engine();
  memory xm(p.x_user, eng, const_cast<float*>(x)), ym(p.y_user, eng, y), wm(p.w_user, eng, const_cast<float*>(w));
  memory wk = wm;
  if (p.fwd_reorder) {
    p.to_fwd.execute(cpu_stream(), wm, p.w_fwd);
    wk = p.w_fwd;
  }
  TAILOR_CHECK(p.fwd_pd.src_desc() == p.x_user && p.fwd_pd.dst_desc() == p.y_user,
               "conv2d: oneDNN chose a non-NHWC activation layout");
  p.fwd.execute(cpu_stream(), {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wk}, {DNNL_ARG_DST, ym}});
  cpu_stream().wait();
}

void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s) {
  auto& p = get_primitives(s);
  auto& eng = cpu_engine();
  memory dxm(p.x_user, eng, dx), dym(p.y_user, eng, const_cast<float*>(dy)), wm(p.w_user, eng, const_cast<float*>(w));
  memory wk = wm;
  if (p.bwd_data_reorder) {
    p.to_bwd_data.execute(cpu_stream(), wm, p.w_bwd_data);
    wk = p.w_bwd_data;
  }
  TAILOR_CHECK(p.bwd_data_pd.diff_src_desc() == p.x_user && p.bwd_data_pd.diff_dst_desc() == p.y_user,
               "conv2d backward: oneDNN chose a non-NHWC activation layout");
  p.bwd_data.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wk}, {DNNL_ARG_DIFF_SRC, dxm}});
  cpu_stream().wait();
}

void conv2d_backward_weights(float* dw, const float* dy, const float* x, const ConvShape& s) {
  auto& p = get_primitives(s);
  auto& eng = cpu_engine();
  memory xm(p.x_user, eng, const_cast<float*>(x)), dym(p.y_user, eng, const_cast<float*>(dy));
  memory dwm(p.w_user, eng, dw);
  TAILOR_CHECK(p.bwd_w_pd.src_desc() == p.x_user && p.bwd_w_pd.diff_dst_desc() == p.y_user,
               "conv2d backward: oneDNN chose a non-NHWC activation layout");
  if (!p.dw_reorder) {
    p.bwd_w.execute(cpu_stream(), {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}});
  } else {
    p.bwd_w.execute(cpu_stream(), {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, p.dw_blocked}});
    p.from_dw.execute(cpu_stream(), p.dw_blocked, dwm);
  }
  cpu_stream().wait();
}

}  // namespace tailor::cpu
