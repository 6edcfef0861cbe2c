// `tailor cams`: the class-activation-map page of a run (or checkpoint) whose head is CAMC's (report/cams.h):
// DIR/cams.html and DIR/plots/cams.png; a run's report.html is rebuilt to link it.
#include <filesystem>
#include <iostream>

#include "engine/precision.h"
#include "report/cams.h"
#include "report/report.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/model_source.h"

namespace tailor {

static const char* kCamsUsage =
    "usage: tailor cams (--run DIR [--checkpoint F] | --checkpoint F --config FILE --out DIR) [--split test|val|train]\n"
    "                   [--classes K] [--images N] [--set key.path=value ...] [--threads N]\n"
    "                   [--device cpu|cuda]  (default: the run's device when this machine has one, else cpu)\n"
    "Draws the attention of CAMC's calibrated pooling (model.head camc) over the first N images (default 6) of the\n"
    "K most and the K least frequent classes (default 3) of the split: DIR/cams.html with DIR/plots/cams.png.\n"
    "With --run the page goes into the run directory (and its report.html links it); else into --out DIR.\n";

int cmd_cams(int argc, char** argv) {
  ModelSource src;
  std::string split, out;
  CamPageOptions opt;
  try {
    auto flags = model_source_flags();
    flags.insert(flags.end(), {"split", "out", "classes", "images"});
    Args a(argc, argv, flags, {"help"}, {"set"});
    if (a.has("help")) {
      std::cout << kCamsUsage;
      return 0;
    }
    split = a.has("split") ? a.choice("split", "test", {"test", "val", "train"}) : "";
    opt.classes_per_end = (int)a.integer("classes", 3, 1, 1000);
    opt.images_per_class = (int)a.integer("images", 6, 1, 64);
    if (a.has("run") && a.has("out"))
      throw UsageError("--out: with --run the page goes into the run directory (its report links it); --out DIR "
                       "is for --checkpoint F --config C");
    out = a.str("out", a.str("run", ""));
    if (out.empty()) throw UsageError("--out DIR is required with --checkpoint --config");
    src = open_model_source(a, std::cout);
    split = eval_split_or_default(src.data, split, std::cout);
  } catch (const UsageError& e) {
    std::cerr << "tailor cams: " << e.what() << "\n" << kCamsUsage;
    return 2;
  }
  PrecisionScope precision_scope(src.precision);  // the run's (tools/model_source.h)
  if (!has_cam_head(*src.net)) {
    std::cerr << "tailor cams: " << src.checkpoint << " has no CAMC head (model.head camc): no class-activation "
              << "map page for it\n";
    return 2;  // the wrong model given, as tau-sweep's wrong head
  }
  opt.batch = src.cfg.at("data").at("eval_batch_size");
  opt.workers = src.cfg.at("data").at("workers");
  std::string page = write_cam_page(out, *src.net, run_split(src.data, split), src.data.eval_tf, src.data.train_counts,
                                    split, opt, &std::cout);
  if (!src.run_dir.empty() && std::filesystem::exists(std::filesystem::path(src.run_dir) / "eval.json"))
    std::cout << "report: " << write_report(src.run_dir).html << " (links " << page << ")\n";
  return 0;
}

}  // namespace tailor
