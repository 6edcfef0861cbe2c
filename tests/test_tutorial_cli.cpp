// docs/tutorial.md runs: scripts/tutorial.sh holds exactly the tutorial's commands, in order, and runs
// them (reduced with --quick) within about a minute on one core.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "train_cli.h"

namespace fs = std::filesystem;

// A shell command's exit code and output (stdout + stderr).
static Run run_cmd(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The lines of the ```sh blocks of the tutorial that start with "tailor ".
static std::vector<std::string> tutorial_commands() {
  std::ifstream f(std::string(TAILOR_SOURCE_DIR) + "/docs/tutorial.md");
  REQUIRE(f.good());
  std::vector<std::string> out;
  std::string line;
  bool in_sh = false;
  while (std::getline(f, line)) {
    if (line.rfind("```", 0) == 0) {
      in_sh = !in_sh && line == "```sh";
      continue;
    }
    if (in_sh && line.rfind("tailor ", 0) == 0) out.push_back(line);
  }
  return out;
}

// The script's `run tailor ...` lines without the trailing "${QUICK_...[@]}" reductions.
static std::vector<std::string> script_commands() {
  std::ifstream f(std::string(TAILOR_SOURCE_DIR) + "/scripts/tutorial.sh");
  REQUIRE(f.good());
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("run tailor", 0) != 0) continue;
    std::string cmd = line.substr(4);
    size_t q = cmd.find(" \"${QUICK_");
    if (q != std::string::npos) cmd = cmd.substr(0, q);
    out.push_back(cmd);
  }
  return out;
}

TEST_CASE("scripts/tutorial.sh runs exactly the tutorial's commands") {
  std::vector<std::string> doc = tutorial_commands(), script = script_commands();
  CHECK(doc.size() >= 14);
  CHECK(doc == script);
}

TEST_CASE("the tutorial runs (reduced)") {
  if (!train_cli::have_fashion_mnist()) {
    MESSAGE("Fashion-MNIST is not installed: skipped");
    return;
  }
  const std::string dir = train_cli::temp_folder("tailor_tutorial_");
  const auto t0 = std::chrono::steady_clock::now();
  Run r = run_cmd(std::string(TAILOR_SOURCE_DIR) + "/scripts/tutorial.sh --quick " + dir + " " + TAILOR_BIN);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("tutorial --quick: " << secs << " s");
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("tutorial: done") != std::string::npos);
  CHECK(secs < 120);  // about 30 s on one idle core; generous for a loaded CI machine
  for (const char* f : {"gap_sweep/gap_sweep.png", "lab/explore.html", "runs/ce/report.html", "runs/ce/tau_sweep.json",
                        "runs/ce_crt/eval.json", "runs/fashion_mnist_lt_gcl/plots/tsne.png"})
    CHECK_MESSAGE(fs::exists(fs::path(dir) / f), f);
  std::ifstream html(fs::path(dir) / "runs/fashion_mnist_lt_gcl/report.html");
  std::stringstream ss;
  ss << html.rdbuf();
  CHECK(ss.str().find("Feature map (t-SNE)") != std::string::npos);
}
