#include "engine/comm.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace tailor {

namespace {

class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce_sum(Tensor&) override {}
  void broadcast(Tensor&, int) override {}
  void all_reduce_sum(double*, int64_t) override {}
  void broadcast_bytes(void*, int64_t, int) override {}
  void all_gather_bytes(const void* in, int64_t bytes, void* out) override {
    if (bytes > 0 && in != out) std::memcpy(out, in, (size_t)bytes);
  }
  void barrier() override {}
};

int env_int(const char* a, const char* b, int fallback) {
  for (const char* name : {a, b})
    if (const char* v = name ? std::getenv(name) : nullptr)
      if (*v) return std::atoi(v);
  return fallback;
}

}  // namespace

std::unique_ptr<Communicator> make_single_process_comm() { return std::make_unique<SingleProcess>(); }

// Open MPI's mpirun sets OMPI_COMM_WORLD_*, MPICH's Hydra (and srun --mpi=pmi2) PMI_RANK / PMI_SIZE with
// MPI_LOCALRANKID / MPI_LOCALNRANKS; a PMIx launcher (srun --mpi=pmix, Open MPI 5's prterun) PMIX_RANK, with
// Slurm's SLURM_STEP_NUM_TASKS / SLURM_PROCID / SLURM_LOCALID beside it. Any of them: launched (MpiComm checks them against
// MPI's own view, so a launcher this does not read is refused rather than run as N separate copies).
LaunchInfo launch_info() {
  LaunchInfo l;
  auto has = [](const char* name) { return std::getenv(name) != nullptr; };
  const bool mpirun = has("OMPI_COMM_WORLD_SIZE") || has("PMI_SIZE") || has("OMPI_COMM_WORLD_RANK") || has("PMI_RANK");
  // PMIx alone: only a task srun started as one of several (a site with MpiDefault=pmix gives every srun task,
  // and an interactive `srun --pty bash`, a PMIX_RANK of a 1-task step: those run as plain processes)
  const bool slurm_task = has("SLURM_PROCID") && env_int("SLURM_PROCID", nullptr, -1) == env_int("PMIX_RANK", nullptr, -2);
  const bool pmix = !mpirun && has("PMIX_RANK") && slurm_task && env_int("SLURM_STEP_NUM_TASKS", nullptr, 1) > 1;
  l.launched = mpirun || pmix;
  l.source = pmix ? "PMIX_RANK / SLURM_STEP_NUM_TASKS" : "OMPI_COMM_WORLD_RANK / _SIZE or PMI_RANK / PMI_SIZE";
  l.world = pmix ? env_int("SLURM_STEP_NUM_TASKS", nullptr, 1) : env_int("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", 1);
  l.rank = pmix ? env_int("PMIX_RANK", nullptr, 0) : env_int("OMPI_COMM_WORLD_RANK", "PMI_RANK", 0);
  // Slurm's node-local id only where Slurm started this very task (SLURM_PROCID is its rank): one inherited
  // from a batch step by another launcher's ranks would put every rank on local rank 0
  const bool slurm_rank = has("SLURM_PROCID") && env_int("SLURM_PROCID", nullptr, -1) == l.rank;
  l.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                         l.launched && slurm_rank ? env_int("SLURM_LOCALID", nullptr, l.rank) : l.rank);
  if (l.world < 1) l.world = 1;
  l.local_size = std::max(0, env_int("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", 0));
  return l;
}

int default_threads() {
  const int host = (int)std::max(1u, std::thread::hardware_concurrency());
  int mine = host;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) mine = std::max(1, CPU_COUNT(&set));
  const LaunchInfo li = launch_info();
  // (bound to a socket: shared too; a launcher that does not say how many ranks share the host: its affinity)
  if (li.launched && li.local_size > 1) mine = std::min(mine, host / li.local_size);
  return std::max(1, mine);
}

#ifndef TAILOR_MPI
bool mpi_available() { return false; }
void abort_job_if_parallel(int) {}
std::unique_ptr<Communicator> make_mpi_comm(double) {
  fail("this build has no MPI backend: install Open MPI (Debian: libopenmpi-dev openmpi-bin) and rebuild "
       "(scripts/setup.sh does both)");
}
#endif

#ifndef TAILOR_NCCL
bool nccl_available() { return false; }
std::unique_ptr<Communicator> make_nccl_comm(Communicator&, Device, double) {
  fail("this build has no NCCL backend: it needs the CUDA backend, NCCL (nccl.h, libnccl) and Open MPI at "
       "configure time; use dist.backend mpi, or rebuild");
}
#endif

}  // namespace tailor
