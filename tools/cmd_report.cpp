// `tailor report`: writes report.html and plots/*.png of a run directory (logic in report/report.cpp).
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "engine/precision.h"
#include "report/report.h"
#include "report/report_tsne.h"
#include "tools/args.h"
#include "tools/model_source.h"
#include "train/run_config.h"
#include "train/run_model.h"

namespace tailor {

static const char* kReportUsage =
    "usage: tailor report --run DIR [--tsne [--checkpoint F] [--tsne-points N] [--tsne-iters K] [--threads N]\n"
    "                                      [--device cpu|cuda]]\n"
    "Reads DIR/metrics.jsonl, DIR/eval.json (and DIR/config.json, DIR/tau_sweep.json when present) and writes\n"
    "DIR/report.html with its plots in DIR/plots/.\n"
    "--tsne: first maps the train and test features of the run's final checkpoint (or F) with t-SNE on a\n"
    "class-stratified sample of at most N points each (default 1500, at most 3000; above N / 5 classes, of\n"
    "N / 5 classes evenly spaced by training count; K iterations, default 1000, seed 0): DIR/plots/tsne.png\n"
    "and DIR/tsne.json, shown as a section of the report.\n";

// Features of the train and test splits of the run's final checkpoint through t-SNE (report/report_tsne.h).
static void run_tsne(const Args& a) {
  TsneOptions opt;  // the flags first: a bad value is refused before the model and the data are loaded
  opt.iterations = (int)a.integer("tsne-iters", 1000, 260, 100000);
  const int points = (int)a.integer("tsne-points", 1500, 10, 3000);
  ModelSource src = open_model_source(a, std::cout);
  PrecisionScope precision_scope(src.precision);  // the run's (tools/model_source.h)
  std::vector<TsneSplit> splits;
  for (const char* name : {"train", "test"}) {
    const data::Dataset& ds = run_split(src.data, name);
    SplitFeatures f = extract_features(*src.net, ds, src.data.eval_tf, src.cfg.at("data").at("eval_batch_size"),
                                       src.cfg.at("data").at("workers"));
    splits.push_back({name, f.features.to_vector(), src.net->feature_dim(), f.labels});
  }
  write_tsne(src.run_dir, splits, src.data.train_counts, parse_shot_rule(src.cfg.at("eval")),
             src.data.train.class_names, points, opt, src.checkpoint, &std::cout);
}

int cmd_report(int argc, char** argv) {
  std::string run;
  try {
    Args a(argc, argv, {"run", "checkpoint", "threads", "device", "tsne-points", "tsne-iters"}, {"help", "tsne"});
    if (a.has("help")) {
      std::cout << kReportUsage;
      return 0;
    }
    if (!a.has("run")) throw UsageError("--run is required");
    run = a.str("run", "");
    if (run.empty()) throw UsageError("--run needs a directory");
    for (const char* f : {"checkpoint", "threads", "device", "tsne-points", "tsne-iters"})
      if (a.has(f) && !a.has("tsne")) throw UsageError(std::string("--") + f + " is for --tsne only");
    if (a.has("tsne")) run_tsne(a);
  } catch (const UsageError& e) {
    std::cerr << "tailor report: " << e.what() << "\n" << kReportUsage;
    return 2;
  }
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(fs::path(run) / "config.json"))
    throw std::runtime_error(run + ": not a run directory (no config.json)");
  if (!fs::is_regular_file(fs::path(run) / "eval.json"))  // written when the last stage ends
    throw std::runtime_error(run + ": the run has not finished (no eval.json yet): continue it with `tailor train "
                             "--resume " + run + "`, which writes the report when it ends");
  ReportFiles files = write_report(run);
  size_t plots = files.plots.size();  // and the figures the page shows from earlier commands (t-SNE, CAMs)
  for (const auto& [made_by, png] : {std::pair<const char*, const char*>{"tsne.json", "tsne.png"}, {"cams.html", "cams.png"}})
    plots += fs::exists(fs::path(run) / made_by) && fs::exists(fs::path(run) / "plots" / png);
  std::cout << "report: " << files.html << " (" << plots << " plots in " << run << "/plots)\n";
  return 0;
}

}  // namespace tailor
