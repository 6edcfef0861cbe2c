#include "train/data_parallel.h"

#include <cstring>

#include "data/loader.h"
#include "engine/ops.h"
#include "layers/basic.h"
#include "train/run_model.h"

namespace tailor {

std::unique_ptr<Communicator> make_run_comm(const DistConfig& d, Device device) {
  const LaunchInfo li = launch_info();
  if (!li.launched) return make_single_process_comm();
  if (!mpi_available())
    fail("this process is rank " + std::to_string(li.rank) + " of " + std::to_string(li.world) +
         " (launched by mpirun), but this build has no MPI backend: install Open MPI (Debian libopenmpi-dev "
         "openmpi-bin) and rebuild (scripts/setup.sh does both)");
  if (d.backend == "nccl" && !device.is_cuda()) fail("dist.backend nccl: needs device cuda (CPU ranks use mpi)");
  const bool nccl = d.backend == "nccl" || (d.backend == "auto" && device.is_cuda() && nccl_available());
  if (!nccl) return make_mpi_comm(d.timeout_s);
  // NCCL is bootstrapped over MPI, which must outlive it: the MPI communicator lives as long as the process.
  static std::unique_ptr<Communicator> bootstrap;
  if (!bootstrap) bootstrap = make_mpi_comm(d.timeout_s);
  return make_nccl_comm(*bootstrap, device, d.timeout_s);
}

void GradientAverager::average(const std::vector<Tensor>& params) {
  const int world = comm_.world();
  if (params.empty()) return;
  // which parameters have a gradient on some rank: host metadata, one small host reduction
  std::vector<double> has(params.size());
  for (size_t i = 0; i < params.size(); ++i) has[i] = params[i].grad().defined() ? 1.0 : 0.0;
  comm_.all_reduce_sum(has.data(), (int64_t)has.size());
  std::vector<size_t> order;
  for (size_t i = 0; i < params.size(); ++i)
    if (has[i] > 0) order.push_back(i);
  const float inv = 1.f / (float)world;
  for (size_t b = 0; b < order.size();) {
    // one bucket: consecutive parameters up to bucket_bytes_ (a larger parameter alone)
    size_t e = b;
    int64_t n = 0;
    while (e < order.size() && (e == b || (size_t)(n + params[order[e]].numel()) * 4 <= bucket_bytes_))
      n += params[order[e++]].numel();
    const Device dev = params[order[b]].device();
    Tensor flat = Tensor::zeros({n}, DType::F32, dev);
    int64_t off = 0;
    for (size_t k = b; k < e; ++k) {
      const Tensor& p = params[order[k]];
      const int64_t m = p.numel();
      if (p.grad().defined()) flat.slice(off, off + m).copy_from(p.grad().contiguous().reshape({m}));
      off += m;
    }
    comm_.all_reduce_sum(flat);
    flat = scale(flat, inv);
    off = 0;
    for (size_t k = b; k < e; ++k) {
      Tensor p = params[order[k]];
      const int64_t m = p.numel();
      Tensor avg = flat.slice(off, off + m).reshape(p.shape());
      if (p.grad().defined())
        p.grad().copy_from(avg);
      else
        p.set_grad(avg.clone());
      off += m;
    }
    b = e;
  }
}

static void broadcast_named(Communicator& comm, const NamedTensors& ts) {
  for (auto& [name, t] : ts) {
    Tensor v = t;
    TAILOR_CHECK(v.is_contiguous(), "broadcast: ", name, " is not contiguous");
    comm.broadcast(v, 0);
  }
}

void broadcast_module(Communicator& comm, Module& m) {
  if (is_data_parallel(comm)) broadcast_named(comm, m.state_dict());
}

void broadcast_buffers(Communicator& comm, Module& m) {
  if (is_data_parallel(comm)) broadcast_named(comm, m.named_buffers());
}

void set_sync_batch_norm(Module& m, Communicator* comm) {
  m.for_each_module([comm](Module& x) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&x)) bn->sync = comm;
  });
}

EvalMetrics evaluate_sharded(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf,
                             const std::vector<int64_t>& train_counts, const ShotRule& rule, int64_t batch,
                             int workers, Communicator& comm) {
  const int world = comm.world(), rank = comm.rank();
  const int64_t N = ds.size(), C = ds.num_classes, nb = (N + batch - 1) / batch;
  EvalLoader el(ds, tf, batch, workers);
  MetricsAccumulator acc((int)C, train_counts, rule);
  const bool was_training = net.is_training();
  net.eval();
  NoGradGuard ng;
  std::vector<float> mine((size_t)(batch * C)), all((size_t)(batch * C * world));
  data::Batch b;
  // round k: rank r evaluates batch k * world + r (the single process's batch of that number), then every
  // rank adds the round's batches in order
  for (int64_t k = 0; k * world < nb; ++k) {
    const int64_t my = k * world + rank;
    std::fill(mine.begin(), mine.end(), 0.f);
    if (my < nb) {
      std::vector<int64_t> idx;
      for (int64_t i = my * batch; i < std::min(N, (my + 1) * batch); ++i) idx.push_back(i);
      el.loader.load(idx, 0, my * batch, b);
      data::to_device(b, net.device());
      std::vector<float> v = net.forward(b.images).contiguous().cpu().to_vector();
      std::memcpy(mine.data(), v.data(), v.size() * sizeof(float));
    }
    comm.all_gather_bytes(mine.data(), (int64_t)(mine.size() * sizeof(float)), all.data());
    for (int r = 0; r < world && k * world + r < nb; ++r) {
      const int64_t bi = k * world + r, n = std::min(N, (bi + 1) * batch) - bi * batch;
      std::vector<float> logits(all.begin() + (size_t)(r * batch * C), all.begin() + (size_t)((r * batch + n) * C));
      std::vector<int32_t> labels(ds.labels.begin() + bi * batch, ds.labels.begin() + bi * batch + n);
      acc.add(Tensor::from_vector(logits, {n, C}), Tensor::from_vector_i32(labels, {n}));
    }
  }
  net.train(was_training);
  return acc.finish();
}

}  // namespace tailor
