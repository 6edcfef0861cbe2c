// BALMS's Meta Sampler data-parallel: `mpirun -np 2 tailor train` of a BALMS stage (frozen ResNet-32 backbone
// from a checkpoint, bn_mode train, SyncBatchNorm) against one process with the same global batch of 64 and
// meta batch of 64, on Fashion-MNIST-LT:
//   - the learned sample rates of every epoch and every step's loss agree with the single process within
//     float rounding (the ranks gather the batch's features, logits and labels, and each computes the whole
//     batch's meta-gradient);
//   - every rank holds the same rates and Adam state: each save compares the ranks' state (check_ranks_agree),
//     so the job would fail if they drifted;
//   - mpirun -np 1 equals the plain run bit for bit; a 2-rank job killed mid-epoch and resumed equals the
//     uninterrupted 2-rank job bit for bit;
//   - a meta batch the ranks cannot split is refused with the key named.
// Skipped (77) when this build has no MPI backend or the Fashion-MNIST package is missing.
#include <cmath>
#include <filesystem>

#include "mpi_cli.h"

using namespace train_cli;
using namespace mpi_cli;

namespace {

// Every epoch's learned rates q_c (metrics.jsonl's "sample_rates"), concatenated.
std::vector<double> sample_rates(const std::filesystem::path& run_dir) {
  std::vector<double> out;
  std::istringstream in(slurp(run_dir / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const tailor::Json j = tailor::Json::parse(line);
    if (j.contains("sample_rates"))
      for (auto& q : j.at("sample_rates")) out.push_back(q.get<double>());
  }
  return out;
}

double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(1e-12, std::fabs(a[i])));
  return worst;
}

}  // namespace

TEST_CASE("BALMS on 2 ranks: the single process's learned rates and steps; resume; refusals") {
  skip_without_mpi_or_data();
  const std::string dir = temp_folder("tailor_dp_balms_");
  const std::filesystem::path d(dir);
  const std::string data = " --set runs_dir=" + dir +
                           " --set data.imbalance.n_max=700 --set data.imbalance.ratio=10 --set data.test_per_class=20"
                           " --set threads=1 --set data.workers=1 --set log.step_losses=true --no-report";
  // the backbone: 10 steps of CE, one process
  const std::string base = write_config(dir, "base", R"({"model": {"arch": "resnet32", "head": "linear"},
      "stage1": {"method": "joint", "epochs": 1, "batch_size": 128, "max_steps_per_epoch": 10, "loss": {"name": "ce"}}})");
  Run b = run("train --config " + base + " --set name=base" + data);
  REQUIRE_MESSAGE(b.code == 0, b.out);
  const std::string ckpt = dir + "/base/checkpoints/stage1_last.safetensors";
  REQUIRE(std::filesystem::exists(ckpt));
  // BALMS from it: 2 epochs of 12 steps, the state every 4 steps
  const std::string balms = write_config(dir, "balms", R"({"model": {"arch": "resnet32", "head": "linear"},
      "stage1": {"method": "balms", "epochs": 2, "batch_size": 64, "max_steps_per_epoch": 12, "bn_mode": "train",
                 "balms": {"meta_lr": 0.05, "meta_batch_size": 64}, "optim": {"lr": 0.05}}})");
  auto args = [&](const std::string& name, const std::string& extra = "") {
    return "train --config " + balms + " --set model.init_from=" + ckpt + " --set name=" + name +
           " --set dist.sync_bn=true --set checkpoint.every_steps=4" + data + " " + extra;
  };

  Run one = run(args("one"));
  REQUIRE_MESSAGE(one.code == 0, one.out);
  Run two = mpi_run(2, args("two"));
  REQUIRE_MESSAGE(two.code == 0, two.out);
  const std::vector<double> q1 = sample_rates(d / "one"), q2 = sample_rates(d / "two");
  REQUIRE(q1.size() == 20);  // 10 classes x 2 epochs
  const double dq = max_rel_diff(q1, q2), dl = max_rel_diff(step_losses(d / "one"), step_losses(d / "two"));
  MESSAGE("2 ranks vs 1 process: rates max relative difference " << dq << ", step losses " << dl);
  double moved = 0;  // the rates did learn: far more than the ranks' difference
  for (size_t c = 0; c < 10; ++c) moved = std::max(moved, std::fabs(q1[10 + c] - 0.5));
  CHECK(moved > 1e-3);
  CHECK(dq < 1e-4);
  CHECK(dl < 1e-4);

  // mpirun -np 1: the data-parallel paths on one rank, bit for bit the plain run
  Run one_rank = mpi_run(1, args("one_rank"));
  REQUIRE_MESSAGE(one_rank.code == 0, one_rank.out);
  check_same_run(d / "one", d / "one_rank", 2, 2);

  // rank 1 killed after step 18 (the state was saved at step 16), resumed on 2 ranks: bit for bit the job above
  Run killed = mpi_run(2, args("killed"), "TAILOR_KILL_AT_STEP=18 TAILOR_KILL_RANK=1");
  CHECK(killed.code != 0);
  Run resumed = mpi_run(2, "train --resume " + dir + "/killed");
  REQUIRE_MESSAGE(resumed.code == 0, resumed.out);
  CHECK(resumed.out.find("resumed") != std::string::npos);
  check_same_run(d / "two", d / "killed", 2, 2);
  CHECK(sample_rates(d / "killed") == q2);

  // a meta batch the ranks cannot split
  Run odd = mpi_run(2, args("odd", "--set stage1.balms.meta_batch_size=63"));
  CHECK(odd.code != 0);
  CHECK_MESSAGE(odd.out.find("stage1.balms.meta_batch_size 63: the meta batch must split evenly over the 2 ranks") !=
                    std::string::npos,
                odd.out);
}
