// `tailor compare RUN_DIR...`: finished runs side by side — top-1 (reported, last and best epoch), balanced
// accuracy, the shot groups and every class's accuracy — with each run's difference to the first. Markdown
// on stdout, optionally the same tables as an HTML page.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "report/html.h"
#include "report/table.h"
#include "rundir/files.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace tailor {

namespace fs = std::filesystem;

static const char* kCompareUsage =
    "usage: tailor compare RUN_DIR RUN_DIR... [--html FILE]\n"
    "Compares finished runs: top-1 (the reported checkpoint, last and best epoch), balanced accuracy, many /\n"
    "medium / few and the accuracy of every class, each run's difference to the first. Markdown on stdout\n"
    "(above 100 classes: the 40 classes whose accuracy differs most; the HTML page has every class).\n"
    "  --html FILE   also write the tables as a self-contained HTML page\n";

namespace {

// A plain table rendered as Markdown or HTML; columns whose heading starts with "diff" are coloured by sign.
struct TextTable {
  std::vector<std::string> head;
  std::vector<std::vector<std::string>> rows;

  std::string markdown() const {
    std::ostringstream md;
    md << "|";
    for (auto& h : head) md << " " << h << " |";
    md << "\n|";
    for (size_t i = 0; i < head.size(); ++i) md << "---|";
    md << "\n";
    for (auto& r : rows) {
      md << "|";
      for (auto& c : r) md << " " << c << " |";
      md << "\n";
    }
    return md.str();
  }
  std::string html() const {
    std::ostringstream h;
    h << "<div class=\"wrap\"><table>\n<thead><tr>";
    for (auto& c : head) h << "<th>" << html_escape(c) << "</th>";
    h << "</tr></thead>\n<tbody>\n";
    for (auto& r : rows) {
      h << "<tr>";
      for (size_t i = 0; i < r.size(); ++i) {
        const bool diff = head[i].rfind("diff", 0) == 0 && !r[i].empty() && r[i] != "n/a";
        h << "<td" << (diff ? (r[i][0] == '-' ? " class=\"neg\"" : " class=\"pos\"") : "") << ">"
          << html_escape(r[i]) << "</td>";
      }
      h << "</tr>\n";
    }
    h << "</tbody>\n</table></div>\n";
    return h.str();
  }
};

std::string signed_diff(double v, double ref) {
  if (!std::isfinite(v) || !std::isfinite(ref)) return "n/a";
  const double d = v - ref;
  return (d >= 0 ? "+" : "") + fmt_num(d);
}

}  // namespace

int cmd_compare(int argc, char** argv) {
  std::vector<std::string> dirs;
  std::vector<char*> flags = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) == 0 || a == "-h") {
      flags.push_back(argv[i]);
      if (a == "--html" && i + 1 < argc) flags.push_back(argv[++i]);
    } else {
      dirs.push_back(a);
    }
  }
  std::string html_out;
  try {
    Args a((int)flags.size(), flags.data(), {"html"}, {"help"});
    if (a.has("help")) {
      std::cout << kCompareUsage;
      return 0;
    }
    if (dirs.size() < 2) throw UsageError("give at least two run directories");
    html_out = a.output_file("html");  // checked before any run is read
  } catch (const UsageError& e) {
    std::cerr << "tailor compare: " << e.what() << "\n" << kCompareUsage;
    return 2;
  }
  std::vector<RunNumbers> runs;
  for (auto& d : dirs) {
    RunNumbers n = read_run_numbers(d);
    if (!n.error.empty() && fs::is_regular_file(fs::path(d) / "config.json") && !fs::exists(fs::path(d) / "summary.json"))
      throw std::runtime_error(d + ": the run has not finished: continue it with `tailor train --resume " + d + "`");
    if (!n.error.empty()) throw std::runtime_error(d + ": " + n.error);
    runs.push_back(n);
  }
  const RunNumbers& ref = runs.front();
  TextTable overall;
  overall.head = {"run", "checkpoint", "top-1", "diff top-1", "last", "best", "best by", "balanced", "diff balanced",
                  "many", "diff many", "medium", "diff medium", "few", "diff few"};
  for (auto& r : runs)
    overall.rows.push_back({r.name, r.checkpoint, fmt_num(r.top1), signed_diff(r.top1, ref.top1), fmt_num(r.top1_last),
                            fmt_num(r.top1_best), r.best_by, fmt_num(r.balanced), signed_diff(r.balanced, ref.balanced),
                            fmt_num(r.many), signed_diff(r.many, ref.many), fmt_num(r.medium),
                            signed_diff(r.medium, ref.medium), fmt_num(r.few), signed_diff(r.few, ref.few)});
  std::ostringstream notes;
  notes << "Accuracies in % on the test split of each run's reported checkpoint (eval.json); diff: minus the first "
           "run (" << ref.name << "). last: the last stage's final epoch; best: the best epoch's checkpoint when a "
           "run kept it (best by: the split eval.select chose it on), else the highest test top-1 over the last "
           "stage's evaluated epochs (best by test: read off the test curve, not a checkpoint the run kept; - when "
           "no epoch was evaluated on test). Shot groups (many / medium / few):\n";
  for (auto& r : runs) notes << "- " << r.name << ": " << (r.groups.empty() ? "n/a" : r.groups) << "\n";
  // Which tailor trained each run: other code, not only other settings, can make a difference
  bool same_engine = true;
  for (auto& r : runs) same_engine = same_engine && r.engine == ref.engine;
  if (same_engine && !ref.engine.empty()) notes << "Engine: tailor " << ref.engine << ", every run.\n";
  if (!same_engine) {
    notes << "Note: the runs were trained by different tailor builds (other code, not only other settings, may "
             "explain a difference):\n";
    for (auto& r : runs)
      notes << "- " << r.name << ": " << (r.engine.empty() ? "not recorded (before engine_version)" : "tailor " + r.engine)
            << "\n";
  }
  // Differences mean most on the same data: other test images or other training counts are said
  for (auto& r : runs) {
    if (&r == &ref) continue;
    const bool same_n = r.samples == ref.samples || (std::isnan(r.samples) && std::isnan(ref.samples));
    if (!same_n || r.test_counts != ref.test_counts)
      notes << "Note: " << r.name << " was tested on other images than " << ref.name << " (" << fmt_num(r.samples, 0)
            << " vs " << fmt_num(ref.samples, 0) << " test images"
            << (same_n ? ", other counts per class" : "") << "): its differences compare other data.\n";
    if (r.train_counts != ref.train_counts)
      notes << "Note: " << r.name << " trained on other counts per class than " << ref.name
            << ": its many / medium / few hold other classes.\n";
  }
  // A per-class table only for runs on the same classes: the same count and, where the runs name them, the
  // same names in the same order (class k of one dataset is not class k of another).
  std::string no_classes;
  for (auto& r : runs) {
    if (!no_classes.empty()) break;
    if (r.per_class.empty() || r.per_class.size() != ref.per_class.size()) {
      no_classes = "The runs do not have the same number of classes (" + ref.name + " " +
                   std::to_string(ref.per_class.size()) + ", " + r.name + " " + std::to_string(r.per_class.size()) +
                   "): no per-class table.\n";
      break;
    }
    if (r.class_names.size() == ref.class_names.size())
      for (size_t c = 0; c < r.class_names.size(); ++c)
        if (r.class_names[c] != ref.class_names[c]) {
          no_classes = "The runs do not have the same classes (class " + std::to_string(c) + " is '" +
                       ref.class_names[c] + "' in " + ref.name + ", '" + r.class_names[c] + "' in " + r.name +
                       "): no per-class table; the overall numbers are of different test sets.\n";
          break;
        }
  }
  const bool same_classes = no_classes.empty();
  TextTable classes;
  if (same_classes) {
    classes.head = {"class", "name", "train images (" + ref.name + ")"};
    for (size_t k = 0; k < runs.size(); ++k) {
      classes.head.push_back(runs[k].name);
      if (k) classes.head.push_back("diff " + runs[k].name);
    }
    for (size_t c = 0; c < ref.per_class.size(); ++c) {
      std::vector<std::string> row = {std::to_string(c), c < ref.class_names.size() ? ref.class_names[c] : "",
                                      c < ref.train_counts.size() ? fmt_num(ref.train_counts[c], 0) : "n/a"};
      for (size_t k = 0; k < runs.size(); ++k) {
        row.push_back(fmt_num(runs[k].per_class[c]));
        if (k) row.push_back(signed_diff(runs[k].per_class[c], ref.per_class[c]));
      }
      classes.rows.push_back(row);
    }
  }
  // Above kCompactAbove classes (ImageNet-LT's 1,000, iNaturalist's 8,142) stdout keeps the kShownClasses
  // classes whose accuracy differs most from the first run's, in class order; the HTML page keeps every class.
  const size_t kCompactAbove = 100, kShownClasses = 40;
  TextTable compact;
  const TextTable* shown = &classes;
  std::string shown_note;
  if (same_classes && classes.rows.size() > kCompactAbove) {
    std::vector<std::pair<double, size_t>> change;  // the largest |diff| over the runs, -1 where none is defined
    for (size_t c = 0; c < ref.per_class.size(); ++c) {
      double d = -1;
      for (size_t k = 1; k < runs.size(); ++k)
        if (std::isfinite(runs[k].per_class[c] - ref.per_class[c]))
          d = std::max(d, std::fabs(runs[k].per_class[c] - ref.per_class[c]));
      change.push_back({d, c});
    }
    std::stable_sort(change.begin(), change.end(), [](auto& a, auto& b) { return a.first > b.first; });
    std::vector<size_t> keep;
    for (size_t i = 0; i < kShownClasses; ++i) keep.push_back(change[i].second);
    std::sort(keep.begin(), keep.end());
    compact.head = classes.head;
    for (size_t c : keep) compact.rows.push_back(classes.rows[c]);
    shown = &compact;
    shown_note = std::to_string(classes.rows.size()) + " classes: the " + std::to_string(kShownClasses) +
                 " whose accuracy differs most from " + ref.name + "'s" +
                 (html_out.empty() ? " (--html FILE writes every class)" : " (" + html_out + " has every class)") +
                 ".\n\n";
  }
  std::cout << "# Comparison of " << runs.size() << " runs\n\n" << overall.markdown() << "\n" << notes.str()
            << "\n## Per class (accuracy %)\n\n" << shown_note << (same_classes ? shown->markdown() : no_classes);
  if (!html_out.empty()) {
    std::ostringstream h;
    h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>tailor compare</title>\n"
      << "<style>\n" << kTablePageStyle << "\n</style>\n</head>\n<body>\n<h1>Comparison of " << runs.size()
      << " runs</h1>\n<p class=\"sub\">";
    for (auto& r : runs) h << html_escape(r.dir) << (&r == &runs.back() ? "" : " &middot; ");
    h << "</p>\n<h2>Overall</h2>\n" << overall.html() << "<pre>" << html_escape(notes.str()) << "</pre>\n"
      << "<h2>Per class (accuracy %)</h2>\n" << (same_classes ? classes.html() : "<p>" + no_classes + "</p>")
      << "</body>\n</html>\n";
    write_text_atomic(html_out, h.str());
    std::cerr << "compare: wrote " << html_out << "\n";
  }
  return 0;
}

}  // namespace tailor
