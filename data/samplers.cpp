#include "data/samplers.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "data/rng.h"

namespace tailor::data {

static const char* kNames[] = {"sequential",       "instance",    "class_aware", "sqrt",    "progressive",
                               "effective_number", "balanced_rs", "cben",        "resample"};

SamplerKind parse_sampler_kind(const std::string& s) {
  for (int k = 0; k < 9; ++k)
    if (s == kNames[k]) return (SamplerKind)k;
  throw std::runtime_error("unknown sampler '" + s +
                           "' (expected sequential, instance, class_aware, sqrt, progressive, effective_number, "
                           "balanced_rs, cben or resample)");
}

const char* sampler_kind_name(SamplerKind k) { return kNames[(int)k]; }

Sampler::Sampler(const std::vector<int32_t>& labels, int num_classes, const SamplerConfig& cfg)
    : cfg_(cfg), num_classes_(num_classes), labels_(labels) {
  if (num_classes <= 0) throw std::runtime_error("sampler: num_classes must be positive");
  if (labels.empty()) throw std::runtime_error("sampler: empty dataset");
  if (cfg.world < 1 || cfg.rank < 0 || cfg.rank >= cfg.world)
    throw std::runtime_error("sampler: rank " + std::to_string(cfg.rank) + " not in [0, world=" +
                             std::to_string(cfg.world) + ")");
  if (cfg.samples_per_class < 1) throw std::runtime_error("sampler: samples_per_class must be >= 1");
  counts_.assign((size_t)num_classes, 0);
  members_.resize((size_t)num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    int32_t y = labels[i];
    if (y < 0 || y >= num_classes)
      throw std::runtime_error("sampler: label " + std::to_string(y) + " of sample " + std::to_string(i) +
                               " out of range [0, " + std::to_string(num_classes) + ")");
    ++counts_[(size_t)y];
    members_[(size_t)y].push_back((int64_t)i);
  }
}

int64_t Sampler::global_length() const {
  if (cfg_.num_samples >= 0) return cfg_.num_samples;
  if (cfg_.kind == SamplerKind::ClassAware) {
    int64_t nmax = *std::max_element(counts_.begin(), counts_.end());
    int64_t nonempty = std::count_if(counts_.begin(), counts_.end(), [](int64_t n) { return n > 0; });
    return nmax * nonempty;
  }
  return (int64_t)labels_.size();
}

int64_t Sampler::length() const { return (global_length() + cfg_.world - 1) / cfg_.world; }

std::vector<double> Sampler::weighted_class_probs() const {
  const size_t C = counts_.size();
  std::vector<double> p(C, 0.0);
  switch (cfg_.kind) {
    case SamplerKind::SquareRoot:
      for (size_t c = 0; c < C; ++c) p[c] = std::sqrt((double)counts_[c]);
      break;
    case SamplerKind::EffectiveNumber:
      for (size_t c = 0; c < C; ++c)
        if (counts_[c] > 0) p[c] = counts_[c] * (1.0 - cfg_.beta) / (1.0 - std::pow(cfg_.beta, (double)counts_[c]));
      break;
    case SamplerKind::BalancedRS:
      for (size_t c = 0; c < C; ++c) p[c] = counts_[c] > 0 ? 1.0 : 0.0;
      break;
    case SamplerKind::CBEN: {
      int64_t nmax = *std::max_element(counts_.begin(), counts_.end());
      std::vector<double> d(C, 0.0);
      double dmin = INFINITY, dmax = -INFINITY;
      for (size_t c = 0; c < C; ++c)
        if (counts_[c] > 0) {
          d[c] = std::log((double)nmax) - std::log((double)counts_[c]);
          dmin = std::min(dmin, d[c]);
          dmax = std::max(dmax, d[c]);
        }
      for (size_t c = 0; c < C; ++c) {
        if (counts_[c] == 0) continue;
        double dn = dmax > dmin ? (d[c] - dmin) / (dmax - dmin) : 0.0;
        double b = cfg_.cben_beta_a + cfg_.cben_beta_b * dn;
        p[c] = counts_[c] * (1.0 - b) / (1.0 - std::pow(b, (double)counts_[c]));
      }
      break;
    }
    default:
      break;
  }
  double s = std::accumulate(p.begin(), p.end(), 0.0);
  if (!(std::isfinite(s) && s > 0))
    throw std::runtime_error("sampler: its class weights are not finite (a beta of 1 or more?)");
  for (auto& v : p) v /= s;
  return p;
}

std::vector<double> Sampler::class_probabilities(int64_t epoch) const {
  const size_t C = counts_.size();
  const double N = (double)labels_.size();
  std::vector<double> p(C, 0.0);
  int64_t nonempty = std::count_if(counts_.begin(), counts_.end(), [](int64_t n) { return n > 0; });
  switch (cfg_.kind) {
    case SamplerKind::Sequential:
    case SamplerKind::Instance:
      for (size_t c = 0; c < C; ++c) p[c] = counts_[c] / N;
      return p;
    case SamplerKind::ClassAware:
    case SamplerKind::Resample:
      for (size_t c = 0; c < C; ++c) p[c] = counts_[c] > 0 ? 1.0 / nonempty : 0.0;
      return p;
    case SamplerKind::Progressive: {
      const int T = cfg_.total_epochs;
      double lam = T <= 1 ? 0.0 : std::min(1.0, (double)epoch / (double)(T - 1));  // np.linspace(0, 1, T)
      double s = 0;
      for (size_t c = 0; c < C; ++c) {
        p[c] = counts_[c] > 0 ? (1 - lam) * counts_[c] + lam * N / nonempty : 0.0;
        s += p[c];
      }
      for (auto& v : p) v /= s;
      return p;
    }
    default:
      return weighted_class_probs();
  }
}

namespace {
// A cyclic iterator over a list, reshuffled at every wrap (classifier-balancing's RandomCycleIter).
struct CycleIter {
  std::vector<int64_t> items;
  size_t i = 0;
  bool started = false;
  int64_t next(CounterRng& rng) {
    if (!started || i == items.size()) {
      shuffle_in_place(items, rng);
      i = 0;
      started = true;
    }
    return items[i++];
  }
};

int64_t draw_from_cdf(const std::vector<double>& cdf, CounterRng& rng) {
  double u = rng.uniform() * cdf.back();
  size_t c = (size_t)(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  if (c >= cdf.size()) {  // u rounded up to the total: take the last class with mass
    c = cdf.size() - 1;
    while (c > 0 && cdf[c] == cdf[c - 1]) --c;
  }
  return (int64_t)c;  // cdf is non-decreasing, so upper_bound never returns a class of zero mass

}
}  // namespace

std::vector<int64_t> Sampler::raw_stream(int64_t epoch) const {
  const int64_t L = global_length();
  const int64_t N = (int64_t)labels_.size();
  CounterRng rng = make_rng(cfg_.seed, epoch, 0, 0x73616d706c6572ull + (uint64_t)cfg_.kind);
  std::vector<int64_t> out;
  out.reserve((size_t)L);
  switch (cfg_.kind) {
    case SamplerKind::Sequential:
      for (int64_t i = 0; i < L; ++i) out.push_back(i % N);
      break;
    case SamplerKind::Instance: {
      std::vector<int64_t> perm((size_t)N);
      while ((int64_t)out.size() < L) {
        std::iota(perm.begin(), perm.end(), 0);
        shuffle_in_place(perm, rng);
        for (int64_t i = 0; i < N && (int64_t)out.size() < L; ++i) out.push_back(perm[(size_t)i]);
      }
      break;
    }
    case SamplerKind::ClassAware: {
      CycleIter classes;
      std::vector<CycleIter> per(members_.size());
      for (size_t c = 0; c < members_.size(); ++c) {
        if (!members_[c].empty()) classes.items.push_back((int64_t)c);
        per[c].items = members_[c];
      }
      const int k = cfg_.samples_per_class;
      while ((int64_t)out.size() < L) {
        int64_t c = classes.next(rng);
        for (int j = 0; j < k && (int64_t)out.size() < L; ++j) out.push_back(per[(size_t)c].next(rng));
      }
      break;
    }
    case SamplerKind::Resample:
      while ((int64_t)out.size() < L) {
        std::vector<int64_t> pass = resample_pass(labels_, counts_, rng);
        for (size_t i = 0; i < pass.size() && (int64_t)out.size() < L; ++i) out.push_back(pass[i]);
      }
      break;
    case SamplerKind::Progressive: {
      std::vector<double> p = class_probabilities(epoch), cdf(p.size());
      std::partial_sum(p.begin(), p.end(), cdf.begin());
      std::vector<CycleIter> per(members_.size());
      for (size_t c = 0; c < members_.size(); ++c) per[c].items = members_[c];
      for (int64_t i = 0; i < L; ++i) out.push_back(per[(size_t)draw_from_cdf(cdf, rng)].next(rng));
      break;
    }
    default: {  // with replacement: class by probability, then a uniform member
      std::vector<double> p = weighted_class_probs(), cdf(p.size());
      std::partial_sum(p.begin(), p.end(), cdf.begin());
      for (int64_t i = 0; i < L; ++i) {
        const auto& m = members_[(size_t)draw_from_cdf(cdf, rng)];
        out.push_back(m[(size_t)rng.below((int64_t)m.size())]);
      }
      break;
    }
  }
  return out;
}

std::vector<int64_t> Sampler::global_indices(int64_t epoch) const {
  std::vector<int64_t> s = raw_stream(epoch);
  const size_t total = (size_t)length() * (size_t)cfg_.world;
  const size_t n = s.size();
  for (size_t i = n; i < total && n > 0; ++i) s.push_back(s[(i - n) % n]);
  return s;
}

std::vector<int64_t> Sampler::epoch_indices(int64_t epoch) const {
  if (cached_epoch_ == epoch) return cached_;
  std::vector<int64_t> g = global_indices(epoch);
  std::vector<int64_t> mine;
  mine.reserve((size_t)length());
  for (size_t i = (size_t)cfg_.rank; i < g.size(); i += (size_t)cfg_.world) mine.push_back(g[i]);
  cached_epoch_ = epoch;
  cached_ = mine;
  return mine;
}

void Sampler::set_epoch(int64_t epoch) { state_ = SamplerState{epoch, 0}; }

void Sampler::load_state(const SamplerState& s) {
  if (s.epoch < 0 || s.cursor < 0 || s.cursor > length())
    throw std::runtime_error("sampler: invalid state (epoch " + std::to_string(s.epoch) + ", cursor " +
                             std::to_string(s.cursor) + ", epoch length " + std::to_string(length()) + ")");
  state_ = s;
}

bool Sampler::next(int64_t* index) {
  if (state_.cursor >= length()) return false;
  if (cached_epoch_ != state_.epoch) epoch_indices(state_.epoch);
  *index = cached_[(size_t)state_.cursor++];
  return true;
}

std::vector<int64_t> resample_pass(const std::vector<int32_t>& labels, const std::vector<int64_t>& counts,
                                   CounterRng& rng) {
  const double N = (double)labels.size();
  const int64_t C = std::count_if(counts.begin(), counts.end(), [](int64_t n) { return n > 0; });
  std::vector<int64_t> order((size_t)labels.size()), out;
  std::iota(order.begin(), order.end(), 0);
  shuffle_in_place(order, rng);
  out.reserve(order.size() + order.size() / 8);
  for (int64_t i : order) {
    const double r = (1.0 / (double)C) / ((double)counts[(size_t)labels[(size_t)i]] / N);  // target / base
    int64_t copies;
    if (r < 1) {
      copies = rng.uniform() <= r ? 1 : 0;  // undersampling: accept with probability r
    } else {
      const double whole = std::floor(r);
      copies = (int64_t)whole + (rng.uniform() <= r - whole ? 1 : 0);  // oversampling
    }
    for (int64_t k = 0; k < copies; ++k) out.push_back(i);
  }
  shuffle_in_place(out, rng);
  return out;
}

}  // namespace tailor::data
