#include "report/report_tsne.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report/html.h"
#include "report/plot.h"
#include "engine/tensor.h"
#include "rundir/files.h"

namespace tailor {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

// Class colours: the ten of the usual categorical palette, then viridis steps.
plot::Color class_color(int c, int C) {
  static const plot::Color k[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                    {188, 189, 34},  {23, 190, 207}};
  return C <= 10 ? k[c % 10] : plot::viridis(C > 1 ? (double)c / (C - 1) : 0.0);
}

struct Panel {
  std::string title;
  std::vector<double> y;  // [n, 2]
  std::vector<int32_t> labels;
};

// One scatter per split; many-shot points small, medium larger, few-shot the largest with a dark ring,
// drawn in that order so the tail stays visible over the head.
static void draw_tsne_png(const std::vector<Panel>& panels, const std::vector<int>& group,
                          const std::vector<char>& shown, const std::vector<std::string>& names,
                          const std::vector<int64_t>& counts, const std::string& path) {
  using namespace plot;
  const int pw = 560, ph = 560, C = (int)group.size(), width = pw * (int)panels.size();
  // legend: class colours (up to 20 of the classes shown named: above 20, evenly spaced from the most to the
  // fewest training images), laid out in rows under the panels, then the markers of the groups
  std::vector<int> listed;
  for (int cls = 0; cls < C; ++cls)
    if (shown[cls]) listed.push_back(cls);
  const int n_listed = (int)listed.size();
  if (n_listed > 20) {
    std::stable_sort(listed.begin(), listed.end(), [&](int a, int b) { return counts[a] > counts[b]; });
    std::vector<int> picked;
    for (int k = 0; k < 20; ++k) picked.push_back(listed[(size_t)((int64_t)k * (n_listed - 1) / 19)]);
    listed = picked;
  }
  struct Entry {
    int cls, x, y;
    std::string label;
  };
  std::vector<Entry> entries;
  int x = 10, y = ph + 8;
  for (int cls : listed) {
    std::string label = (cls < (int)names.size() && !names[cls].empty() ? names[cls] : std::to_string(cls)) +
                        (group[cls] == 2 ? " (few)" : group[cls] == 0 ? "" : " (med)");
    const int w = text_width(label) + 22;
    if (x + w > width - 10 && x > 10) x = 10, y += 14;
    entries.push_back({cls, x, y, label});
    x += w;
  }
  const int notes_y = y + 22;  // the lines under the legend's last row
  Canvas c(width, notes_y + (n_listed > 20 ? 32 : 16));
  for (size_t k = 0; k < panels.size(); ++k) {
    const Panel& p = panels[k];
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < p.labels.size(); ++i) {
      x0 = std::min(x0, p.y[2 * i]), x1 = std::max(x1, p.y[2 * i]);
      y0 = std::min(y0, p.y[2 * i + 1]), y1 = std::max(y1, p.y[2 * i + 1]);
    }
    double mx = 0.03 * (x1 - x0 + 1e-9), my = 0.03 * (y1 - y0 + 1e-9);
    AxisSpec ax{x0 - mx, x1 + mx, false, false, "t-SNE 1", {}}, ay{y0 - my, y1 + my, false, false, "t-SNE 2", {}};
    ax.grid = ay.grid = false;
    Axes a = draw_axes(c, {(int)k * pw, 0, pw, ph}, ax, ay, p.title);
    for (int g = 0; g < 3; ++g)
      for (size_t i = 0; i < p.labels.size(); ++i) {
        int cls = p.labels[i];
        if (group[cls] != g) continue;
        int px = (int)std::lround(a.px(p.y[2 * i])), py = (int)std::lround(a.py(p.y[2 * i + 1]));
        if (g == 2) c.disc(px, py, 5, colors::black);
        c.disc(px, py, g == 0 ? 2 : g == 1 ? 3 : 4, class_color(cls, C));
      }
  }
  for (const Entry& e : entries) {
    c.disc(e.x + 5, e.y + 4, group[e.cls] == 2 ? 5 : 4, group[e.cls] == 2 ? colors::black : class_color(e.cls, C));
    c.disc(e.x + 5, e.y + 4, 4, class_color(e.cls, C));
    draw_text(c, e.x + 14, e.y, e.label, colors::axis);
  }
  draw_text(c, 10, notes_y, "small dots: many-shot classes, medium dots: medium-shot, large ringed dots: few-shot",
            colors::axis);
  if (n_listed > 20)
    draw_text(c, 10, notes_y + 16, "named: 20 of the " + std::to_string(n_listed) +
                                       " classes shown, from the most to the fewest training images", colors::axis);
  c.save_png(path);  // (atomic)
}

void write_tsne(const std::string& run_dir, const std::vector<TsneSplit>& splits,
                const std::vector<int64_t>& train_counts, const data::ShotRule& rule,
                const std::vector<std::string>& class_names, int64_t max_points, const TsneOptions& opt,
                const std::string& checkpoint, std::ostream* log) {
  const int C = (int)train_counts.size();
  const std::vector<int> group = data::shot_split(train_counts, rule).group_of_class(train_counts.size());
  // More classes than max_points / kMinPerClass (iNaturalist's 8,142, ImageNet-LT's 1,000): a sample
  // stratified over all of them keeps fewer than kMinPerClass points per class (none above max_points
  // classes), too few for a cluster to show. The map then shows a
  // subset of the classes, evenly spaced from the most to the fewest training images (head, middle and tail
  // all in it), each keeping up to the same number of points.
  const int64_t kMinPerClass = 5;
  std::vector<char> shown(C, 1);
  int n_shown = C;
  if (C * kMinPerClass > max_points) {
    std::vector<int> order(C);
    for (int c = 0; c < C; ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return train_counts[a] > train_counts[b]; });
    n_shown = (int)std::min<int64_t>(C, std::max<int64_t>(2, max_points / kMinPerClass));
    shown.assign(C, 0);
    for (int k = 0; k < n_shown; ++k) shown[order[(int64_t)k * (C - 1) / std::max(1, n_shown - 1)]] = 1;
    if (log) *log << "t-SNE: " << C << " classes: the map shows " << n_shown << " of them, evenly spaced by training "
                  << "count (at most " << max_points << " points, up to the same number per class)\n";
  }
  std::vector<Panel> panels;
  ojson doc;
  doc["checkpoint"] = checkpoint;
  doc["perplexity"] = opt.perplexity;
  doc["iterations"] = opt.iterations;
  doc["seed"] = opt.seed;
  doc["max_points"] = max_points;
  doc["groups"] = data::describe_shot_rule(rule, train_counts);
  doc["classes"] = C;
  doc["classes_shown"] = n_shown;
  doc["splits"] = ojson::array();
  for (const TsneSplit& s : splits) {
    const int64_t n = (int64_t)s.labels.size();
    TAILOR_CHECK((int64_t)s.features.size() == n * s.dim, "tsne: ", s.name, " features do not match its ", n,
                 " labels");
    for (int32_t y : s.labels) TAILOR_CHECK(y >= 0 && y < C, "tsne: ", s.name, " label ", y, " outside 0..", C - 1);
    std::vector<int32_t> labels;  // the samples of the classes shown (all of them: every sample)
    std::vector<int64_t> index;
    for (int64_t i = 0; i < n; ++i)
      if (shown[s.labels[i]]) labels.push_back(s.labels[i]), index.push_back(i);
    std::vector<int64_t> pick = stratified_sample(labels, max_points, opt.seed);
    for (int64_t& i : pick) i = index[i];
    std::vector<float> x;
    Panel p;
    for (int64_t i : pick) {
      x.insert(x.end(), s.features.begin() + i * s.dim, s.features.begin() + (i + 1) * s.dim);
      p.labels.push_back(s.labels[i]);
    }
    auto t0 = std::chrono::steady_clock::now();
    TsneOptions o = opt;
    o.perplexity = std::min(o.perplexity, std::max(1.0, (double)(pick.size() - 2) / 3));
    TsneResult r = tsne_2d(x, (int64_t)pick.size(), s.dim, o);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    p.y = r.y;
    p.title = s.name + " features (" + std::to_string(pick.size()) + " of " + std::to_string(n) + " points)";
    std::vector<int64_t> per(C, 0);
    for (int32_t y : p.labels) per[y]++;
    doc["splits"].push_back({{"split", s.name}, {"points", pick.size()}, {"of", n}, {"points_per_class", per},
                             {"perplexity", o.perplexity}, {"final_kl", r.kl.back()}, {"seconds", secs}});
    if (log) *log << "t-SNE " << s.name << ": " << pick.size() << " points, KL " << r.kl.back() << ", " << secs << " s\n";
    panels.push_back(std::move(p));
  }
  fs::create_directories(fs::path(run_dir) / "plots");
  draw_tsne_png(panels, group, shown, class_names, train_counts, (fs::path(run_dir) / "plots" / "tsne.png").string());
  write_text_atomic(fs::path(run_dir) / "tsne.json", doc.dump(1) + "\n");
  if (log) *log << "written: " << (fs::path(run_dir) / "plots" / "tsne.png").string() << "\n";
}

std::string tsne_section_html(const std::string& run_dir) {
  fs::path file = fs::path(run_dir) / "tsne.json";
  if (!fs::exists(file)) return "";
  std::ifstream f(file);
  ojson doc;
  try {
    f >> doc;
  } catch (const std::exception& e) {
    throw std::runtime_error(file.string() + ": not valid JSON (" + e.what() + ")");
  }
  std::ostringstream h;
  h << "<h2>Feature map (t-SNE)</h2>\n<p>Exact t-SNE (perplexity " << doc.value("perplexity", 0.0) << ", "
    << doc.value("iterations", 0) << " iterations, seed " << doc.value("seed", 0) << ") of the penultimate features of "
    << html_escape(doc.value("checkpoint", std::string())) << ", on a class-stratified sample (every class keeps "
    << "up to the same number of points, so rare classes keep all of theirs"
    << (doc.value("classes_shown", 0) < doc.value("classes", 0)
            ? "; of the " + std::to_string(doc.value("classes", 0)) + " classes, " +
                  std::to_string(doc.value("classes_shown", 0)) +
                  " evenly spaced from the most to the fewest training images, since a sample of all would keep "
                  "fewer than 5 points per class"
            : std::string())
    << "). Colour = class; groups: "
    << html_escape(doc.value("groups", std::string())) << ". As in GCL Fig. 1, look at how much room the few-shot "
    << "classes get next to the head classes.</p>\n<table><tr><th>split</th><th>points</th><th>final KL</th></tr>\n";
  for (auto& s : doc.value("splits", ojson::array()))
    h << "<tr><td>" << html_escape(s.value("split", std::string())) << "</td><td>" << s.value("points", 0) << " of "
      << s.value("of", 0) << "</td><td>" << std::round(s.value("final_kl", 0.0) * 1000) / 1000 << "</td></tr>\n";
  h << "</table>\n<figure><img src=\"plots/tsne.png\" alt=\"t-SNE of train and test features\"></figure>\n";
  return h.str();
}

}  // namespace tailor
