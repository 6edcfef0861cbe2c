// table.html and its plots (report/table.h): the same tables as table.md on a page styled like a run's
// report.html, and per column group a plot of each method's top-1 against the axis value.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "report/report_data.h"
#include "report/html.h"
#include "report/table.h"
#include "rundir/files.h"

namespace tailor {

namespace fs = std::filesystem;

const char* const kTablePageStyle =
    R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1240px;
padding:0 16px;color:#222}h1{margin-bottom:4px}.sub{color:#555;margin-top:0}h2{margin-top:36px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}tbody tr:nth-child(even){background:#fafafa}
figure{margin:16px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:14px}
pre{background:#f6f6f6;padding:12px;overflow:auto;font-size:13px}.wrap{overflow-x:auto}
.std{color:#777;font-size:12px}.paper{color:#555;font-size:12px;display:block}.pos{color:#2a8a2a}.neg{color:#c0392b}
.bad{color:#c0392b}td.l,th.l{text-align:left}.warn{background:#fff4e0;border-left:4px solid #e69500;padding:6px 10px})";

// decimals < 0: shortest form (%g), for axis values.
std::string fmt_num(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  if (decimals < 0) std::snprintf(buf, sizeof buf, "%g", v);
  else std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmt_mean_std(const Json& s, int decimals) {
  if (!s.is_object() || !s["mean"].is_number()) return "n/a";
  std::string t = fmt_num(s["mean"].get<double>(), decimals);
  if (s["std"].is_number()) t += " ± " + fmt_num(s["std"].get<double>(), decimals);
  return t;
}

namespace {

namespace pc = plot::colors;

const plot::Color kPalette[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                  {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};

const Json* cell_of(const Json& t, const std::string& key, const std::string& row, const std::string& col) {
  for (auto& c : t[key])
    if (c["row"] == row && c["column"] == col) return &c;
  return nullptr;
}

double mean_of(const Json& s) { return s.is_object() && s["mean"].is_number() ? s["mean"].get<double>() : NAN; }
double std_of(const Json& s) { return s.is_object() && s["std"].is_number() ? s["std"].get<double>() : 0.0; }

// Per method a line through its mean top-1 at each column of the group (columns by ascending axis value,
// evenly spaced), ±1 std as a vertical bar, the paper's number as a ring of the same colour.
void draw_group_plot(const Json& t, const std::string& group, report_detail::Writer& w, const std::string& file) {
  const std::string key = "top1_" + t["compare"].get<std::string>();
  std::vector<const Json*> cols;
  for (auto& c : t["columns"])
    if (c["group"] == group) cols.push_back(&c);
  std::stable_sort(cols.begin(), cols.end(), [](const Json* a, const Json* b) { return (*a)["x"] < (*b)["x"]; });
  plot::AxisSpec xs, ys;
  for (auto* c : cols) xs.categories.push_back((*c)["label"].get<std::string>());
  xs.label = t["axis"].get<std::string>();
  xs.grid = false;
  ys.label = "top-1 (%)";
  double lo = INFINITY, hi = -INFINITY;
  for (auto& r : t["rows"])
    for (auto* col : cols)
      if (const Json* c = cell_of(t, "cells", r["name"], (*col)["name"])) {
        const double m = mean_of((*c)[key]), s = std_of((*c)[key]);
        if (std::isfinite(m)) lo = std::min(lo, m - s), hi = std::max(hi, m + s);
        if ((*c)["paper"].is_number())
          lo = std::min(lo, (*c)["paper"].get<double>()), hi = std::max(hi, (*c)["paper"].get<double>());
      }
  if (!std::isfinite(lo)) return;  // nothing finished in this group
  const double pad = std::max(0.5, 0.05 * (hi - lo));  // markers at the extremes stay inside the frame
  ys.lo = lo - pad;
  ys.hi = hi + pad;
  plot::nice_range(ys.lo, ys.hi);
  std::vector<plot::LegendEntry> legend;
  for (size_t i = 0; i < t["rows"].size(); ++i)
    legend.push_back({t["rows"][i]["label"].get<std::string>(), kPalette[i % 10]});
  bool any_paper = false;
  for (auto& r : t["rows"])
    for (auto* col : cols)
      if (const Json* c = cell_of(t, "cells", r["name"], (*col)["name"])) any_paper = any_paper || (*c)["paper"].is_number();
  if (any_paper) legend.push_back({"o = paper", pc::gray});
  plot::Canvas canvas(900, 480);
  const std::string title = (group.empty() ? std::string("top-1 ") : group + ": top-1 ") +
                            t["compare"].get<std::string>() + " (mean +- std over seeds)";
  plot::Axes a = plot::draw_axes(canvas, {0, 0, canvas.w, canvas.h}, xs, ys, title, legend);
  const size_t R = t["rows"].size();
  for (size_t i = 0; i < R; ++i) {
    const plot::Color col = kPalette[i % 10];
    // each method's points a little apart (dodged) so that equal values and their bars stay visible
    const double dodge = R > 1 ? ((double)i - (R - 1) / 2.0) * std::min(0.04, 0.4 / R) : 0.0;
    std::vector<double> px, py, ppx, ppy;
    for (size_t k = 0; k < cols.size(); ++k) {
      const Json* c = cell_of(t, "cells", t["rows"][i]["name"], (*cols[k])["name"]);
      if (!c) continue;
      const double m = mean_of((*c)[key]), s = std_of((*c)[key]);
      px.push_back(k + dodge), py.push_back(m);
      if (std::isfinite(m) && s > 0) {
        const int x = (int)std::lround(a.px(k + dodge));
        canvas.line(x, (int)std::lround(a.py(m - s)), x, (int)std::lround(a.py(m + s)), col, 1);
        canvas.line(x - 3, (int)std::lround(a.py(m - s)), x + 3, (int)std::lround(a.py(m - s)), col, 1);
        canvas.line(x - 3, (int)std::lround(a.py(m + s)), x + 3, (int)std::lround(a.py(m + s)), col, 1);
      }
      if ((*c)["paper"].is_number()) ppx.push_back(k + dodge), ppy.push_back((*c)["paper"].get<double>());
    }
    plot::plot_line(a, px, py, col, 2, 3);
    plot::plot_points(a, ppx, ppy, col, 5);
    plot::plot_points(a, ppx, ppy, pc::white, 3);
  }
  w.save(canvas, file, (group.empty() ? std::string("Top-1 ") : group + ": top-1 ") + t["compare"].get<std::string>() +
                           " against " + t["axis"].get<std::string>() +
                           ": mean over seeds, bars ±1 sample std" + (any_paper ? "; rings: the paper's numbers." : "."));
}

// "mean ± std" with the std smaller and grey.
std::string stat_html(const Json& s) {
  if (!s.is_object() || !s["mean"].is_number()) return "n/a";
  std::string h = fmt_num(s["mean"].get<double>());
  if (s["std"].is_number()) h += " <span class=\"std\">± " + fmt_num(s["std"].get<double>()) + "</span>";
  return h;
}

std::string diff_html(const Json& d) {
  if (!d.is_number()) return "";
  const double v = d.get<double>();
  return std::string("<span class=\"") + (v >= 0 ? "pos" : "neg") + "\">" + (v >= 0 ? "+" : "") + fmt_num(v) +
         "</span>";
}

}  // namespace

void write_table_page(const Json& t, const std::string& out_dir) {
  fs::create_directories(fs::path(out_dir) / "plots");
  report_detail::Writer w{out_dir, nullptr, {}, {}};
  const std::string compare = t["compare"];
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
    << html_escape(t["title"].get<std::string>()) << " &mdash; tailor table</title>\n<style>\n"
    << kTablePageStyle << "\n</style>\n</head>\n<body>\n<h1>" << html_escape(t["title"].get<std::string>())
    << "</h1>\n<p class=\"sub\">" << html_escape(t["description"].get<std::string>()) << "</p>\n<p class=\"sub\">spec "
    << html_escape(t["spec"].get<std::string>()) << " &middot; " << t["rows"].size() << " rows &times; "
    << t["columns"].size() << " columns &times; " << t["seeds"].size()
    << " seeds &middot; top-1 (%) on the test split, mean &plusmn; sample std over the seeds; <i>last</i>: the "
       "final epoch; <i>best</i>: the best checkpoint on the split named under &ldquo;best by&rdquo; (eval.select); "
       "the paper's numbers are compared with <i>"
    << compare << "</i></p>\n";
  int gi = 0;
  for (const Json& gj : t["groups"]) {
    const std::string group = gj;
    h << "<h2>" << html_escape(group.empty() ? "Results" : group) << " <span class=\"std\">top-1 " << compare
      << "</span></h2>\n<div class=\"wrap\"><table>\n<thead><tr><th>method</th>";
    std::vector<const Json*> cols;
    for (auto& c : t["columns"])
      if (c["group"] == group) cols.push_back(&c), h << "<th>" << html_escape(c["label"].get<std::string>()) << "</th>";
    h << "</tr></thead>\n<tbody>\n";
    for (auto& r : t["rows"]) {
      std::ostringstream line;
      bool any = false;
      line << "<tr><td>" << html_escape(r["label"].get<std::string>()) << "</td>";
      for (const Json* col : cols) {
        const Json* c = cell_of(t, "cells", r["name"], (*col)["name"]);
        line << "<td>";
        if (c) {
          any = true;
          const std::string st = (*c)["status"];
          line << (st == "failed" ? "<span class=\"bad\">failed</span>" : st == "pending" ? "pending"
                                                                           : stat_html((*c)["top1_" + compare]));
          if ((*c)["paper"].is_number())
            line << "<span class=\"paper\">paper " << fmt_num((*c)["paper"].get<double>()) << " "
                 << diff_html((*c)["diff"]) << "</span>";
        }
        line << "</td>";
      }
      if (any) h << line.str() << "</tr>\n";
    }
    h << "</tbody>\n</table></div>\n";
    const std::string file = "group" + std::to_string(gi++) + ".png";
    const size_t before = w.figures.size();
    draw_group_plot(t, group, w, file);
    if (w.figures.size() > before)
      h << "<figure><img src=\"plots/" << file << "\" alt=\"" << html_escape(group) << "\"><figcaption>"
        << html_escape(w.figures.back().second) << "</figcaption></figure>\n";
  }
  h << "<h2>All cells</h2>\n<div class=\"wrap\"><table>\n<thead><tr><th>method</th><th class=\"l\">column</th>"
       "<th>n</th><th>top-1 last</th><th>top-1 best</th><th>best by</th><th>balanced</th><th>many</th>"
       "<th>medium</th><th>few</th><th>paper</th><th>diff</th></tr></thead>\n<tbody>\n";
  for (auto& c : t["cells"])
    h << "<tr><td>" << html_escape(c["row"].get<std::string>()) << "</td><td class=\"l\">"
      << html_escape(c["column"].get<std::string>()) << "</td><td>" << c["top1_best"]["n"].get<int>() << "/"
      << c["seeds"].get<int>() << "</td><td>" << stat_html(c["top1_last"]) << "</td><td>" << stat_html(c["top1_best"])
      << "</td><td>" << html_escape(c["best_by"].get<std::string>()) << "</td><td>" << stat_html(c["balanced"])
      << "</td><td>" << stat_html(c["many"]) << "</td><td>" << stat_html(c["medium"]) << "</td><td>"
      << stat_html(c["few"]) << "</td><td>" << (c["paper"].is_number() ? fmt_num(c["paper"].get<double>()) : "")
      << "</td><td>" << diff_html(c["diff"]) << "</td></tr>\n";
  h << "</tbody>\n</table></div>\n";
  // the shot groups of the many / medium / few columns (per column when the columns differ), and the cells
  // regrouped from their per-class accuracies
  const auto rule_columns = shot_group_rules(t);
  h << "<p class=\"sub\">Shot groups (many / medium / few):";
  if (rule_columns.empty()) h << " none finished.";
  if (rule_columns.size() == 1) h << " " << html_escape(rule_columns[0].first);
  h << "</p>\n";
  if (rule_columns.size() > 1) {
    h << "<ul>\n";
    for (auto& [rule, columns] : rule_columns) h << "<li>" << html_escape(columns) << ": " << html_escape(rule) << "</li>\n";
    h << "</ul>\n";
  }
  const std::vector<std::string> engine_lines = table_engine_lines(t);
  if (engine_lines.size() == 1) h << "<p class=\"sub\">" << html_escape(engine_lines[0]) << "</p>\n";
  if (engine_lines.size() > 1) {
    h << "<p class=\"warn\">" << html_escape(engine_lines[0]) << "</p>\n<ul>\n";
    for (size_t i = 1; i < engine_lines.size(); ++i) h << "<li>" << html_escape(engine_lines[i]) << "</li>\n";
    h << "</ul>\n";
  }
  if (t.contains("regrouped") && !t["regrouped"].empty()) {
    h << "<p class=\"sub\">Regrouped from their per-class accuracies (evaluated under other shot groups than the "
         "spec's):";
    for (auto& id : t["regrouped"]) h << " " << html_escape(id.get<std::string>());
    h << ".</p>\n";
  }
  std::ostringstream problems;
  for (auto& c : t["cells"]) {
    for (auto& f : c["failed"]) problems << "<li><b>failed</b>: <pre>" << html_escape(f.get<std::string>()) << "</pre></li>\n";
    for (auto& p : c["pending"]) problems << "<li>not finished: " << html_escape(p.get<std::string>()) << "</li>\n";
  }
  if (!problems.str().empty()) h << "<h2>Unfinished cells</h2>\n<ul>\n" << problems.str() << "</ul>\n";
  bool sources = false;
  for (auto& r : t["rows"])
    if (!r["paper_source"].get<std::string>().empty()) {
      if (!sources) h << "<h2>Paper numbers</h2>\n<ul>\n";
      sources = true;
      h << "<li>" << html_escape(r["label"].get<std::string>()) << ": "
        << html_escape(r["paper_source"].get<std::string>()) << "</li>\n";
    }
  if (sources) h << "</ul>\n";
  h << "<h2>Timing</h2>\n<table>\n<thead><tr><th>method</th><th class=\"l\">column</th><th>n</th>"
       "<th>wall time per seed (s)</th><th>train img/s</th></tr></thead>\n<tbody>\n";
  for (auto& c : t["timing"])
    h << "<tr><td>" << html_escape(c["row"].get<std::string>()) << "</td><td class=\"l\">"
      << html_escape(c["column"].get<std::string>()) << "</td><td>" << c["wall_s"]["n"].get<int>() << "</td><td>"
      << fmt_mean_std(c["wall_s"], 1) << "</td><td>" << fmt_mean_std(c["img_per_s"], 1) << "</td></tr>\n";
  h << "</tbody>\n</table>\n</body>\n</html>\n";
  write_text_atomic(fs::path(out_dir) / "table.html", h.str());
}

}  // namespace tailor
