// precision bf16 on the CPU (engine/precision.h, docs/precision.md):
// - the float -> bfloat16 rounding is round-to-nearest-even, checked on hand-worked values (ties, overflow,
//   NaN, signed zero) and the kernel equals the scalar function on random floats;
// - a convolution whose operands are already bf16 numbers gives the float32 result (a product of two
//   8-bit significands is exact in float32; only the summation order may differ): backward weights within 2e-6
//   of the largest value, the bf16 outputs (forward's y, backward data's dx) within one rounding (2^-8
//   relative) of float32's, for 3x3 / strided / 1x1 / grouped / 3-channel shapes;
// - on arbitrary float inputs the bf16 convolution stays within the stated tolerance of float32 (1e-2 of the
//   largest value; bf16 keeps 8 significant bits, a relative rounding of 2^-9 per operand);
// - the scope restores the previous setting and the saved input is bf16 (half the memory).
// Skipped, with a message, on a CPU without native bf16 (oneDNN ISA below avx512_core_bf16).
// On a GPU (cuDNN's bf16 convolutions, against the CPU's float32): bf16-number operands give float32's result
// up to the rounding of each output to bf16 (2^-9 relative, so 4e-3 of the largest value); arbitrary inputs
// within 1e-2; the saved input is the CPU's cast bit for bit. Skipped without a GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/cpu/kernels.h"
#include "engine/ops.h"
#include "engine/precision.h"
#include "engine/rng.h"
#include "gradcheck.h"

using namespace tailor;

namespace {

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// t's values rounded to bf16 numbers (kept as float32)
Tensor round_to_bf16(const Tensor& t) {
  Tensor out = t.clone();
  for (int64_t i = 0; i < out.numel(); ++i) out.f32()[i] = bf16_to_float(float_to_bf16(out.f32()[i]));
  return out;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_vector()) m = std::max(m, (double)std::fabs(v));
  return m;
}

// max |a - b| / max |b|
double rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  REQUIRE(x.size() == y.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, (double)std::fabs(x[i] - y[i]));
  return d / std::max(max_abs(b), 1e-30);
}

struct ConvResult {
  Tensor y, dx, dw;
};

// y = conv2d(x, w); loss = sum(y * c): dy = c
ConvResult run_conv(const Tensor& x0, const Tensor& w0, const Tensor& c0, int stride, int pad, int groups,
                    Precision p, Device d = Device::cpu()) {
  PrecisionScope scope(p);
  Tensor x = x0.to(d), w = w0.to(d), c = c0.to(d);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  Tensor y = to_dtype(conv2d(x, w, stride, pad, groups), DType::F32);  // bf16 under precision bf16
  sum_all(mul(y, c)).backward();
  return {y.detach(), x.grad(), w.grad()};
}

struct Case {
  const char* name;
  int64_t N, H, W, C, K, R;
  int stride, pad, groups;
};

const Case kCases[] = {
    {"3x3", 4, 8, 8, 16, 16, 3, 1, 1, 1},         {"3x3 stride 2", 4, 9, 9, 16, 32, 3, 2, 1, 1},
    {"1x1 stride 2", 3, 8, 8, 32, 64, 1, 2, 0, 1}, {"grouped", 2, 6, 6, 8, 12, 3, 1, 1, 2},
    {"3 channels", 4, 12, 12, 3, 16, 3, 1, 1, 1},
    // ResNet-50's 7x7 stem, a depthwise and a ResNeXt-like 32-group convolution
    {"7x7 stride 2", 2, 16, 16, 3, 64, 7, 2, 3, 1}, {"depthwise", 2, 8, 8, 16, 16, 3, 1, 1, 16},
    {"32 groups", 2, 8, 8, 64, 64, 3, 1, 1, 32},
};

}  // namespace

TEST_CASE("float to bf16 rounds to nearest even") {
  CHECK(float_to_bf16(1.0f) == 0x3f80);
  CHECK(float_to_bf16(-2.0f) == 0xc000);
  CHECK(float_to_bf16(-0.0f) == 0x8000);
  CHECK(float_to_bf16(bits_to_float(0x3f808000)) == 0x3f80);  // 1 + 2^-8: a tie, to the even 1.0
  CHECK(float_to_bf16(bits_to_float(0x3f818000)) == 0x3f82);  // 1 + 3*2^-8: a tie, to the even 1 + 2^-6
  CHECK(float_to_bf16(bits_to_float(0x3f808001)) == 0x3f81);  // just above the tie: up
  CHECK(float_to_bf16(bits_to_float(0x3f807fff)) == 0x3f80);  // just below: down
  CHECK(float_to_bf16(bits_to_float(0x7f7fffff)) == 0x7f80);  // the largest float rounds to +inf
  CHECK(float_to_bf16(INFINITY) == 0x7f80);
  const uint16_t nan = float_to_bf16(std::nanf(""));
  CHECK(std::isnan(bf16_to_float(nan)));
  CHECK(std::isnan(bf16_to_float(float_to_bf16(bits_to_float(0x7f800001)))));  // a NaN whose payload would round to inf
  CHECK(bf16_to_float(0x3f81) == 1.0078125f);

  Rng rng(11);
  Tensor x = test::randn({4099}, rng, 100.f);
  std::vector<uint16_t> out(4099);
  cpu::cast_to_bf16(out.data(), x.f32(), x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) REQUIRE(out[i] == float_to_bf16(x.f32()[i]));
}

TEST_CASE("precision scope restores the previous setting") {
  CHECK(conv_precision() == Precision::F32);
  {
    PrecisionScope a(Precision::BF16);
    CHECK(conv_precision() == Precision::BF16);
    {
      PrecisionScope b(Precision::F32);
      CHECK(conv_precision() == Precision::F32);
    }
    CHECK(conv_precision() == Precision::BF16);
  }
  CHECK(conv_precision() == Precision::F32);
  CHECK(parse_precision("bf16") == Precision::BF16);
  CHECK(std::string(precision_name(Precision::F32)) == "fp32");
  CHECK_THROWS_WITH(parse_precision("fp16"), doctest::Contains("fp16"));
}

TEST_CASE("bf16 convolution of bf16 numbers equals float32") {
  if (!cpu_has_native_bf16()) {
    MESSAGE("skipped: this CPU has no native bf16 (AVX512-BF16 / AMX)");
    return;
  }
  Rng rng(5);
  for (const Case& k : kCases) {
    CAPTURE(k.name);
    Tensor x = round_to_bf16(test::randn({k.N, k.H, k.W, k.C}, rng));
    Tensor w = round_to_bf16(test::randn({k.K, k.C / k.groups, k.R, k.R}, rng, 0.2f));
    const int64_t oh = (k.H + 2 * k.pad - k.R) / k.stride + 1;
    Tensor c = round_to_bf16(test::randn({k.N, oh, oh, k.K}, rng));
    ConvResult f = run_conv(x, w, c, k.stride, k.pad, k.groups, Precision::F32);
    ConvResult b = run_conv(x, w, c, k.stride, k.pad, k.groups, Precision::BF16);
    // y and dx are stored in bf16: float32's value rounded once (at most 2^-8 relative), up to the summation
    // order; dw is float32
    for (const auto& [bt, ft] : {std::pair{b.y, f.y}, std::pair{b.dx, f.dx}}) {
      std::vector<float> vb = bt.to_vector(), vf = ft.to_vector();
      const double tiny = 2e-6 * max_abs(ft);
      for (size_t i = 0; i < vf.size(); ++i)
        CHECK(std::fabs(vb[i] - vf[i]) <= std::ldexp(std::fabs(vf[i]), -8) + tiny);
    }
    CHECK(rel_diff(b.dw, f.dw) <= 2e-6);
  }
}

TEST_CASE("bf16 convolution of arbitrary floats is within 1e-2 of float32") {
  if (!cpu_has_native_bf16()) {
    MESSAGE("skipped: this CPU has no native bf16 (AVX512-BF16 / AMX)");
    return;
  }
  Rng rng(6);
  for (const Case& k : kCases) {
    CAPTURE(k.name);
    Tensor x = test::randn({k.N, k.H, k.W, k.C}, rng);
    Tensor w = test::randn({k.K, k.C / k.groups, k.R, k.R}, rng, 0.2f);
    const int64_t oh = (k.H + 2 * k.pad - k.R) / k.stride + 1;
    Tensor c = test::randn({k.N, oh, oh, k.K}, rng);
    ConvResult f = run_conv(x, w, c, k.stride, k.pad, k.groups, Precision::F32);
    ConvResult b = run_conv(x, w, c, k.stride, k.pad, k.groups, Precision::BF16);
    const double ey = rel_diff(b.y, f.y), edx = rel_diff(b.dx, f.dx), edw = rel_diff(b.dw, f.dw);
    CHECK(ey <= 1e-2);
    CHECK(edx <= 1e-2);
    CHECK(edw <= 1e-2);
    CHECK(ey > 0);  // it did run in bf16
  }
}

TEST_CASE("bf16 convolution saves its input as bf16") {
  if (!cpu_has_native_bf16()) {
    MESSAGE("skipped: this CPU has no native bf16 (AVX512-BF16 / AMX)");
    return;
  }
  Rng rng(7);
  Tensor x = test::randn({2, 4, 4, 8}, rng), w = test::randn({8, 8, 3, 3}, rng);
  x.set_requires_grad(true);
  PrecisionScope scope(Precision::BF16);
  Tensor y = conv2d(x, w, 1, 1);
  REQUIRE(static_cast<bool>(y.grad_fn()));
  auto* node = dynamic_cast<LambdaNode*>(y.grad_fn().get());
  REQUIRE(node);
  CHECK(node->saved[0].dtype() == DType::BF16);
  CHECK(node->saved[0].shape() == x.shape());
}

TEST_CASE("bf16 convolution on CUDA (cuDNN): float32's result up to the bf16 rounding of the operands and outputs") {
  if (!cuda_available()) {
    MESSAGE("skipped: no GPU");
    return;
  }
  const Device gpu = Device::cuda(0);
  Rng rng(8);
  for (const Case& k : kCases) {
    CAPTURE(k.name);
    const int64_t oh = (k.H + 2 * k.pad - k.R) / k.stride + 1;
    // bf16 numbers: exact products, float32 sums; cuDNN then rounds each output to bf16
    Tensor x = round_to_bf16(test::randn({k.N, k.H, k.W, k.C}, rng));
    Tensor w = round_to_bf16(test::randn({k.K, k.C / k.groups, k.R, k.R}, rng, 0.2f));
    Tensor c = round_to_bf16(test::randn({k.N, oh, oh, k.K}, rng));
    ConvResult f = run_conv(x, w, c, k.stride, k.pad, k.groups, Precision::F32);
    ConvResult g = run_conv(x, w, c, k.stride, k.pad, k.groups, Precision::BF16, gpu);
    REQUIRE(g.y.is_cuda());
    const double ey = rel_diff(g.y, f.y), edx = rel_diff(g.dx, f.dx), edw = rel_diff(g.dw, f.dw);
    MESSAGE(k.name << ": bf16 numbers, cuda bf16 vs cpu fp32: y " << ey << ", dx " << edx << ", dw " << edw);
    CHECK(ey <= 4e-3);
    CHECK(edx <= 4e-3);
    CHECK(edw <= 4e-3);
    // arbitrary floats
    Tensor xa = test::randn({k.N, k.H, k.W, k.C}, rng), wa = test::randn({k.K, k.C / k.groups, k.R, k.R}, rng, 0.2f);
    Tensor ca = test::randn({k.N, oh, oh, k.K}, rng);
    ConvResult fa = run_conv(xa, wa, ca, k.stride, k.pad, k.groups, Precision::F32);
    ConvResult ga = run_conv(xa, wa, ca, k.stride, k.pad, k.groups, Precision::BF16, gpu);
    CHECK(rel_diff(ga.y, fa.y) <= 1e-2);
    CHECK(rel_diff(ga.dx, fa.dx) <= 1e-2);
    CHECK(rel_diff(ga.dw, fa.dw) <= 1e-2);
    CHECK(rel_diff(ga.y, fa.y) > 0);
  }
  // the saved input: the CPU's rounding bit for bit (NaN, infinities, ties included)
  Tensor x = test::randn({2, 4, 4, 8}, rng);
  const float specials[] = {NAN, INFINITY, -INFINITY, 0.f, -0.f, bits_to_float(0x3f808000u), bits_to_float(0x3f818000u),
                            3.4e38f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; ++i) x.f32()[i] = specials[i];
  Tensor xg = x.to(gpu);
  xg.set_requires_grad(true);
  PrecisionScope scope(Precision::BF16);
  Tensor y = conv2d(xg, test::randn({8, 8, 3, 3}, rng).to(gpu), 1, 1);
  auto* node = dynamic_cast<LambdaNode*>(y.grad_fn().get());
  REQUIRE(node);
  REQUIRE(node->saved[0].dtype() == DType::BF16);
  const Tensor saved = node->saved[0].cpu();
  for (int64_t i = 0; i < x.numel(); ++i) CHECK(saved.bf16()[i] == float_to_bf16(x.f32()[i]));
}
