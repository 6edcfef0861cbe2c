// The NCCL backend of engine/comm.h: the GPU collectives of a data-parallel job, one GPU per rank.
//
// Bootstrap: the ranks are launched and connected by MPI (engine/dist/comm_mpi.cpp). Rank 0 makes the
// NCCL unique id, broadcasts it over that MPI communicator, and every rank joins with ncclCommInitRank.
// Host-buffer collectives (statistics, metrics, states, barriers) are forwarded to the MPI communicator.
//
// Stream ordering: tensor collectives are queued, in place, on cuda::stream(), the one stream all work
// runs on, so they follow the kernels that produced the data and precede those that read it; the host
// does not wait for them.
//
// all_reduce_sum_async (gradient buckets during backward): the all-reduce goes on a stream of the
// communicator's own, after an event recorded on cuda::stream() (so it reads the bucket as the kernels
// queued so far leave it, and backward's later kernels run beside it); an event recorded after it is what
// wait() makes cuda::stream() wait for: the compute stream waits only there, the host not at all (with
// timeout_s > 0, wait() polls that event against the deadline as below).
//
// Timeout: NCCL collectives are asynchronous, so a stuck peer would only show at the next host wait,
// with no message. With timeout_s > 0 every collective is followed by wait_done(): an event recorded
// after it is polled (with ncclCommGetAsyncError) until it completes, and past timeout_s the job ends
// with a message naming the operation. That wait makes each collective synchronous with the host;
// dist.timeout_s 0 removes it (and with it the guard against hangs).
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

#include "engine/comm.h"
#include "engine/cuda/runtime.h"

namespace tailor {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class NcclComm : public Communicator {
 public:
  NcclComm(Communicator& bootstrap, Device device, double timeout_s)
      : boot_(bootstrap), device_(device), timeout_(timeout_s) {
    TAILOR_CHECK(device.is_cuda(), "dist (nccl): rank ", rank(), " needs a CUDA device, got ", device.str());
    const int count = cuda::device_count();
    TAILOR_CHECK(device.index >= 0 && device.index < count, "dist (nccl): local rank ", local_rank(),
                 " (rank ", rank(), ") wants GPU ", device.index, " but this machine has ", count,
                 " visible GPU(s): launch at most one rank per GPU on each machine");
    TAILOR_CUDA_CHECK(cudaSetDevice(device.index));
#if CUDART_VERSION >= 12080
    int stream_device = -1;  // the stream is made on first use: it must be on this rank's GPU
    TAILOR_CUDA_CHECK(cudaStreamGetDevice(cuda::stream(), &stream_device));
    TAILOR_CHECK(stream_device == device.index, "dist (nccl): rank ", rank(), " uses GPU ", device.index,
                 " but the CUDA stream was already created on GPU ", stream_device);
#endif
    // connections made at init rather than at a collective's first call (NCCL >= 2.22 defers them), where
    // ranks that reach their first bucket at different times would block each other outside the timeouts
    setenv("NCCL_RUNTIME_CONNECT", "0", 0);
    ncclUniqueId id{};
    if (rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    boot_.broadcast_bytes(&id, sizeof id, 0);
    check(ncclCommInitRank(&comm_, world(), id, rank()), "ncclCommInitRank");
    if (timeout_ > 0) TAILOR_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    TAILOR_CUDA_CHECK(cudaEventCreateWithFlags(&queued_, cudaEventDisableTiming));
    TAILOR_CUDA_CHECK(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking));
  }
  ~NcclComm() override {  // never throws: errors at teardown are ignored
    if (done_) cudaEventDestroy(done_);
    if (queued_) cudaEventDestroy(queued_);
    if (side_) cudaStreamDestroy(side_);
    // unwinding after an error: the other ranks may never join a collective again, which ncclCommDestroy
    // could wait for
    if (comm_) std::uncaught_exceptions() > 0 ? ncclCommAbort(comm_) : ncclCommDestroy(comm_);
  }

  int rank() const override { return boot_.rank(); }
  int world() const override { return boot_.world(); }
  int local_rank() const override { return boot_.local_rank(); }
  std::string backend() const override { return "nccl"; }

  void all_reduce_sum(Tensor& t) override {
    TAILOR_CHECK(t.is_contiguous() && (t.dtype() == DType::F32 || t.dtype() == DType::I32) &&
                     t.device() == device_,
                 "all_reduce_sum (nccl): needs a contiguous f32 or i32 tensor on ", device_.str(), ", got ",
                 t.desc());
    if (t.numel() == 0) return;
    const ncclDataType_t type = t.dtype() == DType::F32 ? ncclFloat : ncclInt32;
    void* p = t.raw_data();
    check(ncclAllReduce(p, p, (size_t)t.numel(), type, ncclSum, comm_, cuda::stream()), "ncclAllReduce");
    wait_done("all_reduce");
  }
  std::unique_ptr<PendingCollective> all_reduce_sum_async(Tensor& t) override {
    TAILOR_CHECK(t.is_contiguous() && (t.dtype() == DType::F32 || t.dtype() == DType::I32) &&
                     t.device() == device_,
                 "all_reduce_sum_async (nccl): needs a contiguous f32 or i32 tensor on ", device_.str(), ", got ",
                 t.desc());
    auto op = std::make_unique<Pending>(*this, t);
    if (t.numel() == 0) return op;
    TAILOR_CUDA_CHECK(cudaEventRecord(queued_, cuda::stream()));
    TAILOR_CUDA_CHECK(cudaStreamWaitEvent(side_, queued_, 0));
    const ncclDataType_t type = t.dtype() == DType::F32 ? ncclFloat : ncclInt32;
    void* p = t.raw_data();
    check(ncclAllReduce(p, p, (size_t)t.numel(), type, ncclSum, comm_, side_), "ncclAllReduce");
    TAILOR_CUDA_CHECK(cudaEventCreateWithFlags(&op->done, cudaEventDisableTiming));
    TAILOR_CUDA_CHECK(cudaEventRecord(op->done, side_));
    return op;
  }
  void broadcast(Tensor& t, int root) override {
    TAILOR_CHECK(t.is_contiguous() && t.device() == device_, "broadcast (nccl): needs a contiguous tensor on ",
                 device_.str(), ", got ", t.desc());
    if (t.nbytes() == 0) return;
    void* p = t.raw_data();
    check(ncclBroadcast(p, p, t.nbytes(), ncclChar, root, comm_, cuda::stream()), "ncclBroadcast");
    wait_done("broadcast");
  }

  // Host buffers: over MPI.
  void all_reduce_sum(double* data, int64_t n) override { boot_.all_reduce_sum(data, n); }
  void broadcast_bytes(void* data, int64_t bytes, int root) override {
    boot_.broadcast_bytes(data, bytes, root);
  }
  void all_gather_bytes(const void* in, int64_t bytes, void* out) override {
    boot_.all_gather_bytes(in, bytes, out);
  }
  void barrier() override { boot_.barrier(); }
  // the host's waits for NCCL collectives (with a timeout set) and the host collectives over MPI
  double collective_seconds() const override { return boot_.collective_seconds() + seconds_; }

 private:
  // The NCCL call, NCCL's message (and its last-error detail) and the rank.
  std::string message(ncclResult_t r, const char* what) const {
    const char* detail = ncclGetLastError(comm_);
    return std::string("NCCL: ") + what + " failed on rank " + std::to_string(rank()) + " of " +
           std::to_string(world()) + ": " + ncclGetErrorString(r) +
           (detail && *detail ? std::string(" (") + detail + ")" : std::string());
  }
  void check(ncclResult_t r, const char* what) const {
    if (r != ncclSuccess) fail(message(r, what));
  }

  // An all_reduce_sum_async in flight: `done` is recorded on side_ after it (none for an empty tensor).
  struct Pending : PendingCollective {
    Pending(NcclComm& c, Tensor& t) : comm(c), tensor(t) {}
    ~Pending() override {  // never throws: orders cuda::stream() after the collective all the same
      if (!done) return;
      if (!waited) cudaStreamWaitEvent(cuda::stream(), done, 0);
      cudaEventDestroy(done);  // released once the event has completed
    }
    bool test() override {
      if (!done) return true;
      const cudaError_t e = cudaEventQuery(done);
      if (e == cudaErrorNotReady) {
        (void)cudaGetLastError();  // no error: not left for the next launch check
        return false;
      }
      TAILOR_CUDA_CHECK(e);  // a device error now, not at wait()
      return true;
    }
    void wait() override {
      if (!done || waited) return;
      waited = true;
      if (comm.timeout_ > 0) comm.poll(done, "all_reduce");
      TAILOR_CUDA_CHECK(cudaStreamWaitEvent(cuda::stream(), done, 0));
    }
    NcclComm& comm;
    Tensor tensor;  // alive until the collective is ordered before cuda::stream()'s later work
    cudaEvent_t done = nullptr;
    bool waited = false;
  };

  // timeout_s > 0: waits for the collective just queued; past the timeout, aborts the job.
  void wait_done(const char* what) {
    if (timeout_ <= 0) return;
    TAILOR_CUDA_CHECK(cudaEventRecord(done_, cuda::stream()));
    poll(done_, what);
  }
  // Polls `event` (and NCCL's asynchronous errors) until it completes; past timeout_s, aborts the job.
  void poll(cudaEvent_t event, const char* what) {
    const double t0 = now_s();
    for (int64_t polls = 0;; ++polls) {
      const cudaError_t e = cudaEventQuery(event);
      if (e == cudaSuccess) {
        seconds_ += now_s() - t0;
        return;
      }
      if (e != cudaErrorNotReady) TAILOR_CUDA_CHECK(e);
      (void)cudaGetLastError();  // "not ready" is no error: never left for the next launch check to find
      ncclResult_t async = ncclSuccess;
      check(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
      if (async != ncclSuccess && async != ncclInProgress) {
        const std::string msg = message(async, what);
        ncclCommAbort(comm_);  // the communicator is unusable after an asynchronous error
        comm_ = nullptr;
        fail(msg);
      }
      if (polls > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      if ((polls & 255) == 0 && now_s() - t0 > timeout_) {
        std::fprintf(stderr,
                     "\ntailor rank %d of %d: %s waited more than %g s (dist.timeout_s) for the other ranks: one "
                     "of them is stuck or has died; aborting the job\n",
                     rank(), world(), what, timeout_);
        std::fflush(stderr);
        std::fflush(stdout);
        ncclCommAbort(comm_);
        std::_Exit(70);
      }
    }
  }

  Communicator& boot_;
  Device device_;
  double timeout_, seconds_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaEvent_t done_ = nullptr, queued_ = nullptr;
  cudaStream_t side_ = nullptr;  // the asynchronous all-reduces' stream
};

}  // namespace

bool nccl_available() { return true; }

std::unique_ptr<Communicator> make_nccl_comm(Communicator& bootstrap, Device device, double timeout_s) {
  return std::make_unique<NcclComm>(bootstrap, device, timeout_s);
}

}  // namespace tailor
