// 2-D convolution on the CPU through oneDNN (the CPU twin of cuDNN): activations NHWC (oneDNN tag
// nhwc, where its AVX-512 kernels run ~3x faster than on plain NCHW, see docs/DESIGN.md), weights
// in PyTorch's OIHW, reordered to/from the layout the primitive prefers. Primitives are created once
// per shape and cached (creation JIT-compiles the kernel).
//   y[n,oh,ow,k] = sum_{c,r,s} x[n, oh*stride-pad+r, ow*stride-pad+s, g*Cg + c] * w[k,c,r,s]
// with Cg = C/groups and g = k / (K/groups). Grouped weights [K, Cg, R, S] are, byte for byte,
// oneDNN's goihw [groups, K/groups, Cg, R, S], so the same OIHW buffer is described as that.
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include <oneapi/dnnl/dnnl.hpp>

#include "engine/cpu/kernels.h"
#include "engine/precision.h"
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

// Everything oneDNN needs for one convolution shape and operand type. With bf16 operands the activations
// and their gradients (x, y, dy, dx) are bf16 and dw float32; the weights stay float32 OIHW on our side.
struct ConvPrimitives {
  memory::desc x_user, y_user, w_user;  // our layouts: nhwc / nhwc / oihw (goihw when grouped)
  memory::desc dx_user, dy_user;        // the gradients' (nhwc): dx as x, dy as y
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

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int, bool>;

// One entry per shape (the batch size included), each holding weight-sized buffers; kept for the process
// unless conv2d_release_setups drops them (a caller holds its entry's shared_ptr while it runs, so a release
// on another thread frees the entry only after that call ends).
using Setups = std::map<Key, std::shared_ptr<ConvPrimitives>>;
Setups& primitive_cache() {
  static Setups cache;
  return cache;
}
std::mutex& primitive_cache_mutex() {
  static std::mutex mu;
  return mu;
}

std::shared_ptr<ConvPrimitives> get_primitives(const ConvShape& s, bool bf16) {
  Setups& cache = primitive_cache();
  std::lock_guard<std::mutex> lock(primitive_cache_mutex());
  Key key{s.N, s.H, s.W, s.C, s.K, s.R, s.S, s.stride, s.pad, s.groups, bf16};
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;

  auto& eng = cpu_engine();
  const bool grouped = s.groups > 1;
  memory::dims xd{s.N, s.C, s.H, s.W}, yd{s.N, s.K, s.OH(), s.OW()};
  memory::dims wd = grouped ? memory::dims{s.groups, s.K / s.groups, s.Cg(), s.R, s.S}
                            : memory::dims{s.K, s.C, s.R, s.S};
  memory::dims strides{s.stride, s.stride}, pad{s.pad, s.pad};
  auto f32 = memory::data_type::f32, in = bf16 ? memory::data_type::bf16 : f32;
  auto made = std::make_shared<ConvPrimitives>();
  ConvPrimitives& p = *made;
  p.x_user = memory::desc(xd, in, tag::nhwc);
  p.y_user = memory::desc(yd, in, tag::nhwc);
  p.dx_user = memory::desc(xd, in, tag::nhwc);
  p.dy_user = memory::desc(yd, in, tag::nhwc);
  p.w_user = memory::desc(wd, f32, grouped ? tag::goihw : tag::oihw);
  auto w_any = memory::desc(wd, in, tag::any), dw_any = memory::desc(wd, f32, tag::any);
  p.fwd_pd = dnnl::convolution_forward::primitive_desc(
      {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, p.x_user, w_any, p.y_user, strides,
       pad, pad},
      eng);
  p.bwd_data_pd = dnnl::convolution_backward_data::primitive_desc(
      {dnnl::algorithm::convolution_direct, p.dx_user, w_any, p.dy_user, strides, pad, pad}, eng, p.fwd_pd);
  p.bwd_w_pd = dnnl::convolution_backward_weights::primitive_desc(
      {dnnl::algorithm::convolution_direct, p.x_user, dw_any, p.dy_user, strides, pad, pad}, eng, p.fwd_pd);
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
  return cache.emplace(key, std::move(made)).first->second;
}


}  // namespace

namespace {

// The three passes on raw pointers: x / y / dx / dy point to float or bf16 as the primitives were made for.
void forward(ConvPrimitives& p, void* y, const void* x, const float* w) {
  auto& eng = cpu_engine();
  memory xm(p.x_user, eng, const_cast<void*>(x)), ym(p.y_user, eng, y), wm(p.w_user, eng, const_cast<float*>(w));
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

void backward_data(ConvPrimitives& p, void* dx, const void* dy, const float* w) {
  auto& eng = cpu_engine();
  memory dxm(p.dx_user, eng, dx), dym(p.dy_user, eng, const_cast<void*>(dy));
  memory wm(p.w_user, eng, const_cast<float*>(w));
  memory wk = wm;
  if (p.bwd_data_reorder) {
    p.to_bwd_data.execute(cpu_stream(), wm, p.w_bwd_data);
    wk = p.w_bwd_data;
  }
  TAILOR_CHECK(p.bwd_data_pd.diff_src_desc() == p.dx_user && p.bwd_data_pd.diff_dst_desc() == p.dy_user,
               "conv2d backward: oneDNN chose a non-NHWC activation layout");
  p.bwd_data.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_WEIGHTS, wk}, {DNNL_ARG_DIFF_SRC, dxm}});
  cpu_stream().wait();
}

void backward_weights(ConvPrimitives& p, float* dw, const void* dy, const void* x) {
  auto& eng = cpu_engine();
  memory xm(p.x_user, eng, const_cast<void*>(x)), dym(p.dy_user, eng, const_cast<void*>(dy));
  memory dwm(p.w_user, eng, dw);
  TAILOR_CHECK(p.bwd_w_pd.src_desc() == p.x_user && p.bwd_w_pd.diff_dst_desc() == p.dy_user,
               "conv2d backward: oneDNN chose a non-NHWC activation layout");
  if (!p.dw_reorder) {
    p.bwd_w.execute(cpu_stream(), {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}});
  } else {
    p.bwd_w.execute(cpu_stream(), {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, p.dw_blocked}});
    p.from_dw.execute(cpu_stream(), p.dw_blocked, dwm);
  }
  cpu_stream().wait();
}

}  // namespace

void conv2d_release_setups() {
  std::lock_guard<std::mutex> lock(primitive_cache_mutex());
  primitive_cache().clear();
}

void conv2d_forward(float* y, const float* x, const float* w, const ConvShape& s) {
  forward(*get_primitives(s, false), y, x, w);
}
void conv2d_backward_data(float* dx, const float* dy, const float* w, const ConvShape& s) {
  backward_data(*get_primitives(s, false), dx, dy, w);
}
void conv2d_backward_weights(float* dw, const float* dy, const float* x, const ConvShape& s) {
  backward_weights(*get_primitives(s, false), dw, dy, x);
}
void conv2d_forward_bf16(uint16_t* y, const uint16_t* x, const float* w, const ConvShape& s) {
  forward(*get_primitives(s, true), y, x, w);
}
void conv2d_backward_data_bf16(uint16_t* dx, const uint16_t* dy, const float* w, const ConvShape& s) {
  backward_data(*get_primitives(s, true), dx, dy, w);
}
void conv2d_backward_weights_bf16(float* dw, const uint16_t* dy, const uint16_t* x, const ConvShape& s) {
  backward_weights(*get_primitives(s, true), dw, dy, x);
}

// out[i] = the float's upper half, rounded to nearest even (engine/precision.h)
void cast_to_bf16(uint16_t* out, const float* x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = float_to_bf16(x[i]);
}

void bf16_to_f32(float* out, const uint16_t* x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_float(x[i]);
}

}  // namespace tailor::cpu
