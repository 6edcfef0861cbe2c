// Tensor storage, views and the autograd machinery.
#include <doctest/doctest.h>

#include "engine/ops.h"

using namespace tailor;

TEST_CASE("views share storage; contiguous copies only when needed") {
  Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor r = t.reshape({3, 2});
  CHECK(r.same_storage(t));
  r.f32()[0] = 42;
  CHECK(t.f32()[0] == 42);
  Tensor s = t.slice(1, 2);
  CHECK(s.shape() == Shape{1, 3});
  CHECK(s.f32()[0] == 3);
  CHECK(s.same_storage(t));
  CHECK(t.contiguous().same_storage(t));
  CHECK(t.flatten(0).shape() == Shape{6});
  CHECK(t.clone().same_storage(t) == false);
  CHECK(t.detach().same_storage(t));
}

TEST_CASE("gradients accumulate across uses and across backward calls") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3});
  x.set_requires_grad();
  Tensor y = sum_all(add(mul(x, x), x));  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{3, 5, 7});
  sum_all(x).backward();  // accumulates
  CHECK(x.grad().to_vector() == std::vector<float>{4, 6, 8});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("no-grad guard and detach stop recording") {
  Tensor x = Tensor::from_vector({1, 2}, {2});
  x.set_requires_grad();
  {
    NoGradGuard ng;
    Tensor y = mul(x, x);
    CHECK_FALSE(y.requires_grad());
    CHECK(!y.grad_fn());
  }
  CHECK(GradMode::enabled());
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(!mul(d, d).grad_fn());
}

TEST_CASE("saved tensors are freed after backward") {
  Tensor x = Tensor::from_vector({1, 2, 3}, {3});
  x.set_requires_grad();
  Tensor h = exp(x);  // saves its output
  Tensor loss = sum_all(h);
  auto node = h.grad_fn();
  CHECK(node->saved.size() == 1);
  loss.backward();
  CHECK(node->saved.empty());
  CHECK(node->inputs.empty());
}

TEST_CASE("undefined and wrong-dtype tensors give clear errors") {
  Tensor u;
  CHECK_THROWS_WITH(u.shape(), "use of an undefined tensor");
  Tensor i = Tensor::from_vector_i32({1}, {1});
  CHECK_THROWS_WITH(relu(i), "relu: x must be f32, got i32[1] cpu");
  CHECK_THROWS_WITH(Tensor::from_vector({1, 2}, {3}), "Tensor::from_vector: 2 values for shape [3]");
}
