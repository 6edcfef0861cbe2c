// Reductions (twins of engine/cpu/reduce.cpp) on the deterministic column-sum pattern of reduce.cuh.
#include "engine/cuda/reduce.cuh"

namespace tailor::cuda {

namespace {
struct ReadX {
  const float* x;
  int64_t len, inner;
  __device__ double2 operator()(int64_t o, int64_t l, int64_t i) const {
    return make_double2(x[(o * len + l) * inner + i], 0.0);
  }
};
struct WriteSum {
  float* out;
  int64_t inner;
  __device__ void operator()(int64_t o, int64_t i, double2 s) const { out[o * inner + i] = (float)s.x; }
};
}  // namespace

// out[o, i] = sum_l x[o, l, i]
void sum_dim(float* out, const float* x, int64_t outer, int64_t len, int64_t inner) {
  colsum(outer, len, inner, ReadX{x, len, inner}, WriteSum{out, inner});
}

void sum_all(float* out, const float* x, int64_t n) { sum_dim(out, x, 1, n, 1); }

// Every thread that sees a NaN/Inf writes the same 1: a benign race with a deterministic result.
__global__ void any_nonfinite_k(int32_t* flag, const float* x, int64_t n) {
  GRID_LOOP(i, n) if (!isfinite(x[i])) *flag = 1;
}
void any_nonfinite(int32_t* flag, const float* x, int64_t n) { LAUNCH(any_nonfinite_k, n, flag, x, n); }

}  // namespace tailor::cuda
