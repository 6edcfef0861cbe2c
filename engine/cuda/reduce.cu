// Reductions (twins of engine/cpu/reduce.cpp) on the deterministic column-sum pattern of reduce.cuh.
#include "engine/cuda/reduce.cuh"

namespace tailor::cuda {

// out[o, i] = sum_l x[o, l, i]
void sum_dim(float* out, const float* x, int64_t outer, int64_t len, int64_t inner) {
  colsum(outer, len, inner, ReadX{x, len, inner}, WriteSum{out, inner, 1.0});
}

void sum_all(float* out, const float* x, int64_t n) { sum_dim(out, x, 1, n, 1); }

// Every thread that sees a NaN/Inf writes the same 1: a benign race with a deterministic result.
__global__ void any_nonfinite_k(int32_t* flag, const float* x, int64_t n) {
  GRID_LOOP(i, n) if (!isfinite(x[i])) *flag = 1;
}
void any_nonfinite(int32_t* flag, const float* x, int64_t n) { LAUNCH(any_nonfinite_k, n, flag, x, n); }

}  // namespace tailor::cuda
