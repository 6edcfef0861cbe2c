// `tailor verify-data`: dataset pre-flight check (logic in data/verify.cpp, usage in docs/data.md).
//
// `--train-config FILE [--set key=value ...]` checks the data a training config would load, as `tailor train`
// resolves it (the recipe's dataset, root, lists, LT subset, on_bad_image, augment preset and shot groups become verify-data's
// flags); flags given beside it (--expect, --threads, ...) come after those and win.
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "data/verify.h"
#include "train/config.h"
#include "train/run_config.h"
#include "train/run_data.h"

namespace tailor {

namespace {

// verify-data's flags for the data section (and eval groups, threads) of a resolved training config.
std::vector<std::string> flags_of_config(const Json& cfg) {
  const DataConfig d = parse_data_config(cfg.at("data"));
  std::vector<std::string> f;
  const std::string root = data_root(d);
  if (d.dataset == "fashion_mnist" || d.dataset == "mnist") {
    f = {"--format", "idx"};
  } else if (d.dataset == "cifar10" || d.dataset == "cifar100") {
    f = {"--format", "cifar-bin"};
    if (cifar_from_folder(d))  // (as train: a folder read as CIFAR-10 / 100 has 10 / 100 classes)
      f = {"--format", "imagefolder", "--num-classes", std::to_string(cifar_classes(d))};
  } else if (d.dataset == "image_folder") {
    f = {"--format", "imagefolder"};
  } else {  // list | inat
    f = {"--format", d.dataset};
    if (d.train_list.empty()) throw ConfigError("data.train_list: empty (a " + d.dataset + " dataset needs its files)");
    for (const auto& [flag, file] : {std::pair<const char*, std::string>{"--train-list", d.train_list},
                                     {"--val-list", d.val_list}, {"--test-list", d.test_list}})
      if (!file.empty()) f.insert(f.end(), {flag, file});
  }
  if (root.empty()) throw ConfigError("data.root: empty (the folder of the " + d.dataset + " data)");
  f.insert(f.end(), {"--root", root, "--on-bad-image", d.on_bad_image, "--augment", d.augment, "--image-size",
                     std::to_string(d.image_size)});
  if (d.imbalance_profile == "exp" || d.imbalance_profile == "step") {
    f.insert(f.end(), {"--imbalance-ratio", std::to_string(d.imbalance_ratio), "--profile", d.imbalance_profile,
                       "--seed", std::to_string(d.imbalance_seed)});
    if (d.imbalance_n_max > 0) f.insert(f.end(), {"--n-max", std::to_string(d.imbalance_n_max)});
  }
  const Json& e = cfg.at("eval");
  f.insert(f.end(), {"--groups", e.at("groups").get<std::string>()});
  if (e.at("groups") == "counts")
    f.insert(f.end(), {"--many-above", std::to_string(e.at("many_above").get<int64_t>()), "--few-below",
                       std::to_string(e.at("few_below").get<int64_t>())});
  if (cfg.at("threads").get<int64_t>() > 0) f.insert(f.end(), {"--threads", std::to_string(cfg.at("threads").get<int64_t>())});
  return f;
}

}  // namespace

int cmd_verify_data(int argc, char** argv) {
  std::string config_file;
  std::vector<std::string> sets, rest;
  bool from_config = false, own_config = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--train-config" || a == "--set") {
      if (i + 1 >= argc) {
        std::cerr << "tailor verify-data: " << a << " needs a value\n" << data::verify_data_usage();
        return 2;
      }
      if (a == "--set") sets.push_back(argv[++i]);
      else config_file = argv[++i], from_config = true;
      continue;
    }
    own_config = own_config || a == "--config";
    rest.push_back(a);
  }
  if (!from_config) {
    if (!sets.empty()) {
      std::cerr << "tailor verify-data: --set changes a --train-config\n" << data::verify_data_usage();
      return 2;
    }
    return data::verify_data_main(argc, argv, std::cout, std::cerr);
  }
  if (own_config) {
    std::cerr << "tailor verify-data: --config (verify-data's own keys) and --train-config: one or the other\n";
    return 2;
  }
  std::vector<std::string> args = {"verify-data"};
  int64_t test_per_class = -1;
  std::string init_from;
  try {
    const Json cfg = resolve_config(config_file, sets, false);
    for (auto& f : flags_of_config(cfg)) args.push_back(f);
    test_per_class = cfg.at("data").at("test_per_class").get<int64_t>();
    init_from = expand_home(cfg.at("model").at("init_from").get<std::string>(), "model.init_from");
  } catch (const std::exception& e) {
    std::cerr << "tailor verify-data: " << e.what() << "\n";
    return 2;
  }
  args.insert(args.end(), rest.begin(), rest.end());
  std::cout << "verify-data: the data of " << config_file << (sets.empty() ? "" : " (with --set)") << "\n";
  if (test_per_class > 0)  // the counts below are the files'; the run evaluates on fewer
    std::cout << "note: data.test_per_class " << test_per_class << ": the run evaluates on the first "
              << test_per_class << " images of each class of its test split, not on all the test "
              << "images counted below\n";
  // not data, but a file the run needs before its first step (e.g. the ImageNet weights of a Places-LT recipe)
  if (!init_from.empty() && !std::filesystem::is_regular_file(init_from))
    std::cout << "note: model.init_from " << init_from << ": not found (relative to this folder); the run would stop "
              << "at its start\n";
  std::vector<char*> av;
  for (auto& s : args) av.push_back(s.data());
  return data::verify_data_main((int)av.size(), av.data(), std::cout, std::cerr);
}

}  // namespace tailor
