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
// Not supported (refused at the start): methods that choose their own batches or keep per-step state
// (MethodSpec::data_parallel false), and sync_bn on CUDA.
#pragma once
#include <memory>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "engine/comm.h"
#include "layers/module.h"
#include "layers/resnet.h"
#include "train/metrics.h"
#include "train/run_config.h"

namespace tailor {

// The communicator of this process: single-process unless launched by mpirun (with -np 1 too: every data-
// parallel code path then runs on one rank, and its steps equal a plain run's bit for bit); then MPI, or
// NCCL on CUDA devices (dist.backend). Throws naming what is missing.
std::unique_ptr<Communicator> make_run_comm(const DistConfig& d, Device device);
// True for a communicator of an mpirun job (any number of ranks).
inline bool is_data_parallel(const Communicator& c) { return c.backend() != "single"; }

// Sums every parameter's gradient across ranks and divides by world, bucket by bucket (a parameter
// without a gradient on this rank contributes zeros; after the reduction it has one when any rank had).
class GradientAverager {
 public:
  GradientAverager(Communicator& comm, double bucket_mb) : comm_(comm), bucket_bytes_((size_t)(bucket_mb * 1048576)) {}
  void average(const std::vector<Tensor>& params);

 private:
  Communicator& comm_;
  size_t bucket_bytes_;
};

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
