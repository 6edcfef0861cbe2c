// The CUDA bfloat16 activation kernels (engine/cuda/bf16_act.cu) against their CPU twins (engine/cpu/kernels.h,
// "bfloat16 activations"), kernel by kernel, on ResNet-like shapes and odd ones. Inputs are bf16 numbers (random
// floats rounded by float_to_bf16) with negatives, zeros of both signs and, for max pooling, many ties.
// Tolerances:
// - add_relu_bf16, relu_backward_bf16, add_bf16, max_pool2d_bf16 (values and argmax), shortcut_pad_bf16 and its
//   backward, global_avg_pool_backward_bf16: bit for bit (the same float operations in the same order, or
//   copies, on both devices).
// - bf16 outputs of batch_norm_apply_bf16 and batch_norm_backward_bf16 (dx): at most 1 bf16 ulp apart,
//   measured on the bit patterns mapped to a monotone integer line (sign-magnitude to two's complement:
//   adjacent bf16 numbers are 1 apart, +0 and -0 are 0 apart), or |cuda - cpu| <= 1e-5 max|cpu| near 0, where
//   an ulp is tiny. The float values before the one
//   rounding differ by a few float ulps (CPU: a*x + b, CUDA: (x - mean) * invstd * gamma + beta), so they can
//   round to adjacent bf16 numbers, never further apart.
//   (dx: its float value before the rounding also carries dgamma's and dbeta's different summation order.)
// - float outputs (mean, invstd, var_unbiased, dgamma, dbeta, global average pool): |cuda - cpu| <= 1e-5
//   max|cpu| over the tensor (as tests/test_cuda.cpp's kSum): the sums differ only in their order (CPU: float
//   within 64-row blocks, double across; CUDA: double), a rounding error that grows with the terms, not the value.
// Without a CUDA device (or in a CPU-only build) the whole executable exits 77: ctest reports SKIPPED.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/cpu/kernels.h"
#include "engine/precision.h"
#include "engine/rng.h"
#ifdef TAILOR_CUDA
#include "engine/cuda/kernels.h"
#include "engine/cuda/runtime.h"
#endif

using namespace tailor;

static const bool kSkipWithoutDevice = [] {
  if (!cuda_available()) {
    std::printf("test_cuda_bf16_act: no CUDA device (or a CPU-only build): SKIPPED\n");
    std::fflush(stdout);
    std::_Exit(77);
  }
  return true;
}();

#ifdef TAILOR_CUDA

// A device copy of a host vector (or n uninitialised elements), freed at scope exit.
template <class T>
struct DeviceBuf {
  size_t n;
  T* p;
  explicit DeviceBuf(size_t count) : n(count), p((T*)cuda::alloc(count * sizeof(T))) {}
  explicit DeviceBuf(const std::vector<T>& h) : DeviceBuf(h.size()) {
    cuda::copy(p, true, h.data(), false, n * sizeof(T));
  }
  ~DeviceBuf() { cuda::free(p, n * sizeof(T)); }
  DeviceBuf(const DeviceBuf&) = delete;
  DeviceBuf& operator=(const DeviceBuf&) = delete;
  std::vector<T> host() const {  // waits for the stream
    std::vector<T> h(n);
    cuda::copy(h.data(), false, p, true, n * sizeof(T));
    return h;
  }
};

// bf16 numbers [n] over channels C (the last dim): channel c ~ offset_c + scale_c * N(0, 1), every ~10th a zero
// of either sign.
static std::vector<uint16_t> random_bf16(int64_t n, int64_t C, uint64_t seed) {
  Rng r(seed);
  std::vector<uint16_t> v((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % C;
    float f = 0.25f * (float)(c % 7) - 0.75f + (0.5f + 0.1f * (float)(c % 5)) * (float)r.normal();
    if (r.below(10) == 0) f = r.below(2) ? 0.f : -0.f;
    v[(size_t)i] = float_to_bf16(f);
  }
  return v;
}
// bf16 numbers from a few values (-2, -1.5, ..., 2, zeros of both signs): ties in almost every pooling window;
// with `specials`, rarely +-inf or a quiet NaN
static std::vector<uint16_t> tied_bf16(int64_t n, uint64_t seed, bool specials) {
  static const uint16_t kSpecial[] = {0x7f80, 0xff80, 0x7fc0, 0xffc1};  // +inf, -inf, quiet NaNs
  Rng r(seed);
  std::vector<uint16_t> v((size_t)n);
  for (auto& h : v) {
    const int q = (int)r.below(9) - 4;
    h = float_to_bf16(q == 0 && r.below(2) ? -0.f : 0.5f * (float)q);
    if (specials && r.below(200) == 0) h = kSpecial[r.below(4)];
  }
  return v;
}
static std::vector<float> random_f32(int64_t n, uint64_t seed, float mean, float stddev) {
  Rng r(seed);
  std::vector<float> v((size_t)n);
  for (auto& f : v) f = mean + stddev * (float)r.normal();
  return v;
}

template <class T>
static bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// bf16 bits on a monotone integer line: adjacent bf16 numbers 1 apart, +0 and -0 both 0
static int64_t bf16_line(uint16_t h) { return (h & 0x8000) ? -(int64_t)(h & 0x7fff) : (int64_t)h; }

// bf16 outputs: at most 1 ulp apart, or within 1e-5 max|cpu| (near 0); see the header
static void check_bf16_close(const std::vector<uint16_t>& gpu, const std::vector<uint16_t>& cpu,
                             const std::string& what) {
  REQUIRE(gpu.size() == cpu.size());
  double scale = 0;
  for (uint16_t h : cpu) scale = std::max(scale, (double)std::fabs(bf16_to_float(h)));
  int64_t bad = 0, one_ulp = 0, max_ulps = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const int64_t ulps = std::llabs(bf16_line(gpu[i]) - bf16_line(cpu[i]));
    const double diff = std::fabs((double)bf16_to_float(gpu[i]) - bf16_to_float(cpu[i]));
    one_ulp += ulps == 1;
    max_ulps = std::max(max_ulps, ulps);
    if (ulps > 1 && !(diff <= 1e-5 * scale)) ++bad;
  }
  INFO(what << ": " << bad << " outside the tolerance, " << one_ulp << " of " << cpu.size()
            << " 1 ulp apart, at most " << max_ulps << " ulps apart, max|cpu| = " << scale);
  CHECK(bad == 0);
}

// float sums: |cuda - cpu| <= 1e-5 max|cpu| over the tensor
static void check_sum_close(const std::vector<float>& gpu, const std::vector<float>& cpu, const std::string& what) {
  REQUIRE(gpu.size() == cpu.size());
  double scale = 0, worst = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    scale = std::max(scale, (double)std::fabs(cpu[i]));
    const double d = std::fabs((double)gpu[i] - cpu[i]);
    worst = std::max(worst, std::isnan(d) ? INFINITY : d);
  }
  INFO(what << ": max |cuda - cpu| = " << worst << ", max|cpu| = " << scale);
  CHECK(worst <= 1e-5 * scale);
}

struct BnShape {
  int64_t M, C;
};
// ResNet-50's layer1 at batch 128 on 8x8 maps, ResNet-32's first stage at batch 2, and an odd one
static const BnShape kBnShapes[] = {{128 * 8 * 8, 64}, {2 * 32 * 32, 16}, {1000, 24}};

TEST_CASE("batch_norm_stats_bf16 and batch_norm_apply_bf16 match the CPU") {
  for (const BnShape& s : kBnShapes) {
    const int64_t M = s.M, C = s.C;
    CAPTURE(M);
    CAPTURE(C);
    const std::vector<uint16_t> x = random_bf16(M * C, C, 1);
    std::vector<float> mean(C), invstd(C), var(C);
    cpu::batch_norm_stats_bf16(mean.data(), invstd.data(), var.data(), x.data(), M, C, 1e-5f);
    DeviceBuf<uint16_t> d_x(x);
    DeviceBuf<float> dmean(C), dinvstd(C), dvar(C);
    cuda::batch_norm_stats_bf16(dmean.p, dinvstd.p, dvar.p, d_x.p, M, C, 1e-5f);
    check_sum_close(dmean.host(), mean, "mean");
    check_sum_close(dinvstd.host(), invstd, "invstd");
    check_sum_close(dvar.host(), var, "var_unbiased");

    // apply on the same statistics (the CPU's) on both devices
    const std::vector<float> gamma = random_f32(C, 2, 1.f, 0.2f), beta = random_f32(C, 3, 0.f, 0.1f);
    DeviceBuf<float> dm(mean), di(invstd), dg(gamma), db(beta);
    for (bool relu : {false, true}) {
      std::vector<uint16_t> y((size_t)(M * C));
      cpu::batch_norm_apply_bf16(y.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), M, C,
                                 relu);
      DeviceBuf<uint16_t> dy(y.size());
      cuda::batch_norm_apply_bf16(dy.p, d_x.p, dm.p, di.p, dg.p, db.p, M, C, relu);
      check_bf16_close(dy.host(), y, relu ? "batch_norm_apply_bf16 relu" : "batch_norm_apply_bf16");
    }
  }
}

TEST_CASE("batch_norm_backward_bf16 matches the CPU (train and eval, with and without the fused ReLU)") {
  for (const BnShape& s : kBnShapes) {
    const int64_t M = s.M, C = s.C;
    CAPTURE(M);
    CAPTURE(C);
    const std::vector<uint16_t> x = random_bf16(M * C, C, 4);
    const std::vector<float> gamma = random_f32(C, 5, 1.f, 0.2f), beta = random_f32(C, 6, 0.f, 0.1f);
    const std::vector<uint16_t> dy = random_bf16(M * C, C, 7);
    std::vector<float> mean(C), invstd(C), var(C);
    cpu::batch_norm_stats_bf16(mean.data(), invstd.data(), var.data(), x.data(), M, C, 1e-5f);
    std::vector<uint16_t> relu_out((size_t)(M * C));
    cpu::batch_norm_apply_bf16(relu_out.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), M,
                               C, true);
    DeviceBuf<uint16_t> d_x(x), d_relu(relu_out), d_dy(dy);
    DeviceBuf<float> d_mean(mean), d_invstd(invstd), d_gamma(gamma);
    for (bool training : {true, false})
      for (bool fused : {false, true}) {
        CAPTURE(training);
        CAPTURE(fused);
        std::vector<uint16_t> dx((size_t)(M * C));
        std::vector<float> dgamma(C), dbeta(C);
        cpu::batch_norm_backward_bf16(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(), mean.data(),
                                      invstd.data(), gamma.data(), fused ? relu_out.data() : nullptr, M, C,
                                      training);
        DeviceBuf<uint16_t> d_dx(dx.size());
        DeviceBuf<float> d_dgamma(C), d_dbeta(C);
        cuda::batch_norm_backward_bf16(d_dx.p, d_dgamma.p, d_dbeta.p, d_dy.p, d_x.p, d_mean.p, d_invstd.p,
                                       d_gamma.p, fused ? d_relu.p : nullptr, M, C, training);
        check_sum_close(d_dgamma.host(), dgamma, "dgamma");
        check_sum_close(d_dbeta.host(), dbeta, "dbeta");
        check_bf16_close(d_dx.host(), dx, "dx");
      }
  }
}

TEST_CASE("add_relu_bf16, relu_backward_bf16 and add_bf16 are bit for bit the CPU's") {
  for (int64_t n : {int64_t(128 * 8 * 8 * 64), int64_t(2 * 32 * 32 * 16), int64_t(1000 * 24 + 1)}) {
    CAPTURE(n);
    const std::vector<uint16_t> a = random_bf16(n, 24, 8), b = random_bf16(n, 16, 9), y = random_bf16(n, 7, 10);
    const std::vector<uint16_t> dout = random_bf16(n, 5, 11);
    std::vector<uint16_t> out((size_t)n);
    cpu::add_relu_bf16(out.data(), a.data(), b.data(), n);
    DeviceBuf<uint16_t> da(a), db(b), dy(y), dout16((size_t)n);
    cuda::add_relu_bf16(dout16.p, da.p, db.p, n);
    CHECK(same_bits(dout16.host(), out));

    std::vector<uint16_t> din((size_t)n), sum((size_t)n);
    cpu::relu_backward_bf16(din.data(), dout.data(), y.data(), n);
    DeviceBuf<uint16_t> d_dout(dout), d_din((size_t)n), d_sum((size_t)n);
    cuda::relu_backward_bf16(d_din.p, d_dout.p, dy.p, n);
    CHECK(same_bits(d_din.host(), din));
    cpu::add_bf16(sum.data(), a.data(), b.data(), n);
    cuda::add_bf16(d_sum.p, da.p, db.p, n);
    CHECK(same_bits(d_sum.host(), sum));
  }
}

TEST_CASE("max_pool2d_bf16 (values and argmax) is bit for bit the CPU's, ties included") {
  struct Cfg {
    int64_t N, H, W, C;
    int k, stride, pad;
    bool specials;  // +-inf and quiet NaNs among the inputs
  };
  for (const Cfg& g : {Cfg{2, 32, 32, 16, 3, 2, 1, false}, Cfg{128, 8, 8, 64, 2, 2, 0, false},
                       Cfg{3, 7, 9, 24, 3, 1, 1, false}, Cfg{3, 7, 9, 24, 3, 2, 1, true}}) {
    CAPTURE(g.N);
    CAPTURE(g.H);
    CAPTURE(g.W);
    CAPTURE(g.C);
    CAPTURE(g.k);
    CAPTURE(g.stride);
    CAPTURE(g.specials);
    const int64_t OH = (g.H + 2 * g.pad - g.k) / g.stride + 1, OW = (g.W + 2 * g.pad - g.k) / g.stride + 1;
    const int64_t n_out = g.N * OH * OW * g.C;
    const std::vector<uint16_t> x = tied_bf16(g.N * g.H * g.W * g.C, 12, g.specials);
    std::vector<uint16_t> y((size_t)n_out);
    std::vector<int32_t> am((size_t)n_out);
    cpu::max_pool2d_bf16(y.data(), am.data(), x.data(), g.N, g.H, g.W, g.C, g.k, g.stride, g.pad, OH, OW);
    DeviceBuf<uint16_t> dx(x), dy((size_t)n_out);
    DeviceBuf<int32_t> dam((size_t)n_out);
    cuda::max_pool2d_bf16(dy.p, dam.p, dx.p, g.N, g.H, g.W, g.C, g.k, g.stride, g.pad, OH, OW);
    CHECK(same_bits(dy.host(), y));
    CHECK(dam.host() == am);
  }
}

TEST_CASE("global_avg_pool_bf16 matches the CPU") {
  struct Cfg {
    int64_t N, HW, C;
  };
  for (const Cfg& g : {Cfg{128, 8 * 8, 64}, Cfg{2, 32 * 32, 16}, Cfg{8, 125, 24}}) {
    CAPTURE(g.N);
    CAPTURE(g.HW);
    CAPTURE(g.C);
    const std::vector<uint16_t> x = random_bf16(g.N * g.HW * g.C, g.C, 13);
    std::vector<float> y((size_t)(g.N * g.C));
    cpu::global_avg_pool_bf16(y.data(), x.data(), g.N, g.HW, g.C);
    DeviceBuf<uint16_t> dx(x);
    DeviceBuf<float> dy(y.size());
    cuda::global_avg_pool_bf16(dy.p, dx.p, g.N, g.HW, g.C);
    check_sum_close(dy.host(), y, "global_avg_pool_bf16");
    std::vector<uint16_t> gx(x.size());  // the backward, from the CPU's y as dy: bf16(dy / HW) on both
    cpu::global_avg_pool_backward_bf16(gx.data(), y.data(), g.N, g.HW, g.C);
    DeviceBuf<float> d_g(y);
    DeviceBuf<uint16_t> d_gx(x.size());
    cuda::global_avg_pool_backward_bf16(d_gx.p, d_g.p, g.N, g.HW, g.C);
    CHECK(same_bits(d_gx.host(), gx));
  }
}

TEST_CASE("shortcut_pad_bf16 is bit for bit the CPU's (the input's bits copied, NaN payloads included)") {
  struct Cfg {
    int64_t N, H, W, C;
    int s, pb, pa;
  };
  for (const Cfg& g : {Cfg{128, 16, 16, 16, 2, 8, 8}, Cfg{2, 32, 32, 32, 2, 16, 16}, Cfg{3, 7, 9, 24, 2, 5, 3}}) {
    CAPTURE(g.N);
    CAPTURE(g.H);
    CAPTURE(g.W);
    CAPTURE(g.C);
    const int64_t OH = (g.H + g.s - 1) / g.s, OW = (g.W + g.s - 1) / g.s, OC = g.C + g.pb + g.pa;
    std::vector<uint16_t> x = random_bf16(g.N * g.H * g.W * g.C, g.C, 14);
    x[0] = 0x7f81;  // a signalling NaN: copied, not quieted
    x[x.size() / 2] = 0xffc3;
    std::vector<uint16_t> y((size_t)(g.N * OH * OW * OC));
    cpu::shortcut_pad_bf16(y.data(), x.data(), g.N, g.H, g.W, g.C, g.s, g.pb, g.pa);
    DeviceBuf<uint16_t> dx(x), dy(y.size());
    cuda::shortcut_pad_bf16(dy.p, dx.p, g.N, g.H, g.W, g.C, g.s, g.pb, g.pa);
    CHECK(same_bits(dy.host(), y));
    std::vector<uint16_t> back(x.size());  // the backward of y: x at the sampled positions, +0 elsewhere
    cpu::shortcut_pad_backward_bf16(back.data(), y.data(), g.N, g.H, g.W, g.C, g.s, g.pb, g.pa);
    DeviceBuf<uint16_t> d_back(x.size());
    cuda::shortcut_pad_backward_bf16(d_back.p, dy.p, g.N, g.H, g.W, g.C, g.s, g.pb, g.pa);
    CHECK(same_bits(d_back.host(), back));
  }
}

#endif  // TAILOR_CUDA
