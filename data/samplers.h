// Index samplers for long-tailed training. Every sampler is a pure function of (seed, epoch): epoch e's
// global index stream is generated from a counter RNG keyed by (seed, epoch), so any rank, any resume and
// any worker count sees the same stream. A multi-process run pads the stream to a multiple of `world`
// (repeating its start, like torch DistributedSampler) and rank r takes positions r, r + world, ...
//
// Kinds (n_c = class count, N = sum n_c, C = number of non-empty classes, pi_c = n_c / N):
//   sequential        0..N-1 in order (evaluation).                                        length N
//   instance          a random permutation of 0..N-1.                                       length N
//   class_aware       Decoupling's ClassAwareSampler: a cyclic iterator over the shuffled classes
//                     (reshuffled at every wrap); each turn takes k consecutive items from that class's
//                     own cyclic iterator over its shuffled samples (reshuffled at every wrap).
//                     P(c) = 1/C.                                                           length n_max * C
//                     (a training stage sets num_samples = floor(N / B) B: Decoupling's run_networks
//                     stops the epoch after int(N / B) full batches)
//   sqrt              square-root sampling (MixedPrioritizedSampler, nroot 2): P(c) ∝ n_c^(1/2),
//                     with replacement, uniform within the class.                           length N
//   progressive       progressively balanced (ClassPrioritySampler): at epoch t, class weight
//                     q_c = (1 - l) n_c + l N / C, l = t / (T - 1) (np.linspace(0, 1, T); l = 1 from
//                     epoch T - 1 on); class drawn ∝ q_c, then the next item of the class's cyclic
//                     shuffled iterator.                                                    length N
//   effective_number  EffectNumRS: per-sample weight (1 - b) / (1 - b^n_c), b = 0.9999, with
//                     replacement: P(c) ∝ n_c (1 - b) / (1 - b^n_c).                          length N
//   balanced_rs       BalancedRS: per-sample weight 1 / n_c, with replacement: P(c) = 1/C.    length N
//   cben              GCL's CBEN (§1.4): d_c = log n_max - log n_c, d^_c = (d_c - min d) / (max d - min d),
//                     b_c = b_a + b_b d^_c (0.9999, 1e-5), per-sample weight (1 - b_c) / (1 - b_c^n_c),
//                     with replacement: P(c) ∝ n_c (1 - b_c) / (1 - b_c^n_c).                 length N
//   resample          Class-Balanced Distillation's per-example over/under-sampling (google-research
//                     class_balanced_distillation/input_pipeline.py): r_c = (1/C) / (n_c/N); one pass
//                     over the data in a random order keeps an example of a head class (r_c < 1) with
//                     probability r_c and repeats one of a tail class floor(r_c) times plus once more with
//                     probability r_c - floor(r_c): E[copies of class c] = N/C, P(c) = 1/C. The pass is
//                     shuffled; the epoch is the first N draws of passes appended one after another (a
//                     pass holds N draws on average). The reference streams its passes through a
//                     1000-example shuffle buffer across epoch boundaries instead.   length N
// Within-class per-epoch state (class_aware, progressive) restarts every epoch from (seed, epoch) rather
// than continuing the previous epoch's iterators (the references keep them); the distribution is the same.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/rng.h"

namespace tailor::data {

enum class SamplerKind {
  Sequential, Instance, ClassAware, SquareRoot, Progressive, EffectiveNumber, BalancedRS, CBEN, Resample
};
SamplerKind parse_sampler_kind(const std::string& s);  // the names in the table above
const char* sampler_kind_name(SamplerKind k);

struct SamplerConfig {
  SamplerKind kind = SamplerKind::Instance;
  uint64_t seed = 0;
  int rank = 0, world = 1;
  int samples_per_class = 4;                         // class_aware k (4 for cRT/LWS, 1 for the BALMS meta set)
  double beta = 0.9999;                              // effective_number
  double cben_beta_a = 0.9999, cben_beta_b = 1e-5;   // cben
  int total_epochs = 90;                             // progressive T
  int64_t num_samples = -1;                          // global epoch length; -1 = the reference rule above
};

struct SamplerState {
  int64_t epoch = 0;
  int64_t cursor = 0;  // indices of this rank's shard already consumed in `epoch`
};

class Sampler {
 public:
  Sampler(const std::vector<int32_t>& labels, int num_classes, const SamplerConfig& cfg);

  const SamplerConfig& config() const { return cfg_; }
  const std::vector<int64_t>& class_counts() const { return counts_; }
  int64_t global_length() const;  // draws per epoch over all ranks, before padding
  int64_t length() const;         // draws per epoch on this rank = ceil(global_length / world)

  std::vector<int64_t> global_indices(int64_t epoch) const;  // padded to length() * world
  std::vector<int64_t> epoch_indices(int64_t epoch) const;   // this rank's shard
  int64_t global_position(int64_t shard_pos) const { return (int64_t)cfg_.rank + shard_pos * cfg_.world; }

  // P(a draw of `epoch` is class c), from the formula (the empirical tests compare against it).
  std::vector<double> class_probabilities(int64_t epoch = 0) const;

  // Cursor over this rank's shard, for resume.
  void set_epoch(int64_t epoch);
  SamplerState state() const { return state_; }
  void load_state(const SamplerState& s);
  bool next(int64_t* index);  // false (state unchanged) at the end of the epoch

 private:
  std::vector<int64_t> raw_stream(int64_t epoch) const;  // unpadded global stream
  std::vector<double> weighted_class_probs() const;      // sqrt / effective_number / balanced_rs / cben

  SamplerConfig cfg_;
  int num_classes_;
  std::vector<int32_t> labels_;
  std::vector<int64_t> counts_;
  std::vector<std::vector<int64_t>> members_;  // per class, ascending sample indices
  SamplerState state_;
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_;
};

// One pass of the resample kind: every index of `labels` in a random order, each repeated as r_c says
// (0 or 1 copies for a head class, floor(r_c) or floor(r_c) + 1 for a tail class), then shuffled.
std::vector<int64_t> resample_pass(const std::vector<int32_t>& labels, const std::vector<int64_t>& counts,
                                   CounterRng& rng);

}  // namespace tailor::data
