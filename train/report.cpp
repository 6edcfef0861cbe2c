#include "train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "train/plot.h"
#include "train/run_files.h"

namespace tailor {

namespace fs = std::filesystem;
using nlohmann::json;
using opt = std::optional<double>;
namespace pc = plot::colors;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- reading -------------------------------------------------------------------------------------

// A number, or nullopt when the key is absent, null or not a number.
opt num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}
double nan_if(const opt& v) { return v ? *v : kNaN; }
// Typed fields with a default when absent or of another type (json::value() would throw).
int int_or(const json& j, const char* key, int def) { return (int)num(j, key).value_or(def); }
std::string str_or(const json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : def;
}

json read_json(const std::string& path, bool required) {
  std::ifstream in(path);
  if (!in) {
    if (required) throw std::runtime_error("missing file " + path);
    return json();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    throw std::runtime_error(path + ": malformed JSON: " + e.what());
  }
}

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

struct Eval {
  std::string path;
  json j;
  int C = 0;
  std::vector<std::string> names;
  std::vector<double> train, test, acc, norms;  // acc: percent, NaN when n/a
  std::vector<int64_t> confusion;               // C x C, empty if absent
};

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
  if (j.contains("class_names") && j["class_names"].is_array() && (int)j["class_names"].size() == e.C)
    for (auto& n : j["class_names"]) e.names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  else
    for (int i = 0; i < e.C; ++i) e.names.push_back(std::to_string(i));
  return e;
}

// many > 100 training images, medium 20..100, few < 20.
int group_of(double train_count) { return train_count > 100 ? 0 : train_count >= 20 ? 1 : 2; }
const char* kGroupName[3] = {"many", "medium", "few"};
const plot::Color kGroupColor[3] = {pc::blue, pc::orange, pc::red};

// Class indices ordered by training count, most first (ties by index).
std::vector<int> by_train_count(const Eval& e) {
  std::vector<int> order(e.C);
  std::iota(order.begin(), order.end(), 0);
  if ((int)e.train.size() == e.C)
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return e.train[a] > e.train[b]; });
  return order;
}

// ---- output helpers ------------------------------------------------------------------------------

struct Writer {
  std::string run_dir;
  std::ostream* log;
  ReportFiles files;
  std::vector<std::pair<std::string, std::string>> figures;  // (file name, caption)

  void save(const plot::Canvas& c, const std::string& name, const std::string& caption) {
    std::string path = (fs::path(run_dir) / "plots" / name).string();
    c.save_png(path + ".tmp");
    fs::rename(path + ".tmp", path);
    files.plots.push_back(path);
    figures.emplace_back(name, caption);
    if (log) *log << "report: wrote " << path << " (" << c.w << "x" << c.h << ")\n";
  }
};

std::string fmt(double v, int decimals = 2) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
std::string fmt(const opt& v, int decimals = 2) { return v ? fmt(*v, decimals) : "n/a"; }
std::string fmt_g(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string esc(const std::string& s) {
  std::string o;
  for (char ch : s)
    o += ch == '&' ? "&amp;" : ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '"' ? "&quot;" : std::string(1, ch);
  return o;
}

// A table cell for a metrics.jsonl field: absent (not evaluated) -> "-", null -> "n/a".
std::string cell(const json& row, const char* key, int decimals, bool general = false) {
  auto it = row.find(key);
  if (it == row.end()) return "&ndash;";
  if (it->is_null()) return "n/a";
  if (it->is_number()) return general ? fmt_g(it->get<double>()) : fmt(it->get<double>(), decimals);
  return esc(it->is_string() ? it->get<std::string>() : it->dump());
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

// ---- plots ---------------------------------------------------------------------------------------

// (a) loss / lr and accuracies per epoch; stage 2 continues the x axis after stage 1.
void plot_curves(Writer& w, const std::vector<json>& rows) {
  if (rows.empty()) return;
  int last1 = 0;
  for (auto& r : rows)
    if (int_or(r, "stage", 1) == 1) last1 = std::max(last1, int_or(r, "epoch", 0));
  bool two_stages = false;
  std::vector<double> x, loss, lr, top1, grp[3];
  std::vector<int> stages;
  for (auto& r : rows) {
    int stage = int_or(r, "stage", 1);
    two_stages |= stage == 2;
    stages.push_back(stage);
    x.push_back(int_or(r, "epoch", 0) + (stage == 2 ? last1 : 0));
    loss.push_back(nan_if(num(r, "loss")));
    lr.push_back(nan_if(num(r, "lr")));
    top1.push_back(nan_if(num(r, "top1")));
    for (int g = 0; g < 3; ++g) grp[g].push_back(nan_if(num(r, kGroupName[g])));
  }
  double xmax = *std::max_element(x.begin(), x.end()), xmin = *std::min_element(x.begin(), x.end());
  plot::AxisSpec ax;
  ax.lo = xmin - 0.5, ax.hi = xmax + 0.5, ax.integer = true;
  ax.label = two_stages ? "epoch (stage 2 continues after stage 1)" : "epoch";
  int marker = x.size() <= 40 ? 3 : 0;
  double boundary = last1 + 0.5;
  auto range_of = [](const std::vector<double>& v, double& lo, double& hi) {
    lo = 0, hi = 0;
    for (double d : v)
      if (std::isfinite(d)) lo = std::min(lo, d), hi = std::max(hi, d);
    if (hi <= lo) hi = lo + 1;
    hi += 0.05 * (hi - lo);  // headroom for the markers
    plot::nice_range(lo, hi, 6);
  };
  // One line per stage (a new model part / loss starts at the boundary), markers at every value.
  auto series = [&](const plot::Axes& a, const std::vector<double>& v, plot::Color col, int thickness) {
    for (int stage : {1, 2}) {
      std::vector<double> xs, ys;
      for (size_t i = 0; i < v.size(); ++i)
        if ((stages[i] == 2) == (stage == 2)) xs.push_back(x[i]), ys.push_back(v[i]);
      plot::plot_line(a, xs, ys, col, thickness, marker);
    }
  };

  plot::Canvas c(1200, 440);
  for (int panel = 0; panel < 2; ++panel) {
    const auto& v = panel == 0 ? loss : lr;
    plot::AxisSpec ay;
    range_of(v, ay.lo, ay.hi);
    ay.label = panel == 0 ? "training loss" : "learning rate";
    plot::Axes a =
        plot::draw_axes(c, {panel * 600, 0, 600, 440}, ax, ay, panel == 0 ? "Training loss" : "Learning rate");
    if (two_stages) plot::plot_vline(a, boundary, pc::gray, 6, "stage 2");
    series(a, v, panel == 0 ? pc::blue : pc::green, 2);
  }
  w.save(c, "loss_lr.png", "Training loss and learning rate per epoch, as logged in metrics.jsonl.");

  bool any_acc = std::any_of(top1.begin(), top1.end(), [](double d) { return std::isfinite(d); });
  if (!any_acc) return;
  std::string split;
  for (auto& r : rows) split = str_or(r, "eval_split", split);
  plot::Canvas c2(1200, 520);
  plot::AxisSpec ay;
  ay.lo = 0, ay.hi = 100, ay.label = "accuracy (%)";
  std::vector<plot::LegendEntry> legend{{"top-1", pc::black}};
  const std::vector<double>* curves[4] = {&top1, &grp[0], &grp[1], &grp[2]};
  const plot::Color cols[4] = {pc::black, kGroupColor[0], kGroupColor[1], kGroupColor[2]};
  bool has[4] = {true, false, false, false};
  for (int g = 0; g < 3; ++g) {
    has[g + 1] = std::any_of(grp[g].begin(), grp[g].end(), [](double d) { return std::isfinite(d); });
    legend.push_back({std::string(kGroupName[g]) + (has[g + 1] ? "" : " (n/a)"),
                      has[g + 1] ? cols[g + 1] : plot::Color{200, 200, 200}});
  }
  plot::Axes a = plot::draw_axes(c2, {0, 0, 1200, 520}, ax, ay,
                                 "Accuracy per epoch" + (split.empty() ? "" : " (" + split + " split)"), legend);
  if (two_stages) plot::plot_vline(a, boundary, pc::gray, 6, "stage 2");
  for (int s = 3; s >= 0; --s)
    if (has[s]) series(a, *curves[s], cols[s], s == 0 ? 3 : 2);
  w.save(c2, "accuracy.png", "Top-1 and many / medium / few-shot accuracy per evaluated epoch.");
}

// (b) per-class accuracy against the training count, log x, coloured by shot group.
void plot_per_class(Writer& w, const Eval& e) {
  if (e.acc.empty() || e.train.empty()) return;
  std::vector<double> xs, ys;
  std::vector<plot::Color> cols;
  double lo = 1e300, hi = 0;
  for (int i = 0; i < e.C; ++i) {
    double n = std::max(1.0, e.train[i]);
    lo = std::min(lo, n), hi = std::max(hi, n);
    xs.push_back(n), ys.push_back(e.acc[i]), cols.push_back(kGroupColor[group_of(e.train[i])]);
  }
  plot::AxisSpec ax, ay;
  ax.log = true, ax.label = "training images of the class (log scale)";
  ax.lo = std::pow(10.0, std::floor(std::log10(lo))), ax.hi = std::pow(10.0, std::ceil(std::log10(hi)));
  if (ax.hi <= ax.lo) ax.hi = ax.lo * 10;
  ay.lo = 0, ay.hi = 100, ay.label = "test accuracy (%)";
  plot::Canvas c(1200, 560);
  std::vector<plot::LegendEntry> legend{
      {"many (>100)", kGroupColor[0]}, {"medium (20-100)", kGroupColor[1]}, {"few (<20)", kGroupColor[2]}};
  plot::Axes a = plot::draw_axes(c, {0, 0, 1200, 560}, ax, ay, "Per-class accuracy vs training count", legend);
  for (double b : {20.0, 100.0})
    if (b > ax.lo && b < ax.hi) plot::plot_vline(a, b, pc::gray, 6);
  plot::plot_points(a, xs, ys, cols, e.C > 200 ? 2 : 4);
  w.save(c, "per_class_acc.png",
         "Test accuracy of each class against its number of training images; dashed lines at 20 and 100 "
         "separate few / medium / many.");
}

// Category labels (class names) for C <= 20, else a numeric class-rank axis.
plot::AxisSpec class_axis(const Eval& e, const std::vector<int>& order, const std::string& label) {
  plot::AxisSpec s;
  s.grid = false;
  s.label = label;
  if (e.C <= 20) {
    for (int i : order) s.categories.push_back(e.names[i]);
  } else {
    s.lo = -0.5, s.hi = e.C - 0.5, s.integer = true;
  }
  return s;
}

// (c) classifier weight norm per class, classes sorted by training count.
void plot_weight_norms(Writer& w, const Eval& e) {
  if (e.norms.empty()) return;
  std::vector<int> order = by_train_count(e);
  std::vector<double> xs, ys;
  std::vector<plot::Color> cols;
  double hi = 0;
  for (int k = 0; k < e.C; ++k) {
    int i = order[k];
    xs.push_back(k), ys.push_back(e.norms[i]);
    cols.push_back(e.train.empty() ? pc::blue : kGroupColor[group_of(e.train[i])]);
    if (std::isfinite(e.norms[i])) hi = std::max(hi, e.norms[i]);
  }
  plot::AxisSpec ax = class_axis(e, order, e.C <= 20 ? "" : "class rank by training count (most images first)");
  plot::AxisSpec ay;
  double lo = 0;
  plot::nice_range(lo, hi, 6);
  ay.lo = lo, ay.hi = hi, ay.label = "weight L2 norm";
  int H = e.C <= 20 ? 600 : 500;
  plot::Canvas c(1200, H);
  std::vector<plot::LegendEntry> legend;
  if (!e.train.empty()) legend = {{"many", kGroupColor[0]}, {"medium", kGroupColor[1]}, {"few", kGroupColor[2]}};
  plot::Axes a = plot::draw_axes(c, {0, 0, 1200, H}, ax, ay,
                                 "Classifier weight norm per class (sorted by training count)", legend);
  plot::plot_bars(a, xs, ys, e.C <= 200 ? 0.7 : 1.0, cols);
  w.save(c, "weight_norms.png",
         "L2 norm of each class's classifier weight vector, classes ordered from the most "
         "to the fewest training images.");
}

// (d) row-normalised confusion matrix, classes ordered by training count.
void plot_confusion(Writer& w, const Eval& e) {
  if (e.confusion.empty()) return;
  const int C = e.C;
  std::vector<int> order = by_train_count(e);
  std::vector<float> v((size_t)C * C);
  std::vector<std::string> text;
  for (int r = 0; r < C; ++r) {
    int64_t s = 0;
    for (int q = 0; q < C; ++q) s += e.confusion[(size_t)order[r] * C + order[q]];
    for (int q = 0; q < C; ++q)
      v[(size_t)r * C + q] = s > 0 ? (float)e.confusion[(size_t)order[r] * C + order[q]] / s : 0.f;
  }
  if (C <= 20)  // cells in %: blank when no sample, "<1" when under half a percent
    for (float f : v) text.push_back(f == 0 ? "" : f < 0.005f ? "<1" : std::to_string((int)std::lround(f * 100)));
  // Many classes: a square-root colour scale, or the off-diagonal errors would all look black.
  const double gamma = C <= 20 ? 1.0 : 0.5;
  // Side of the matrix in pixels: whole pixels per cell up to 720 px, 1 px per cell up to 1000 classes.
  int side = C <= 720 ? C * std::max(1, std::min(60, 720 / C)) : std::min(C, 1000);
  plot::AxisSpec ax = class_axis(e, order, C <= 20 ? "predicted class" : "predicted class (rank by training count)");
  plot::AxisSpec ay = class_axis(e, order, C <= 20 ? "true class" : "true class (rank by training count)");
  ay.flip = true;
  std::string title = "Confusion matrix (row-normalised)";
  const int bar_w = 150;
  // Find the outer size whose plotting area is side x side (the margins barely depend on it).
  plot::Rect outer{0, 0, side + 300, side + 300};
  for (int it = 0; it < 3; ++it) {
    plot::Rect area = plot::axes_area(outer, ax, ay, title);
    outer.w += side - area.w, outer.h += side - area.h;
  }
  plot::Canvas c(outer.w + bar_w, outer.h);
  plot::Axes a = plot::draw_axes(c, outer, ax, ay, title);
  plot::draw_heatmap(c, a.area, C, C, v, text, gamma);
  plot::draw_colorbar(c, {outer.right() + 10, a.area.y, 24, a.area.h}, 0, 1,
                      gamma == 1 ? "fraction of the true class" : "fraction of the true class (sqrt scale)", gamma);
  w.save(c, "confusion.png",
         "Confusion matrix, each row divided by its true-class count" +
             std::string(C <= 20 ? " (cells in %)" : ", square-root colour scale") +
             "; classes ordered by training count, most first.");
}

// (e) reliability diagram: accuracy per confidence bin against the diagonal.
void plot_reliability(Writer& w, const Eval& e) {
  auto it = e.j.find("reliability");
  if (it == e.j.end() || !it->is_object()) return;
  const json& rel = *it;
  std::vector<double> conf = num_array(rel, "confidence", e.path + " reliability", -1);
  std::vector<double> acc = num_array(rel, "accuracy", e.path + " reliability", -1);
  std::vector<double> count = num_array(rel, "count", e.path + " reliability", -1);
  int bins = int_or(rel, "bins", (int)acc.size());
  if (bins <= 0 || (int)acc.size() != bins) return;
  std::vector<double> xs, accs, confs;
  std::vector<plot::Color> blue(bins, pc::blue);
  for (int b = 0; b < bins; ++b) {
    bool empty = !std::isfinite(acc[b]) || ((int)count.size() == bins && count[b] <= 0);
    xs.push_back((b + 0.5) / bins);
    accs.push_back(empty ? kNaN : acc[b]);
    confs.push_back(empty || (int)conf.size() != bins ? kNaN : conf[b]);
  }
  plot::AxisSpec ax, ay;
  ax.label = "confidence (max softmax)", ay.label = "accuracy";
  plot::Canvas c(720, 720);
  std::string title = "Reliability (ECE " + fmt(num(e.j, "ece")) + "%, MCE " + fmt(num(e.j, "mce")) + "%)";
  std::vector<plot::LegendEntry> legend{{"accuracy", pc::blue}, {"gap", {241, 179, 180}}, {"ideal", pc::gray, true}};
  plot::Axes a = plot::draw_axes(c, {0, 0, 720, 720}, ax, ay, title, legend);
  const double bw = 0.94 / bins;  // a thin white gap between bins
  plot::plot_bars(a, xs, accs, bw, blue);
  // The gap between accuracy and mean confidence, drawn translucent on top.
  for (int b = 0; b < bins; ++b)
    if (std::isfinite(confs[b])) plot::plot_bars(a, {xs[b]}, {confs[b]}, bw, {pc::red}, accs[b], 0.35);
  plot::plot_line(a, {0, 1}, {0, 1}, pc::gray, 2, 0, 6);
  w.save(c, "reliability.png",
         "Reliability diagram: accuracy of the test samples in each confidence bin (blue) "
         "and its gap to their mean confidence (red); a calibrated model follows the diagonal.");
}

// (f) top-1 against tau on the selection split.
void plot_tau(Writer& w, const json& t) {
  if (!t.is_object()) return;
  std::string path = (fs::path(w.run_dir) / "tau_sweep.json").string();
  std::vector<double> taus = num_array(t, "taus", path, -1);
  std::vector<double> top1 = num_array(t, "top1", path, (int)taus.size());
  if (taus.empty()) return;
  opt chosen = num(t, "chosen");
  std::string split = str_or(t, "split", "");
  plot::AxisSpec ax, ay;
  ax.lo = *std::min_element(taus.begin(), taus.end()), ax.hi = *std::max_element(taus.begin(), taus.end());
  double pad = ax.hi > ax.lo ? 0.03 * (ax.hi - ax.lo) : 0.5;  // keep the end markers off the frame
  ax.lo -= pad, ax.hi += pad;
  double lo = 1e300, hi = -1e300;
  for (double d : top1)
    if (std::isfinite(d)) lo = std::min(lo, d), hi = std::max(hi, d);
  if (hi < lo) lo = 0, hi = 100;
  pad = 0.05 * std::max(hi - lo, 0.1);
  lo -= pad, hi += pad;
  plot::nice_range(lo, hi, 6);
  ay.lo = lo, ay.hi = hi;
  ax.label = "tau", ay.label = "top-1 (%)";
  plot::Canvas c(1000, 480);
  std::string title = "tau sweep" + (split.empty() ? "" : " (" + split + " split)") +
                      (chosen ? ", chosen tau = " + fmt_g(*chosen) : "");
  std::vector<plot::LegendEntry> legend{{"top-1", pc::blue}};
  if (chosen) legend.push_back({"chosen tau", pc::red, true});
  plot::Axes a = plot::draw_axes(c, {0, 0, 1000, 480}, ax, ay, title, legend);
  if (chosen) plot::plot_vline(a, *chosen, pc::red, 6);
  plot::plot_line(a, taus, top1, pc::blue, 2, taus.size() <= 60 ? 3 : 0);
  for (size_t i = 0; chosen && i < taus.size(); ++i)  // the chosen point, larger and red
    if (std::fabs(taus[i] - *chosen) < 1e-9) plot::plot_points(a, {taus[i]}, {top1[i]}, pc::red, 6);
  w.save(c, "tau_sweep.png", "Top-1 accuracy against the tau of tau-normalisation on the selection split.");
}

// ---- HTML ----------------------------------------------------------------------------------------

const char* kStyle =
    R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1240px;
padding:0 16px;color:#222}h1{margin-bottom:4px}.sub{color:#555;margin-top:0}h2{margin-top:36px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}tbody tr:nth-child(even){background:#fafafa}
figure{margin:16px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:14px}
pre{background:#f6f6f6;padding:12px;overflow:auto;font-size:13px}details summary{cursor:pointer;margin:8px 0}
td.l,th.l{text-align:left}.wrap{overflow-x:auto}.g0{color:#1f77b4}.g1{color:#d86a00}.g2{color:#d62728})";

std::string summary_html(const Eval& e, const std::vector<json>& rows) {
  std::ostringstream h;
  const json& j = e.j;
  auto row = [&](const std::string& k, const std::string& v) {
    h << "<tr><td>" << k << "</td><td>" << v << "</td></tr>\n";
  };
  h << "<table>\n<tbody>\n";
  row("split", esc(str_or(j, "split", "n/a")));
  if (j.contains("checkpoint")) row("checkpoint", esc(str_or(j, "checkpoint", "n/a")));
  if (auto s = num(j, "samples")) row("samples", fmt(*s, 0));
  row("top-1 (%)", fmt(num(j, "top1")));
  row("top-5 (%)", fmt(num(j, "top5")));
  for (int g = 0; g < 3; ++g) {
    std::string k = kGroupName[g];
    opt n = num(j, (k + "_classes").c_str());
    const char* range[3] = {"&gt;100 images", "20&ndash;100 images", "&lt;20 images"};
    std::string label = "<span class=\"g" + std::to_string(g) + "\">" + k + "</span> (%) &mdash; " + range[g] +
                        (n ? ", " + fmt(*n, 0) + (*n == 1 ? " class" : " classes") : "");
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
  h << "</tbody>\n</table>\n";
  return h.str();
}

std::string epochs_html(const std::vector<json>& rows) {
  std::ostringstream h;
  h << "<div class=\"wrap\"><table>\n<thead><tr><th>stage</th><th>epoch</th><th>step</th><th>lr</th><th>loss</th>"
       "<th>top-1</th><th>top-5</th><th>many</th><th>medium</th><th>few</th><th>ECE</th><th>img/s</th>"
       "<th>seconds</th><th>skipped</th></tr></thead>\n<tbody>\n";
  for (auto& r : rows) {
    std::string ep = cell(r, "epoch", 0);
    if (r.contains("epochs")) ep += " / " + cell(r, "epochs", 0);
    h << "<tr><td>" << cell(r, "stage", 0) << "</td><td>" << ep << "</td><td>" << cell(r, "step", 0) << "</td><td>"
      << cell(r, "lr", 0, true) << "</td><td>" << cell(r, "loss", 4) << "</td>";
    for (const char* k : {"top1", "top5", "many", "medium", "few", "ece"}) h << "<td>" << cell(r, k, 2) << "</td>";
    h << "<td>" << cell(r, "img_per_s", 1) << "</td><td>" << cell(r, "seconds", 1) << "</td><td>"
      << cell(r, "skipped_steps", 0) << "</td></tr>\n";
  }
  h << "</tbody>\n</table></div>\n<p class=\"sub\">Accuracies and ECE in %; n/a: shot group without classes; "
       "&ndash;: epoch not evaluated.</p>\n";
  return h.str();
}

std::string classes_html(const Eval& e) {
  std::ostringstream h;
  bool norms = !e.norms.empty();
  h << "<div class=\"wrap\"><table>\n<thead><tr><th>class</th><th class=\"l\">name</th>"
       "<th class=\"l\">group</th><th>train images</th>"
       "<th>test images</th><th>accuracy (%)</th>"
    << (norms ? "<th>weight norm</th>" : "") << "</tr></thead>\n<tbody>\n";
  for (int i = 0; i < e.C; ++i) {
    int g = e.train.empty() ? -1 : group_of(e.train[i]);
    h << "<tr><td>" << i << "</td><td class=\"l\">" << esc(e.names[i]) << "</td><td class=\"l\">";
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

ReportFiles write_report(const std::string& run_dir, std::ostream* log) {
  fs::path dir(run_dir);
  std::vector<json> rows = read_jsonl((dir / "metrics.jsonl").string());
  Eval e = read_eval((dir / "eval.json").string());
  json cfg = read_json((dir / "config.json").string(), false);
  json tau = read_json((dir / "tau_sweep.json").string(), false);

  fs::create_directories(dir / "plots");
  Writer w{run_dir, log, {}, {}};
  plot_curves(w, rows);
  plot_per_class(w, e);
  plot_weight_norms(w, e);
  plot_confusion(w, e);
  plot_reliability(w, e);
  plot_tau(w, tau);

  std::string name = config_str(cfg, {"name"});
  if (name.empty()) name = fs::absolute(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  std::vector<std::string> sub;
  const std::vector<std::pair<std::string, std::vector<std::string>>> fields{
      {"model", {"model", "arch"}}, {"stage 1 loss", {"stage1", "loss", "name"}}, {"stage 2", {"stage2", "method"}}};
  for (auto& [label, keys] : fields) {
    std::string v = config_str(cfg, keys);
    if (!v.empty()) sub.push_back(label + ": <b>" + esc(v) + "</b>");
  }

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << esc(name)
    << " &mdash; tailor run report</title>\n<style>\n"
    << kStyle << "\n</style>\n</head>\n<body>\n";
  h << "<h1>Run report: " << esc(name) << "</h1>\n<p class=\"sub\">";
  for (size_t i = 0; i < sub.size(); ++i) h << (i ? " &middot; " : "") << sub[i];
  h << (sub.empty() ? "" : " &middot; ") << e.C << " classes</p>\n";
  h << "<h2>Summary</h2>\n" << summary_html(e, rows);
  h << "<h2>Plots</h2>\n";
  for (auto& [file, caption] : w.figures)
    h << "<figure><img src=\"plots/" << esc(file) << "\" alt=\"" << esc(file) << "\"><figcaption>" << esc(caption)
      << "</figcaption></figure>\n";
  auto collapsible = [&](const std::string& body, size_t n, const char* what) {  // long tables start folded
    if (n > 50)
      h << "<details><summary>" << n << " " << what << " (click to expand)</summary>\n" << body << "</details>\n";
    else
      h << body;
  };
  h << "<h2>Epochs</h2>\n";
  if (rows.empty())
    h << "<p>metrics.jsonl has no epoch yet.</p>\n";
  else
    collapsible(epochs_html(rows), rows.size(), "epochs");
  h << "<h2>Classes</h2>\n";
  collapsible(classes_html(e), e.C, "classes");
  h << "<h2>Config</h2>\n<details><summary>config.json</summary>\n<pre>"
    << (cfg.is_null() ? "config.json not found" : esc(cfg.dump(2, ' ', false, json::error_handler_t::replace)))
    << "</pre>\n</details>\n</body>\n</html>\n";

  ReportFiles files = std::move(w.files);
  files.html = (dir / "report.html").string();
  write_text_atomic(files.html, h.str());
  if (log) *log << "report: wrote " << files.html << "\n";
  return files;
}

}  // namespace tailor
