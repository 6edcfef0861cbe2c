// Data parallelism without a launcher: SyncBatchNorm's gradients (finite differences), and two ranks
// emulated by two threads over an in-process communicator — their SyncBatchNorm equals batch norm of the
// whole batch and their averaged gradients equal the whole batch's (a single op: the engine's convolution
// primitives are shared per shape and not for concurrent use, so a whole network is checked with real
// ranks in test_data_parallel_cli); every sampler's union-of-ranks batches equal the single-process
// batches; the state of a data-parallel job round-trips; the autograd gradient-ready hook reports each leaf
// once, final; the overlapped gradient averaging equals the blocking one bit for bit (with a parameter that
// has a gradient on one rank only, and one that has none).
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "data/samplers.h"
#include "engine/comm.h"
#include "gradcheck.h"
#include "rundir/state.h"
#include "train/data_parallel.h"

using namespace tailor;
using namespace tailor::test;
using V = std::vector<Tensor>;

namespace {

// `world` threads as ranks: each collective is a barrier-fenced exchange through shared buffers. Sums
// are taken in rank order (what MPI's reduction does for two ranks).
struct Barrier {
  explicit Barrier(int n) : n_(n) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> l(mu_);
    const int64_t gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(l, [&] { return gen_ != gen; });
    }
  }
  int n_, count_ = 0;
  int64_t gen_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
};

struct ThreadGroup {
  explicit ThreadGroup(int w) : world(w), sync(w), blocks(w) {}
  int world;
  Barrier sync;
  std::vector<std::vector<char>> blocks;
};

class ThreadComm : public Communicator {
 public:
  ThreadComm(ThreadGroup& g, int rank) : g_(g), rank_(rank) {}
  int rank() const override { return rank_; }
  int world() const override { return g_.world; }
  std::string backend() const override { return "threads"; }
  void all_reduce_sum(Tensor& t) override {
    if (GradReadyHook::current()) ++during_backward;
    std::vector<float> v = t.to_vector();
    exchange(v.data(), v.size() * 4);
    std::vector<float> sum(v.size(), 0.f);
    for (int r = 0; r < g_.world; ++r)
      for (size_t i = 0; i < v.size(); ++i) sum[i] += ((const float*)g_.blocks[r].data())[i];
    g_.sync.arrive_and_wait();
    std::memcpy(t.f32(), sum.data(), sum.size() * 4);
  }
  void broadcast(Tensor& t, int root) override { broadcast_bytes(t.raw_data(), (int64_t)t.nbytes(), root); }
  void all_reduce_sum(double* d, int64_t n) override {
    exchange(d, (size_t)n * 8);
    std::vector<double> sum(n, 0.0);
    for (int r = 0; r < g_.world; ++r)
      for (int64_t i = 0; i < n; ++i) sum[i] += ((const double*)g_.blocks[r].data())[i];
    g_.sync.arrive_and_wait();
    std::memcpy(d, sum.data(), (size_t)n * 8);
  }
  void broadcast_bytes(void* d, int64_t bytes, int root) override {
    exchange(d, (size_t)bytes);
    std::vector<char> b = g_.blocks[root];
    g_.sync.arrive_and_wait();
    std::memcpy(d, b.data(), (size_t)bytes);
  }
  void all_gather_bytes(const void* in, int64_t bytes, void* out) override {
    exchange(in, (size_t)bytes);
    for (int r = 0; r < g_.world; ++r) std::memcpy((char*)out + r * bytes, g_.blocks[r].data(), (size_t)bytes);
    g_.sync.arrive_and_wait();
  }
  void barrier() override { g_.sync.arrive_and_wait(); }
  int64_t during_backward = 0;  // tensor all-reduces started while a backward ran

 private:
  void exchange(const void* p, size_t bytes) {
    g_.blocks[rank_].assign((const char*)p, (const char*)p + bytes);
    g_.sync.arrive_and_wait();
  }
  ThreadGroup& g_;
  int rank_;
};

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0, s = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, (double)std::fabs(a[i] - b[i]));
    s = std::max(s, (double)std::fabs(a[i]));
  }
  return m / s;
}

}  // namespace

TEST_CASE("sync_batch_norm on one process: gradients by finite differences, equal to batch_norm") {
  auto one = make_single_process_comm();
  for (bool relu : {false, true})
    for (Shape s : {Shape{2, 3, 3, 4}, Shape{3, 5}, Shape{1, 5, 3, 16}}) {
      CAPTURE(relu);
      CAPTURE(shape_str(s));
      Rng rng(3);
      const int64_t C = s.back();
      Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
      V in = {randn(s, rng), add_scalar(randn({C}, rng, 0.3f), 1.f), randn({C}, rng)};
      CHECK_GRAD(gradcheck(
          [&](const V& v) { return sync_batch_norm(v[0], v[1], v[2], rm.clone(), rv.clone(), 0.1f, 1e-5f, relu, *one); },
          in));
      // the values, the gradients and the running statistics of batch_norm(_relu)
      Tensor rm1 = rm.clone(), rv1 = rv.clone(), rm2 = rm.clone(), rv2 = rv.clone();
      V a, b;
      for (auto& t : in) {
        a.push_back(t.clone().set_requires_grad());
        b.push_back(t.clone().set_requires_grad());
      }
      Tensor ya = sync_batch_norm(a[0], a[1], a[2], rm1, rv1, 0.1f, 1e-5f, relu, *one);
      Tensor yb = (relu ? batch_norm_relu : batch_norm)(b[0], b[1], b[2], rm2, rv2, true, 0.1f, 1e-5f);
      CHECK(max_rel(ya.to_vector(), yb.to_vector()) < 1e-6);
      Tensor w = randn(s, rng);
      sum_all(mul(ya, w)).backward();
      sum_all(mul(yb, w)).backward();
      for (int i = 0; i < 3; ++i) CHECK(max_rel(a[i].grad().to_vector(), b[i].grad().to_vector()) < 1e-5);
      CHECK(max_rel(rm1.to_vector(), rm2.to_vector()) < 1e-6);
      CHECK(max_rel(rv1.to_vector(), rv2.to_vector()) < 1e-6);
    }
}

TEST_CASE("sync_batch_norm over two ranks equals batch_norm of the whole batch") {
  for (bool relu : {false, true}) {
    CAPTURE(relu);
    Rng rng(4);
    const int64_t N = 8, H = 6, W = 5, C = 7;
    Tensor x = add_scalar(randn({N, H, W, C}, rng, 2.f), 3.f), gamma = add_scalar(randn({C}, rng, 0.3f), 1.f),
           beta = randn({C}, rng), w = randn({N, H, W, C}, rng);
    // the whole batch on one process: loss = mean over samples of sum(y * w)
    Tensor xa = x.clone().set_requires_grad(), ga = gamma.clone().set_requires_grad(), ba = beta.clone().set_requires_grad();
    Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
    Tensor y = (relu ? batch_norm_relu : batch_norm)(xa, ga, ba, rm, rv, true, 0.1f, 1e-5f);
    scale(sum_all(mul(y, w)), 1.f / N).backward();
    // two ranks, each with half of the samples and its own mean loss; parameter gradients averaged
    ThreadGroup g(2);
    std::vector<Tensor> ys(2), dxs(2), rms(2), rvs(2);
    std::vector<V> params(2);
    auto rank_main = [&](int r) {
      ThreadComm comm(g, r);
      Tensor xr = x.slice(r * N / 2, (r + 1) * N / 2).clone().set_requires_grad();
      Tensor gr = gamma.clone().set_requires_grad(), br = beta.clone().set_requires_grad();
      rms[r] = Tensor::zeros({C}), rvs[r] = Tensor::ones({C});
      Tensor yr = sync_batch_norm(xr, gr, br, rms[r], rvs[r], 0.1f, 1e-5f, relu, comm);
      scale(sum_all(mul(yr, w.slice(r * N / 2, (r + 1) * N / 2))), 2.f / N).backward();
      GradientAverager(comm, 1e-4).average({gr, br});  // tiny buckets: one parameter per bucket
      ys[r] = yr.detach();
      dxs[r] = scale(xr.grad(), 0.5f);  // the input gradient of the global loss (each rank's loss is world x)
      params[r] = {gr, br};
    };
    std::thread t1(rank_main, 1);
    rank_main(0);
    t1.join();
    CHECK(max_rel(concat({ys[0], ys[1]}, 0).to_vector(), y.to_vector()) < 1e-6);
    CHECK(max_rel(concat({dxs[0], dxs[1]}, 0).to_vector(), xa.grad().to_vector()) < 1e-5);
    for (int r = 0; r < 2; ++r) {
      CHECK(max_rel(params[r][0].grad().to_vector(), ga.grad().to_vector()) < 1e-5);
      CHECK(max_rel(params[r][1].grad().to_vector(), ba.grad().to_vector()) < 1e-5);
      CHECK(max_rel(rms[r].to_vector(), rm.to_vector()) < 1e-6);
      CHECK(max_rel(rvs[r].to_vector(), rv.to_vector()) < 1e-6);
    }
  }
}

TEST_CASE("every sampler: the ranks' step-k batches together are the single process's step-k batch") {
  // 7 classes, 3..60 samples: a long tail
  std::vector<int32_t> labels;
  for (int c = 0; c < 7; ++c)
    for (int i = 0; i < 60 / (1 << (c / 2)) + 3; ++i) labels.push_back(c);
  for (data::SamplerKind kind :
       {data::SamplerKind::Sequential, data::SamplerKind::Instance, data::SamplerKind::ClassAware,
        data::SamplerKind::SquareRoot, data::SamplerKind::Progressive, data::SamplerKind::EffectiveNumber,
        data::SamplerKind::BalancedRS, data::SamplerKind::CBEN, data::SamplerKind::Resample}) {
    CAPTURE(data::sampler_kind_name(kind));
    for (int world : {2, 3, 4}) {
      CAPTURE(world);
      const int64_t B = 12, b = B / world;  // the global batch and each rank's share
      data::SamplerConfig sc;
      sc.kind = kind, sc.seed = 11, sc.total_epochs = 5;
      for (int64_t epoch : {0, 3}) {
        const std::vector<int64_t> one = data::Sampler(labels, 7, sc).epoch_indices(epoch);
        std::vector<std::vector<int64_t>> shards;
        for (int r = 0; r < world; ++r) {
          data::SamplerConfig rc = sc;
          rc.rank = r, rc.world = world;
          shards.push_back(data::Sampler(labels, 7, rc).epoch_indices(epoch));
        }
        const int64_t full_steps = (int64_t)one.size() / B;
        REQUIRE(full_steps >= 5);
        for (int64_t k = 0; k < full_steps; ++k) {
          std::vector<int64_t> a(one.begin() + k * B, one.begin() + (k + 1) * B), u;
          for (int r = 0; r < world; ++r) u.insert(u.end(), shards[r].begin() + k * b, shards[r].begin() + (k + 1) * b);
          std::sort(a.begin(), a.end());
          std::sort(u.begin(), u.end());
          REQUIRE(a == u);
        }
        // the last, partial batch: the stream padded from its start to a multiple of world (DistributedSampler)
        std::vector<int64_t> padded = one;
        for (int64_t i = 0; (int64_t)padded.size() % world; ++i) padded.push_back(one[i]);
        std::vector<int64_t> tail(padded.begin() + full_steps * B, padded.end()), u;
        for (int r = 0; r < world; ++r) u.insert(u.end(), shards[r].begin() + full_steps * b, shards[r].end());
        std::sort(tail.begin(), tail.end());
        std::sort(u.begin(), u.end());
        CHECK(tail == u);
      }
    }
  }
}

TEST_CASE("the state of a data-parallel job keeps its rank count and every rank's loss stream") {
  RunState s;
  s.world = 3;
  for (uint64_t r = 0; r < 3; ++r) {
    Rng g = Rng::keyed(9, 0x6c6f7373, r);
    g.normal();  // a spare held
    s.rank_loss_rngs.push_back(g.state());
  }
  RunState t = state_from_json(state_json(s, "h"), "f");
  REQUIRE(t.world == 3);
  REQUIRE(t.rank_loss_rngs.size() == 3);
  for (int r = 0; r < 3; ++r) {
    Rng a, b;
    a.set_state(s.rank_loss_rngs[r]);
    b.set_state(t.rank_loss_rngs[r]);
    for (int i = 0; i < 4; ++i) CHECK(a.normal() == b.normal());
  }
  // one process: the state as it always was (no data-parallel keys)
  Json one = state_json(RunState{}, "h");
  CHECK(!one.contains("world"));
  CHECK(state_from_json(one, "f").world == 1);
}

TEST_CASE("the ranks of one job: the first rank whose config, data or tailor build differs from rank 0's is named") {
  using tailor::same_job_difference;
  using tailor::same_job_record;
  const std::string me = "tailor 0123456789ab (2026-12-06; CUDA on, MPI on, NCCL on, native)";
  const std::string a = same_job_record("h0", "3-abc", me);
  CHECK(same_job_difference({a, a, a}).rank == -1);
  CHECK(same_job_difference({a}).rank == -1);
  // another config wins over other data and another build (the caller then names the config's keys)
  auto d = same_job_difference({a, a, same_job_record("h1", "3-xyz", "tailor ba9876543210 (x)")});
  CHECK(d.rank == 2);
  CHECK(d.what == "config");
  d = same_job_difference({a, same_job_record("h0", "3-xyz", "tailor ba9876543210 (x)"), a});
  CHECK(d.rank == 1);
  CHECK(d.what == "data");
  CHECK(d.detail == "data fingerprint '3-xyz' vs rank 0's '3-abc'");
  // the same job run by another install of tailor (another commit, a dirty checkout, other backends)
  const std::string other = "tailor 0123456789ab-dirty (2026-12-06; CUDA off, MPI on, NCCL off, portable)";
  d = same_job_difference({a, a, a, same_job_record("h0", "3-abc", other)});
  CHECK(d.rank == 3);
  CHECK(d.what == "tailor build");
  CHECK(d.detail == other + " vs rank 0's " + me);
}

TEST_CASE("GradReadyHook: every leaf once, when its gradient is final; backward unchanged") {
  Rng rng(5);
  Tensor a = randn({3, 4}, rng).set_requires_grad(), b = randn({4}, rng).set_requires_grad(),
         c = randn({4}, rng).set_requires_grad(), unused = randn({2}, rng).set_requires_grad();
  auto loss = [&] {
    Tensor y = add(mul(a, b), mul(a, c));   // a: two edges
    return sum_all(mul(y, add(y, b)));      // b: an edge near the loss and one deep in the graph
  };
  const V leaves = {a, b, c};
  loss().backward();
  std::vector<std::vector<float>> plain;
  for (const Tensor& t : leaves) plain.push_back(t.grad().to_vector());
  for (Tensor t : leaves) t.zero_grad();
  std::vector<std::pair<const TensorImpl*, std::vector<float>>> seen;
  {
    GradReadyHook hook([&](const Tensor& leaf) { seen.push_back({leaf.impl(), leaf.grad().to_vector()}); });
    loss().backward();
  }
  REQUIRE(seen.size() == 3);
  for (size_t k = 0; k < leaves.size(); ++k) {
    CAPTURE(k);
    const std::vector<float> g = leaves[k].grad().to_vector();
    CHECK(std::memcmp(g.data(), plain[k].data(), g.size() * 4) == 0);  // the hook changes nothing
    int reported = 0;
    for (auto& [impl, at_report] : seen)
      if (impl == leaves[k].impl()) {
        ++reported;
        CHECK(std::memcmp(at_report.data(), g.data(), g.size() * 4) == 0);  // final when reported
      }
    CHECK(reported == 1);
  }
  CHECK(!unused.grad().defined());
  loss().backward();  // the hook has gone: nothing reported
  CHECK(seen.size() == 3);
}

TEST_CASE("overlapped gradient averaging equals the blocking one bit for bit (two ranks as threads)") {
  // A two-layer MLP; p[4] gets a gradient on rank 0 only, at odd steps; p[5] never gets one. Each path trains
  // 4 steps from the same start; every gradient after averaging, and every parameter, must match bit for bit.
  using Grads = std::vector<std::vector<float>>;  // per step and parameter: the averaged gradient ({} = none)
  auto bits_equal = [](const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size() * 4) == 0);
  };
  for (double bucket_mb : {1e-5, 2e-4, 25.0}) {  // one parameter per bucket, a few per bucket, one bucket
    CAPTURE(bucket_mb);
    ThreadGroup g(2);
    Grads out[2][2];  // [overlap][rank]
    auto rank_main = [&](int r) {
      ThreadComm comm(g, r);
      for (int overlap : {0, 1}) {
        Rng init(7);  // the same start on every rank and for both paths
        V p = {randn({8, 6}, init), randn({8}, init), randn({3, 8}, init), randn({3}, init), randn({4}, init),
               randn({5}, init)};
        for (Tensor& t : p) t.set_requires_grad();
        GradientAverager avg(comm, bucket_mb, overlap == 1);
        const int64_t overlapped0 = comm.during_backward;
        for (int step = 0; step < 4; ++step) {
          Rng data = Rng::keyed(11, (uint64_t)step, (uint64_t)r);  // each rank its own samples
          Tensor x = randn({5, 6}, data);
          std::vector<int32_t> y;
          for (int i = 0; i < 5; ++i) y.push_back((int32_t)data.below(3));
          Tensor loss = softmax_cross_entropy(linear(relu(linear(x, p[0], p[1])), p[2], p[3]),
                                              Tensor::from_vector_i32(y, {5}));
          if (r == 0 && step % 2 == 1) loss = add(loss, sum_all(mul(p[4], p[4])));
          for (Tensor& t : p) t.zero_grad();
          avg.backward(loss, p);
          NoGradGuard ng;
          for (Tensor& t : p) {
            out[overlap][r].push_back(t.grad().defined() ? t.grad().to_vector() : std::vector<float>{});
            if (t.grad().defined()) t.copy_from(sub(t, scale(t.grad(), 0.5f)));
          }
          out[overlap][r].push_back(p[0].to_vector());  // the trained weights too
        }
        // buckets started while backward ran: with several buckets, the overlapped path only
        if (bucket_mb < 1) CHECK((comm.during_backward > overlapped0) == (overlap == 1));
      }
    };
    std::thread t1(rank_main, 1);
    rank_main(0);
    t1.join();
    for (int r = 0; r < 2; ++r) {
      REQUIRE(out[0][r].size() == out[1][r].size());
      for (size_t k = 0; k < out[0][r].size(); ++k) {
        CAPTURE(r);
        CAPTURE(k);
        CHECK(bits_equal(out[0][r][k], out[1][r][k]));
        CHECK(bits_equal(out[1][0][k], out[1][r][k]));  // every rank the same
      }
    }
    for (int step = 0; step < 4; ++step) {  // 7 entries per step: 6 gradients, then p[0]
      CHECK(out[1][1][(size_t)step * 7 + 4].empty() == (step % 2 == 0));  // rank 0's gradient reached rank 1
      CHECK(out[1][1][(size_t)step * 7 + 5].empty());                     // no rank had one: none
    }
  }
}

TEST_CASE("all_gather_rows: the ranks' interleaved rows in global order; check_ranks_agree names a drifted tensor") {
  const int world = 3;
  ThreadGroup g(world);
  std::vector<Tensor> got(world), got_i(world);
  std::vector<std::string> errors(world), uneven(world);
  auto rank_main = [&](int r) {
    ThreadComm comm(g, r);
    // global row k * world + r holds the values 10 * (k * world + r) + column: rank r holds rows r, r + 3, ...
    std::vector<float> mine;
    std::vector<int32_t> labels;
    for (int k = 0; k < 2; ++k) {
      for (int c = 0; c < 4; ++c) mine.push_back((float)(10 * (k * world + r) + c));
      labels.push_back(k * world + r);
    }
    got[r] = all_gather_rows(comm, Tensor::from_vector(mine, {2, 2, 2}));
    got_i[r] = all_gather_rows(comm, Tensor::from_vector_i32(labels, {2}));
    try {  // rank 2 holds one row fewer
      all_gather_rows(comm, Tensor::zeros({r == 2 ? 1 : 2, 3}));
    } catch (const std::exception& e) {
      uneven[r] = e.what();
    }
    std::map<std::string, Tensor> state{{"model.w", Tensor::full({5}, 1.f)}, {"method.queue", Tensor::full({3}, 2.f)}};
    check_ranks_agree(comm, state);  // equal: no error
    if (r == 1) state["method.queue"].f32()[2] = 2.0000002f;
    try {
      check_ranks_agree(comm, state);
    } catch (const std::exception& e) {
      errors[r] = e.what();
    }
  };
  std::vector<std::thread> threads;
  for (int r = 1; r < world; ++r) threads.emplace_back(rank_main, r);
  rank_main(0);
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    CAPTURE(r);
    REQUIRE(got[r].shape() == Shape{6, 2, 2});
    std::vector<float> v = got[r].to_vector();
    for (int row = 0; row < 6; ++row)
      for (int c = 0; c < 4; ++c) CHECK(v[(size_t)(row * 4 + c)] == (float)(10 * row + c));
    CHECK(got_i[r].to_vector_i32() == std::vector<int32_t>{0, 1, 2, 3, 4, 5});
    // every rank stops (and none waits in a second collective): ranks 0 and 1 name rank 2, rank 2 names rank 0
    CHECK(uneven[r].find(r == 2 ? "all_gather_rows: rank 0 holds 2 rows, rank 2 1" : "all_gather_rows: rank 2 holds 1 rows") !=
          std::string::npos);
    CHECK(errors[r].find("the ranks' training states differ at 'method.queue' (rank 1 vs rank 0)") !=
          std::string::npos);
  }
  // one process: the tensor itself
  auto single = make_single_process_comm();
  Tensor t = Tensor::ones({2, 3});
  CHECK(all_gather_rows(*single, t).same_storage(t));
}
