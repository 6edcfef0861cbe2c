// Seeded random numbers. xoshiro256** seeded through splitmix64: fast, portable and bit-identical on
// every platform (unlike std::normal_distribution), so a CPU run is reproducible from its seed.
// Rng::keyed(seed, a, b) gives an independent stream per (seed, a, b), e.g. (seed, epoch, sample).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace tailor {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  static Rng keyed(uint64_t seed, uint64_t a, uint64_t b = 0);
  void reseed(uint64_t seed);
  uint64_t next_u64();
  uint32_t next_u32() { return (uint32_t)(next_u64() >> 32); }
  float uniform();                     // [0, 1), 24 random bits
  double uniform_double();             // [0, 1), 53 random bits
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  double normal();                     // standard normal (Box-Muller on doubles)
  uint64_t below(uint64_t n);          // uniform integer in [0, n), unbiased
  // full state, for checkpoints
  struct State {
    uint64_t s[4];
    bool has_spare;
    double spare;
  };
  State state() const { return {{s_[0], s_[1], s_[2], s_[3]}, has_spare_, spare_}; }
  void set_state(const State& st);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

Rng& global_rng();  // the engine's default generator (parameter init, GCL noise when none is given)
void manual_seed(uint64_t seed);

// Initialisers (fill in place, no autograd).
void normal_(Tensor& t, float mean, float std, Rng& rng);
void uniform_(Tensor& t, float lo, float hi, Rng& rng);

}  // namespace tailor
