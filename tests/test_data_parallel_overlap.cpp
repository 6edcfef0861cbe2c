// The overlapped gradient averaging (dist.overlap true: each bucket all-reduced while backward still runs)
// against the blocking one (dist.overlap false: all buckets after backward), with real ranks:
// `mpirun -np 2 tailor train` on Fashion-MNIST-LT, ResNet-32, 20 steps of a global batch of 128, buckets of
// 0.1 MB (ResNet-32's 1.8 MB of gradients in about 25 buckets, in reverse order on the overlapped path, in
// parameter order on the blocking one). On 2 ranks each element's sum is one addition whatever the bucket
// layout, so every step's loss, every checkpoint (weights, momentum) and the evaluation must be equal bit for
// bit. With SyncBatchNorm, whose all-reduces run inside backward between the buckets' (the buckets go over a
// communicator of their own), and with per-rank BatchNorm.
// Skipped (77) when this build has no MPI backend or the Fashion-MNIST package is missing.
#include <filesystem>

#include "mpi_cli.h"

using namespace train_cli;
using namespace mpi_cli;

TEST_CASE("mpirun -np 2: dist.overlap true trains bit for bit as dist.overlap false") {
  skip_without_mpi_or_data();
  const std::string dir = temp_folder("tailor_overlap_");
  const std::string cfg = write_config(dir, "ce",
      R"({"model": {"arch": "resnet32"}, "stage1": {"method": "joint", "epochs": 1, "batch_size": 128,
          "max_steps_per_epoch": 20, "loss": {"name": "ce"}}})");
  const std::filesystem::path d(dir);
  for (const std::string bn : {"true", "false"}) {
    CAPTURE(bn);
    for (const char* overlap : {"false", "true"}) {
      const std::string name = "bn_" + bn + "_overlap_" + overlap;
      Run r = mpi_run(2, "train --config " + cfg + " --set runs_dir=" + dir + " --set name=" + name +
                             " --set data.imbalance.n_max=700 --set data.imbalance.ratio=10 --set data.test_per_class=20"
                             " --set threads=1 --set data.workers=1 --set log.step_losses=true"
                             " --set checkpoint.every_steps=4 --set dist.bucket_mb=0.1 --set dist.sync_bn=" + bn +
                             " --set dist.overlap=" + overlap + " --no-report");
      REQUIRE_MESSAGE(r.code == 0, r.out);
    }
    const std::string base = std::string("bn_") + bn + "_overlap_";
    check_same_run(d / (base + "false"), d / (base + "true"), 1, 2);
  }
}
