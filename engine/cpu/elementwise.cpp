// Elementwise CPU kernels. Large loops are split across OpenMP threads; the bodies are simple enough
// for the compiler to vectorise (AVX-512 with -march=native).
#include <algorithm>
#include <cmath>

#include "engine/cpu/kernels.h"
#include "engine/precision.h"

namespace tailor::cpu {

static constexpr int64_t kParallelMin = 1 << 15;  // below this, threading costs more than it saves

template <class F>
static void apply_binary(float* out, const float* a, const float* b, int64_t n, F f) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
}

template <class F>
static void binary_with(float* out, const float* a, const float* b, const int64_t* shape, const int64_t* sa,
                        const int64_t* sb, int nd, F f) {
  int64_t n = 1;
  for (int d = 0; d < nd; ++d) n *= shape[d];
  // flat path: both operands contiguous with the output's shape
  bool flat_a = true, flat_b = true;
  int64_t acc = 1;
  for (int d = nd - 1; d >= 0; --d) {
    if (shape[d] != 1 && sa[d] != acc) flat_a = false;
    if (shape[d] != 1 && sb[d] != acc) flat_b = false;
    acc *= shape[d];
  }
  if (flat_a && flat_b) return apply_binary(out, a, b, n, f);
  // row path: last dim contiguous (or broadcast) in both — loop rows, vectorise the inner dim
  int64_t inner = nd ? shape[nd - 1] : 1, rows = inner ? n / inner : 0;
  int64_t ia = nd ? sa[nd - 1] : 0, ib = nd ? sb[nd - 1] : 0;
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t oa = 0, ob = 0, rem = r;
    for (int d = nd - 2; d >= 0; --d) {
      int64_t i = rem % shape[d];
      rem /= shape[d];
      oa += i * sa[d];
      ob += i * sb[d];
    }
    float* o = out + r * inner;
    const float* pa = a + oa;
    const float* pb = b + ob;
    if (ia == 1 && ib == 1)
      for (int64_t j = 0; j < inner; ++j) o[j] = f(pa[j], pb[j]);
    else
      for (int64_t j = 0; j < inner; ++j) o[j] = f(pa[j * ia], pb[j * ib]);
  }
}

void binary(float* out, const float* a, const float* b, BinaryOp op, const int64_t* shape, const int64_t* sa,
            const int64_t* sb, int nd) {
  switch (op) {
    case BinaryOp::Add: return binary_with(out, a, b, shape, sa, sb, nd, [](float x, float y) { return x + y; });
    case BinaryOp::Sub: return binary_with(out, a, b, shape, sa, sb, nd, [](float x, float y) { return x - y; });
    case BinaryOp::Mul: return binary_with(out, a, b, shape, sa, sb, nd, [](float x, float y) { return x * y; });
    case BinaryOp::Div: return binary_with(out, a, b, shape, sa, sb, nd, [](float x, float y) { return x / y; });
    // mask [x > y]: 1 or 0, 0 when either is NaN
    case BinaryOp::Greater:
      return binary_with(out, a, b, shape, sa, sb, nd, [](float x, float y) { return x > y ? 1.f : 0.f; });
  }
}

void unary(float* out, const float* x, UnaryOp op, int64_t n) {
  switch (op) {
    case UnaryOp::Relu:
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
      for (int64_t i = 0; i < n; ++i) out[i] = x[i] > 0.f ? x[i] : 0.f;
      return;
    case UnaryOp::Exp:
#pragma omp parallel for if (n > kParallelMin) schedule(static)
      for (int64_t i = 0; i < n; ++i) out[i] = std::exp(x[i]);
      return;
    case UnaryOp::Log:
#pragma omp parallel for if (n > kParallelMin) schedule(static)
      for (int64_t i = 0; i < n; ++i) out[i] = std::log(x[i]);
      return;
    case UnaryOp::Neg:
      for (int64_t i = 0; i < n; ++i) out[i] = -x[i];
      return;
    case UnaryOp::Sigmoid:
      // stable: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise
      for (int64_t i = 0; i < n; ++i) {
        float v = x[i];
        if (v >= 0) {
          out[i] = 1.f / (1.f + std::exp(-v));
        } else {
          float e = std::exp(v);
          out[i] = e / (1.f + e);
        }
      }
      return;
  }
}

void scale_add(float* out, const float* x, float s, float t, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = s * x[i] + t;
}

void pow_scalar(float* out, const float* x, float p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::pow(x[i], p);
}

void clamp(float* out, const float* x, float lo, float hi, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::min(std::max(x[i], lo), hi);
}

void add_relu(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float v = a[i] + b[i];
    out[i] = v > 0.f ? v : 0.f;
  }
}

void relu_backward(float* din, const float* dout, const float* y, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) din[i] = y[i] > 0.f ? dout[i] : 0.f;
}

void add_relu_bf16(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float v = bf16_to_float(a[i]) + bf16_to_float(b[i]);
    out[i] = float_to_bf16(v > 0.f ? v : 0.f);
  }
}

void relu_backward_bf16(uint16_t* din, const uint16_t* dout, const uint16_t* y, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) din[i] = bf16_to_float(y[i]) > 0.f ? dout[i] : (uint16_t)0;  // dout's bits, or +0
}

void add_bf16(uint16_t* out, const uint16_t* a, const uint16_t* b, int64_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

}  // namespace tailor::cpu

namespace tailor::cpu {

void clamp_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = (x[i] < lo || x[i] > hi) ? 0.f : dy[i];
}

void broadcast_rows(float* out, const float* row, int64_t M, int64_t N) {
  for (int64_t i = 0; i < M; ++i) std::copy(row, row + N, out + i * N);
}

void transpose2d(float* out, const float* x, int64_t M, int64_t N) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) out[j * M + i] = x[i * N + j];
}

void add_i32(int32_t* p, int32_t v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] += v;
}

}  // namespace tailor::cpu
