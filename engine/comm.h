// Collective communication between the processes of a data-parallel job (one process per rank, launched
// by `mpirun -np N tailor ...`). The engine never moves bytes between processes itself: MPI (Open MPI)
// connects CPU ranks and bootstraps everything, NCCL connects GPUs (its id broadcast over MPI).
//
//   all_reduce_sum   every rank ends with the elementwise sum of every rank's buffer (in place)
//   all_reduce_sum_async   the same, started now and finished by the returned handle's wait()
//   broadcast        every rank ends with root's buffer
//   all_gather       every rank ends with the concatenation, rank by rank, of every rank's block
//   barrier          no rank leaves before every rank has entered
//
// Every rank must call the same collectives in the same order with the same sizes. A collective that
// does not complete within the timeout ends the whole job with a message naming the operation, instead
// of hanging; a rank that dies is reported by the launcher (mpirun names the rank and its signal) and the
// others are stopped with it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace tailor {

// A collective in flight (all_reduce_sum_async). test() lets it progress without waiting (MPI moves data
// only inside its calls) and tells whether it is done; wait() finishes it: then the tensor holds the sum
// (NCCL: for the work queued on cuda::stream() after wait(); the host does not wait). Call wait() before
// the handle goes; the tensor must stay alive and untouched until then.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual bool test() { return true; }
  virtual void wait() {}
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual int local_rank() const { return rank(); }  // the rank among the processes of this machine
  virtual std::string backend() const = 0;           // "single", "mpi", "nccl"

  // Tensors: contiguous f32 or i32. The MPI backend takes any device (a CUDA tensor is staged through
  // the host); the NCCL backend takes CUDA tensors of its own device.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // Non-blocking all_reduce_sum: every rank must start its asynchronous all-reduces in the same order (they
  // may interleave with the other collectives differently on different ranks: the MPI backend runs them on
  // a communicator of their own). NCCL: on a stream of the communicator's own, after the work queued so far
  // on cuda::stream(); no other tensor collective may be queued between the start and the wait(). The
  // default (one process, or a backend without one) is the blocking all_reduce_sum, already done.
  virtual std::unique_ptr<PendingCollective> all_reduce_sum_async(Tensor& t) {
    all_reduce_sum(t);
    return std::make_unique<PendingCollective>();
  }
  virtual void broadcast(Tensor& t, int root) = 0;
  // Host buffers: statistics, metrics, states.
  virtual void all_reduce_sum(double* data, int64_t n) = 0;
  virtual void broadcast_bytes(void* data, int64_t bytes, int root) = 0;
  virtual void all_gather_bytes(const void* in, int64_t bytes, void* out) = 0;  // out: world * bytes
  virtual void barrier() = 0;
  // Seconds this process has spent inside collectives so far (waiting for the others included): where
  // a data-parallel step's time goes besides computing.
  virtual double collective_seconds() const { return 0; }
};

// One process: every collective is the identity.
std::unique_ptr<Communicator> make_single_process_comm();

// The launcher's view of this process: world size, rank and local rank from mpirun's environment
// (OMPI_COMM_WORLD_SIZE / _RANK / _LOCAL_RANK; PMI_SIZE / PMI_RANK with MPI_LOCALRANKID; or, for a task srun
// started as one of several, PMIX_RANK with SLURM_STEP_NUM_TASKS / SLURM_LOCALID: engine/comm.cpp); world 1
// when not launched so.
struct LaunchInfo {
  int world = 1, rank = 0, local_rank = 0;
  int local_size = 0;     // the ranks on this host (Open MPI's / MPICH's variable); 0: not said
  bool launched = false;  // started by mpirun (also with -np 1: the data-parallel code paths on one rank)
  std::string source;     // the variables read ("OMPI_COMM_WORLD_RANK / _SIZE", ...), for messages
};
LaunchInfo launch_info();

// The threads of `threads: 0`: the CPUs this process may run on (its affinity mask: taskset, a scheduler's
// cgroup, mpirun's binding of a rank to its cores), under mpirun at most the host's CPUs divided among the ranks
// on it as the launcher says (ranks bound to a whole socket, or not bound, would otherwise oversubscribe it).
int default_threads();

// A rank of a job of several (mpirun, world > 1, MPI started) that fails ends every rank now (MPI_Abort with
// `code`, mpirun's exit status), instead of leaving the others waiting in their next collective until
// dist.timeout_s. Returns, doing nothing, in a single process or before MPI started.
void abort_job_if_parallel(int code);

// True when this build has the MPI backend (Open MPI found at configure time) / the NCCL backend.
bool mpi_available();
bool nccl_available();

// MPI_COMM_WORLD (MPI_Init on first use; MPI_Finalize at exit). timeout_s > 0: a collective that waits
// longer aborts the job. Throws naming how to build with MPI when this build has none.
std::unique_ptr<Communicator> make_mpi_comm(double timeout_s);

// NCCL between the GPUs of the job, one per rank (`device` = this rank's GPU): rank 0 makes the NCCL id
// and broadcasts it over `bootstrap` (the MPI communicator, which must outlive it). Host-buffer
// collectives go through `bootstrap`. Throws when this build has no NCCL backend.
std::unique_ptr<Communicator> make_nccl_comm(Communicator& bootstrap, Device device, double timeout_s);

}  // namespace tailor
