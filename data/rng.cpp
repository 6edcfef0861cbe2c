#include "data/rng.h"

#include <cmath>
#include <utility>

// No fused multiply-add: the streams must not depend on -march (FMA or not).
#pragma GCC optimize("fp-contract=off")

namespace tailor::data {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t hash_combine(uint64_t a, uint64_t b) { return splitmix64(a ^ splitmix64(b + 0x632BE59BD9B4E019ull)); }

uint64_t CounterRng::next_u64() {
  uint64_t v = splitmix64(key + ctr * 0x9E3779B97F4A7C15ull);
  ++ctr;
  return v;
}

double CounterRng::uniform() { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0); }

double CounterRng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

int64_t CounterRng::below(int64_t n) {
  if (n <= 1) return 0;
  // Lemire-free simple rejection on the top of the range: unbiased and cheap for small n.
  uint64_t un = (uint64_t)n;
  uint64_t limit = UINT64_MAX - (UINT64_MAX % un);
  uint64_t v;
  do {
    v = next_u64();
  } while (v >= limit);
  return (int64_t)(v % un);
}

double CounterRng::normal() {
  double u1 = uniform();
  double u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

double CounterRng::gamma(double shape) {
  if (shape <= 0) return 0.0;
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a)
    double u = uniform();
    if (u < 1e-300) u = 1e-300;
    return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    double u = uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double CounterRng::beta(double a, double b) {
  double x = gamma(a), y = gamma(b);
  if (x + y <= 0) return 0.5;
  return x / (x + y);
}

CounterRng make_rng(uint64_t seed, int64_t epoch, int64_t index, uint64_t stream) {
  uint64_t k = hash_combine(seed, (uint64_t)epoch);
  k = hash_combine(k, (uint64_t)index);
  k = hash_combine(k, stream);
  return CounterRng(k);
}

void shuffle_in_place(std::vector<int64_t>& v, CounterRng& rng) {
  for (int64_t i = (int64_t)v.size() - 1; i > 0; --i) std::swap(v[i], v[rng.below(i + 1)]);
}

void shuffle_in_place(std::vector<int32_t>& v, CounterRng& rng) {
  for (int64_t i = (int64_t)v.size() - 1; i > 0; --i) std::swap(v[i], v[rng.below(i + 1)]);
}

uint64_t NumpyLegacyRng::interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  uint64_t v;
  if (max <= 0xffffffffull) {
    while ((v = ((uint64_t)mt_() & mask)) > max) {
    }
  } else {
    // numpy's next_uint64 for MT19937: high word first.
    do {
      uint64_t hi = (uint64_t)mt_(), lo = (uint64_t)mt_();
      v = ((hi << 32) | lo) & mask;
    } while (v > max);
  }
  return v;
}

void NumpyLegacyRng::shuffle(std::vector<int64_t>& a) {
  for (int64_t i = (int64_t)a.size() - 1; i > 0; --i) {
    uint64_t j = interval((uint64_t)i);
    std::swap(a[(size_t)i], a[(size_t)j]);
  }
}

double NumpyLegacyRng::random_sample() {
  uint32_t a = (uint32_t)mt_() >> 5, b = (uint32_t)mt_() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

}  // namespace tailor::data
