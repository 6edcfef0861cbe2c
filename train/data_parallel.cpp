#include "train/data_parallel.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "data/loader.h"
#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/version.h"
#include "layers/basic.h"
#include "train/method.h"
#include "train/run_model.h"

namespace tailor {

Device rank_device(Device device) {
  const LaunchInfo li = launch_info();
  if (!li.launched || !device.is_cuda()) return device;
  cuda_use_device(li.local_rank);  // (the MPI backend's ranks too, not only NCCL's)
  return Device::cuda(li.local_rank);
}

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
    if (world > 1) flat = scale(flat, inv);  // (one rank: the sum itself, -0 kept)
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

// The overlapped path (scheme: train/data_parallel.h, GradientAverager).
void GradientAverager::plan(const std::vector<Tensor>& params) {
  bool same = params.size() == params_.size();
  for (size_t i = 0; same && i < params.size(); ++i) same = params[i].impl() == params_[i].impl();
  if (same) return;
  params_ = params;
  buckets_.clear();
  index_.clear();
  bucket_of_.assign(params.size(), 0);
  offset_of_.assign(params.size(), 0);
  // reverse parameter order (the output layer's gradients come first in backward), consecutive parameters up
  // to bucket_bytes_ per bucket (a larger parameter alone)
  int64_t n = 0;
  for (size_t k = params.size(); k-- > 0;) {
    const int64_t m = params[k].numel();
    if (buckets_.empty() || (size_t)(n + m) * 4 > bucket_bytes_) {
      buckets_.emplace_back();
      n = 0;
    }
    buckets_.back().members.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    offset_of_[k] = n;
    n += m;
    index_[params[k].impl()] = k;
  }
  for (Bucket& b : buckets_) {
    const Tensor& last = params_[b.members.back()];
    b.flat = Tensor::zeros({offset_of_[b.members.back()] + last.numel()}, DType::F32, last.device());
  }
}

void GradientAverager::ready(size_t i) {
  if (done_[i]) return;
  done_[i] = 1;
  const Tensor& p = params_[i];
  Bucket& b = buckets_[bucket_of_[i]];
  const int64_t m = p.numel();
  Tensor dst = b.flat.slice(offset_of_[i], offset_of_[i] + m);
  if (p.grad().defined()) {
    dst.copy_from(p.grad().contiguous().reshape({m}));
    has_[i] = 1;
  } else {
    dst.zero_();  // no gradient here: zeros in the sum
  }
  --b.waiting;
}

void GradientAverager::progress() {
  while (started_ < buckets_.size() && buckets_[started_].waiting == 0) {
    Bucket& b = buckets_[started_++];
    b.op = comm_.all_reduce_sum_async(b.flat);
  }
  while (finished_ < started_ && buckets_[finished_].op->test()) ++finished_;
}

void GradientAverager::backward(const Tensor& loss, const std::vector<Tensor>& params) {
  if (!overlap_ || params.empty()) {
    loss.backward();
    average(params);
    return;
  }
  plan(params);
  done_.assign(params_.size(), 0);
  has_.assign(params_.size(), 0.0);
  for (Bucket& b : buckets_) b.waiting = b.members.size();
  started_ = finished_ = 0;
  {
    GradReadyHook hook(
        [this](const Tensor& leaf) {  // a gradient is final
          auto it = index_.find(leaf.impl());
          if (it != index_.end()) ready(it->second);
          progress();
        },
        [this](const GradReadyHook::Reaches& reaches) {  // outside this backward's graph: ready as they are
          for (size_t i = 0; i < params_.size(); ++i)
            if (!reaches(params_[i])) ready(i);
          progress();
        });
    loss.backward();
  }
  // any parameter still missing (none unless a node got no gradient): as it is, so every bucket starts
  for (Bucket& b : buckets_)
    for (size_t i : b.members) ready(i);
  progress();
  comm_.all_reduce_sum(has_.data(), (int64_t)has_.size());  // which parameters have a gradient on some rank
  const float inv = 1.f / (float)comm_.world();
  for (Bucket& b : buckets_) {
    b.op->wait();
    b.op.reset();
    const Tensor avg = comm_.world() > 1 ? scale(b.flat, inv) : b.flat;  // (one rank: the sum itself, -0 kept)
    for (size_t i : b.members) {
      if (has_[i] == 0) continue;  // no rank had one: none after the reduction either
      Tensor p = params_[i];
      const int64_t m = p.numel();
      Tensor g = avg.slice(offset_of_[i], offset_of_[i] + m).reshape(p.shape());
      if (p.grad().defined())
        p.grad().copy_from(g);
      else
        p.set_grad(g.clone());
    }
  }
}

Tensor all_gather_rows(Communicator& comm, const Tensor& local) {
  const int world = comm.world();
  if (world <= 1) return local;
  TAILOR_CHECK(local.dim() >= 1, "all_gather_rows: a tensor of rows");
  TAILOR_CHECK(local.dtype() == DType::F32 || local.dtype() == DType::I32, "all_gather_rows: f32 or i32");
  const int64_t n = local.size(0), row = n > 0 ? local.numel() / n : 0;
  std::vector<int64_t> counts((size_t)world);
  comm.all_gather_bytes(&n, sizeof n, counts.data());
  for (int r = 0; r < world; ++r)
    if (counts[(size_t)r] != n)
      fail("all_gather_rows: rank " + std::to_string(r) + " holds " + std::to_string(counts[(size_t)r]) +
           " rows, rank " + std::to_string(comm.rank()) + " " + std::to_string(n) +
           " (every rank's share of a global batch must have the same size)");
  const Tensor host = local.contiguous().cpu();
  const int64_t bytes = host.numel() * 4;
  std::vector<char> all((size_t)(bytes * world));
  comm.all_gather_bytes(host.raw_data(), bytes, all.data());
  Shape shape = local.shape();
  shape[0] = n * world;
  Tensor out = Tensor::empty(shape, local.dtype());
  char* dst = (char*)out.raw_data();
  for (int r = 0; r < world; ++r)  // rank r's row k is global row r + k * world
    for (int64_t k = 0; k < n; ++k)
      std::memcpy(dst + (k * world + r) * row * 4, all.data() + r * bytes + k * row * 4, (size_t)(row * 4));
  return out.to(local.device());
}

void check_ranks_agree(Communicator& comm, const std::map<std::string, Tensor>& state) {
  const int world = comm.world();
  std::vector<uint64_t> mine;  // FNV-1a of each tensor's bytes, in the map's (name) order
  for (auto& [name, t] : state) {
    const Tensor h = t.contiguous().cpu();
    const auto* p = (const unsigned char*)h.raw_data();
    uint64_t x = 1469598103934665603ull;
    for (size_t i = 0; i < h.nbytes(); ++i) x = (x ^ p[i]) * 1099511628211ull;
    mine.push_back(x);
  }
  const int64_t n = (int64_t)mine.size();
  std::vector<int64_t> counts((size_t)world);
  comm.all_gather_bytes(&n, sizeof n, counts.data());
  for (int r = 0; r < world; ++r)
    if (counts[(size_t)r] != n)
      fail("data parallel: rank " + std::to_string(r) + " holds " + std::to_string(counts[(size_t)r]) +
           " state tensors, rank " + std::to_string(comm.rank()) + " " + std::to_string(n));
  std::vector<uint64_t> all(mine.size() * (size_t)world);
  comm.all_gather_bytes(mine.data(), n * (int64_t)sizeof(uint64_t), all.data());
  int64_t i = 0;
  for (auto& entry : state) {
    for (int r = 1; r < world; ++r)
      if (all[(size_t)(r * n + i)] != all[(size_t)i])
        fail("data parallel: the ranks' training states differ at '" + entry.first + "' (rank " + std::to_string(r) +
             " vs rank 0): the ranks no longer train one model; the state is not saved");
    ++i;
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

void check_data_parallel_plan(const RunConfig& cfg, int world) {
  if (world <= 1) return;
  for (const StageConfig& s : cfg.stages) {
    const MethodSpec& m = method_spec(s.method);
    if (!m.data_parallel)  // config errors (exit 2), found before anything trains
      throw ConfigError(s.key() + ".method " + s.method + ": does not run data-parallel yet (its per-step state "
                        "would differ between the " + std::to_string(world) + " ranks); run it as one process, "
                        "without mpirun");
    if (s.trains && s.batch_size % world != 0)
      throw ConfigError(s.key() + ".batch_size " + std::to_string(s.batch_size) +
                        ": the global batch must split evenly over the " + std::to_string(world) +
                        " ranks (each takes batch_size / ranks)");
    if (s.trains && s.mixup_alpha > 0 && s.batch_size == world) {  // partners are drawn within a rank's batch
      char alpha[32];
      std::snprintf(alpha, sizeof alpha, "%g", s.mixup_alpha);
      throw ConfigError(s.key() + ".mixup_alpha " + alpha + ": each of the " +
                        std::to_string(world) + " ranks has 1 image per step, and mixup pairs the images of a rank's "
                        "own batch: nothing would be mixed; use a larger batch or no mixup");
    }
  }
}

std::string same_job_record(const std::string& config_hash, const std::string& data_fingerprint,
                            const std::string& engine) {
  return config_hash + "\t" + data_fingerprint + "\t" + engine;
}

SameJobDifference same_job_difference(const std::vector<std::string>& records) {
  auto field = [&](int r, int k) {  // the k-th tab-separated field of rank r's record
    std::string rest = records[r];
    for (int i = 0; i < k; ++i) rest = rest.substr(std::min(rest.size(), rest.find('\t') + 1));
    return rest.substr(0, rest.find('\t'));
  };
  for (int r = 1; r < (int)records.size(); ++r) {
    if (records[r] == records[0]) continue;
    if (field(r, 0) != field(0, 0)) return {r, "config", ""};
    if (field(r, 1) != field(0, 1))
      return {r, "data", "data fingerprint '" + field(r, 1) + "' vs rank 0's '" + field(0, 1) + "'"};
    return {r, "tailor build", field(r, 2) + " vs rank 0's " + field(0, 2)};
  }
  return {};
}

void check_same_job(Communicator& comm, const std::string& config_hash, const std::string& data_fingerprint,
                    const Json& config) {
  const int world = comm.world();
  if (world <= 1) return;
  char mine[512] = {};  // 16 hex digits, the fingerprint (103 characters), `tailor --version`'s line (~80)
  std::snprintf(mine, sizeof mine, "%s", same_job_record(config_hash, data_fingerprint, version_line()).c_str());
  std::vector<char> all(sizeof mine * world);
  comm.all_gather_bytes(mine, sizeof mine, all.data());
  std::vector<std::string> records;
  for (int r = 0; r < world; ++r) records.emplace_back(all.data() + r * sizeof mine);
  SameJobDifference d = same_job_difference(records);
  if (d.rank < 0) return;
  if (d.what == "config") {
    // the configs of rank 0 and of the first rank that differs, to every rank (the same collectives everywhere),
    // so that every rank names the same keys
    auto config_of = [&](int root) {
      std::string text = comm.rank() == root ? config.dump() : std::string();
      int64_t n = (int64_t)text.size();
      comm.broadcast_bytes(&n, sizeof n, root);
      text.resize((size_t)n);
      comm.broadcast_bytes(text.data(), n, root);
      return Json::parse(text);
    };
    const Json zero = config_of(0), theirs = config_of(d.rank);
    d.detail = "rank 0's " + config_differences(zero, theirs);
  }
  throw std::runtime_error("rank " + std::to_string(d.rank) + " runs another " + d.what + " than rank 0 (" + d.detail +
                           "): start every rank with the same arguments on the same files" +
                           (d.what == "tailor build" ? ", with the same tailor" : ""));
}

std::string describe_ranks(Communicator& comm) {
  char mine[320] = {};
  char host[256] = {};  // (HOST_NAME_MAX is 64)
  gethostname(host, sizeof host - 1);
  std::snprintf(mine, sizeof mine, "pid %d on %s", (int)getpid(), host);
  std::vector<char> all(sizeof mine * comm.world());
  comm.all_gather_bytes(mine, sizeof mine, all.data());
  std::string out = "ranks:";
  for (int r = 0; r < comm.world(); ++r)
    out += (r ? ", " : " ") + std::to_string(r) + " " + std::string(all.data() + r * sizeof mine);
  return out;
}

void check_run_dir_shared(Communicator& comm, const std::string& run_dir) {
  const int world = comm.world();
  if (world <= 1) return;
  comm.barrier();  // rank 0 has written config.json (every rank arrives here after create_dir)
  const int mine = std::filesystem::is_regular_file(std::filesystem::path(run_dir) / "config.json") ? 1 : 0;
  std::vector<int> all((size_t)world);
  comm.all_gather_bytes(&mine, sizeof mine, all.data());
  std::string blind;
  for (int r = 0; r < world; ++r)
    if (!all[(size_t)r]) blind += (blind.empty() ? "" : ", ") + std::to_string(r);
  if (!blind.empty())
    throw std::runtime_error("rank " + blind + " cannot see the run directory " + run_dir + " that rank 0 made (no "
                             "config.json there): runs_dir must be one folder every rank sees, on a shared file "
                             "system (a relative path is taken from each rank's working directory)");
}

}  // namespace tailor
