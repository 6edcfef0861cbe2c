// The report of a training run: reads runs/<name>/{config.json, metrics.jsonl, eval.json, tau_sweep.json,
// logit_adjust_sweep.json} and writes runs/<name>/plots/*.png and runs/<name>/report.html (a self-contained
// page that refers to the plots by relative path). Accuracies and ECE in those files are percentages; null means n/a.
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace tailor {

struct ReportFiles {
  std::string html;                // run_dir/report.html
  std::vector<std::string> plots;  // the PNGs written under run_dir/plots, in page order
};

// Throws std::runtime_error naming the file when metrics.jsonl or eval.json is missing, when a file is
// not valid JSON (metrics.jsonl: with the line number) or when eval.json's arrays disagree in size.
// `log`, if given, gets one line per file written.
ReportFiles write_report(const std::string& run_dir, std::ostream* log = nullptr);

}  // namespace tailor
