// What the optimisers (train/sgd.h, train/adam.h) share: the gradients one step applies.
#pragma once
#include <cstddef>
#include <vector>

#include "engine/tensor.h"

namespace tailor {

struct StepGrad {
  size_t index;  // into the optimiser's parameters
  Tensor grad;   // contiguous, on the parameter's device
};

// The parameters that have a gradient (the others are skipped), with their gradients made contiguous.
// Keep the list until the step's kernels have run: a contiguous copy freed before an asynchronous CUDA
// launch reads it could become a buffer the step allocates.
inline std::vector<StepGrad> gradients_to_apply(const std::vector<Tensor>& params, const char* optimiser) {
  std::vector<StepGrad> out;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor g = params[i].grad();
    if (!g.defined()) continue;
    check_same_device(optimiser, params[i], g);
    out.push_back({i, g.contiguous()});
  }
  return out;
}

}  // namespace tailor
