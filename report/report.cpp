// The run report: reads the run's files (metrics.jsonl, eval.json, config.json, the tau sweeps) and writes
// report.html; the figures it shows are drawn in report_plots.cpp.
#include "report/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "report/html.h"
#include "report/report_data.h"
#include "report/report_tsne.h"
#include "report/table.h"
#include "rundir/files.h"
#include "train/metrics.h"

namespace tailor {

namespace fs = std::filesystem;

// ---- shared helpers (declared in report_data.h) -------------------------------------------------

namespace report_detail {

// Non-numbers in the array become NaN (n/a).
std::vector<double> num_array(const json& j, const char* key, const std::string& path, int C) {
  std::vector<double> v;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return v;
  if (!it->is_array()) throw std::runtime_error(path + ": '" + key + "' is not an array");
  for (auto& e : *it) v.push_back(e.is_number() ? e.get<double>() : kNaN);
  if (C >= 0 && (int)v.size() != C)
    throw std::runtime_error(path + ": '" + key + "' has " + std::to_string(v.size()) + " entries, expected " +
                             std::to_string(C) + " (one per class)");
  return v;
}

// Number formatting for the tables and plot titles (report_data.h).
std::string fmt(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
std::string fmt(const opt& v, int decimals) { return v ? fmt(*v, decimals) : "n/a"; }
std::string fmt_g(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace report_detail

using namespace report_detail;

namespace {

// ---- reading -------------------------------------------------------------------------------------

// The whole text of a file.
std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The parsed file; null when it is absent and not `required`. Throws naming the file when it is malformed.
json read_json(const std::string& path, bool required) {
  if (!fs::exists(path)) {
    if (required) throw std::runtime_error("missing file " + path);
    return json();
  }
  const std::string text = read_text(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": malformed JSON: " + e.what());
  }
}

// One JSON object per non-blank line. Throws naming the file and line when a line is not one.
std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing file " + path);
  std::vector<json> rows;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(lineno) + ": malformed JSON: " + e.what());
    }
    if (!j.is_object()) throw std::runtime_error(path + ":" + std::to_string(lineno) + ": not a JSON object");
    rows.push_back(std::move(j));
  }
  return rows;
}

// The shot groups of eval.json's train counts by its "shot_groups" rule ({"rule": "counts", "many_above":
// 100, "few_below": 20} when absent: what eval.json files were grouped by before they named the rule).
void read_groups(Eval& e) {
  if (e.train.empty()) return;
  static const json none = json::object();
  const json& g = e.j.contains("shot_groups") && e.j["shot_groups"].is_object() ? e.j["shot_groups"] : none;
  const data::ShotRule d;
  try {
    e.rule = data::make_shot_rule(str_or(g, "rule", "counts"), (int64_t)num(g, "many_above").value_or(d.many_above),
                                  (int64_t)num(g, "few_below").value_or(d.few_below));
  } catch (const std::runtime_error& ex) {
    throw std::runtime_error(e.path + ": 'shot_groups': " + ex.what());
  }
  std::vector<int64_t> counts;
  for (double n : e.train) counts.push_back(std::isfinite(n) ? (int64_t)n : 0);
  e.group = data::shot_split(counts, e.rule).group_of_class(counts.size());
  e.group_rule = data::describe_shot_rule(e.rule, counts);
}

// Reads eval.json; throws naming it when a per-class array does not have one entry per class or the
// confusion matrix is not C x C.
Eval read_eval(const std::string& path) {
  Eval e;
  e.path = path;
  e.j = read_json(path, true);
  if (!e.j.is_object()) throw std::runtime_error(path + ": not a JSON object");
  const json& j = e.j;
  for (const char* k : {"train_counts", "per_class_acc", "test_counts", "confusion"})
    if (j.contains(k) && j[k].is_array()) {
      e.C = (int)j[k].size();
      break;
    }
  e.train = num_array(j, "train_counts", path, e.C);
  e.test = num_array(j, "test_counts", path, e.C);
  e.acc = num_array(j, "per_class_acc", path, e.C);
  e.norms = num_array(j, "weight_norms", path, e.C);
  e.head = str_or(j, "head", "");
  read_groups(e);
  if (j.contains("confusion") && j["confusion"].is_array()) {
    const json& m = j["confusion"];
    if ((int)m.size() != e.C) throw std::runtime_error(path + ": 'confusion' must be C x C");
    e.confusion.resize((size_t)e.C * e.C);
    for (int r = 0; r < e.C; ++r) {
      if (!m[r].is_array() || (int)m[r].size() != e.C)
        throw std::runtime_error(path + ": 'confusion' row " + std::to_string(r) + " must have " + std::to_string(e.C) +
                                 " entries");
      for (int q = 0; q < e.C; ++q) e.confusion[(size_t)r * e.C + q] = m[r][q].is_number() ? m[r][q].get<int64_t>() : 0;
    }
  }
  if (j.contains("confusion_cells") && j["confusion_cells"].is_array())
    for (auto& cell : j["confusion_cells"]) {
      const bool ok = cell.is_array() && cell.size() == 3 && cell[0].is_number_integer() && cell[1].is_number_integer() &&
                      cell[2].is_number_integer() && cell[0].get<int64_t>() >= 0 && cell[0].get<int64_t>() < e.C &&
                      cell[1].get<int64_t>() >= 0 && cell[1].get<int64_t>() < e.C;
      if (!ok)
        throw std::runtime_error(path + ": 'confusion_cells' entry " + cell.dump() + " is not [true, predicted, count] "
                                 "with classes in [0, " + std::to_string(e.C) + ")");
      e.confusion_cells.push_back({cell[0].get<int64_t>(), cell[1].get<int64_t>(), cell[2].get<int64_t>()});
    }
  if (j.contains("class_names") && j["class_names"].is_array() && (int)j["class_names"].size() == e.C)
    for (auto& n : j["class_names"]) e.names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  else
    for (int i = 0; i < e.C; ++i) e.names.push_back(std::to_string(i));
  return e;
}

// ---- HTML helpers --------------------------------------------------------------------------------

// A table cell for a metrics.jsonl field: absent (not evaluated) -> "-", null -> "n/a".
std::string cell(const json& row, const char* key, int decimals, bool general = false) {
  auto it = row.find(key);
  if (it == row.end()) return "&ndash;";
  if (it->is_null()) return "n/a";
  if (it->is_number()) return general ? fmt_g(it->get<double>()) : fmt(it->get<double>(), decimals);
  return html_escape(it->is_string() ? it->get<std::string>() : it->dump());
}

// config["a"]["b"]... as text, or "" when absent.
std::string config_str(const json& cfg, const std::vector<std::string>& keys) {
  const json* j = &cfg;
  for (const auto& k : keys) {
    if (!j->is_object() || !j->contains(k)) return "";
    j = &(*j)[k];
  }
  if (j->is_null()) return "";
  return j->is_string() ? j->get<std::string>() : j->dump();
}

// k for a config.json section named "stage<k>" (k >= 1), 0 for any other name.
int stage_number(const std::string& key) {
  if (key.size() < 6 || key.size() > 11 || key.compare(0, 5, "stage") != 0) return 0;
  for (size_t i = 5; i < key.size(); ++i)
    if (!std::isdigit((unsigned char)key[i])) return 0;
  return std::stoi(key.substr(5));
}

// The stages of the run as config.json describes them, in stage order: "stage k: <method>", plus
// " (<loss name>)" when the stage has a loss, for every section "stage1", "stage2", ... Older configs
// have no stage1.method (it is "joint") and stage2.method "none" for no stage 2: such a stage is left out.
std::vector<std::string> stage_titles(const json& cfg) {
  std::map<int, std::string> sections;  // stage number -> section name
  if (cfg.is_object())
    for (auto& item : cfg.items())
      if (int k = stage_number(item.key())) sections[k] = item.key();
  std::vector<std::string> titles;
  for (auto& [k, section] : sections) {
    std::string method = config_str(cfg, {section, "method"});
    if (method.empty() && k == 1) method = "joint";
    if (method.empty() || method == "none") continue;
    std::string loss = config_str(cfg, {section, "loss", "name"});
    titles.push_back("stage " + std::to_string(k) + ": " + html_escape(method) + (loss.empty() ? "" : " (" + html_escape(loss) + ")"));
  }
  return titles;
}

// ---- HTML ----------------------------------------------------------------------------------------

// The page's style sheet, inlined so that report.html stands alone.
const char* kStyle =
    R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1240px;
padding:0 16px;color:#222}h1{margin-bottom:4px}.sub{color:#555;margin-top:0}h2{margin-top:36px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}tbody tr:nth-child(even){background:#fafafa}
figure{margin:16px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:14px}
pre{background:#f6f6f6;padding:12px;overflow:auto;font-size:13px}details summary{cursor:pointer;margin:8px 0}
.warn{background:#fff4e0;border-left:4px solid #e69500;padding:6px 10px}
td.l,th.l{text-align:left}.wrap{overflow-x:auto}.g0{color:#1f77b4}.g1{color:#d86a00}.g2{color:#d62728})";

// The summary table: eval.json's headline numbers, then training time and skipped steps from metrics.jsonl;
// under it the note of a later stage that lowered top-1 (drop_note, "" for none). `engine`: the tailor that trained
// the run (summary.json's engine_version (engine_build)), "" when not recorded.
std::string summary_html(const Eval& e, const std::vector<json>& rows, const std::string& drop_note,
                         const std::string& engine) {
  std::ostringstream h;
  const json& j = e.j;
  auto row = [&](const std::string& k, const std::string& v) {
    h << "<tr><td>" << k << "</td><td>" << v << "</td></tr>\n";
  };
  h << "<table>\n<tbody>\n";
  row("split", html_escape(str_or(j, "split", "n/a")));
  if (j.contains("checkpoint")) row("checkpoint", html_escape(str_or(j, "checkpoint", "n/a")));
  if (auto s = num(j, "samples")) row("samples", fmt(*s, 0));
  const opt balanced = num(j, "balanced_acc");  // absent from eval.json files written before it
  row("top-1 (%) &mdash; per image", fmt(num(j, "top1")));
  if (balanced) row("balanced accuracy (%) &mdash; per class", fmt(*balanced));
  row("top-5 (%)", fmt(num(j, "top5")));
  if (!e.group_rule.empty()) row("shot groups", html_escape(e.group_rule));
  for (int g = 0; g < 3; ++g) {
    std::string k = kGroupName[g];
    opt n = num(j, (k + "_classes").c_str());
    std::string label = "<span class=\"g" + std::to_string(g) + "\">" + k + "</span> (%)" +
                        (n ? " &mdash; " + fmt(*n, 0) + (*n == 1 ? " class" : " classes") : "");
    row(label, fmt(num(j, k.c_str())));
  }
  row("ECE (%)", fmt(num(j, "ece")));
  row("MCE (%)", fmt(num(j, "mce")));
  if (!rows.empty()) {
    double secs = 0;
    int64_t skipped = 0;
    for (auto& r : rows) secs += num(r, "seconds").value_or(0), skipped += (int64_t)num(r, "skipped_steps").value_or(0);
    row("epochs logged", std::to_string(rows.size()));
    row("training time", fmt(secs / 60, 1) + " min");
    row("skipped steps", std::to_string(skipped));
  }
  if (!engine.empty()) row("trained by", "tailor " + html_escape(engine));
  h << "</tbody>\n</table>\n";
  if (balanced) h << "<p class=\"sub\">" << html_escape(kTop1VsBalanced) << "</p>\n";
  if (!drop_note.empty()) h << "<p class=\"warn\">" << html_escape(drop_note) << "</p>\n";
  return h.str();
}

// What the page's terms mean, for a reader who meets them here first (folded under the summary).
std::string terms_html(const Eval& e) {
  static const std::map<std::string, std::string> kHeads = {
      {"linear", "linear: logits w_j . x + b_j"},
      {"normed", "normed (LDAM's NormedLinear): logits are the raw cosines between the feature and each unit-norm "
                 "class weight, in [-1, 1]; the losses that train it scale them by s, evaluation does not"},
      {"cosine", "cosine: logits sigma x the cosine between the feature and each class weight (a fixed sigma)"},
      {"projected_cosine", "projected_cosine: a cosine classifier on a learned projection of the features"},
      {"camc", "camc: the calibrated pooling of the feature map (its class activation maps) and s x cosine logits"},
      {"lws", "lws: the stage-1 linear classifier with a learned scale per class"},
      {"tau_norm", "tau_norm: the linear classifier's rows divided by their norm^tau, the bias dropped"},
      {"ncm", "ncm: nearest class mean: each class's mean training feature; the prediction is the class whose mean "
              "is nearest"},
      {"two_heads", "two heads (SSD): a classifier on the hard labels and one on the soft labels; evaluation uses the "
                    "one its config names"}};
  const auto rel = e.j.find("reliability");
  const int bins = rel != e.j.end() && rel->is_object() ? int_or(*rel, "bins", 0) : 0;
  std::ostringstream h;
  h << "<details><summary>What the numbers mean</summary>\n<dl>\n"
    << "<dt>top-1</dt><dd>the share of test images whose largest logit is their class: per image, so the classes "
       "with many test images weigh most.</dd>\n"
    << (num(e.j, "balanced_acc")  // (eval.json files written before it have none)
            ? "<dt>balanced accuracy</dt><dd>the mean of the per-class accuracies: every class weighs the same (on "
              "the balanced test sets of the long-tailed benchmarks it equals top-1).</dd>\n"
            : "")
    << "<dt>top-5</dt><dd>the share of test images whose class is among the 5 largest logits.</dd>\n"
    << "<dt>many / medium / few</dt><dd>the classes grouped by their number of training images"
    << (e.group_rule.empty() ? "" : " (" + html_escape(e.group_rule) + ")")
    << "; a group's accuracy is the mean of its classes' accuracies, n/a when it has none.</dd>\n"
    << "<dt>ECE / MCE</dt><dd>expected / maximum calibration error: the test images binned by their confidence "
       "(the largest softmax probability" << (bins > 0 ? ", " + std::to_string(bins) + " equal-width bins" : "")
    << "); per bin the gap |accuracy &minus; mean confidence|; ECE averages the gaps weighted by the bins' images, "
       "MCE is the largest.</dd>\n"
    << "<dt>checkpoint</dt><dd>the weights evaluated here: <code>stageK_best</code> (the epoch with the highest "
       "top-1 on the split <code>eval.select</code> names: on <code>test</code>, the reference repositories' "
       "practice, the number is optimistic) or <code>stageK_last</code> (the final epoch).</dd>\n"
    << "<dt>skipped steps</dt><dd>training steps whose loss or gradients were not finite, skipped by the guard "
       "(<code>guard.*</code>).</dd>\n";
  if (kHeads.count(e.head)) h << "<dt>classifier</dt><dd>" << html_escape(kHeads.at(e.head)) << ".</dd>\n";
  h << "<dt>methods, losses, samplers</dt><dd>the stages in the subtitle and the config below: "
       "<code>tailor train --help-config</code> lists every key with its meaning; the tailor repository's "
       "docs/losses.md and docs/cli.md describe each loss and method with its paper.</dd>\n</dl>\n</details>\n";
  return h.str();
}

// One table row per metrics.jsonl line, in file order.
std::string epochs_html(const std::vector<json>& rows) {
  std::ostringstream h;
  h << "<div class=\"wrap\"><table>\n<thead><tr><th>stage</th><th>epoch</th><th>step</th><th>lr</th><th>loss</th>"
       "<th>top-1</th><th>balanced</th><th>top-5</th><th>many</th><th>medium</th><th>few</th><th>ECE</th>"
       "<th>img/s</th><th>seconds</th><th>skipped</th></tr></thead>\n<tbody>\n";
  for (auto& r : rows) {
    std::string ep = cell(r, "epoch", 0);
    if (r.contains("epochs")) ep += " / " + cell(r, "epochs", 0);
    h << "<tr><td>" << cell(r, "stage", 0) << "</td><td>" << ep << "</td><td>" << cell(r, "step", 0) << "</td><td>"
      << cell(r, "lr", 0, true) << "</td><td>" << cell(r, "loss", 4) << "</td>";
    for (const char* k : {"top1", "balanced_acc", "top5", "many", "medium", "few", "ece"})
      h << "<td>" << cell(r, k, 2) << "</td>";
    h << "<td>" << cell(r, "img_per_s", 1) << "</td><td>" << cell(r, "seconds", 1) << "</td><td>"
      << cell(r, "skipped_steps", 0) << "</td></tr>\n";
  }
  h << "</tbody>\n</table></div>\n<p class=\"sub\">Accuracies and ECE in %; n/a: shot group without classes; "
       "&ndash;: epoch not evaluated.</p>\n";
  return h.str();
}

// One table row per class: name, shot group, image counts, accuracy, weight norm when known.
std::string classes_html(const Eval& e) {
  std::ostringstream h;
  bool norms = !e.norms.empty();
  h << "<div class=\"wrap\"><table>\n<thead><tr><th>class</th><th class=\"l\">name</th>"
       "<th class=\"l\">group</th><th>train images</th>"
       "<th>test images</th><th>accuracy (%)</th>"
    << (norms ? "<th>weight norm</th>" : "") << "</tr></thead>\n<tbody>\n";
  for (int i = 0; i < e.C; ++i) {
    int g = e.group.empty() ? -1 : e.group[i];
    h << "<tr><td>" << i << "</td><td class=\"l\">" << html_escape(e.names[i]) << "</td><td class=\"l\">";
    if (g >= 0) h << "<span class=\"g" << g << "\">" << kGroupName[g] << "</span>";
    h << "</td><td>" << (e.train.empty() ? "n/a" : fmt(e.train[i], 0)) << "</td><td>"
      << (e.test.empty() ? "n/a" : fmt(e.test[i], 0)) << "</td><td>" << (e.acc.empty() ? "n/a" : fmt(e.acc[i]))
      << "</td>";
    if (norms) h << "<td>" << fmt(e.norms[i], 4) << "</td>";
    h << "</tr>\n";
  }
  h << "</tbody>\n</table></div>\n";
  return h.str();
}

}  // namespace

// Reads the run's files, draws the figures, then writes report.html (see report.h).
ReportFiles write_report(const std::string& run_dir, std::ostream* log) {
  fs::path dir(run_dir);
  std::vector<json> rows = read_jsonl((dir / "metrics.jsonl").string());
  Eval e = read_eval((dir / "eval.json").string());
  json cfg = read_json((dir / "config.json").string(), false);
  json tau = read_json((dir / "tau_sweep.json").string(), false);
  json la_tau = read_json((dir / "logit_adjust_sweep.json").string(), false);

  fs::create_directories(dir / "plots");
  Writer w{run_dir, log, {}, {}};
  write_plots(w, rows, e, tau, la_tau);

  std::string name = config_str(cfg, {"name"});
  if (name.empty()) name = fs::absolute(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  std::vector<std::string> sub;  // the subtitle: model, then one field per stage
  std::string arch = config_str(cfg, {"model", "arch"});
  if (!arch.empty()) sub.push_back("model: <b>" + html_escape(arch) + "</b>");
  for (const std::string& s : stage_titles(cfg)) sub.push_back(s);

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << html_escape(name)
    << " &mdash; tailor run report</title>\n<style>\n"
    << kStyle << "\n</style>\n</head>\n<body>\n";
  h << "<h1>Run report: " << html_escape(name) << "</h1>\n<p class=\"sub\">";
  for (size_t i = 0; i < sub.size(); ++i) h << (i ? " &middot; " : "") << sub[i];
  h << (sub.empty() ? "" : " &middot; ") << e.C << " classes</p>\n";
  const std::string drop = stage_drop_note(best_logged_top1(dir / "metrics.jsonl"));  // (the run's log says it too)
  const json summary = read_json((dir / "summary.json").string(), false);
  // (none for a run written before engine_version, or not finished)
  h << "<h2>Summary</h2>\n" << summary_html(e, rows, drop, engine_text(summary)) << terms_html(e);
  h << "<h2>Plots</h2>\n";
  for (auto& [file, caption] : w.figures)
    h << "<figure><img src=\"plots/" << html_escape(file) << "\" alt=\"" << html_escape(file) << "\"><figcaption>" << html_escape(caption)
      << "</figcaption></figure>\n";
  auto collapsible = [&](const std::string& body, size_t n, const char* what) {  // long tables start folded
    if (n > 50)
      h << "<details><summary>" << n << " " << what << " (click to expand)</summary>\n" << body << "</details>\n";
    else
      h << body;
  };
  if (fs::exists(dir / "cams.html"))  // written for a CAMC head (report/cams.h)
    h << "<h2>Class activation maps</h2>\n<p><a href=\"cams.html\">cams.html</a>: test images of the most and the "
         "least frequent classes with the attention of the calibrated pooling overlaid.</p>\n"
         "<figure><a href=\"cams.html\"><img src=\"plots/cams.png\" alt=\"class activation maps\"></a></figure>\n";
  h << tsne_section_html(run_dir);  // written by `tailor report --tsne` (report/report_tsne.h)
  // debug.profile_steps: the kernel tables of the profiled steps, one per stage (engine/profiler.h)
  std::vector<fs::path> profile_files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("profile_stage", 0) == 0) profile_files.push_back(entry.path());
  std::sort(profile_files.begin(), profile_files.end());
  std::string profiles;
  for (const fs::path& f : profile_files) profiles += "<pre>" + html_escape(read_text(f)) + "</pre>\n";
  if (!profiles.empty())
    h << "<h2>Where a step's time goes</h2>\n<p>Kernel times of the profiled steps (<code>debug.profile_steps</code>; "
         "the wall time includes data loading and all host work).</p>\n"
      << profiles;
  h << "<h2>Epochs</h2>\n";
  if (rows.empty())
    h << "<p>metrics.jsonl has no epoch yet.</p>\n";
  else
    collapsible(epochs_html(rows), rows.size(), "epochs");
  h << "<h2>Classes</h2>\n";
  collapsible(classes_html(e), e.C, "classes");
  h << "<h2>Config</h2>\n<details><summary>config.json</summary>\n<pre>"
    << (cfg.is_null() ? "config.json not found" : html_escape(cfg.dump(2, ' ', false, json::error_handler_t::replace)))
    << "</pre>\n</details>\n</body>\n</html>\n";

  ReportFiles files = std::move(w.files);
  files.html = (dir / "report.html").string();
  write_text_atomic(files.html, h.str());
  if (log) *log << "report: wrote " << files.html << "\n";
  return files;
}

}  // namespace tailor
