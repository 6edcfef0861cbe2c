// The `tailor` command-line program: dispatches to one subcommand per file in tools/.
#include <cstring>
#include <iostream>
#include <string>

#include "tools/commands.h"

static const char* kUsage =
    "tailor — long-tailed recognition engine\n"
    "usage: tailor <command> [flags]   (tailor <command> --help for details)\n"
    "commands:\n"
    "  bench        time ResNet training/eval steps on synthetic data (JSON line)\n";

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  try {
    if (cmd == "bench") return tailor::cmd_bench(argc - 1, argv + 1);
  } catch (const std::exception& e) {
    std::cerr << "tailor " << cmd << ": error: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "tailor: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}
