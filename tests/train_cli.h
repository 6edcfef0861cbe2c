// Helpers of the tests that train (through `tailor train` or train_run): file contents, a fresh temporary
// folder, whether the Fashion-MNIST package (the data most of them train on) is installed.
#pragma once
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace train_cli {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A new folder /tmp/<prefix>XXXXXX, removed when the test program exits (kept when TAILOR_KEEP_TEST_OUTPUT
// is set, to look at the runs).
inline std::string temp_folder(const std::string& prefix) {
  static std::vector<std::string> made;
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  made.push_back(std::string(mkdtemp(tmpl.data())));
  if (made.size() == 1)
    std::atexit([] {
      std::error_code ec;
      if (!std::getenv("TAILOR_KEEP_TEST_OUTPUT"))
        for (auto& d : made) std::filesystem::remove_all(d, ec);
    });
  return made.back();
}

inline bool have_fashion_mnist() {
  return std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
}

// The small Fashion-MNIST-LT run of these tests: 10 classes, 40..4 training images (rho 10, 159 images), 10
// test images per class, one thread, batches of 16, every step's loss logged, the state every 2 steps.
inline std::string small_data(const std::string& runs_dir, const std::string& name) {
  return "--set runs_dir=" + runs_dir + " --set name=" + name +
         " --set data.imbalance.n_max=40 --set data.imbalance.ratio=10 --set data.test_per_class=10"
         " --set threads=1 --set data.workers=2 --set log.step_losses=true --set checkpoint.every_steps=2"
         " --set eval.every_epochs=1 --set eval.select=test";
}

// Writes a config file <dir>/<name>.json and returns its path.
inline std::string write_config(const std::string& dir, const std::string& name, const std::string& json) {
  const std::string p = dir + "/" + name + ".json";
  std::ofstream(p) << json;
  return p;
}

// A killed-and-resumed run equals the uninterrupted one: the same steps.jsonl (every step's loss with 9
// significant digits, exact for float), the same checkpoints besides the training state (at least
// min_checkpoints of them), metrics.jsonl with metrics_lines lines (no duplicate from a replayed tail), the
// same evaluation.
inline void check_same_run(const std::filesystem::path& a, const std::filesystem::path& b, int metrics_lines,
                           int min_checkpoints) {
  const std::string sa = slurp(a / "steps.jsonl");
  CHECK(std::count(sa.begin(), sa.end(), '\n') >= 20);
  CHECK(sa == slurp(b / "steps.jsonl"));
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(a / "checkpoints")) {
    const std::string f = e.path().filename().string();
    if (f.rfind("stage", 0) != 0) continue;
    CAPTURE(f);
    CHECK(slurp(e.path()) == slurp(b / "checkpoints" / f));
    ++n;
  }
  CHECK(n >= min_checkpoints);
  const std::string m = slurp(b / "metrics.jsonl");
  CHECK(std::count(m.begin(), m.end(), '\n') == metrics_lines);
  CHECK(slurp(a / "eval.json") == slurp(b / "eval.json"));
}

}  // namespace train_cli
