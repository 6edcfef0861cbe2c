// Helpers of the tests that run `mpirun -np N tailor ...` (test_data_parallel*_cli, test_data_parallel_overlap):
// the launcher command (as root, no single-copy mechanism in containers; Open MPI's --oversubscribe, which
// MPICH's Hydra does not take: TAILOR_MPIRUN_FLAGS, CMakeLists.txt), the skip when this build has no MPI
// backend or the Fashion-MNIST package is missing, and every step's loss of a run.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "engine/comm.h"
#include "train/config.h"
#include "train_cli.h"

namespace mpi_cli {

// `mpirun -np n tailor args`, with `env` before it (the test hooks).
inline Run mpi_run(int n, const std::string& args, const std::string& env = "") {
  return run(args, env + " OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                         "OMPI_MCA_btl_vader_single_copy_mechanism=none " +
                       std::string(TAILOR_MPIRUN) + " -np " + std::to_string(n) + " " + TAILOR_MPIRUN_FLAGS);
}

// Exits the test program with 77 (ctest: skipped) when mpirun or the data is missing.
inline void skip_without_mpi_or_data() {
  const std::string mpirun = TAILOR_MPIRUN;
  if (!tailor::mpi_available() || mpirun.empty() || mpirun.find("NOTFOUND") != std::string::npos) {
    MESSAGE("skipped: this build has no MPI backend");
    std::exit(77);
  }
  if (!train_cli::have_fashion_mnist()) {
    MESSAGE("skipped: the Fashion-MNIST package is not installed");
    std::exit(77);
  }
}

// Every step's loss of a run (steps.jsonl: log.step_losses true).
inline std::vector<double> step_losses(const std::filesystem::path& run_dir) {
  std::vector<double> out;
  std::istringstream in(train_cli::slurp(run_dir / "steps.jsonl"));
  for (std::string line; std::getline(in, line);) out.push_back(tailor::Json::parse(line).at("loss").get<double>());
  return out;
}

}  // namespace mpi_cli
