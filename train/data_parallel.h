// Data-parallel training: `mpirun -np N tailor train ...` runs N ranks of one run, as PyTorch's
// DistributedDataParallel does, on the collectives of engine/comm.h (MPI between CPU processes, NCCL
// between GPUs). What each rank does, and why the result is the single-process run's:
//
//   batches      stageK.batch_size is the GLOBAL batch; each rank draws batch_size / world samples. The
//                samplers give rank r the positions r, r + world, ... of the one global stream (data/
//                samplers.h), so the ranks' step-k batches together are the single process's step-k batch,
//                augmented identically (the augmentation is keyed by global position).
//   gradients    each rank's loss is the mean over its own samples; after backward every gradient is
//                packed into contiguous buckets of at most dist.bucket_mb, summed across ranks and divided
//                by world: the gradient of the global batch's mean loss. The optimiser then takes the same
//                step on every rank. The count of ranks with a non-finite loss is summed on the device
//                and joins the averaged gradients' check, so every rank masks the same steps; the losses
//                and image counts are summed at the loop's read points (train/loop.h), so that every rank
//                logs the global loss and takes the same skip / stop decision.
//   BatchNorm    per rank by default (its own batch's statistics, as DDP); dist.sync_bn: the statistics of
//                the whole global batch (sync_batch_norm, engine/ops.h), which makes the steps those of one
//                process up to float rounding. Running statistics are rank 0's, broadcast whenever they are
//                saved or evaluated.
//   start        every stage starts from rank 0's parameters and buffers (broadcast).
//   evaluation   the evaluation batches (of the single-process composition) are dealt round-robin, their
//                logits gathered, and every rank computes the same metrics from them in order.
//   files        rank 0 writes the run directory (logs, checkpoints, state, report); the other ranks read
//                what they need from it (a directory every rank sees: one machine, or a shared file system).
//   randomness   the loss's noise stream (GCL's cloud) is keyed by rank; the state keeps every rank's.
//   failure      a collective waiting past dist.timeout_s ends the job; a rank that dies is named by mpirun,
//                which stops the others.
//   method state a method that keeps state from each step's batch (Breadcrumb's feature FIFOs and g_c, SSD's key
//                queue) gathers the ranks' rows into the global batch in global order (all_gather_rows, MoCo's
//                concat_all_gather) and updates that state identically on every rank, its random draws keyed
//                never by rank: every rank keeps the single process's state. BALMS's Meta Sampler draws the
//                global batch from rates that are the same on every rank (each rank loads its rows) and
//                learns them from the gathered batch. Every save compares the ranks' states (check_ranks_agree).
// Not supported (refused at the start): a method marked MethodSpec::data_parallel false (one whose per-step
// state would differ between ranks; none today).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "engine/comm.h"
#include "layers/module.h"
#include "layers/resnet.h"
#include "train/metrics.h"
#include "train/run_config.h"

namespace tailor {

// The device this process computes on: `device` as it is, except that under mpirun each rank of a CUDA job
// takes its own GPU, cuda:<local rank>, which it also makes the current one (before anything touches a device).
Device rank_device(Device device);
// The communicator of this process: single-process unless launched by mpirun (with -np 1 too: every data-
// parallel code path then runs on one rank, and its steps equal a plain run's bit for bit); then MPI, or
// NCCL on CUDA devices (dist.backend). Throws naming what is missing.
std::unique_ptr<Communicator> make_run_comm(const DistConfig& d, Device device);
// True for a communicator of an mpirun job (any number of ranks).
inline bool is_data_parallel(const Communicator& c) { return c.backend() != "single"; }

// Sums every parameter's gradient across ranks and divides by world, bucket by bucket (a parameter
// without a gradient on this rank contributes zeros; after the reduction it has one when any rank had).
//
// Overlapped (backward() with overlap, dist.overlap: the default), as DDP: the all-reduces run while backward
// still computes. The parameters, in reverse order (about the order backward finishes them), are laid out
// once in buckets of at most bucket_mb, each with a flat buffer kept across steps. During loss.backward() an
// autograd GradReadyHook reports each parameter whose gradient is final; the gradient is copied into its
// bucket, and a full bucket starts an asynchronous all-reduce as soon as every bucket before it has started
// (all ranks start them in the same order, whatever order their gradients come in). Parameters outside this
// backward's graph (the hook names them before the walk) are ready at once, with zeros in their place. Every
// report also lets the buckets in flight progress (MPI moves data only inside its calls). After backward,
// the ranks' "has a gradient" flags are summed (one small host reduction, as in the blocking path), and
// each bucket is waited for, scaled by 1/world and copied into the .grad tensors.
// Blocking (average(), dist.overlap false): after backward, the parameters in their own order, packed into
// buckets allocated per step, reduced one after the other.
// Both give every element the same value: its sum over the ranks, times 1/world. On 2 ranks that sum is one
// addition, whatever the bucketing, so the two paths are bit-identical (tested); on more ranks MPI may add
// the ranks in another order for another bucket layout (float rounding).
class GradientAverager {
 public:
  GradientAverager(Communicator& comm, double bucket_mb, bool overlap = false)
      : comm_(comm), bucket_bytes_((size_t)(bucket_mb * 1048576)), overlap_(overlap) {}
  // loss.backward(), then every gradient averaged over the ranks: overlapped, or average() after it.
  void backward(const Tensor& loss, const std::vector<Tensor>& params);
  void average(const std::vector<Tensor>& params);  // the blocking reduction of the gradients as they are

 private:
  struct Bucket {
    Tensor flat;                   // the bucket's gradients, end to end (kept across steps)
    std::vector<size_t> members;   // indices into params_, in layout order
    size_t waiting = 0;            // members whose gradient is not in `flat` yet (this step)
    std::unique_ptr<PendingCollective> op;  // the all-reduce in flight
  };
  void plan(const std::vector<Tensor>& params);  // the bucket layout, when the parameters change
  void ready(size_t i);                           // params_[i]'s gradient is final: into its bucket
  void progress();                                // starts the full buckets in order, polls those in flight

  Communicator& comm_;
  size_t bucket_bytes_;
  bool overlap_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<int64_t> offset_of_;                 // within its bucket's flat buffer
  std::unordered_map<const TensorImpl*, size_t> index_;
  std::vector<char> done_;                         // this step: params_[i] is in its bucket
  std::vector<double> has_;                        // this step: params_[i] has a gradient (summed over ranks)
  size_t started_ = 0, finished_ = 0;              // buckets started / known finished, in order
};

// The single process's batch from the ranks' shares: rank r holds the rows r, r + world, r + 2 world, ... of
// the global batch (data/samplers.h), `local` [n, ...] with the same n on every rank (else an error naming
// the counts). Returns [world * n, ...] in global row order on local's device, identical on every rank.
// f32 or i32. One process: `local` itself.
Tensor all_gather_rows(Communicator& comm, const Tensor& local);

// Every rank holds the same training state: the tensors of `state` (parameters, broadcast buffers,
// momentum, a method's memories and learned samplers) hash equal on every rank, else an error naming the
// first tensor that differs. Rank 0 alone writes the state, so a rank that drifted would be lost silently
// on resume; this catches it at every save.
void check_ranks_agree(Communicator& comm, const std::map<std::string, Tensor>& state);

// What a data-parallel job refuses before it starts (ConfigError): a method that keeps per-step state, a
// global batch the ranks cannot split evenly.
void check_data_parallel_plan(const RunConfig& cfg, int world);
// A fresh run's directory, once rank 0 made it: every rank must see it (the checkpoints a later stage loads
// are read by every rank from there); throws naming the ranks that do not.
void check_run_dir_shared(Communicator& comm, const std::string& run_dir);
// "ranks: 0 pid 4242 on node1, 1 pid 4243 on node1" (a collective: every rank calls it): a launcher that reports
// a dead process by its PID and host only (MPICH's Hydra) is read with this line of the log.
std::string describe_ranks(Communicator& comm);
// Every rank must run the same config on the same data with the same tailor (one mpirun line, one file system,
// one install): the config hash, the data fingerprint and `tailor --version`'s line compared once, before the
// first step, so that a rank started differently is named instead of training something else.
// (Its parts: each rank's record, and the first rank whose record differs from rank 0's and in what: "config",
// "data" or "tailor build", with the two values for the last two; rank -1 when all agree.)
std::string same_job_record(const std::string& config_hash, const std::string& data_fingerprint,
                            const std::string& engine);
struct SameJobDifference {
  int rank = -1;
  std::string what, detail;
};
SameJobDifference same_job_difference(const std::vector<std::string>& records);
void check_same_job(Communicator& comm, const std::string& config_hash, const std::string& data_fingerprint,
                    const Json& config);

// Rank 0's parameters and buffers into every rank's module (in place).
void broadcast_module(Communicator& comm, Module& m);
// Rank 0's buffers (BatchNorm running statistics) into every rank's module.
void broadcast_buffers(Communicator& comm, Module& m);
// Every BatchNorm2d of `m` synchronised over `comm` (nullptr: per rank again).
void set_sync_batch_norm(Module& m, Communicator* comm);

// evaluate_dataset (train/run_model.h) with the batches dealt round-robin over the ranks and the logits
// gathered: every rank returns the metrics of one process evaluating the whole set.
EvalMetrics evaluate_sharded(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf,
                             const std::vector<int64_t>& train_counts, const ShotRule& rule, int64_t batch,
                             int workers, Communicator& comm);

}  // namespace tailor
