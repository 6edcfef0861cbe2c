// Random number generators of the data layer.
//
// CounterRng: a counter-based generator. Every value is splitmix64(key + ctr * golden), so the stream of a
// sample is a pure function of (seed, epoch, index, stream): any worker can produce it in any order, which
// makes loader output independent of the number of worker threads.
//
// NumpyLegacyRng: numpy's legacy RandomState (MT19937, init_genrand seeding) restricted to what the
// CIFAR-LT generators use: shuffle() with the masked-rejection bounded draw, and random_sample().
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace tailor::data {

// splitmix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
uint64_t splitmix64(uint64_t x);
// Mixes several words into one key (order matters).
uint64_t hash_combine(uint64_t a, uint64_t b);

struct CounterRng {
  uint64_t key = 0;
  uint64_t ctr = 0;

  CounterRng() = default;
  explicit CounterRng(uint64_t k) : key(k) {}
  uint64_t next_u64();
  uint32_t next_u32() { return (uint32_t)(next_u64() >> 32); }
  double uniform();                                   // [0, 1), 53 random bits
  double uniform(double lo, double hi);               // lo + (hi - lo) * uniform(), never fused
  int64_t below(int64_t n);                           // uniform integer in [0, n), unbiased (n >= 1)
  int64_t range(int64_t lo, int64_t hi_inclusive) { return lo + below(hi_inclusive - lo + 1); }
  bool bernoulli(double p) { return uniform() < p; }
  double normal();                                    // N(0, 1), Box-Muller (one value per call)
  double gamma(double shape);                         // Gamma(shape, 1), Marsaglia-Tsang
  double beta(double a, double b);                    // Beta(a, b) = G(a) / (G(a) + G(b))
};

// The generator for sample `index` (a position in the epoch's global index stream) of `epoch`.
// `stream` separates independent uses (augmentation, mixup, sampler) of the same (seed, epoch, index).
CounterRng make_rng(uint64_t seed, int64_t epoch, int64_t index, uint64_t stream = 0);

// Shuffles v in place with a Fisher-Yates pass driven by rng (for samplers; not numpy-compatible).
void shuffle_in_place(std::vector<int64_t>& v, CounterRng& rng);
void shuffle_in_place(std::vector<int32_t>& v, CounterRng& rng);

class NumpyLegacyRng {
 public:
  explicit NumpyLegacyRng(uint32_t seed) : mt_(seed) {}  // == np.random.seed(seed) for 0 <= seed < 2^32
  // numpy random_interval(max): uniform in [0, max] by masked rejection; 32-bit draws while max <= 0xffffffff.
  uint64_t interval(uint64_t max);
  // == np.random.shuffle(a) for a 1-D array: for i = n-1 .. 1: swap(a[i], a[interval(i)]).
  void shuffle(std::vector<int64_t>& a);
  double random_sample();  // == np.random.random_sample() (53-bit double from two 32-bit draws)
  uint32_t next_u32() { return (uint32_t)mt_(); }

 private:
  std::mt19937 mt_;
};

}  // namespace tailor::data
