// The MPI backend of engine/comm.h (Open MPI): MPI_COMM_WORLD, non-blocking collectives polled against a
// deadline so that a stuck job ends with a message instead of hanging.
//
// all_reduce_sum_async: MPI_Iallreduce on a duplicate of MPI_COMM_WORLD made at start (so that gradient
// buckets in flight never pair with another rank's blocking collectives issued in a different order,
// e.g. SyncBatchNorm's inside backward). Open MPI has no progress thread over shared memory: the data moves
// inside MPI calls, so the handle's test() (MPI_Testall) is what the caller calls between its own work to
// drive it; wait() polls to the end against the deadline. Time inside test() and wait() counts as
// collective time. A CUDA tensor is staged through the host (copied out at the start, back at wait()).
#define OMPI_SKIP_MPICXX 1  // the C API only (Open MPI's deprecated C++ bindings need another library)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "engine/comm.h"

namespace tailor {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

class MpiComm : public Communicator {
 public:
  explicit MpiComm(double timeout_s) : timeout_(timeout_s) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;  // only the main thread calls MPI (the loader's workers never do)
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      std::atexit(finalize_at_exit);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
    // who writes and which rows a rank loads come from the launcher's variables (read before MPI starts): they
    // must be MPI's own view, not variables set by hand or a launcher that set some of them
    const LaunchInfo li = launch_info();
    if (li.world != world_ || li.rank != rank_) {
      char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
      int len = 0;
      MPI_Get_library_version(version, &len);
      std::string library(version, (size_t)std::max(0, len));
      library = library.substr(0, library.find_first_of(",\n"));  // "Open MPI v4.1.4", "MPICH Version: 4.0.2"
      fail("the environment says rank " + std::to_string(li.rank) + " of " + std::to_string(li.world) + " (" +
           li.source + "), MPI says rank " + std::to_string(rank_) + " of " + std::to_string(world_) +
           ": start the ranks with the launcher of the MPI this tailor was built against (" + library +
           ": mpirun / mpiexec -n N), and do not set these variables by hand");
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &async_);  // collective: every rank makes its communicator at the same point
                                            // (MPI_Finalize releases it)
    local_rank_ = launch_info().local_rank;
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(Tensor& t) override {
    TAILOR_CHECK(t.is_contiguous() && (t.dtype() == DType::F32 || t.dtype() == DType::I32),
                 "all_reduce_sum: needs a contiguous f32 or i32 tensor, got ", t.desc());
    if (t.is_cuda()) {  // staged through the host
      Tensor h = t.cpu();
      all_reduce_sum(h);
      t.copy_from(h);
      return;
    }
    const MPI_Datatype type = t.dtype() == DType::F32 ? MPI_FLOAT : MPI_INT;
    char* p = (char*)t.raw_data();
    for (int64_t done = 0, n = t.numel(); done < n;) {
      const int count = (int)std::min<int64_t>(n - done, 1 << 30);
      MPI_Request req;
      MPI_Iallreduce(MPI_IN_PLACE, p + done * 4, count, type, MPI_SUM, MPI_COMM_WORLD, &req);
      wait(&req, 1, "all_reduce");
      done += count;
    }
  }
  std::unique_ptr<PendingCollective> all_reduce_sum_async(Tensor& t) override {
    TAILOR_CHECK(t.is_contiguous() && (t.dtype() == DType::F32 || t.dtype() == DType::I32),
                 "all_reduce_sum_async: needs a contiguous f32 or i32 tensor, got ", t.desc());
    auto op = std::make_unique<Pending>(*this, t);
    const MPI_Datatype type = t.dtype() == DType::F32 ? MPI_FLOAT : MPI_INT;
    char* p = (char*)op->host.raw_data();
    for (int64_t done = 0, n = t.numel(); done < n;) {
      const int count = (int)std::min<int64_t>(n - done, 1 << 30);
      op->reqs.emplace_back();
      MPI_Iallreduce(MPI_IN_PLACE, p + done * 4, count, type, MPI_SUM, async_, &op->reqs.back());
      done += count;
    }
    return op;
  }
  void broadcast(Tensor& t, int root) override {
    TAILOR_CHECK(t.is_contiguous(), "broadcast: needs a contiguous tensor, got ", t.desc());
    if (t.is_cuda()) {
      Tensor h = t.cpu();
      broadcast(h, root);
      t.copy_from(h);
      return;
    }
    broadcast_bytes(t.raw_data(), (int64_t)t.nbytes(), root);
  }
  void all_reduce_sum(double* data, int64_t n) override {
    for (int64_t done = 0; done < n;) {
      const int count = (int)std::min<int64_t>(n - done, 1 << 30);
      MPI_Request req;
      MPI_Iallreduce(MPI_IN_PLACE, data + done, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req);
      wait(&req, 1, "all_reduce");
      done += count;
    }
  }
  void broadcast_bytes(void* data, int64_t bytes, int root) override {
    for (int64_t done = 0; done < bytes;) {
      const int count = (int)std::min<int64_t>(bytes - done, 1 << 30);
      MPI_Request req;
      MPI_Ibcast((char*)data + done, count, MPI_BYTE, root, MPI_COMM_WORLD, &req);
      wait(&req, 1, "broadcast");
      done += count;
    }
  }
  void all_gather_bytes(const void* in, int64_t bytes, void* out) override {
    TAILOR_CHECK(bytes < (1ll << 31), "all_gather: blocks of at most 2 GiB, got ", bytes, " bytes");
    MPI_Request req;
    MPI_Iallgather(in, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, MPI_COMM_WORLD, &req);
    wait(&req, 1, "all_gather");
  }
  void barrier() override {
    MPI_Request req;
    MPI_Ibarrier(MPI_COMM_WORLD, &req);
    wait(&req, 1, "barrier");
  }

 private:
  // An all_reduce_sum_async in flight: its requests, and the host buffer they reduce (the tensor itself
  // on the CPU; a host copy of a CUDA tensor, copied back by wait()).
  struct Pending : PendingCollective {
    Pending(MpiComm& c, Tensor& t) : comm(c), tensor(t), host(t.is_cuda() ? t.cpu() : t) {}
    ~Pending() override {  // the buffer must not go while MPI still writes it
      try {
        wait();
      } catch (...) {
      }
    }
    bool test() override {
      if (finished) return true;
      const double t0 = now_s();
      int done = 0;
      MPI_Testall((int)reqs.size(), reqs.data(), &done, MPI_STATUSES_IGNORE);
      comm.seconds_ += now_s() - t0;
      if (done) finish();
      return done != 0;
    }
    void wait() override {
      if (finished) return;
      comm.wait(reqs.data(), (int)reqs.size(), "all_reduce");
      finish();
    }
    void finish() {
      finished = true;
      if (tensor.is_cuda()) tensor.copy_from(host);
    }
    MpiComm& comm;
    Tensor tensor, host;
    std::vector<MPI_Request> reqs;
    bool finished = false;
  };

  // Polls the requests: spins briefly (collectives of a step take microseconds), then sleeps between polls.
  void wait(MPI_Request* reqs, int n, const char* what) {
    const double t0 = now_s();
    for (int64_t polls = 0;; ++polls) {
      int done = 0;
      MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
      if (done) {
        seconds_ += now_s() - t0;
        return;
      }
      if (polls > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (timeout_ > 0 && (polls & 255) == 0 && now_s() - t0 > timeout_) {
        std::fprintf(stderr,
                     "\ntailor rank %d of %d: %s waited more than %g s (dist.timeout_s) for the other ranks: one "
                     "of them is stuck or has died; aborting the job\n",
                     rank_, world_, what, timeout_);
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 70);
      }
    }
  }
  double collective_seconds() const override { return seconds_; }
  double timeout_, seconds_ = 0;
  int rank_ = 0, world_ = 1, local_rank_ = 0;
  MPI_Comm async_ = MPI_COMM_NULL;  // the asynchronous all-reduces' own communicator
};

}  // namespace

bool mpi_available() { return true; }

void abort_job_if_parallel(int code) {
  int inited = 0, finalized = 0, world = 1;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (!inited || finalized) return;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world <= 1) return;
  std::fflush(stdout);
  std::fflush(stderr);
  // A moment before the abort: the launcher (MPICH's Hydra above all) tears the job down at the first
  // MPI_Abort and may drop what another rank has just written to stderr, e.g. its own error line when
  // every rank refuses the same config. Half a second on an error path costs nothing.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  MPI_Abort(MPI_COMM_WORLD, code);
}

std::unique_ptr<Communicator> make_mpi_comm(double timeout_s) { return std::make_unique<MpiComm>(timeout_s); }

}  // namespace tailor
