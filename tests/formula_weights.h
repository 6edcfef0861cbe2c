// The deterministic weights and input of the PyTorch fixtures (tests/make_fixtures.py, "DETERMINISTIC
// WEIGHTS"): a uint32 hash per (flat index, tensor key), the same formulas on both sides, so a test builds
// the exact model the fixture script built.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "layers/resnet.h"

namespace formula {

using namespace tailor;

inline uint32_t fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

// Integer hash -> uniform (0, 1), exactly as make_fixtures.py's hash_u (uint32 arithmetic).
inline double hash_u(uint32_t i, uint32_t k) {
  uint32_t h = 2654435761u * i + 40503u * k + 1u;
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return ((double)h + 0.5) / 4294967296.0;
}

inline bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// The fixture formula (see tests/make_fixtures.py), applied to every state-dict entry.
inline void formula_init(ResNet& net, bool normed_head) {
  std::string head_w = net.head_name() + ".weight", head_b = net.head_name() + ".bias";
  for (auto& [name, t0] : net.state_dict()) {
    Tensor t = t0;
    double k = fnv1a(name) % 997;
    if (t.dtype() == DType::I32) {
      t.i32()[0] = 0;
      continue;
    }
    float* p = t.f32();
    int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) {
      double v, di = (double)i;
      if (t.dim() == 4 || (t.dim() == 2 && !(normed_head && name == head_w))) {
        double fan_in = (double)(n / t.shape()[0]);
        v = std::sqrt(6.0 / fan_in) * (2 * hash_u((uint32_t)i, (uint32_t)k) - 1);
      } else if (t.dim() == 2) {
        v = 2 * hash_u((uint32_t)i, (uint32_t)k) - 1;
      } else if (name == head_b) {
        v = 0.01 * std::sin(di + k);
      } else if (ends_with(name, "running_mean")) {
        v = 0.05 * std::sin(2 * di + k);
      } else if (ends_with(name, "running_var")) {
        v = 1 + 0.2 * (0.5 + 0.5 * std::sin(3 * di + k));
      } else if (ends_with(name, ".weight")) {
        v = 1 + 0.1 * std::sin(di + k);
      } else {
        v = 0.1 * std::cos(di + k);
      }
      p[i] = (float)v;
    }
  }
}

// NCHW formula input, returned NHWC.
inline Tensor formula_input(int64_t N, int64_t C, int64_t H, int64_t W) {
  Tensor x = Tensor::empty({N, H, W, C});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          uint32_t i = (uint32_t)(((n * C + c) * H + h) * W + w);
          x.f32()[((n * H + h) * W + w) * C + c] = (float)(2 * hash_u(i, 997u) - 1);
        }
  return x;
}

}  // namespace formula
