// Private to report/: what report.cpp (reading the run's files, the HTML page) and report_plots.cpp
// (the figures) share — the parsed eval.json, typed JSON look-ups, number formatting, the shot groups
// and the writer that saves the PNGs.
#pragma once
#include <array>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "data/shots.h"
#include "report/plot.h"
#include "report/report.h"

namespace tailor::report_detail {

using nlohmann::json;
using opt = std::optional<double>;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- typed look-ups (a missing key or a value of another type never throws) ----------------------

// A number, or nullopt when the key is absent, null or not a number.
inline opt num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}
// The value, or NaN when absent.
inline double nan_if(const opt& v) { return v ? *v : kNaN; }
// An integer field, `def` when absent or not a number.
inline int int_or(const json& j, const char* key, int def) { return (int)num(j, key).value_or(def); }
// A string field, `def` when absent or not a string.
inline std::string str_or(const json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

// j[key] as numbers (non-numbers as NaN; empty when absent or null). Throws naming `path` when it is not
// an array, or when C >= 0 and it does not have C entries.
std::vector<double> num_array(const json& j, const char* key, const std::string& path, int C);

// ---- eval.json ------------------------------------------------------------------------------------

struct Eval {
  std::string path;
  json j;
  int C = 0;
  std::vector<std::string> names;
  std::vector<double> train, test, acc, norms;  // acc: percent, NaN when n/a
  std::vector<int64_t> confusion;               // C x C, empty if absent
  std::vector<std::array<int64_t, 3>> confusion_cells;  // eval.json's non-zero cells {true, pred, count} (> 1000 classes)
  // the shot groups (data/shots.h) by eval.json's "shot_groups" rule (the counts rule's defaults for a file
  // written before it had one); empty without train counts
  data::ShotRule rule;
  std::vector<int> group;   // per class: 0 many, 1 medium, 2 few
  std::string group_rule;   // the rule in one line
  std::string head;         // the evaluated classifier's kind (eval.json "head": linear, normed, camc, ...), "" if absent
};

inline const char* const* const kGroupName = data::kShotGroupName;
inline const plot::Color kGroupColor[3] = {plot::colors::blue, plot::colors::orange, plot::colors::red};

// ---- formatting -----------------------------------------------------------------------------------

// Fixed decimals, "n/a" for a non-finite or absent value.
std::string fmt(double v, int decimals = 2);
std::string fmt(const opt& v, int decimals = 2);
// Four significant digits (%.4g).
std::string fmt_g(double v);

// ---- output ---------------------------------------------------------------------------------------

// Collects what the report writes: the PNGs under run_dir/plots and the figures of the page.
struct Writer {
  std::string run_dir;
  std::ostream* log;
  ReportFiles files;
  std::vector<std::pair<std::string, std::string>> figures;  // (file name, caption)

  // Writes run_dir/plots/<name> atomically and adds it to the page with `caption`.
  void save(const plot::Canvas& c, const std::string& name, const std::string& caption);
};

// ---- figures -----------------------------------------------------------------------------------

// Class indices ordered by training count, most first (ties by index).
std::vector<int> by_train_count(const Eval& e);
// Category labels (class names, in `order`) for C <= 20, else a numeric class-rank axis.
plot::AxisSpec class_axis(const Eval& e, const std::vector<int>& order, const std::string& label);

// Breadcrumb's feature FIFOs (metrics.jsonl's "fifo_epochs" / "fifo_lengths"): per class and epoch the
// stored epochs over the FIFO length, as a heatmap; nothing when no line logged them (report_methods.cpp).
void plot_fifo_fill(Writer& w, const std::vector<json>& rows, const Eval& e);

// All the figures in page order: loss / lr and accuracy curves from metrics.jsonl (`rows`), per-class
// accuracy, weight norms, confusion and reliability from eval.json, and the tau sweeps of tau-normalisation
// (`tau`: tau_sweep.json) and post-hoc logit adjustment (`la_tau`: logit_adjust_sweep.json), null if absent.
// A figure whose data is missing is left out.
void write_plots(Writer& w, const std::vector<json>& rows, const Eval& e, const json& tau, const json& la_tau);

}  // namespace tailor::report_detail
