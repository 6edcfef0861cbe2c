// Elementwise CUDA kernels (twins of engine/cpu/elementwise.cpp): grid-stride loops, one thread per
// element. Broadcasting binaries index the operands through their (0 on broadcast dims) strides.
#include "engine/cuda/elementwise.cuh"
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

constexpr int kMaxDims = 8;
struct Strides {
  int64_t shape[kMaxDims], sa[kMaxDims], sb[kMaxDims];
  int nd;
};

__device__ __forceinline__ float apply(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Greater: return x > y ? 1.f : 0.f;  // mask [x > y], 0 when either is NaN
    default: return x / y;
  }
}

__global__ void binary_flat_k(float* out, const float* a, const float* b, BinaryOp op, int64_t n) {
  GRID_LOOP(i, n) out[i] = apply(op, a[i], b[i]);
}

__global__ void binary_strided_k(float* out, const float* a, const float* b, BinaryOp op, Strides st, int64_t n) {
  GRID_LOOP(i, n) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = st.nd - 1; d >= 0; --d) {
      int64_t k = rem % st.shape[d];
      rem /= st.shape[d];
      oa += k * st.sa[d];
      ob += k * st.sb[d];
    }
    out[i] = apply(op, a[oa], b[ob]);
  }
}

void binary(float* out, const float* a, const float* b, BinaryOp op, const int64_t* shape, const int64_t* sa,
            const int64_t* sb, int nd) {
  int64_t n = 1;
  for (int d = 0; d < nd; ++d) n *= shape[d];
  bool flat = true;
  int64_t acc = 1;
  for (int d = nd - 1; d >= 0; --d) {
    if (shape[d] != 1 && (sa[d] != acc || sb[d] != acc)) flat = false;
    acc *= shape[d];
  }
  if (flat) {
    LAUNCH(binary_flat_k, n, out, a, b, op, n);
    return;
  }
  TAILOR_CHECK(nd <= kMaxDims, "cuda binary: at most ", kMaxDims, " dims, got ", nd);
  Strides st{};
  st.nd = nd;
  for (int d = 0; d < nd; ++d) {
    st.shape[d] = shape[d];
    st.sa[d] = sa[d];
    st.sb[d] = sb[d];
  }
  LAUNCH(binary_strided_k, n, out, a, b, op, st, n);
}

__global__ void unary_k(float* out, const float* x, UnaryOp op, int64_t n) {
  GRID_LOOP(i, n) {
    float v = x[i];
    switch (op) {
      case UnaryOp::Relu: out[i] = v > 0.f ? v : 0.f; break;
      case UnaryOp::Exp: out[i] = expf(v); break;
      case UnaryOp::Log: out[i] = logf(v); break;
      case UnaryOp::Neg: out[i] = -v; break;
      case UnaryOp::Sigmoid:
        if (v >= 0) {
          out[i] = 1.f / (1.f + expf(-v));
        } else {
          float e = expf(v);
          out[i] = e / (1.f + e);
        }
        break;
    }
  }
}
void unary(float* out, const float* x, UnaryOp op, int64_t n) { LAUNCH(unary_k, n, out, x, op, n); }

__global__ void scale_add_k(float* out, const float* x, float s, float t, int64_t n) {
  GRID_LOOP(i, n) out[i] = s * x[i] + t;
}
void scale_add(float* out, const float* x, float s, float t, int64_t n) { LAUNCH(scale_add_k, n, out, x, s, t, n); }

__global__ void pow_k(float* out, const float* x, float p, int64_t n) { GRID_LOOP(i, n) out[i] = powf(x[i], p); }
void pow_scalar(float* out, const float* x, float p, int64_t n) { LAUNCH(pow_k, n, out, x, p, n); }

// std::min(std::max(x, lo), hi) as the CPU: a NaN stays NaN
__global__ void clamp_k(float* out, const float* x, float lo, float hi, int64_t n) {
  GRID_LOOP(i, n) {
    float v = x[i] < lo ? lo : x[i];
    out[i] = hi < v ? hi : v;
  }
}
void clamp(float* out, const float* x, float lo, float hi, int64_t n) { LAUNCH(clamp_k, n, out, x, lo, hi, n); }

__global__ void clamp_backward_k(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n) {
  GRID_LOOP(i, n) dx[i] = (x[i] < lo || x[i] > hi) ? 0.f : dy[i];
}
void clamp_backward(float* dx, const float* dy, const float* x, float lo, float hi, int64_t n) {
  LAUNCH(clamp_backward_k, n, dx, dy, x, lo, hi, n);
}

// float4 path when the pointers are 16-byte aligned (always, for tensors from the allocator)
__global__ void add_relu_k(float* out, const float* a, const float* b, int64_t n) {
  int64_t n4 = n / 4;
  GRID_LOOP(i, n4) {
    float4 x = reinterpret_cast<const float4*>(a)[i], y = reinterpret_cast<const float4*>(b)[i];
    float4 r = make_float4(fmaxf(x.x + y.x, 0.f), fmaxf(x.y + y.y, 0.f), fmaxf(x.z + y.z, 0.f), fmaxf(x.w + y.w, 0.f));
    reinterpret_cast<float4*>(out)[i] = r;
  }
  GRID_LOOP(j, n - n4 * 4) {
    int64_t i = n4 * 4 + j;
    float v = a[i] + b[i];
    out[i] = v > 0.f ? v : 0.f;
  }
}
static bool aligned16(const void* p) { return ((uintptr_t)p & 15) == 0; }
void add_relu(float* out, const float* a, const float* b, int64_t n) {
  if (aligned16(out) && aligned16(a) && aligned16(b))
    LAUNCH(add_relu_k, (n + 3) / 4, out, a, b, n);
  else
    LAUNCH(add_relu_scalar_k<float>, n, out, a, b, n);
}

void relu_backward(float* din, const float* dout, const float* y, int64_t n) {
  LAUNCH(relu_backward_k<float>, n, din, dout, y, n);
}

__global__ void broadcast_rows_k(float* out, const float* row, int64_t M, int64_t N) {
  GRID_LOOP(i, M * N) out[i] = row[i % N];
}
void broadcast_rows(float* out, const float* row, int64_t M, int64_t N) {
  LAUNCH(broadcast_rows_k, M * N, out, row, M, N);
}

__global__ void transpose2d_k(float* out, const float* x, int64_t M, int64_t N) {
  GRID_LOOP(k, M * N) {
    int64_t j = k / M, i = k % M;  // out[j, i] = x[i, j]: coalesced writes
    out[k] = x[i * N + j];
  }
}
void transpose2d(float* out, const float* x, int64_t M, int64_t N) { LAUNCH(transpose2d_k, M * N, out, x, M, N); }

__global__ void add_i32_k(int32_t* p, int32_t v, int64_t n) { GRID_LOOP(i, n) p[i] += v; }
void add_i32(int32_t* p, int32_t v, int64_t n) { LAUNCH(add_i32_k, n, p, v, n); }

__global__ void fill_k(float* p, float v, int64_t n) { GRID_LOOP(i, n) p[i] = v; }
void fill_f32(float* p, float v, int64_t n) { LAUNCH(fill_k, n, p, v, n); }

}  // namespace tailor::cuda
