// `tailor explore`: the embedding lab (train/lab.h, report/report_lab.h). A small MLP with a 2-D feature
// layer is trained on a long-tailed set once per loss; one HTML page shows each loss's feature space and
// measures the papers' claims on it.
#include <omp.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "data/shots.h"
#include "engine/comm.h"  // default_threads
#include "report/report_lab.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/config.h"
#include "train/run_config.h"
#include "train/run_data.h"

namespace tailor {

static const char* kExploreUsage =
    "usage: tailor explore [--data fashion_mnist_lt|gaussian] [--out DIR] [--losses a,b,...] [--epochs E]\n"
    "                      [--seed S] [--set data.key=value ...] [--classes C --n-max N --ratio R] [--threads N]\n"
    "Trains an MLP with a 2-D feature layer once per loss and writes DIR/explore.html (default DIR: explore)\n"
    "with one figure per loss, DIR/lab.json with the numbers and DIR/features/*.csv with the features.\n"
    "  --data fashion_mnist_lt  (default) the Fashion-MNIST-LT of the default recipe (imbalance 100), via the\n"
    "                           data code; --set data.imbalance.ratio=... etc. change it (other data held\n"
    "                           in memory too, --set data.dataset=..., up to 30 classes)\n"
    "  --data gaussian          a synthetic Gaussian-mixture LT set (--classes 6, --n-max 500, --ratio 50)\n"
    "  --losses                 a subset of: ce, focal, ldam, logit_adjust, balanced_softmax, gcl, gcl_no_cloud\n"
    "  --threads N              CPU threads (default: the cores this process may use)\n"
    "Many / medium / few are the thirds of the classes by training count (the lab's own groups: on\n"
    "Fashion-MNIST-LT the runs' default counts groups leave few empty). Deterministic from --seed (default 0).\n"
    "Default run: about 2-4 minutes on 2 CPU cores.\n";

// Fashion-MNIST-LT of the embedded default recipe (with `sets` applied), as 784-vectors in [0, 1].
static LabSet fashion_lab_set(const std::vector<std::string>& sets) {
  for (auto& s : sets)
    if (s.rfind("data.", 0) != 0) throw UsageError("--set: only data.* keys apply to the lab, got '" + s + "'");
  Json cfg = resolve_config("", sets, true);
  RunData d = load_run_data(parse_data_config(cfg.at("data")), std::cout);
  if (!d.test) throw ConfigError("the data config has no test split");
  auto to_rows = [](const data::Dataset& ds, std::vector<float>& x) {
    if (!ds.in_memory()) throw ConfigError(ds.name + ": the lab needs images decoded in memory");
    x.resize(ds.pixels.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = ds.pixels[i] / 255.f;
  };
  const int64_t C = (int64_t)d.train_counts.size();
  if (C > 30)  // (as --classes for the Gaussian set)
    throw ConfigError(d.train.name + ": " + std::to_string(C) + " classes; the lab draws each class's region of a " +
                      "2-D feature plane and is for at most 30 classes (Fashion-MNIST-LT has 10): run `tailor " +
                      "report --tsne` on a training run of this data instead");
  LabSet s;
  const std::string dataset = cfg.at("data").at("dataset");
  s.name = (dataset == "fashion_mnist" ? "Fashion-MNIST-LT (" + d.train.name + ")" : d.train.name);
  s.dim = d.train.image_bytes();
  to_rows(d.train, s.train_x);
  to_rows(*d.test, s.test_x);
  s.train_y = d.train.labels;
  s.test_y = d.test->labels;
  s.counts = d.train_counts;
  s.class_names = d.train.class_names;
  return s;
}

int cmd_explore(int argc, char** argv) {
  LabSet set;
  LabOptions opt;
  std::string out;
  std::vector<LabVariant> variants;
  try {
    Args a(argc, argv, {"data", "out", "losses", "epochs", "seed", "classes", "n-max", "ratio", "threads"}, {"help"},
           {"set"});
    if (a.has("help")) {
      std::cout << kExploreUsage;
      return 0;
    }
    const std::string data = a.choice("data", "fashion_mnist_lt", {"fashion_mnist_lt", "gaussian"});
    out = a.str("out", "explore");  // a folder, checked now rather than after the training
    if (out.empty()) throw UsageError("--out needs a folder");
    if (std::filesystem::exists(out) && !std::filesystem::is_directory(out))
      throw UsageError("--out " + out + " is a file, not a folder");
    opt.epochs = (int)a.integer("epochs", data == "gaussian" ? 30 : 12, 1, 10000);
    opt.seed = (uint64_t)a.integer("seed", 0, 0, 1ll << 62);
    const long long threads = a.integer("threads", 0, 0, 1024);
    omp_set_num_threads(threads > 0 ? (int)threads : default_threads());
    std::vector<LabVariant> all = lab_variants();
    if (a.has("losses")) {
      std::stringstream ss(a.str("losses", ""));
      std::string name;
      while (std::getline(ss, name, ',')) {
        if (std::any_of(variants.begin(), variants.end(), [&](const LabVariant& v) { return v.label == name; }))
          throw UsageError("--losses: '" + name + "' given twice");
        auto it = std::find_if(all.begin(), all.end(), [&](const LabVariant& v) { return v.label == name; });
        if (it == all.end()) {
          std::string known;
          for (auto& v : all) known += (known.empty() ? "" : ", ") + v.label;
          throw UsageError("--losses: unknown lab loss '" + name + "' (known: " + known + ")");
        }
        variants.push_back(*it);
      }
      if (variants.empty()) throw UsageError("--losses: give at least one lab loss");
    } else {
      variants = all;
    }
    if (data == "gaussian") {
      if (!a.list("set").empty()) throw UsageError("--set is for --data fashion_mnist_lt");
      set = gaussian_lab_set((int)a.integer("classes", 6, 2, 30), a.integer("n-max", 500, 1, 1000000),
                             a.number("ratio", 50, 1, 1e6), 8, 200, opt.seed);
    } else {
      for (const char* f : {"classes", "n-max", "ratio"})
        if (a.has(f)) throw UsageError(std::string("--") + f + " is for --data gaussian");
      set = fashion_lab_set(a.list("set"));
    }
  } catch (const UsageError& e) {
    std::cerr << "tailor explore: " << e.what() << "\n" << kExploreUsage;
    return 2;
  }
  const data::ShotRule rule = data::make_shot_rule("thirds");
  const std::vector<int> groups = data::shot_split(set.counts, rule).group_of_class(set.counts.size());
  const std::string groups_desc = data::describe_shot_rule(rule, set.counts);
  std::cout << "lab: " << set.name << ", " << set.train_y.size() << " training / " << set.test_y.size()
            << " test samples; groups: " << groups_desc << "\n";
  std::vector<LabResult> results;
  for (const LabVariant& v : variants) {
    results.push_back(run_lab_variant(set, v, opt, groups));
    const LabResult& r = results.back();
    std::printf("%-17s acc %5.1f%% (many %5.1f medium %5.1f few %5.1f)  spread many %5.1f few %5.1f deg  "
                "region many %5.1f few %5.1f deg  few->many %5.1f%%  (%.1f s)\n",
                v.label.c_str(), r.acc, r.acc_group[0], r.acc_group[1], r.acc_group[2], r.spread_group[0],
                r.spread_group[2], r.region_group[0], r.region_group[2], r.few_to_many, r.seconds);
    std::fflush(stdout);
  }
  const std::string html = write_lab_page(out, set, results, groups, groups_desc, opt);
  for (const LabClaim& k : lab_claims(results))
    std::cout << (k.holds ? "holds:          " : "does not hold:  ") << k.claim << " [" << k.measured << "]\n";
  std::cout << "written: " << html << "\n";
  return 0;
}

}  // namespace tailor
