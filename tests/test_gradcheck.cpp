// Finite-difference gradient checks for every differentiable op, on several shapes including odd
// sizes, stride 2 and padding (tests/gradcheck.h has the criterion).
#include "gradcheck.h"

using namespace tailor;
using namespace tailor::test;
using V = std::vector<Tensor>;

// Grouped rows: ResNeXt-like (2 input channels per group), depthwise-like (groups = C, one channel each,
// also with a channel multiplier K = 2C), with stride 2, padding and 1x1.
TEST_CASE("conv2d gradients: odd sizes, stride 2, padding, 1x1, 7x7, grouped and depthwise") {
  struct C {
    int64_t N, H, W, Cin, K, R;
    int stride, pad, groups;
  };
  for (C c : {C{2, 5, 5, 3, 4, 3, 1, 1, 1}, C{1, 7, 6, 2, 3, 3, 2, 1, 1}, C{2, 4, 4, 5, 3, 1, 1, 0, 1},
              C{1, 6, 6, 2, 2, 1, 2, 0, 1}, C{1, 9, 9, 3, 2, 7, 2, 3, 1}, C{1, 5, 5, 16, 8, 3, 1, 1, 1},
              C{2, 5, 5, 8, 8, 3, 1, 1, 4}, C{1, 7, 6, 6, 9, 3, 2, 1, 3}, C{2, 6, 6, 4, 4, 3, 1, 1, 4},
              C{1, 7, 7, 3, 6, 3, 2, 1, 3}, C{2, 5, 5, 6, 4, 1, 2, 0, 2}, C{1, 6, 5, 16, 16, 3, 2, 0, 8}}) {
    INFO("N=" << c.N << " H=" << c.H << " C=" << c.Cin << " K=" << c.K << " R=" << c.R << " stride=" << c.stride
              << " pad=" << c.pad << " groups=" << c.groups);
    Rng rng(1);
    CHECK_GRAD(gradcheck([&](const V& v) { return conv2d(v[0], v[1], c.stride, c.pad, c.groups); },
                         {randn({c.N, c.H, c.W, c.Cin}, rng), randn({c.K, c.Cin / c.groups, c.R, c.R}, rng, 0.5f)}));
  }
}

TEST_CASE("batch_norm gradients, training and eval") {
  for (Shape s : {Shape{2, 3, 3, 4}, Shape{3, 5}, Shape{1, 5, 3, 16}}) {
    CAPTURE(shape_str(s));
    Rng rng(2);
    int64_t C = s.back();
    Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
    for (bool training : {true, false}) {
      CAPTURE(training);
      CHECK_GRAD(gradcheck(
          [&](const V& v) { return batch_norm(v[0], v[1], v[2], rm.clone(), rv.clone(), training, 0.1f, 1e-5f); },
          {randn(s, rng), add_scalar(randn({C}, rng, 0.3f), 1.f), randn({C}, rng)}));
      CHECK_GRAD(gradcheck(
          [&](const V& v) { return batch_norm_relu(v[0], v[1], v[2], rm.clone(), rv.clone(), training, 0.1f, 1e-5f); },
          {randn(s, rng), add_scalar(randn({C}, rng, 0.3f), 1.f), randn({C}, rng)}));
    }
  }
}

TEST_CASE("relu, add_relu, shortcut_pad, pooling gradients") {
  Rng rng(3);
  CHECK_GRAD(gradcheck([](const V& v) { return relu(v[0]); }, {rand_away_from_zero({2, 3, 5}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return add_relu(v[0], v[1]); },
                       {rand_away_from_zero({2, 3, 3, 2}, rng), scale(rand_away_from_zero({2, 3, 3, 2}, rng), 0.01f)}));
  CHECK_GRAD(gradcheck([](const V& v) { return shortcut_pad(v[0], 2, 2, 2); }, {randn({2, 5, 4, 4}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return shortcut_pad(v[0], 1, 1, 3); }, {randn({1, 3, 3, 2}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return global_avg_pool(v[0]); }, {randn({2, 3, 5, 4}, rng)}));
  for (auto [H, k, s, p] : std::vector<std::array<int, 4>>{{7, 3, 2, 1}, {6, 2, 2, 0}, {5, 3, 1, 1}}) {
    // distinct, well-separated values so no window has a tie within +-eps
    Tensor x = Tensor::empty({2, H, H, 3});
    std::vector<int64_t> perm(x.numel());
    for (int64_t i = 0; i < x.numel(); ++i) perm[i] = i;
    for (int64_t i = x.numel() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = 0.01f * (float)perm[i];
    CHECK_GRAD(gradcheck([=](const V& v) { return max_pool2d(v[0], k, s, p); }, {x}));
  }
}

TEST_CASE("elementwise gradients with broadcasting") {
  Rng rng(4);
  CHECK_GRAD(gradcheck([](const V& v) { return add(v[0], v[1]); }, {randn({3, 4}, rng), randn({4}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return sub(v[0], v[1]); }, {randn({3, 1}, rng), randn({1, 5}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return mul(v[0], v[1]); }, {randn({2, 3, 4}, rng), randn({3, 1}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return div(v[0], v[1]); },
                       {randn({3, 4}, rng), add_scalar(pow(randn({3, 4}, rng), 2.f), 0.5f)}));
  CHECK_GRAD(gradcheck([](const V& v) { return scale(v[0], -2.5f); }, {randn({5}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return add_scalar(v[0], 3.f); }, {randn({5}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return exp(v[0]); }, {randn({2, 3}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return log(v[0]); }, {add_scalar(pow(randn({2, 3}, rng), 2.f), 0.5f)}));
  CHECK_GRAD(gradcheck([](const V& v) { return pow(v[0], 1.7f); }, {add_scalar(pow(randn({7}, rng), 2.f), 0.5f)}));
  CHECK_GRAD(gradcheck([](const V& v) { return pow(v[0], 2.f); }, {randn({7}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return sigmoid(v[0]); }, {scale(randn({9}, rng), 3.f)}));
  CHECK_GRAD(gradcheck([](const V& v) { return neg(v[0]); }, {randn({4}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return clamp(v[0], -0.5f, 0.5f); }, {rand_away_from_zero({9}, rng)}));
}

TEST_CASE("reduction gradients") {
  Rng rng(5);
  for (int64_t d : {0, 1, 2, -1}) {
    CAPTURE(d);
    CHECK_GRAD(gradcheck([d](const V& v) { return sum(v[0], d); }, {randn({2, 3, 4}, rng)}));
    CHECK_GRAD(gradcheck([d](const V& v) { return mean(v[0], d, true); }, {randn({2, 3, 4}, rng)}));
  }
  CHECK_GRAD(gradcheck([](const V& v) { return sum_all(v[0]); }, {randn({3, 5}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return mean_all(v[0]); }, {randn({3, 5}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return sum_to(v[0], {1, 4}); }, {randn({3, 4}, rng)}));
}

TEST_CASE("linear algebra gradients") {
  Rng rng(6);
  CHECK_GRAD(gradcheck([](const V& v) { return matmul(v[0], v[1]); }, {randn({3, 5}, rng), randn({5, 2}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return linear(v[0], v[1], v[2]); },
                       {randn({4, 5}, rng), randn({3, 5}, rng), randn({3}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return linear(v[0], v[1]); }, {randn({1, 7}, rng), randn({2, 7}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return transpose2d(v[0]); }, {randn({3, 4}, rng)}));
}

TEST_CASE("softmax family and gather gradients") {
  Rng rng(7);
  Tensor labels = Tensor::from_vector_i32({2, 0, 4, 1}, {4});
  Tensor w = Tensor::from_vector({0.5f, 2.f, 1.f, 3.f, 0.25f}, {5});
  CHECK_GRAD(gradcheck([](const V& v) { return log_softmax(v[0]); }, {randn({4, 5}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return softmax(v[0]); }, {randn({4, 5}, rng)}));
  for (const char* red : {"mean", "sum", "none"}) {
    INFO("reduction " << red);
    CHECK_GRAD(gradcheck([&](const V& v) { return softmax_cross_entropy(v[0], labels, Tensor(), red); },
                         {randn({4, 5}, rng)}));
    CHECK_GRAD(gradcheck([&](const V& v) { return softmax_cross_entropy(v[0], labels, w, red); },
                         {randn({4, 5}, rng)}));
  }
  CHECK_GRAD(gradcheck([&](const V& v) { return gather(v[0], labels); }, {randn({4, 5}, rng)}));
}

TEST_CASE("l2_normalize gradients over either dim") {
  Rng rng(8);
  CHECK_GRAD(gradcheck([](const V& v) { return l2_normalize(v[0], 1); }, {randn({3, 4}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return l2_normalize(v[0], 0); }, {randn({5, 3}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return matmul(l2_normalize(v[0], 1), l2_normalize(v[1], 0)); },
                       {randn({2, 6}, rng), randn({6, 3}, rng)}));
  // rows with ||x|| <= eps are x / eps (F.normalize's max(||x||, eps)): eps 1, two rows of norm ~0.2, two of ~2
  Tensor x = randn({4, 5}, rng);
  for (int64_t i = 0; i < 10; ++i) x.f32()[i] *= 0.1f;
  CHECK_GRAD(gradcheck([](const V& v) { return l2_normalize(v[0], 1, 1.f); }, {x}));
}

TEST_CASE("view gradients: reshape, flatten, slice, select") {
  Rng rng(9);
  CHECK_GRAD(gradcheck([](const V& v) { return mul(v[0].reshape({6, 2}), v[0].reshape({6, 2})); },
                       {randn({3, 4}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return v[0].flatten(1); }, {randn({2, 3, 2}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return scale(v[0].slice(1, 3), 2.f); }, {randn({4, 3}, rng)}));
  CHECK_GRAD(gradcheck([](const V& v) { return exp(v[0].select(2)); }, {randn({3, 2}, rng)}));
}

TEST_CASE("the checker catches a wrong backward") {
  // scale() with a deliberately wrong gradient must fail the check
  Rng rng(10);
  auto wrong = [](const V& v) {
    Tensor out = scale(v[0].detach(), 2.f);
    if (should_record({&v[0]})) {
      auto n = std::make_shared<LambdaNode>();
      n->inputs = {v[0]};
      n->fn = [](LambdaNode&, const Tensor& g) { return std::vector<Tensor>{scale(g, 2.1f)}; };
      record(out, n);
    }
    return out;
  };
  CHECK_FALSE(gradcheck(wrong, {randn({4}, rng)}).ok);
}
