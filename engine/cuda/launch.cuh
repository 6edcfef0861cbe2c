// Launch helpers shared by the .cu files: grid-stride loops and a checked launch on the one stream.
#pragma once
#include <algorithm>

#include "engine/cuda/kernels.h"
#include "engine/cuda/runtime.h"
#include "engine/tensor.h"

#define GRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
#define LAUNCH(kernel, n, ...)                                                  \
  do {                                                                          \
    if ((n) > 0) {                                                              \
      kernel<<<::tailor::cuda::grid_for(n), 256, 0, ::tailor::cuda::stream()>>>(__VA_ARGS__); \
      TAILOR_CUDA_LAUNCH_CHECK();                                               \
    }                                                                           \
  } while (0)
