// Forward values against naive references, fused-vs-composed equalities and op error messages.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/rng.h"
#include "gradcheck.h"

using namespace tailor;
using namespace tailor::test;

// Direct 7-loop convolution, NHWC x OIHW; grouped: output k reads input channels g*Cg .. g*Cg+Cg-1,
// g = k / (K/groups), through w [K, Cg, R, S].
static std::vector<float> naive_conv(const Tensor& x, const Tensor& w, int stride, int pad, int groups = 1) {
  int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3), K = w.size(0), R = w.size(2), S = w.size(3);
  int64_t Cg = C / groups, Kg = K / groups;
  int64_t OH = (H + 2 * pad - R) / stride + 1, OW = (W + 2 * pad - S) / stride + 1;
  std::vector<float> y(N * OH * OW * K, 0.f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t k = 0; k < K; ++k) {
          double s = 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t q = 0; q < S; ++q) {
                int64_t h = oh * stride - pad + r, ww = ow * stride - pad + q;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                s += (double)x.f32()[((n * H + h) * W + ww) * C + (k / Kg) * Cg + c] *
                     w.f32()[((k * Cg + c) * R + r) * S + q];
              }
          y[((n * OH + oh) * OW + ow) * K + k] = (float)s;
        }
  return y;
}

// Grouped rows (last column): ResNeXt's 32 groups of 4 channels, depthwise (groups = C, also with K = 2C),
// odd group counts, stride 2 and 1x1.
TEST_CASE("conv2d forward equals the naive loop, plain and grouped") {
  Rng rng(1);
  for (auto [H, C, K, R, st, pad, groups] : std::vector<std::array<int, 7>>{
           {5, 3, 4, 3, 1, 1, 1}, {8, 16, 32, 3, 2, 1, 1}, {9, 3, 8, 7, 2, 3, 1}, {6, 8, 4, 1, 2, 0, 1},
           {32, 3, 16, 3, 1, 1, 1}, {8, 128, 128, 3, 1, 1, 32}, {9, 128, 128, 3, 2, 1, 32}, {7, 16, 16, 3, 1, 1, 16},
           {8, 12, 24, 3, 2, 1, 12}, {6, 6, 9, 5, 1, 2, 3}, {5, 8, 4, 1, 2, 0, 2}}) {
    INFO("H=" << H << " C=" << C << " K=" << K << " R=" << R << " stride=" << st << " groups=" << groups);
    Tensor x = randn({2, H, H, C}, rng), w = randn({K, C / groups, R, R}, rng);
    auto ref = naive_conv(x, w, st, pad, groups);
    auto got = conv2d(x, w, st, pad, groups).to_vector();
    REQUIRE(ref.size() == got.size());
    double maxd = 0;
    for (size_t i = 0; i < ref.size(); ++i) maxd = std::max(maxd, (double)std::fabs(ref[i] - got[i]));
    CHECK(maxd < 1e-4);
  }
}

TEST_CASE("fused softmax cross-entropy equals log_softmax + gather + mean") {
  Rng rng(2);
  Tensor logits = randn({6, 7}, rng, 3.f);
  Tensor y = Tensor::from_vector_i32({0, 6, 3, 3, 1, 2}, {6});
  float fused = softmax_cross_entropy(logits, y).item();
  float composed = -mean_all(gather(log_softmax(logits), y)).item();
  CHECK(fused == doctest::Approx(composed).epsilon(1e-6));
  // class-weighted: PyTorch's weighted mean sum w[y] nll / sum w[y]
  Tensor w = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7}, {7});
  auto lp = log_softmax(logits).to_vector();
  double num = 0, den = 0;
  for (int i = 0; i < 6; ++i) {
    int c = y.to_vector_i32()[i];
    num += -(c + 1.0) * lp[i * 7 + c];
    den += c + 1.0;
  }
  CHECK(softmax_cross_entropy(logits, y, w).item() == doctest::Approx(num / den).epsilon(1e-6));
  // known value: uniform logits give log(C)
  CHECK(softmax_cross_entropy(Tensor::zeros({2, 10}), Tensor::from_vector_i32({3, 9}, {2})).item() ==
        doctest::Approx(std::log(10.0)).epsilon(1e-6));
}

TEST_CASE("batch_norm forward matches the definition and updates running stats like PyTorch") {
  Rng rng(3);
  Tensor x = randn({4, 3, 3, 2}, rng);
  Tensor g = Tensor::from_vector({1.5f, 0.5f}, {2}), b = Tensor::from_vector({0.1f, -0.2f}, {2});
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  auto y = batch_norm(x, g, b, rm, rv, true, 0.1f, 1e-5f).to_vector();
  auto xv = x.to_vector();
  for (int c = 0; c < 2; ++c) {
    double m = 0, v = 0;
    int M = 36;
    for (int i = 0; i < M; ++i) m += xv[i * 2 + c];
    m /= M;
    for (int i = 0; i < M; ++i) v += (xv[i * 2 + c] - m) * (xv[i * 2 + c] - m);
    double var = v / M;
    for (int i = 0; i < M; ++i)
      CHECK(y[i * 2 + c] == doctest::Approx((xv[i * 2 + c] - m) / std::sqrt(var + 1e-5) * g.f32()[c] + b.f32()[c])
                                .epsilon(1e-5));
    CHECK(rm.f32()[c] == doctest::Approx(0.1 * m).epsilon(1e-6));
    CHECK(rv.f32()[c] == doctest::Approx(0.9 + 0.1 * v / (M - 1)).epsilon(1e-6));
  }
}

TEST_CASE("pooling and shortcut forward values") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 4, 4, 1});
  CHECK(max_pool2d(x, 2, 2, 0).to_vector() == std::vector<float>{6, 8, 14, 16});
  CHECK(max_pool2d(x, 3, 2, 1).to_vector() == std::vector<float>{6, 8, 14, 16});
  CHECK(global_avg_pool(x).item() == doctest::Approx(8.5));
  auto sc = shortcut_pad(x, 2, 1, 1).to_vector();  // [1,2,2,3]: 0, x, 0 per position
  CHECK(sc == std::vector<float>{0, 1, 0, 0, 3, 0, 0, 9, 0, 0, 11, 0});
}

// argmax's rows: all equal (ties: 0), a tie across lanes of a warp (33 and 65: 33), NaN first then -inf (1), all NaN (0)
static Tensor argmax_edge_rows() {
  const int64_t C = 70;
  std::vector<float> v(4 * C, 0.5f);
  v[1 * C + 33] = v[1 * C + 65] = 2.f;
  for (int64_t j = 0; j < C; ++j) v[2 * C + j] = -INFINITY, v[3 * C + j] = NAN;
  v[2 * C] = NAN;
  return Tensor::from_vector(v, {4, C});
}

TEST_CASE("argmax, top-k and one-hot") {
  Tensor x = Tensor::from_vector({0.1f, 0.9f, 0.5f, 3.f, 2.f, 1.f}, {2, 3});
  CHECK(argmax(x).to_vector_i32() == std::vector<int32_t>{1, 0});
  CHECK(argmax(argmax_edge_rows()).to_vector_i32() == std::vector<int32_t>{0, 33, 1, 0});
  CHECK(topk_indices(x, 2).to_vector_i32() == std::vector<int32_t>{1, 2, 0, 1});
  CHECK(one_hot(Tensor::from_vector_i32({2, 0}, {2}), 3).to_vector() == std::vector<float>{0, 0, 1, 1, 0, 0});
}

TEST_CASE("matmul and linear with an empty inner dimension: zeros (and the bias), empty gradients") {
  Tensor a = Tensor::zeros({3, 0}), b = Tensor::zeros({0, 4}), w = Tensor::zeros({4, 0});
  Tensor bias = Tensor::from_vector({1.f, 2.f, 3.f, 4.f}, {4});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor y = matmul(a, b);
  CHECK(y.shape() == Shape{3, 4});
  CHECK(y.to_vector() == std::vector<float>(12, 0.f));
  sum_all(y).backward();
  CHECK(a.grad().shape() == Shape{3, 0});
  CHECK(b.grad().shape() == Shape{0, 4});
  Tensor z = linear(a.detach(), w, bias);
  CHECK(z.to_vector() == std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4});
}

TEST_CASE("shape errors name the op and both shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  auto msg = [](auto f) {
    try {
      f();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(msg([&] { add(a, b); }) == "add: shapes [2, 3] and [4, 5] cannot be broadcast");
  CHECK(msg([&] { matmul(a, b); }) == "matmul: inner dimensions differ: [2, 3] @ [4, 5]");
  CHECK(msg([&] { add_relu(a, Tensor::zeros({3, 2})); }) == "add_relu: shape mismatch [2, 3] vs [3, 2]");
  std::string conv = msg([&] { conv2d(Tensor::zeros({1, 5, 5, 3}), Tensor::zeros({4, 2, 3, 3}), 1, 1); });
  CHECK(conv.find("conv2d") == 0);
  CHECK(conv.find("[1, 5, 5, 3]") != std::string::npos);
  CHECK(conv.find("[4, 2, 3, 3]") != std::string::npos);
  CHECK(msg([&] { conv2d(Tensor::zeros({1, 5, 5, 6}), Tensor::zeros({8, 3, 3, 3}), 1, 1, 4); }) ==
        "conv2d: groups 4 must divide the input channels and the output channels: input [1, 5, 5, 6] (NHWC), "
        "weight [8, 3, 3, 3]");
  CHECK(msg([&] { conv2d(Tensor::zeros({1, 5, 5, 8}), Tensor::zeros({8, 4, 3, 3}), 1, 1, 4); }) ==
        "conv2d: input [1, 5, 5, 8] has 8 channels (NHWC) but weight [8, 4, 3, 3] expects 16 (groups 4)");
  CHECK(msg([&] { linear(a, Tensor::zeros({4, 5})); }).find("linear: input features 3") == 0);
  CHECK(msg([&] { softmax_cross_entropy(a, Tensor::from_vector_i32({0, 3}, {2})); }) ==
        "softmax_cross_entropy: label 3 at row 1 out of range [0, 3)");
  CHECK(msg([&] { a.reshape({4}); }) == "reshape: shape [2, 3] (6 elements) cannot become [4]");
}

TEST_CASE("eval-mode batch norm with the running stats of one momentum-1 step equals train mode") {
  Rng rng(4);
  Tensor x = add_scalar(randn({50, 4, 5, 3}, rng, 2.f), 0.7f);  // M = 1000 rows per channel
  Tensor g = Tensor::from_vector({1.5f, 0.5f, 1.f}, {3}), b = Tensor::from_vector({0.1f, -0.2f, 0.f}, {3});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  auto train = batch_norm_relu(x, g, b, rm, rv, true, 1.f, 1e-5f).to_vector();
  auto eval = batch_norm_relu(x, g, b, rm, rv, false, 1.f, 1e-5f).to_vector();
  double maxd = 0;
  for (size_t i = 0; i < train.size(); ++i) maxd = std::max(maxd, (double)std::fabs(train[i] - eval[i]));
  CHECK(maxd < 5e-3);  // unbiased (M-1) vs biased (M) variance: xhat * 5e-4, |xhat| up to ~4, gamma 1.5
}

// Naive backward of the 7-loop convolution (grouped as naive_conv): dx and dw for a given dy.
static void naive_conv_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad, int groups,
                                std::vector<double>& dx, std::vector<double>& dw) {
  int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3), K = w.size(0), R = w.size(2), S = w.size(3);
  int64_t Cg = C / groups, Kg = K / groups;
  int64_t OH = dy.size(1), OW = dy.size(2);
  dx.assign(x.numel(), 0.0);
  dw.assign(w.numel(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t k = 0; k < K; ++k) {
          double g = dy.f32()[((n * OH + oh) * OW + ow) * K + k];
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t q = 0; q < S; ++q) {
                int64_t h = oh * stride - pad + r, ww = ow * stride - pad + q;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                int64_t xi = ((n * H + h) * W + ww) * C + (k / Kg) * Cg + c, wi = ((k * Cg + c) * R + r) * S + q;
                dx[xi] += g * w.f32()[wi];
                dw[wi] += g * x.f32()[xi];
              }
        }
}

// Grouped rows (last column): ResNeXt-50's layer1 / layer2 3x3 convs (32 groups) and a depthwise one.
TEST_CASE("conv2d backward equals the naive loops on ResNet- and ResNeXt-sized shapes") {
  Rng rng(5);
  for (auto [N, H, C, K, st, groups] : std::vector<std::array<int, 6>>{
           {4, 32, 16, 16, 1, 1}, {4, 32, 16, 32, 2, 1}, {2, 16, 32, 32, 1, 1}, {4, 8, 64, 64, 1, 1},
           {2, 32, 3, 16, 1, 1}, {2, 16, 128, 128, 1, 32}, {2, 16, 256, 256, 2, 32}, {2, 16, 32, 32, 2, 32}}) {
    INFO("N=" << N << " H=" << H << " C=" << C << " K=" << K << " stride=" << st << " groups=" << groups);
    Tensor x = randn({N, H, H, C}, rng), w = randn({K, C / groups, 3, 3}, rng, 0.1f);
    x.set_requires_grad();
    w.set_requires_grad();
    Tensor y = conv2d(x, w, st, 1, groups);
    Tensor dy = randn(y.shape(), rng);
    sum_all(mul(y, dy)).backward();
    std::vector<double> dx, dw;
    naive_conv_backward(x, w, dy, st, 1, groups, dx, dw);
    auto gx = x.grad().to_vector(), gw = w.grad().to_vector();
    double ex = 0, ew = 0, sx = 0, sw = 0;
    for (size_t i = 0; i < dx.size(); ++i) ex = std::max(ex, std::fabs(gx[i] - dx[i])), sx = std::max(sx, std::fabs(dx[i]));
    for (size_t i = 0; i < dw.size(); ++i) ew = std::max(ew, std::fabs(gw[i] - dw[i])), sw = std::max(sw, std::fabs(dw[i]));
    CHECK(ex <= 1e-5 * sx + 1e-5);
    CHECK(ew <= 1e-5 * sw + 1e-5);
  }
}
