// `tailor report`: writes report.html and plots/*.png of a run directory (logic in report/report.cpp).
#include <iostream>

#include "report/report.h"
#include "tools/args.h"

namespace tailor {

static const char* kReportUsage =
    "usage: tailor report --run DIR\n"
    "Reads DIR/metrics.jsonl, DIR/eval.json (and DIR/config.json, DIR/tau_sweep.json when present) and writes\n"
    "DIR/report.html with its plots in DIR/plots/.\n";

int cmd_report(int argc, char** argv) {
  std::string run;
  try {
    Args a(argc, argv, {"run"}, {"help"});
    if (a.has("help")) {
      std::cout << kReportUsage;
      return 0;
    }
    if (!a.has("run")) throw UsageError("--run is required");
    run = a.str("run", "");
    if (run.empty()) throw UsageError("--run needs a directory");
  } catch (const UsageError& e) {
    std::cerr << "tailor report: " << e.what() << "\n" << kReportUsage;
    return 2;
  }
  ReportFiles files = write_report(run);
  std::cout << "report: " << files.html << " (" << files.plots.size() << " plots in " << run << "/plots)\n";
  return 0;
}

}  // namespace tailor
