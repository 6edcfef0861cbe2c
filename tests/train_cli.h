// Helpers of the tests that train (through `tailor train` or train_run): file contents, a fresh temporary
// folder, whether the Fashion-MNIST package (the data most of them train on) is installed.
#pragma once
#include <stdlib.h>

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

}  // namespace train_cli
