// Reductions (twins of engine/cpu/reduce.cpp) on the deterministic column-sum pattern of reduce.cuh.
#include "engine/cuda/reduce.cuh"

namespace tailor::cuda {

// out[o, i] = sum_l x[o, l, i]
void sum_dim(float* out, const float* x, int64_t outer, int64_t len, int64_t inner) {
  colsum(outer, len, inner, ReadX{x, len, inner}, WriteSum{out, inner, 1.0});
}

void sum_all(float* out, const float* x, int64_t n) { sum_dim(out, x, 1, n, 1); }

// nonfinite_index: flags[k] = 1 where tensor k holds a NaN/Inf (up to 128 tensors per launch, blockIdx.y
// picks the tensor; every thread that sees one writes the same 1: a benign race with a deterministic
// result), then one thread turns the flags into
// out = 1 + the first flagged k (0: none), or -others when others > 0 and tensor 0 is finite.
constexpr int kFiniteMaxTensors = 128;
struct FiniteSlices {
  const float* x[kFiniteMaxTensors];
  int64_t n[kFiniteMaxTensors];
};
__global__ void flag_nonfinite_k(FiniteSlices b, int32_t* flags) {
  const float* x = b.x[blockIdx.y];
  const int64_t n = b.n[blockIdx.y];
  GRID_LOOP(i, n) if (!isfinite(x[i])) flags[blockIdx.y] = 1;
}
__global__ void first_flag_k(int32_t* out, const int32_t* flags, int count, const int32_t* others) {
  int32_t first = 0;
  for (int k = 0; k < count && first == 0; ++k)
    if (flags[k]) first = k + 1;
  if (others && first != 1 && others[0] > 0) first = -others[0];
  out[0] = first;
}
void nonfinite_index(int32_t* out, int32_t* flags, const float* const* xs, const int64_t* ns, int count,
                     const int32_t* others) {
  if (count > 0) TAILOR_CUDA_CHECK(cudaMemsetAsync(flags, 0, sizeof(int32_t) * count, stream()));
  for (int start = 0; start < count; start += kFiniteMaxTensors) {
    const int k = std::min(kFiniteMaxTensors, count - start);
    FiniteSlices b{};
    int64_t most = 1;
    for (int j = 0; j < k; ++j) {
      const bool some = xs[start + j] != nullptr && ns[start + j] > 0;
      b.x[j] = xs[start + j];
      b.n[j] = some ? ns[start + j] : 0;
      most = std::max(most, b.n[j]);
    }
    dim3 grid(std::min<unsigned>(grid_for(most), 1024), (unsigned)k);
    flag_nonfinite_k<<<grid, 256, 0, stream()>>>(b, flags + start);
    TAILOR_CUDA_LAUNCH_CHECK();
  }
  first_flag_k<<<1, 1, 0, stream()>>>(out, flags, count, others);
  TAILOR_CUDA_LAUNCH_CHECK();
}

}  // namespace tailor::cuda
