// `tailor tau-sweep`: post-hoc tau-normalisation (Kang et al. 2020, tau_norm.py) of a checkpoint's linear
// classifier, w_j / ||w_j||^tau for tau on a grid; prints top-1, balanced and many / medium / few (the run's
// eval.groups) per tau and picks the best tau on the chosen split. The split goes through the backbone once;
// each tau's classifier is applied to its features. With --run the sweep is saved as tau_sweep.json (the
// report plots it).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/precision.h"
#include "layers/heads.h"
#include "rundir/files.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/model_source.h"
#include "train/run_model.h"
#include "train/methods/tau_norm.h"

namespace tailor {

static const char* kTauUsage =
    "usage: tailor tau-sweep (--run DIR [--checkpoint F] | --checkpoint F --config FILE) [--split val|test]\n"
    "                        [--taus 0,0.1,...,2] [--set key.path=value ...] [--out FILE.json] [--threads N]\n"
    "                   [--device cpu|cuda]  (default: the run's device when this machine has one, else cpu)\n"
    "The checkpoint needs a linear classifier (a stage-1 or cRT model). Default split: val when the data has\n"
    "one, else test (then the choice is selection on the test set: say so when you report it).\n"
    "logits = <x, w_j / ||w_j||^tau>: tau-normalisation drops the bias, so tau 0 is the raw weights without\n"
    "it, not eval's numbers of the same checkpoint. With --run the sweep is written to DIR/tau_sweep.json\n"
    "(the report plots it), or to --out FILE instead.\n";

int cmd_tau_sweep(int argc, char** argv) {
  ModelSource src;
  std::string split, out;
  std::vector<double> taus = default_tau_grid();
  try {
    auto flags = model_source_flags();
    flags.insert(flags.end(), {"split", "taus", "out"});
    Args a(argc, argv, flags, {"help"}, {"set"});
    if (a.has("help")) {
      std::cout << kTauUsage;
      return 0;
    }
    if (a.has("taus")) taus = a.numbers("taus", 0, 100);
    split = a.has("split") ? a.choice("split", "val", {"val", "test"}) : "";
    out = a.output_file("out");
    src = open_model_source(a, std::cout);
  } catch (const UsageError& e) {
    std::cerr << "tailor tau-sweep: " << e.what() << "\n" << kTauUsage;
    return 2;
  }
  PrecisionScope precision_scope(src.precision);  // the run's (tools/model_source.h)
  if (split.empty()) split = src.data.val ? "val" : "test";
  auto lin = std::dynamic_pointer_cast<Linear>(src.net->head());
  if (!lin || !lin->bias.defined())
    throw ConfigError(src.checkpoint + ": tau-sweep needs a linear classifier with bias (got head " +
                      head_kind(*src.net) + ")" +
                      (head_kind(*src.net) == "tau_norm" ? ": the classifier is tau-normalised already; sweep the "
                                                           "checkpoint it came from (--checkpoint RUN/checkpoints/"
                                                           "stageK_last.safetensors of the stage before)"
                                                         : ""));
  const data::Dataset& ds = run_split(src.data, split);
  const ShotRule rule = parse_shot_rule(src.cfg.at("eval"));
  std::printf("groups: %s\n", data::describe_shot_rule(rule, src.data.train_counts).c_str());
  std::printf("%6s %8s %8s %8s %8s %8s\n", "tau", "top-1", "balanced", "many", "medium", "few");
  // the split's features once, then every tau's classifier on them
  TauSweep r = sweep_tau_on_features(*src.net, *lin, taus, ds, src.data.eval_tf, src.data.train_counts, rule,
                                     src.cfg.at("data").at("eval_batch_size"), src.cfg.at("data").at("workers"));
  double best = -1;
  for (auto& [tau, m] : r) {
    std::printf("%6.2f %7.2f%% %7.2f%% %8s %8s %8s\n", tau, 100 * m.top1, 100 * m.balanced_acc,
                group_pct(m.many).c_str(), group_pct(m.medium).c_str(), group_pct(m.few).c_str());
    best = std::max(best, m.top1);
  }
  Json sweep = tau_sweep_json(r, split, taus);
  const double chosen = best_tau(r);
  sweep["chosen"] = chosen;
  sweep["selected_on"] = split;
  std::printf("best tau %.2f on %s (top-1 %.2f%%)\n", chosen, split.c_str(), 100 * best);
  std::printf("(logits <x, w_j / ||w_j||^tau> without the classifier's bias: tau 0 is not eval's numbers)\n");
  if (out.empty() && !src.run_dir.empty()) out = src.run_dir + "/tau_sweep.json";
  if (!out.empty()) {
    write_text_atomic(out, sweep.dump(2) + "\n");  // (a full or read-only disk: an error naming the file)
    std::printf("written: %s\n", out.c_str());
  }
  return 0;
}

}  // namespace tailor
