// The `tailor` command-line program: dispatches to one subcommand per file in tools/.
#include <cstring>
#include <iostream>
#include <string>

#include "engine/comm.h"
#include "engine/version.h"
#include "tools/commands.h"
#include "train/config.h"

static const char* kUsage =
    "tailor — long-tailed recognition engine\n"
    "usage: tailor <command> [flags]   (tailor <command> --help for details)\n"
    "commands:\n"
    "  train             train / resume a run from a JSON config (default: Fashion-MNIST-LT GCL two-stage)\n"
    "  eval              evaluate a run or a checkpoint: top-1/5, many/medium/few, ECE\n"
    "  tau-sweep         tau-normalisation sweep of a linear classifier\n"
    "  extract-features  features + logits + labels of a split to safetensors\n"
    "  report            (re)build a run's report.html and plots\n"
    "  cams              the class-activation-map page of a CAMC run (attention over test images)\n"
    "  verify-data       check a dataset before training (files, decoding, labels, class counts)\n"
    "  table             run a table of runs (recipes x settings x seeds) from a spec, resumably; mean +- std\n"
    "  compare           finished runs side by side: top-1, shot groups, per class, differences to the first\n"
    "  bench             time ResNet training/eval steps on synthetic data (JSON line)\n"
    "  inspect-loss      one sample through a loss: adjusted logits, value, gradient; --sweep-gap plot\n"
    "  explore           embedding lab: 2-D features trained once per loss, one HTML page of figures\n"
    "With no command, runs `tailor train` with its embedded default. tailor --version: the commit and build.\n";

int main(int argc, char** argv) {
  if (argc >= 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    std::cout << kUsage;
    return 0;
  }
  if (argc >= 2 && !std::strcmp(argv[1], "--version")) {
    std::cout << tailor::version_line() << "\n";
    return 0;
  }
  std::string cmd = argc < 2 ? "train" : argv[1];
  try {
    if (argc < 2) {
      char* args[] = {(char*)"train", nullptr};
      return tailor::cmd_train(1, args);
    }
    // train and eval split their work over the ranks of `mpirun -np N`; any other command would run N whole
    // copies, writing the same files (a table would start N tables, each of whose cells joins the job)
    if (const tailor::LaunchInfo li = tailor::launch_info(); li.launched && li.world > 1 && cmd != "train" &&
                                                               cmd != "eval") {
      std::cerr << "tailor " + cmd + ": does not run under mpirun (rank " + std::to_string(li.rank) + " of " +
                       std::to_string(li.world) + "): only train and eval split their work over ranks; run it as " +
                       "one process\n";
      return 2;
    }
    if (cmd == "bench") return tailor::cmd_bench(argc - 1, argv + 1);
    if (cmd == "train") return tailor::cmd_train(argc - 1, argv + 1);
    if (cmd == "eval") return tailor::cmd_eval(argc - 1, argv + 1);
    if (cmd == "tau-sweep") return tailor::cmd_tau_sweep(argc - 1, argv + 1);
    if (cmd == "extract-features") return tailor::cmd_extract_features(argc - 1, argv + 1);
    if (cmd == "report") return tailor::cmd_report(argc - 1, argv + 1);
    if (cmd == "cams") return tailor::cmd_cams(argc - 1, argv + 1);
    if (cmd == "verify-data") return tailor::cmd_verify_data(argc - 1, argv + 1);
    if (cmd == "table") return tailor::cmd_table(argc - 1, argv + 1);
    if (cmd == "compare") return tailor::cmd_compare(argc - 1, argv + 1);
    if (cmd == "inspect-loss") return tailor::cmd_inspect_loss(argc - 1, argv + 1);
    if (cmd == "explore") return tailor::cmd_explore(argc - 1, argv + 1);
  } catch (const tailor::ConfigError& e) {
    const tailor::LaunchInfo li = tailor::launch_info();  // under mpirun every rank says it: one line each
    std::cerr << "tailor " + cmd + ": config error" +
                     (li.world > 1 ? " (rank " + std::to_string(li.rank) + " of " + std::to_string(li.world) + ")" : "") +
                     ": " + e.what() + "\n";
    tailor::abort_job_if_parallel(2);  // the other ranks of a data-parallel job stop now, not at dist.timeout_s
    return 2;
  } catch (const std::exception& e) {
    const tailor::LaunchInfo li = tailor::launch_info();  // under mpirun: which rank failed
    std::cerr << "tailor " + cmd + ": error" +
                     (li.world > 1 ? " (rank " + std::to_string(li.rank) + " of " + std::to_string(li.world) + ")" : "") +
                     ": " + e.what() + "\n";
    tailor::abort_job_if_parallel(1);
    return 1;
  }
  std::cerr << "tailor: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
