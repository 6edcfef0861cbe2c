// The `tailor` command-line program: dispatches to one subcommand per file in tools/.
#include <cstring>
#include <iostream>
#include <string>

#include "tools/commands.h"

static const char* kUsage =
    "tailor — long-tailed recognition engine\n"
    "usage: tailor <command> [flags]   (tailor <command> --help for details)\n"
    "commands:\n"
    "  train        short long-tailed training run (the default: Fashion-MNIST-LT, ResNet-32)\n"
    "  verify-data  check a dataset before training (files, decoding, labels, class counts)\n"
    "  bench        time ResNet training/eval steps on synthetic data (JSON line)\n"
    "With no command, runs `tailor train` with its defaults.\n";

int main(int argc, char** argv) {
  if (argc >= 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    std::cout << kUsage;
    return 0;
  }
  std::string cmd = argc < 2 ? "train" : argv[1];
  try {
    if (argc < 2) {
      char* args[] = {(char*)"train", nullptr};
      return tailor::cmd_train(1, args);
    }
    if (cmd == "bench") return tailor::cmd_bench(argc - 1, argv + 1);
    if (cmd == "train") return tailor::cmd_train(argc - 1, argv + 1);
    if (cmd == "verify-data") return tailor::cmd_verify_data(argc - 1, argv + 1);
  } catch (const std::exception& e) {
    std::cerr << "tailor " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "tailor: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
