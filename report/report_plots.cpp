// The figures of the run report: training curves from metrics.jsonl, per-class accuracy, classifier weight
// norms, confusion matrix and reliability diagram from eval.json, and the tau sweep. Each is a PNG under
// run_dir/plots, saved through Writer::save with the caption the page shows under it.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include "report/report_data.h"

namespace tailor::report_detail {

namespace fs = std::filesystem;
namespace pc = plot::colors;

// Writes the PNG (atomically: Canvas::save_png; a reader never sees half a file).
void Writer::save(const plot::Canvas& c, const std::string& name, const std::string& caption) {
  std::string path = (fs::path(run_dir) / "plots" / name).string();
  c.save_png(path);
  files.plots.push_back(path);
  figures.emplace_back(name, caption);
  if (log) *log << "report: wrote " << path << " (" << c.w << "x" << c.h << ")\n";
}

// report_data.h
std::vector<int> by_train_count(const Eval& e) {
  std::vector<int> order(e.C);
  std::iota(order.begin(), order.end(), 0);
  if ((int)e.train.size() == e.C)
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return e.train[a] > e.train[b]; });
  return order;
}

// report_data.h
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

namespace {

// Where each stage that has lines in metrics.jsonl starts on the x axis, by stage number: stage k's
// epoch e is plotted at e + the sum of the last logged epochs of the earlier stages with lines.
std::map<int, int> stage_offsets(const std::vector<json>& rows) {
  std::map<int, int> last;  // stage -> last logged epoch
  for (auto& r : rows) {
    int& l = last[int_or(r, "stage", 1)];
    l = std::max(l, int_or(r, "epoch", 0));
  }
  std::map<int, int> offset;
  int sum = 0;
  for (auto& [stage, epochs] : last) offset[stage] = sum, sum += epochs;
  return offset;
}

// (a) loss / lr and accuracies per epoch; each stage continues the x axis after the one before.
void plot_curves(Writer& w, const std::vector<json>& rows, const Eval& e) {
  if (rows.empty()) return;
  const std::map<int, int> offset = stage_offsets(rows);
  std::vector<double> x, loss, lr, top1, balanced, grp[3];
  std::vector<int> stages;
  for (auto& r : rows) {
    int stage = int_or(r, "stage", 1);
    stages.push_back(stage);
    x.push_back(int_or(r, "epoch", 0) + offset.at(stage));
    loss.push_back(nan_if(num(r, "loss")));
    lr.push_back(nan_if(num(r, "lr")));
    top1.push_back(nan_if(num(r, "top1")));
    balanced.push_back(nan_if(num(r, "balanced_acc")));
    for (int g = 0; g < 3; ++g) grp[g].push_back(nan_if(num(r, kGroupName[g])));
  }
  double xmax = *std::max_element(x.begin(), x.end()), xmin = *std::min_element(x.begin(), x.end());
  plot::AxisSpec ax;
  ax.lo = xmin - 0.5, ax.hi = xmax + 0.5, ax.integer = true;
  ax.label = offset.size() > 1 ? "epoch (stages continue one after another)" : "epoch";
  int marker = x.size() <= 40 ? 3 : 0;
  auto range_of = [](const std::vector<double>& v, double& lo, double& hi) {
    lo = 0, hi = 0;
    for (double d : v)
      if (std::isfinite(d)) lo = std::min(lo, d), hi = std::max(hi, d);
    if (hi <= lo) hi = lo + 1;
    hi += 0.05 * (hi - lo);  // headroom for the markers
    plot::nice_range(lo, hi, 6);
  };
  // A dashed vertical line labelled "stage k" where each stage after the first begins; a label that would
  // run into the one before goes a line lower.
  auto boundaries = [&](const plot::Axes& a) {
    double prev_px = -1e9;
    int row = 0;
    for (auto it = std::next(offset.begin()); it != offset.end(); ++it) {
      std::string label = "stage " + std::to_string(it->first);
      double px = a.px(it->second + 0.5);
      row = px - prev_px < plot::label_width(label) + 12 ? row + 1 : 0;
      plot::plot_vline(a, it->second + 0.5, pc::gray, 6, label, row);
      prev_px = px;
    }
  };
  // One line per stage (a new model part / loss starts at the boundary), markers at every value.
  auto series = [&](const plot::Axes& a, const std::vector<double>& v, plot::Color col, int thickness) {
    for (const auto& entry : offset) {
      std::vector<double> xs, ys;
      for (size_t i = 0; i < v.size(); ++i)
        if (stages[i] == entry.first) xs.push_back(x[i]), ys.push_back(v[i]);
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
    boundaries(a);
    series(a, v, panel == 0 ? pc::blue : pc::green, 2);
  }
  w.save(c, "loss_lr.png", "Training loss and learning rate per epoch, as logged in metrics.jsonl.");

  if (std::none_of(top1.begin(), top1.end(), [](double d) { return std::isfinite(d); })) return;
  std::string split;
  for (auto& r : rows) split = str_or(r, "eval_split", split);
  plot::Canvas c2(1200, 520);
  plot::AxisSpec ay;
  ay.lo = 0, ay.hi = 100, ay.label = "accuracy (%)";
  auto any_finite = [](const std::vector<double>& v) {
    return std::any_of(v.begin(), v.end(), [](double d) { return std::isfinite(d); });
  };
  std::vector<plot::LegendEntry> legend{{"top-1", pc::black}};
  // balanced: metrics.jsonl lines written before it have none, and then it is left out
  const std::vector<double>* curves[5] = {&top1, &balanced, &grp[0], &grp[1], &grp[2]};
  const plot::Color cols[5] = {pc::black, pc::purple, kGroupColor[0], kGroupColor[1], kGroupColor[2]};
  bool has[5] = {true, any_finite(balanced), false, false, false};
  if (has[1]) legend.push_back({"balanced", pc::purple});
  for (int g = 0; g < 3; ++g) {
    has[g + 2] = any_finite(grp[g]);
    legend.push_back({std::string(kGroupName[g]) + (has[g + 2] ? "" : " (n/a)"),
                      has[g + 2] ? cols[g + 2] : plot::Color{200, 200, 200}});
  }
  plot::Axes a = plot::draw_axes(c2, {0, 0, 1200, 520}, ax, ay,
                                 "Accuracy per epoch" + (split.empty() ? "" : " (" + split + " split)"), legend);
  boundaries(a);
  for (int s = 4; s >= 0; --s)
    if (has[s]) series(a, *curves[s], cols[s], s <= 1 ? 3 : 2);
  // on a split with as many images of every class, the mean of the class accuracies is the per-image one
  const bool even = split == str_or(e.j, "split", "") && !e.test.empty() && std::all_of(e.test.begin(), e.test.end(), [&](double n) { return n == e.test[0]; });
  w.save(c2, "accuracy.png",
         "Top-1 (per image), balanced (per class) and many / medium / few-shot accuracy per evaluated epoch." +
             std::string(even && has[1] ? " The evaluation split has as many images of every class, so balanced "
                                          "equals top-1 and its line lies under top-1's."
                                        : ""));
}

// The legend of a figure coloured by shot group.
std::vector<plot::LegendEntry> group_legend() {
  std::vector<plot::LegendEntry> l;
  for (int g = 0; g < 3; ++g) l.push_back({kGroupName[g], kGroupColor[g]});
  return l;
}

// (b) per-class accuracy against the training count, log x, coloured by shot group. Above 200 classes the dots
// pile up (an iNaturalist class has 3 test images: its accuracy is 0, 33, 67 or 100 %), so a line gives the mean
// accuracy of the classes in each quarter decade of training count: bin k holds 10^(k/4) <= n < 10^((k+1)/4).
void plot_per_class(Writer& w, const Eval& e) {
  if (e.acc.empty() || e.group.empty()) return;
  std::vector<double> xs, ys;
  std::vector<plot::Color> cols;
  double lo = 1e300, hi = 0;
  for (int i = 0; i < e.C; ++i) {
    double n = std::max(1.0, e.train[i]);
    lo = std::min(lo, n), hi = std::max(hi, n);
    xs.push_back(n), ys.push_back(e.acc[i]), cols.push_back(kGroupColor[e.group[i]]);
  }
  plot::AxisSpec ax, ay;
  ax.log = true, ax.label = "training images of the class (log scale)";
  ax.lo = std::pow(10.0, std::floor(std::log10(lo))), ax.hi = std::pow(10.0, std::ceil(std::log10(hi)));
  if (ax.hi <= ax.lo) ax.hi = ax.lo * 10;
  ay.lo = 0, ay.hi = 100, ay.label = "test accuracy (%)";
  const bool binned = e.C > 200;
  std::vector<plot::LegendEntry> legend = group_legend();
  if (binned) legend.push_back({"mean per count bin", pc::black});
  plot::Canvas c(1200, 560);
  plot::Axes a = plot::draw_axes(c, {0, 0, 1200, 560}, ax, ay, "Per-class accuracy vs training count", legend);
  const bool counts = e.rule.kind == data::ShotRule::Kind::Counts;
  if (counts)
    for (double b : {(double)e.rule.few_below, (double)e.rule.many_above})
      if (b > ax.lo && b < ax.hi) plot::plot_vline(a, b, pc::gray, 6);
  plot::plot_points(a, xs, ys, cols, binned ? 2 : 4);
  if (binned) {
    struct Bin {
      double acc = 0, log_n = 0;  // sums over the bin's classes
      int classes = 0;
    };
    std::map<int, Bin> bins;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!std::isfinite(ys[i])) continue;
      Bin& b = bins[(int)std::floor(std::log10(xs[i]) * 4 + 1e-9)];
      b.acc += ys[i], b.log_n += std::log10(xs[i]), ++b.classes;
    }
    std::vector<double> bx, by;  // at the geometric mean of the bin's counts
    for (const auto& [k, b] : bins) bx.push_back(std::pow(10.0, b.log_n / b.classes)), by.push_back(b.acc / b.classes);
    plot::plot_line(a, bx, by, pc::black, 2, 3);
  }
  w.save(c, "per_class_acc.png",
         "Test accuracy of each class against its number of training images, coloured by shot group (" +
             e.group_rule + ")" +
             (counts ? "; dashed lines at " + std::to_string(e.rule.few_below) + " and " +
                           std::to_string(e.rule.many_above) + " separate few / medium / many."
                     : ".") +
             (binned ? " The black line is the mean accuracy of the classes in each quarter decade of training "
                       "count (drawn at the geometric mean of their counts), since this many dots overlap."
                     : ""));
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
    cols.push_back(e.group.empty() ? pc::blue : kGroupColor[e.group[i]]);
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
  if (!e.group.empty()) legend = group_legend();
  plot::Axes a = plot::draw_axes(c, {0, 0, 1200, H}, ax, ay,
                                 "Classifier weight norm per class (sorted by training count)", legend);
  plot::plot_bars(a, xs, ys, e.C <= 200 ? 0.7 : 1.0, cols);
  w.save(c, "weight_norms.png",
         "L2 norm of each class's classifier weight vector, classes ordered from the most to the fewest training "
         "images." +
             (e.head == "normed"
                  ? std::string(" This classifier (normed: LDAM's NormedLinear) divides each weight vector by its "
                                "norm before the dot product: these norms do not change its logits.")
              : e.head == "linear"
                  ? std::string(" A linear classifier's logit is w_j . x + b_j: a class with a larger norm gets larger "
                                "logits, which tau-normalisation divides out.")
                  : std::string()));
}

// (d) row-normalised confusion matrix, classes ordered by training count. Above 1000 classes (eval.json's
// non-zero cells) each of 1000 x 1000 pixels holds a block of classes: the mean over its true classes of the
// fraction predicted into its predicted classes (a row of pixels sums to the share of its classes with test
// images: 1 when all have some).
void plot_confusion(Writer& w, const Eval& e) {
  if (e.confusion.empty() && e.confusion_cells.empty()) return;
  const int C = e.C;
  std::vector<int> order = by_train_count(e);
  const bool binned = e.confusion.empty();
  const int n = binned ? std::min(C, 1000) : C;  // pixels (cells) per side
  std::vector<float> v((size_t)n * n, 0.f);
  std::vector<std::string> text;
  if (binned) {
    std::vector<int> rank(C), per_bin(n, 0);
    for (int r = 0; r < C; ++r) rank[order[r]] = r, per_bin[(int64_t)r * n / C] += 1;
    std::vector<int64_t> row_total(C, 0);
    for (auto& c : e.confusion_cells) row_total[c[0]] += c[2];
    for (auto& c : e.confusion_cells) {
      const int r = (int)((int64_t)rank[c[0]] * n / C), q = (int)((int64_t)rank[c[1]] * n / C);
      v[(size_t)r * n + q] += (float)c[2] / row_total[c[0]] / per_bin[r];
    }
  } else {
    for (int r = 0; r < C; ++r) {
      int64_t s = 0;
      for (int q = 0; q < C; ++q) s += e.confusion[(size_t)order[r] * C + order[q]];
      for (int q = 0; q < C; ++q)
        v[(size_t)r * C + q] = s > 0 ? (float)e.confusion[(size_t)order[r] * C + order[q]] / s : 0.f;
    }
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
  plot::draw_heatmap(c, a.area, n, n, v, text, gamma);
  plot::draw_colorbar(c, {outer.right() + 10, a.area.y, 24, a.area.h}, 0, 100,
                      gamma == 1 ? "% of the true class" : "% of the true class (sqrt scale)", gamma);
  w.save(c, "confusion.png",
         "Confusion matrix, each row divided by its true-class count" +
             std::string(C <= 20 ? " (cells in % rounded to whole numbers, so a row may not add up to exactly 100; <1: under "
                                   "half a percent)"
                                 : ", square-root colour scale") +
             (binned ? "; each pixel a block of about " + std::to_string((C + n - 1) / n) + " classes" : "") +
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
  std::vector<plot::LegendEntry> legend{
      {"accuracy", pc::blue}, {"mean confidence", pc::red}, {"gap", {241, 179, 180}}, {"ideal", pc::gray, true}};  // (pink below)
  plot::Axes a = plot::draw_axes(c, {0, 0, 720, 720}, ax, ay, title, legend);
  const double bw = 0.94 / bins;  // a thin white gap between bins
  plot::plot_bars(a, xs, accs, bw, blue);
  // The gap between accuracy and mean confidence: a pink band half a bin wide (inside the blue bar where the
  // bin is under-confident, whose full height stays visible beside it), and the mean confidence a red line
  // across the bin.
  const plot::Color pink{241, 179, 180};
  for (int b = 0; b < bins; ++b)
    if (std::isfinite(confs[b])) {
      plot::plot_bars(a, {xs[b]}, {confs[b]}, bw / 2, {pink}, accs[b]);
      plot::plot_line(a, {xs[b] - bw / 2, xs[b] + bw / 2}, {confs[b], confs[b]}, pc::red, 3);
    }
  plot::plot_line(a, {0, 1}, {0, 1}, pc::gray, 2, 0, 6);
  w.save(c, "reliability.png",
         "Reliability diagram: per confidence bin, the accuracy of its test samples (blue bar), their mean "
         "confidence (red line) and the gap between the two (pink); a calibrated model's bars reach the diagonal. "
         "A red line above its bar: over-confident; below the bar's top: under-confident. ECE is the gap averaged "
         "over the bins weighted by their samples, MCE the largest gap." +
             std::string(e.head == "normed"
                             ? " This classifier (normed: LDAM's NormedLinear) outputs raw cosines in [-1, 1] (the "
                               "losses that train it scale them by s; evaluation does not): its confidence is at most "
                               "1 / (1 + (C - 1) / e^2), " + fmt(100.0 / (1.0 + (e.C - 1) / std::exp(2.0)), 1) +
                                   "% with " + std::to_string(e.C) + " classes, so a model that learns is under-confident "
                                   "and its ECE grows with its accuracy; the ranking (top-1) is unaffected."
                             : ""));
}

// (f) top-1 (and, where the sweep has them, balanced and many / medium / few) against tau on the selection
// split: the trade a post-hoc classifier makes between the head and the tail. `file` is the sweep's name in
// the run directory (tau_sweep.json: tau-normalisation; logit_adjust_sweep.json: post-hoc logit adjustment),
// `what` the method and its tau, for the title and caption.
void plot_tau(Writer& w, const json& t, const std::string& file, const std::string& title_what,
              const std::string& what) {
  if (!t.is_object()) return;
  std::string path = (fs::path(w.run_dir) / file).string();
  std::vector<double> taus = num_array(t, "taus", path, -1);
  std::vector<double> top1 = num_array(t, "top1", path, (int)taus.size());
  if (taus.empty()) return;
  // (older files: top-1 only; a group with no class tested: null entries, left out)
  const char* keys[4] = {"balanced", "many", "medium", "few"};
  std::vector<double> more[4];
  for (int k = 0; k < 4; ++k) {
    more[k] = num_array(t, keys[k], path, -1);
    if (!more[k].empty() && more[k].size() != taus.size())
      throw std::runtime_error(path + ": '" + keys[k] + "' has " + std::to_string(more[k].size()) + " entries, " +
                               std::to_string(taus.size()) + " taus");
    if (std::none_of(more[k].begin(), more[k].end(), [](double d) { return std::isfinite(d); })) more[k].clear();
  }
  opt chosen = num(t, "chosen");
  std::string split = str_or(t, "split", "");
  plot::AxisSpec ax, ay;
  ax.lo = *std::min_element(taus.begin(), taus.end()), ax.hi = *std::max_element(taus.begin(), taus.end());
  double pad = ax.hi > ax.lo ? 0.03 * (ax.hi - ax.lo) : 0.5;  // keep the end markers off the frame
  ax.lo -= pad, ax.hi += pad;
  double lo = 1e300, hi = -1e300;
  for (const std::vector<double>* v : {&top1, &more[0], &more[1], &more[2], &more[3]})
    for (double d : *v)
      if (std::isfinite(d)) lo = std::min(lo, d), hi = std::max(hi, d);
  if (hi < lo) lo = 0, hi = 100;
  pad = 0.05 * std::max(hi - lo, 0.1);
  lo = std::max(0.0, lo - pad), hi = std::min(100.0, hi + pad);
  plot::nice_range(lo, hi, 6);
  ay.lo = lo, ay.hi = hi;
  ax.label = "tau", ay.label = "accuracy (%)";
  plot::Canvas c(1000, 480);
  std::string title = title_what + "tau sweep" + (split.empty() ? "" : " (" + split + " split)") +
                      (chosen ? ", chosen tau = " + fmt_g(*chosen) : "");
  const plot::Color cols[4] = {pc::purple, kGroupColor[0], kGroupColor[1], kGroupColor[2]};
  std::vector<plot::LegendEntry> legend{{"top-1", pc::black}};
  for (int k = 0; k < 4; ++k)
    if (!more[k].empty()) legend.push_back({keys[k], cols[k]});
  if (chosen) legend.push_back({"chosen tau", pc::red, true});
  plot::Axes a = plot::draw_axes(c, {0, 0, 1000, 480}, ax, ay, title, legend);
  if (chosen) plot::plot_vline(a, *chosen, pc::red, 6);
  for (int k = 3; k >= 0; --k)  // a group's line through its tested taus
    if (!more[k].empty()) {
      std::vector<double> xs, ys;
      for (size_t i = 0; i < taus.size(); ++i)
        if (std::isfinite(more[k][i])) xs.push_back(taus[i]), ys.push_back(more[k][i]);
      plot::plot_line(a, xs, ys, cols[k], 2, 0, k == 0 ? 8 : 0);  // balanced dashed (on a balanced split: top-1)
    }
  plot::plot_line(a, taus, top1, pc::black, 3, taus.size() <= 60 ? 3 : 0);
  for (size_t i = 0; chosen && i < taus.size(); ++i)  // the chosen point, larger and red
    if (std::fabs(taus[i] - *chosen) < 1e-9) plot::plot_points(a, {taus[i]}, {top1[i]}, pc::red, 6);
  // selected_on: the split tau was chosen on (null: none, tau = 1 kept); the sweep's own split otherwise
  const auto sel = t.find("selected_on");
  const std::string selected = sel != t.end() && sel->is_string() ? sel->get<std::string>() : "";
  std::string how = selected.empty() ? (chosen ? " tau " + fmt_g(*chosen) + " was kept: no split to choose it on."
                                               : std::string())
                                      : " tau chosen by top-1 on the " + selected + " split" +
                                            (selected == "test" ? " (chosen on the test split: an optimistic estimate)."
                                                                : ".");
  w.save(c, fs::path(file).replace_extension(".png").string(),
         "Top-1, balanced and many / medium / few-shot accuracy on the " + (split.empty() ? "evaluation" : split) +
             " split against the tau of " + what + "." + how +
             (more[0].empty() ? "" : " On a split with as many images of every class, balanced equals top-1."));
}

// (g) a learned sampler's class sampling probabilities (BALMS's Meta Sampler: metrics.jsonl's
// "class_sample_prob" of the last epoch that logged it) against the training count, beside instance-balanced
// sampling (n_c / N) and class-balanced sampling (1 / C).
void plot_sample_rates(Writer& w, const std::vector<json>& rows, const Eval& e) {
  const json* last = nullptr;
  for (auto& r : rows)
    if (r.contains("class_sample_prob") && r["class_sample_prob"].is_array()) last = &r;
  if (!last || e.train.empty() || (int)(*last)["class_sample_prob"].size() != e.C) return;
  double total = 0, lo = 1e300, hi = 0, top = 0;
  for (double n : e.train) total += n;
  std::vector<double> xs, learned, instance, balanced;
  for (int i = 0; i < e.C; ++i) {
    const double n = std::max(1.0, e.train[i]), p = 100 * (*last)["class_sample_prob"][i].get<double>();
    lo = std::min(lo, n), hi = std::max(hi, n);
    xs.push_back(n), learned.push_back(p), instance.push_back(100 * e.train[i] / total), balanced.push_back(100.0 / e.C);
    top = std::max({top, p, instance.back()});
  }
  std::vector<int> order(e.C);
  for (int i = 0; i < e.C; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int a, int b) { return xs[a] < xs[b]; });
  std::vector<double> sx, si, sb;
  for (int i : order) sx.push_back(xs[i]), si.push_back(instance[i]), sb.push_back(balanced[i]);
  plot::AxisSpec ax, ay;
  ax.log = true, ax.label = "training images of the class (log scale)";
  ax.lo = std::pow(10.0, std::floor(std::log10(lo))), ax.hi = std::pow(10.0, std::ceil(std::log10(hi)));
  if (ax.hi <= ax.lo) ax.hi = ax.lo * 10;
  double ylo = 0;
  plot::nice_range(ylo, top, 6);
  ay.lo = 0, ay.hi = top, ay.label = "probability that a sample is of the class (%)";
  plot::Canvas c(1200, 560);
  plot::Axes a = plot::draw_axes(c, {0, 0, 1200, 560}, ax, ay,
                                 "Learned class sampling probability (epoch " + std::to_string(int_or(*last, "epoch", 0)) +
                                     " of stage " + std::to_string(int_or(*last, "stage", 0)) + ")",
                                 {{"learned", pc::blue}, {"instance-balanced", pc::gray}, {"class-balanced", pc::gray, true}});
  plot::plot_line(a, sx, si, pc::gray, 2);
  plot::plot_line(a, sx, sb, pc::gray, 2, 0, 6);
  plot::plot_points(a, xs, learned, pc::blue, e.C > 200 ? 2 : 4);
  w.save(c, "sample_rates.png",
         "The learned sampler's probability of drawing each class (n_c q_c / sum_k n_k q_k) against its training "
         "count, beside instance-balanced sampling (n_c / N) and class-balanced sampling (1 / C).");
}

}  // namespace

// The figures in page order; each one returns early when its data is missing.
void write_plots(Writer& w, const std::vector<json>& rows, const Eval& e, const json& tau, const json& la_tau) {
  plot_curves(w, rows, e);
  plot_sample_rates(w, rows, e);
  plot_fifo_fill(w, rows, e);
  plot_per_class(w, e);
  plot_weight_norms(w, e);
  plot_confusion(w, e);
  plot_reliability(w, e);
  plot_tau(w, tau, "tau_sweep.json", "",
           "tau-normalisation (logits x . w_j / ||w_j||^tau, the classifier's bias dropped: tau = 0 is the raw "
           "weights without the bias, not always the run's own accuracy)");
  plot_tau(w, la_tau, "logit_adjust_sweep.json", "post-hoc logit adjustment: ",
           "post-hoc logit adjustment (logits z_j - log(pi_j^tau + 1e-12), pi the training class frequencies: "
           "tau = 0 is the run's own classifier)");
}

}  // namespace tailor::report_detail
