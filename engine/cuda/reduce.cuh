// Deterministic column sums, the one reduction pattern behind sum_dim, sum_all, batch-norm
// statistics and gradients, and global average pooling.
//
// Input viewed as [outer, len, inner]; for every (o, i) it sums f(o, l, i) (a double2: two sums at
// once) over l, then calls g(o, i, sums). Pass 1: a block of (bx columns × by rows) threads sums a
// chunk of rows into one partial per column (fixed-order tree in shared memory). Pass 2: one thread
// per column adds the partials in chunk order. No atomics: bit-identical results run to run.
#pragma once
#include "engine/cuda/launch.cuh"

namespace tailor::cuda {

template <class F>
__global__ void colsum_partial_k(double2* part, int64_t outer, int64_t len, int64_t inner, int64_t rows_per_chunk,
                                 F f) {
  extern __shared__ double2 sh[];
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  int64_t chunk = blockIdx.y;
  int t = threadIdx.y * blockDim.x + threadIdx.x;
  for (int64_t o = blockIdx.z; o < outer; o += gridDim.z) {
    double2 acc = make_double2(0.0, 0.0);
    if (i < inner) {
      int64_t l0 = chunk * rows_per_chunk, l1 = min(len, l0 + rows_per_chunk);
      for (int64_t l = l0 + threadIdx.y; l < l1; l += blockDim.y) {
        double2 v = f(o, l, i);
        acc.x += v.x;
        acc.y += v.y;
      }
    }
    sh[t] = acc;
    __syncthreads();
    for (int s = blockDim.y / 2; s > 0; s >>= 1) {
      if (threadIdx.y < s) {
        sh[t].x += sh[t + s * blockDim.x].x;
        sh[t].y += sh[t + s * blockDim.x].y;
      }
      __syncthreads();
    }
    if (threadIdx.y == 0 && i < inner) part[(o * gridDim.y + chunk) * inner + i] = sh[threadIdx.x];
    __syncthreads();
  }
}

template <class G>
__global__ void colsum_final_k(const double2* part, int64_t outer, int64_t chunks, int64_t inner, G g) {
  GRID_LOOP(k, outer * inner) {
    int64_t o = k / inner, i = k % inner;
    double2 s = make_double2(0.0, 0.0);
    for (int64_t c = 0; c < chunks; ++c) {
      double2 v = part[(o * chunks + c) * inner + i];
      s.x += v.x;
      s.y += v.y;
    }
    g(o, i, s);
  }
}

// The plain sum: f reads x[o, l, i]; g writes scale * sum to out[o, i].
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
  double scale;
  __device__ void operator()(int64_t o, int64_t i, double2 s) const { out[o * inner + i] = (float)(s.x * scale); }
};

template <class F, class G>
void colsum(int64_t outer, int64_t len, int64_t inner, F f, G g) {
  if (outer == 0 || inner == 0) return;
  int bx = 1;
  while (bx < 32 && bx < inner) bx *= 2;
  int by = 256 / bx;
  int64_t gx = (inner + bx - 1) / bx, gz = std::min<int64_t>(outer, 65535);
  int64_t want = std::max<int64_t>(1, 1024 / (gx * std::min<int64_t>(gz, 64)));  // ~1k blocks in flight
  int64_t chunks = std::min<int64_t>(std::max<int64_t>(1, (len + by * 8 - 1) / (by * 8)), std::min<int64_t>(want, 65535));
  int64_t rows_per_chunk = (std::max<int64_t>(len, 1) + chunks - 1) / chunks;
  size_t part_bytes = sizeof(double2) * outer * chunks * inner;
  auto* part = (double2*)alloc(part_bytes);
  dim3 block(bx, by), grid((unsigned)gx, (unsigned)chunks, (unsigned)gz);
  colsum_partial_k<<<grid, block, sizeof(double2) * bx * by, stream()>>>(part, outer, len, inner, rows_per_chunk, f);
  TAILOR_CUDA_LAUNCH_CHECK();
  colsum_final_k<<<grid_for(outer * inner), 256, 0, stream()>>>(part, outer, chunks, inner, g);
  TAILOR_CUDA_LAUNCH_CHECK();
  free(part, part_bytes);  // stream-ordered: the next user of this block runs after these kernels
}

}  // namespace tailor::cuda
