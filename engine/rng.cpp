#include "engine/rng.h"

#include <cmath>

namespace tailor {

static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void Rng::reseed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& v : s_) v = splitmix64(x);
  has_spare_ = false;
}

Rng Rng::keyed(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t x = seed;
  uint64_t h = splitmix64(x);
  x = h ^ (a * 0xD1B54A32D192ED03ull);
  h = splitmix64(x);
  x = h ^ (b * 0x8CB92BA72F3D8DD7ull);
  return Rng(splitmix64(x));
}

uint64_t Rng::next_u64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return (float)(next_u64() >> 40) * (1.0f / 16777216.0f); }
double Rng::uniform_double() { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0); }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform_double(), u2 = uniform_double();
  if (u1 < 1e-300) u1 = 1e-300;
  double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
  spare_ = r * std::sin(th);
  has_spare_ = true;
  return r * std::cos(th);
}

uint64_t Rng::below(uint64_t n) {
  TAILOR_CHECK(n > 0, "Rng::below(0)");
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = next_u64();
  while (v >= limit);
  return v % n;
}

void Rng::set_state(const State& st) {
  for (int i = 0; i < 4; ++i) s_[i] = st.s[i];
  has_spare_ = st.has_spare;
  spare_ = st.spare;
}

Rng& global_rng() {
  static Rng rng(0);
  return rng;
}
void manual_seed(uint64_t seed) { global_rng().reseed(seed); }

void normal_(Tensor& t, float mean, float std, Rng& rng) {
  TAILOR_CHECK(t.device().is_cpu() && t.is_contiguous(), "normal_: needs a contiguous CPU tensor, got ", t.desc());
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + std * (float)rng.normal();
}
void uniform_(Tensor& t, float lo, float hi, Rng& rng) {
  TAILOR_CHECK(t.device().is_cpu() && t.is_contiguous(), "uniform_: needs a contiguous CPU tensor, got ", t.desc());
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(lo, hi);
}

}  // namespace tailor
