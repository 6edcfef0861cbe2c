// bfloat16 activations between the ops (precision bf16, docs/precision.md), on the CPU:
// - every bf16 kernel (batch norm statistics / apply / backward, add_relu, relu backward, max pool, global average
//   pool, the option-A shortcut) equals its float32 twin run on the widened values, with its bf16 output rounded
//   to nearest even once: bit for bit (the same arithmetic in the same order);
// - the ops: a bf16 activation keeps its type through batch norm (+ReLU), max pool, the shortcut and add_relu,
//   global average pool returns float32; the gradient of a bf16 activation is bf16 and equals the float32 op's
//   on the widened input and gradient, rounded once (dgamma, dbeta float32 and bit for bit); backward sums two
//   bf16 gradients of one tensor in float32 and rounds once; to_dtype rounds / widens, and casts the gradient
//   back; a backward that returns a gradient of the wrong type is an error naming the op;
// - ResNet-32 under precision bf16: the convolutions write bf16, the features and logits are float32, the
//   saved activations take about half the memory of float32's, the loss and gradients stay within bf16's
//   tolerance of float32. Skipped where oneDNN has no native bf16 (the convolutions).
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
#include "layers/resnet.h"

using namespace tailor;

namespace {

// n random bf16 numbers (normal, scaled), with zeros and exact ties sprinkled in
std::vector<uint16_t> random_bf16(int64_t n, Rng& rng, float scale = 1.f) {
  Tensor t = test::randn({n}, rng, scale);
  std::vector<uint16_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = float_to_bf16(t.f32()[i]);
  for (int64_t i = 0; i < n; i += 37) v[i] = 0;
  for (int64_t i = 5; i + 1 < n; i += 53) v[i + 1] = v[i];  // equal neighbours (max pool ties)
  return v;
}
std::vector<float> widen_all(const std::vector<uint16_t>& v) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = bf16_to_float(v[i]);
  return r;
}
std::vector<uint16_t> round_all(const std::vector<float>& v) {
  std::vector<uint16_t> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = float_to_bf16(v[i]);
  return r;
}
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

Tensor bf16_tensor(const std::vector<uint16_t>& v, const Shape& s) {
  Tensor t = Tensor::empty(s, DType::BF16);
  std::memcpy(t.bf16(), v.data(), v.size() * 2);
  return t;
}

struct BnShape {
  int64_t M, C;
};
const BnShape kBnShapes[] = {{128 * 8 * 8, 64}, {2 * 32 * 32, 16}, {1000, 24}, {3, 5}};

}  // namespace

TEST_CASE("bf16 activation kernels equal their float32 twins on the widened values, rounded once") {
  Rng rng(11);
  for (const BnShape& sh : kBnShapes) {
    CAPTURE(sh.M);
    const int64_t M = sh.M, C = sh.C, n = M * C;
    std::vector<uint16_t> xb = random_bf16(n, rng, 2.f);
    std::vector<float> xf = widen_all(xb);
    std::vector<float> gamma = test::randn({C}, rng).to_vector(), beta = test::randn({C}, rng).to_vector();
    std::vector<uint16_t> dyb = random_bf16(n, rng);  // bf16 activations have bf16 gradients
    std::vector<float> dy = widen_all(dyb);
    // statistics
    std::vector<float> m1(C), i1(C), v1(C), m2(C), i2(C), v2(C);
    cpu::batch_norm_stats(m1.data(), i1.data(), v1.data(), xf.data(), M, C, 1e-5f);
    cpu::batch_norm_stats_bf16(m2.data(), i2.data(), v2.data(), xb.data(), M, C, 1e-5f);
    CHECK(same_bits(m1, m2));
    CHECK(same_bits(i1, i2));
    CHECK(same_bits(v1, v2));
    for (bool relu : {false, true}) {
      CAPTURE(relu);
      std::vector<float> yf(n);
      std::vector<uint16_t> yb(n);
      cpu::batch_norm_apply(yf.data(), xf.data(), m1.data(), i1.data(), gamma.data(), beta.data(), M, C, relu);
      cpu::batch_norm_apply_bf16(yb.data(), xb.data(), m1.data(), i1.data(), gamma.data(), beta.data(), M, C, relu);
      CHECK(yb == round_all(yf));
      // backward: the mask from the stored (bf16) output, widened for the twin
      std::vector<float> ywide = widen_all(yb);
      for (bool training : {true, false}) {
        std::vector<float> dx1(n), dg1(C), db1(C), dg2(C), db2(C);
        std::vector<uint16_t> dx2(n);
        cpu::batch_norm_backward(dx1.data(), dg1.data(), db1.data(), dy.data(), xf.data(), m1.data(), i1.data(),
                                 gamma.data(), relu ? ywide.data() : nullptr, M, C, training);
        cpu::batch_norm_backward_bf16(dx2.data(), dg2.data(), db2.data(), dyb.data(), xb.data(), m1.data(), i1.data(),
                                      gamma.data(), relu ? yb.data() : nullptr, M, C, training);
        CHECK(dx2 == round_all(dx1));
        CHECK(same_bits(dg1, dg2));
        CHECK(same_bits(db1, db2));
      }
    }
    // add_relu and its backward
    std::vector<uint16_t> bb = random_bf16(n, rng);
    std::vector<float> bf = widen_all(bb), sf(n), din1(n), sum1(n);
    std::vector<uint16_t> sb(n), din2(n), sum2(n);
    cpu::add_relu(sf.data(), xf.data(), bf.data(), n);
    cpu::add_relu_bf16(sb.data(), xb.data(), bb.data(), n);
    CHECK(sb == round_all(sf));
    std::vector<float> swide = widen_all(sb);
    cpu::relu_backward(din1.data(), dy.data(), swide.data(), n);
    cpu::relu_backward_bf16(din2.data(), dyb.data(), sb.data(), n);
    CHECK(din2 == round_all(din1));
    // backward's sum of two bf16 gradients: float32 addition of the widened values, rounded once
    for (int64_t i = 0; i < n; ++i) sum1[i] = xf[i] + bf[i];
    cpu::add_bf16(sum2.data(), xb.data(), bb.data(), n);
    CHECK(sum2 == round_all(sum1));
  }
  // pooling and the shortcut on image shapes
  struct Img {
    int64_t N, H, W, C;
  };
  for (Img im : {Img{4, 16, 16, 8}, Img{2, 15, 13, 3}, Img{8, 8, 8, 64}}) {
    CAPTURE(im.H);
    const int64_t n = im.N * im.H * im.W * im.C;
    std::vector<uint16_t> xb = random_bf16(n, rng);
    std::vector<float> xf = widen_all(xb);
    const int k = 3, stride = 2, pad = 1;
    const int64_t OH = (im.H + 2 * pad - k) / stride + 1, OW = (im.W + 2 * pad - k) / stride + 1;
    const int64_t on = im.N * OH * OW * im.C;
    std::vector<float> yf(on);
    std::vector<uint16_t> yb(on);
    std::vector<int32_t> a1(on), a2(on);
    cpu::max_pool2d(yf.data(), a1.data(), xf.data(), im.N, im.H, im.W, im.C, k, stride, pad, OH, OW);
    cpu::max_pool2d_bf16(yb.data(), a2.data(), xb.data(), im.N, im.H, im.W, im.C, k, stride, pad, OH, OW);
    CHECK(yb == round_all(yf));  // the maximum's own bits (exact: a widened bf16 rounds back to itself)
    CHECK(a1 == a2);
    std::vector<float> gf(im.N * im.C), gb(im.N * im.C);
    cpu::global_avg_pool(gf.data(), xf.data(), im.N, im.H * im.W, im.C);
    cpu::global_avg_pool_bf16(gb.data(), xb.data(), im.N, im.H * im.W, im.C);
    CHECK(same_bits(gf, gb));
    const int64_t SH = (im.H + 1) / 2, SW = (im.W + 1) / 2, sn = im.N * SH * SW * (im.C + 4);
    std::vector<float> pf(sn);
    std::vector<uint16_t> pb(sn);
    cpu::shortcut_pad(pf.data(), xf.data(), im.N, im.H, im.W, im.C, 2, 2, 2);
    cpu::shortcut_pad_bf16(pb.data(), xb.data(), im.N, im.H, im.W, im.C, 2, 2, 2);
    CHECK(pb == round_all(pf));
    // the backwards: the shortcut's copies bits; global average pooling's dx = bf16(dy / HW)
    std::vector<float> sdf(n);
    std::vector<uint16_t> sdb(n);
    cpu::shortcut_pad_backward(sdf.data(), widen_all(pb).data(), im.N, im.H, im.W, im.C, 2, 2, 2);
    cpu::shortcut_pad_backward_bf16(sdb.data(), pb.data(), im.N, im.H, im.W, im.C, 2, 2, 2);
    CHECK(sdb == round_all(sdf));
    std::vector<float> gdf(n);
    std::vector<uint16_t> gdb(n);
    cpu::global_avg_pool_backward(gdf.data(), gf.data(), im.N, im.H * im.W, im.C);
    cpu::global_avg_pool_backward_bf16(gdb.data(), gf.data(), im.N, im.H * im.W, im.C);
    CHECK(gdb == round_all(gdf));
  }
  // the casts: widening is exact, rounding is float_to_bf16's
  std::vector<uint16_t> xb = random_bf16(1000, rng);
  std::vector<float> w(1000);
  cpu::bf16_to_f32(w.data(), xb.data(), 1000);
  CHECK(same_bits(w, widen_all(xb)));
}

// float32 values rounded to bf16 and widened back (what a bf16 gradient carries)
static std::vector<float> through_bf16(const Tensor& t) {
  return to_dtype(to_dtype(t, DType::BF16), DType::F32).to_vector();
}

TEST_CASE("ops on bf16 activations: the float32 op's values on the widened input; bf16 gradients rounded once") {
  Rng rng(12);
  const Shape s{4, 6, 6, 8};
  const int64_t n = 4 * 6 * 6 * 8;
  Tensor xb = bf16_tensor(random_bf16(n, rng, 1.5f), s);
  Tensor xf = to_dtype(xb, DType::F32);
  CHECK(xf.dtype() == DType::F32);
  CHECK(to_dtype(xf, DType::BF16).to_vector() == xb.to_vector());  // round trip exact
  Tensor gamma = test::randn({8}, rng), beta = test::randn({8}, rng);
  Tensor dyb = bf16_tensor(random_bf16(n, rng), s), dy = to_dtype(dyb, DType::F32);  // bf16 numbers

  for (bool relu : {false, true}) {
    for (bool training : {true, false}) {
      CAPTURE(relu);
      CAPTURE(training);
      auto run = [&](const Tensor& x0) {  // the leaf is float32 (bf16 numbers), x0's type through to_dtype
        Tensor leaf = to_dtype(x0, DType::F32).clone(), g = gamma.clone(), b = beta.clone();
        leaf.set_requires_grad(true);
        Tensor x = to_dtype(leaf, x0.dtype());
        g.set_requires_grad(true);
        b.set_requires_grad(true);
        Tensor rm = Tensor::zeros({8}), rv = Tensor::ones({8});
        auto bn = relu ? batch_norm_relu : batch_norm;
        Tensor y = bn(x, g, b, rm, rv, training, 0.1f, 1e-5f);
        y.backward(x0.dtype() == DType::BF16 ? dyb : dy);
        return std::vector<Tensor>{y.detach(), leaf.grad(), g.grad(), b.grad(), rm, rv};
      };
      std::vector<Tensor> f = run(xf), h = run(xb);
      CHECK(h[0].dtype() == DType::BF16);
      CHECK(to_dtype(f[0], DType::BF16).to_vector() == h[0].to_vector());
      CHECK(h[1].dtype() == DType::F32);  // (the leaf's: the bf16 dx widened by to_dtype's backward)
      CHECK(same_bits(h[1].to_vector(), through_bf16(f[1])));
      for (int i = 2; i < 6; ++i) {
        CHECK(h[i].dtype() == DType::F32);
        CHECK(same_bits(h[i].to_vector(), f[i].to_vector()));
      }
    }
  }
  // add_relu, max_pool2d, shortcut_pad, global_avg_pool
  Tensor ob = bf16_tensor(random_bf16(n, rng), s);
  Tensor of = to_dtype(ob, DType::F32);
  auto grads = [&](const Tensor& a0, const Tensor& b0, int which) {
    Tensor la = to_dtype(a0, DType::F32).clone(), lb = to_dtype(b0, DType::F32).clone();
    la.set_requires_grad(true);
    lb.set_requires_grad(true);
    Tensor a = to_dtype(la, a0.dtype()), b = to_dtype(lb, b0.dtype());
    Tensor y;
    if (which == 0) y = add_relu(a, b);
    if (which == 1) y = max_pool2d(a, 3, 2, 1);
    if (which == 2) y = shortcut_pad(a, 2, 4, 4);
    if (which == 3) y = global_avg_pool(a);
    Rng r(100 + which);  // weights that are bf16 numbers: y's gradient is exact in bf16
    Tensor wts = to_dtype(to_dtype(test::randn(y.shape(), r), DType::BF16), DType::F32);
    sum_all(mul(to_dtype(y, DType::F32), wts)).backward();
    return std::vector<Tensor>{y.detach(), la.grad(), which == 0 ? lb.grad() : la.grad()};
  };
  for (int which = 0; which < 4; ++which) {
    CAPTURE(which);
    std::vector<Tensor> f = grads(xf, of, which), h = grads(xb, ob, which);
    CHECK(h[0].dtype() == (which == 3 ? DType::F32 : DType::BF16));
    const Tensor expect = which == 3 ? f[0] : to_dtype(f[0], DType::BF16);  // avg pool: float32 out, unrounded
    CHECK(same_bits(h[0].to_vector(), expect.to_vector()));
    CHECK(h[1].dtype() == DType::F32);
    CHECK(same_bits(h[1].to_vector(), through_bf16(f[1])));
    CHECK(same_bits(h[2].to_vector(), through_bf16(f[2])));
  }
  // the gradient of a bf16 activation is bf16, and two of them are summed in float32 and rounded once
  {
    auto x_grad = [&](bool through_join) {  // x's gradient in relu(bn(x) + x), or its batch-norm part alone
      Tensor leaf = xf.clone();
      leaf.set_requires_grad(true);
      Tensor x = to_dtype(leaf, DType::BF16);
      Tensor a = batch_norm(x, gamma, beta, Tensor::zeros({8}), Tensor::ones({8}), true, 0.1f, 1e-5f);
      Tensor y = add_relu(a, through_join ? x : x.detach());
      y.backward(dyb);
      return std::vector<Tensor>{leaf.grad(), y.detach()};
    };
    std::vector<Tensor> both = x_grad(true), bn_only = x_grad(false);
    std::vector<float> bn_part = bn_only[0].to_vector(), dyv = dy.to_vector(), yv = both[1].to_vector();
    std::vector<float> expect(dyv.size());
    for (size_t i = 0; i < expect.size(); ++i)  // + the join's part: dy where y > 0
      expect[i] = bf16_to_float(float_to_bf16(bn_part[i] + (yv[i] > 0.f ? dyv[i] : 0.f)));
    CHECK(same_bits(both[0].to_vector(), expect));
    Tensor sum = add(dyb, xb);
    CHECK(sum.dtype() == DType::BF16);
    CHECK(sum.to_vector() == through_bf16(add(dy, xf)));
  }
  // a backward seeded with a gradient of another type than its tensor's is refused
  {
    Tensor leaf = xf.clone();
    leaf.set_requires_grad(true);
    Tensor y = add_relu(to_dtype(leaf, DType::BF16), xb);
    CHECK_THROWS_WITH_AS(y.backward(dy), doctest::Contains("backward: grad_output is f32 but the tensor is bf16"),
                         std::exception);
  }
  // a backward that returns a gradient of another type than its input's is refused, naming the op
  {
    Tensor leaf = xf.clone();
    leaf.set_requires_grad(true);
    Tensor out = leaf.clone().detach();
    auto node = std::make_shared<LambdaNode>();
    node->name = "wrong_type";
    node->inputs = {leaf};
    node->fn = [](LambdaNode&, const Tensor& g) { return std::vector<Tensor>{to_dtype(g, DType::BF16)}; };
    record(out, node);
    CHECK_THROWS_WITH_AS(out.backward(dy), doctest::Contains("backward of 'wrong_type': gradient type bf16"),
                         std::exception);
  }
  // debug.anomaly sees a bf16 activation overflow, naming the op (3e38 + 3e38 is +inf in float and bf16)
  {
    Tensor big = Tensor::full({4}, 3e38f);
    big.set_requires_grad(true);
    Tensor hb = to_dtype(big, DType::BF16);
    set_anomaly_detection(true);
    CHECK_THROWS_WITH_AS(add_relu(hb, hb), doctest::Contains("forward of 'add_relu'"), std::exception);
    set_anomaly_detection(false);
  }
  // mixing float32 and bf16 in add_relu is an error naming both
  CHECK_THROWS_WITH_AS(add_relu(xb, of), doctest::Contains("add_relu: a is bf16 but b is f32"), std::exception);
  // a bf16 input to a convolution outside precision bf16 is refused
  CHECK_THROWS_WITH_AS(conv2d(xb, test::randn({8, 8, 3, 3}, rng), 1, 1),
                       doctest::Contains("bfloat16 input outside precision bf16"), std::exception);
}

// One training step of `arch` in fp32 and in bf16 (and fp32 with bf16-rounded inputs, the yardstick).
static void check_resnet_bf16(const std::string& arch, int64_t batch, int64_t size) {
  if (!cpu_has_native_bf16()) {
    MESSAGE("skipped: this CPU has no native bf16 (AVX512-BF16 / AMX)");
    return;
  }
  CAPTURE(arch);
  Rng init(3);
  auto net = make_resnet(arch, 10, 3, HeadKind::Linear, init);
  net->train();
  Rng rng(4);
  Tensor x = test::randn({batch, size, size, 3}, rng);
  Tensor y = Tensor::empty({batch}, DType::I32);
  for (int i = 0; i < batch; ++i) y.i32()[i] = i % 10;

  struct Out {
    float loss;
    std::vector<std::vector<float>> grads;
    size_t saved_bytes;
    DType logits, features, map;
  };
  auto step = [&](Precision p) {
    PrecisionScope scope(p);
    auto params = net->parameters();
    net->zero_grad();
    const size_t before = cpu_memory_stats().allocated;
    Tensor logits = net->forward(x);
    const size_t after = cpu_memory_stats().allocated;  // the graph's saved tensors and the logits
    Tensor loss = softmax_cross_entropy(logits, y);
    loss.backward();
    Out o{loss.item(), {}, after - before, logits.dtype(), DType::F32, DType::F32};
    for (auto& t : params) o.grads.push_back(t.grad().to_vector());
    NoGradGuard ng;
    o.features = net->features(x).dtype();
    o.map = net->feature_map(x).dtype();
    return o;
  };
  Out f = step(Precision::F32), b = step(Precision::BF16);
  // The yardstick: float32 with only the input images rounded to bf16. At initialisation a 31-layer ResNet's
  // gradients are sensitive: that alone moves conv1's weight gradient by ~10% (L2). bf16 activations round
  // every layer's output the same way, so each tensor's gradient may move a few times as much, not more.
  x = to_dtype(to_dtype(x, DType::BF16), DType::F32);
  Out r = step(Precision::F32);
  CHECK(b.logits == DType::F32);
  CHECK(b.features == DType::F32);
  CHECK(b.map == DType::F32);
  MESSAGE("saved by forward: fp32 " << f.saved_bytes / 1024 << " KiB, bf16 " << b.saved_bytes / 1024
                                    << " KiB; loss fp32 " << f.loss << ", bf16 " << b.loss);
  CHECK(b.saved_bytes < 0.6 * f.saved_bytes);
  CHECK(std::fabs(b.loss - f.loss) <= 1e-2 * std::fabs(f.loss));
  auto rel_l2 = [](const std::vector<float>& a, const std::vector<float>& ref) {
    double d = 0, n = 0;
    for (size_t j = 0; j < ref.size(); ++j) {
      d += ((double)a[j] - ref[j]) * ((double)a[j] - ref[j]);
      n += (double)ref[j] * ref[j];
    }
    return std::sqrt(d / std::max(n, 1e-60));
  };
  double worst_ratio = 0, worst_bf16 = 0;
  for (size_t i = 0; i < f.grads.size(); ++i) {
    const double eb = rel_l2(b.grads[i], f.grads[i]), er = rel_l2(r.grads[i], f.grads[i]);
    worst_bf16 = std::max(worst_bf16, eb);
    worst_ratio = std::max(worst_ratio, eb / std::max(er, 1e-3));
    if (getenv("SHOW")) MESSAGE(i << ": bf16 " << eb << ", input rounded " << er);
  }
  MESSAGE("gradients vs fp32 (relative L2 per tensor): bf16 activations at most " << worst_bf16
          << ", at most " << worst_ratio << "x the input-rounding yardstick");
  CHECK(worst_ratio < 8);
  CHECK(worst_bf16 > 0);
}

TEST_CASE("ResNet-32 under precision bf16: bf16 activations, float32 features and logits, half the saved memory") {
  check_resnet_bf16("resnet32", 32, 32);
}

TEST_CASE("ResNet-50 (bottlenecks, max pool, downsampling convolutions) under precision bf16: the same checks") {
  check_resnet_bf16("resnet50", 8, 64);
}
