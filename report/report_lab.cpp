#include "report/report_lab.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "report/html.h"
#include "report/plot.h"
#include "report/report_tsne.h"
#include "report/tsne.h"
#include "rundir/files.h"

namespace tailor {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

static const char* kGroup[3] = {"many", "medium", "few"};

static std::string num(double v, int decimals = 1) {
  if (!std::isfinite(v)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

static const LabResult* find_variant(const std::vector<LabResult>& rs, const std::string& label) {
  for (auto& r : rs)
    if (r.variant.label == label) return &r;
  return nullptr;
}

std::vector<LabClaim> lab_claims(const std::vector<LabResult>& rs) {
  std::vector<LabClaim> out;
  const LabResult* ce = find_variant(rs, "ce");
  const LabResult* gcl = find_variant(rs, "gcl");
  const LabResult* nocloud = find_variant(rs, "gcl_no_cloud");
  auto spread = [](const LabResult* r, int g) { return r->spread_group[g]; };
  auto region = [](const LabResult* r, int g) { return r->region_group[g]; };
  if (ce)
    out.push_back({"With CE the head classes squeeze the rare ones: the few-shot classes' decision regions are "
                   "narrower than the many-shot classes' (GCL Fig. 2)",
                   "ce region: few " + num(region(ce, 2)) + " deg vs many " + num(region(ce, 0)) + " deg",
                   region(ce, 2) < region(ce, 0)});
  if (gcl && nocloud)
    out.push_back({"GCL's cloud widens the rare classes' decision regions (same cosine loss without it as control)",
                   "few-shot region: gcl " + num(region(gcl, 2)) + " deg vs gcl_no_cloud " + num(region(nocloud, 2)) + " deg",
                   region(gcl, 2) > region(nocloud, 2)});
  if (ce)
    out.push_back({"With CE the rarest classes' training features are squeezed: their angular spread is smaller "
                   "than the head's (GCL Fig. 1)",
                   "ce: few " + num(spread(ce, 2)) + " deg vs many " + num(spread(ce, 0)) + " deg",
                   spread(ce, 2) < spread(ce, 0)});
  if (gcl && nocloud)
    out.push_back({"GCL's Gaussian cloud enlarges the rare classes' feature spread (same cosine loss without it as control)",
                   "few-shot spread: gcl " + num(spread(gcl, 2)) + " deg vs gcl_no_cloud " + num(spread(nocloud, 2)) + " deg",
                   spread(gcl, 2) > spread(nocloud, 2)});
  if (gcl && ce)
    out.push_back({"GCL gives the rare classes a larger feature spread than CE",
                   "few-shot spread: gcl " + num(spread(gcl, 2)) + " deg vs ce " + num(spread(ce, 2)) + " deg",
                   spread(gcl, 2) > spread(ce, 2)});
  for (const char* name : {"balanced_softmax", "logit_adjust"})
    if (const LabResult* r = find_variant(rs, name); r && ce)
      out.push_back({std::string(name) + " moves the decision boundaries toward the head classes: fewer few-shot test "
                                         "images are predicted as a many-shot class than with CE",
                     "few-shot test images predicted as many-shot: " + std::string(name) + " " + num(r->few_to_many) +
                         "% vs ce " + num(ce->few_to_many) + "%",
                     r->few_to_many < ce->few_to_many});
  return out;
}

// One variant's figure: decision regions (light), a class-stratified sample of the training features
// (few-shot classes larger and ringed), and each class's weight direction as a ray from the origin.
static void draw_variant(const LabSet& set, const LabResult& r, const std::vector<int>& groups, const std::string& path) {
  using namespace plot;
  const int C = (int)set.counts.size();
  // a square view holding 99% of the training features
  std::vector<double> radius;
  for (size_t i = 0; i < r.train_f.size() / 2; ++i) radius.push_back(std::max(std::fabs(r.train_f[2 * i]), std::fabs(r.train_f[2 * i + 1])));
  std::sort(radius.begin(), radius.end());
  double R = radius.empty() ? 1.0 : 1.1 * radius[(size_t)(0.99 * (radius.size() - 1))];
  if (!(R > 0)) R = 1;
  Canvas c(500, 480);
  AxisSpec ax{-R, R, false, false, "feature 1", {}}, ay{-R, R, false, false, "feature 2", {}};
  ax.grid = ay.grid = false;
  char title[160];
  std::snprintf(title, sizeof title, "%s: acc %.1f, few %.1f", r.variant.label.c_str(), r.acc, r.acc_group[2]);
  Axes a = draw_axes(c, {0, 0, c.w, c.h}, ax, ay, title);
  // decision regions, 3 px cells
  std::vector<float> cell(2);
  for (int py = a.area.y; py < a.area.bottom(); py += 3)
    for (int px = a.area.x; px < a.area.right(); px += 3) {
      double fx = -R + 2 * R * (px + 1.5 - a.area.x) / a.area.w, fy = R - 2 * R * (py + 1.5 - a.area.y) / a.area.h;
      cell = {(float)fx, (float)fy};
      int k = lab_predict(r, cell)[0];
      c.fill_blend({px, py, 3, 3}, class_color(k, C), 0.18);
    }
  // features: head first, tail on top
  std::vector<int64_t> pick = stratified_sample(set.train_y, 1500, 0);
  for (int g = 0; g < 3; ++g)
    for (int64_t i : pick) {
      int cls = set.train_y[i];
      if (groups[cls] != g) continue;
      int px = (int)std::lround(a.px(r.train_f[2 * i])), py = (int)std::lround(a.py(r.train_f[2 * i + 1]));
      if (px < a.area.x || px >= a.area.right() || py < a.area.y || py >= a.area.bottom()) continue;
      if (g == 2) c.disc(px, py, 4, colors::black);
      c.disc(px, py, g == 2 ? 3 : 2, class_color(cls, C));
    }
  // class directions
  for (int k = 0; k < C; ++k) {
    double wx = r.head_w[2 * k], wy = r.head_w[2 * k + 1], n = std::hypot(wx, wy);
    if (n == 0) continue;
    double ex = wx / n * R * 0.95, ey = wy / n * R * 0.95;
    c.line((int)a.px(0), (int)a.py(0), (int)a.px(ex), (int)a.py(ey), colors::black, 5);
    c.line((int)a.px(0), (int)a.py(0), (int)a.px(ex), (int)a.py(ey), class_color(k, C), 3);
  }
  c.save_png(path);  // (atomic)
}

static std::string features_csv(const std::vector<float>& f, const std::vector<int32_t>& y,
                                 const std::vector<int32_t>* pred) {
  std::ostringstream o;
  o.precision(9);
  o << (pred ? "x,y,label,pred\n" : "x,y,label\n");
  for (size_t i = 0; i < y.size(); ++i) {
    o << f[2 * i] << "," << f[2 * i + 1] << "," << y[i];
    if (pred) o << "," << (*pred)[i];
    o << "\n";
  }
  return o.str();
}

std::string write_lab_page(const std::string& out_dir, const LabSet& set, const std::vector<LabResult>& results,
                           const std::vector<int>& groups, const std::string& groups_desc, const LabOptions& opt) {
  const fs::path dir(out_dir);
  fs::create_directories(dir / "plots");
  fs::create_directories(dir / "features");
  const int C = (int)set.counts.size();
  ojson doc;
  doc["data"] = set.name;
  doc["counts"] = set.counts;
  doc["groups"] = groups_desc;
  doc["group_of_class"] = groups;
  doc["epochs"] = opt.epochs, doc["batch"] = opt.batch, doc["lr"] = opt.lr, doc["seed"] = opt.seed;
  doc["variants"] = ojson::array();
  for (const LabResult& r : results) {
    draw_variant(set, r, groups, (dir / "plots" / (r.variant.label + ".png")).string());
    write_text_atomic(dir / "features" / (r.variant.label + "_train.csv"), features_csv(r.train_f, set.train_y, nullptr));
    write_text_atomic(dir / "features" / (r.variant.label + "_test.csv"), features_csv(r.test_f, set.test_y, &r.test_pred));
    ojson v;
    v["label"] = r.variant.label, v["loss"] = r.variant.loss, v["settings"] = r.variant.note;
    v["cosine_head"] = r.variant.cosine_head;
    auto finite_or_null = [](double x) { return std::isfinite(x) ? ojson(x) : ojson(nullptr); };
    v["test_acc"] = r.acc;
    for (int g = 0; g < 3; ++g) v[std::string("acc_") + kGroup[g]] = finite_or_null(r.acc_group[g]);
    for (int g = 0; g < 3; ++g) v[std::string("spread_") + kGroup[g]] = finite_or_null(r.spread_group[g]);
    for (int g = 0; g < 3; ++g) v[std::string("region_") + kGroup[g]] = finite_or_null(r.region_group[g]);
    v["few_to_many"] = finite_or_null(r.few_to_many);
    v["region_radius"] = r.region_radius;
    v["region_per_class"] = r.region;
    v["head_w"] = r.head_w;
    v["head_b"] = r.head_b;
    v["spread_per_class"] = ojson::array();
    for (double s : r.spread) v["spread_per_class"].push_back(finite_or_null(s));
    v["seconds"] = r.seconds;
    doc["variants"].push_back(v);
  }
  std::vector<LabClaim> claims = lab_claims(results);
  doc["claims"] = ojson::array();
  for (auto& k : claims) doc["claims"].push_back({{"claim", k.claim}, {"measured", k.measured}, {"holds", k.holds}});
  write_text_atomic(dir / "lab.json", doc.dump(1) + "\n");

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>tailor embedding lab</title>\n<style>\n"
       "body{font-family:sans-serif;margin:24px;color:#222;max-width:1640px}"
       "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
       "th{background:#f3f3f3}.num td{text-align:right}.num td:nth-child(-n+2){text-align:left}.grid{display:flex;flex-wrap:wrap;gap:14px}"
       "figure{margin:0;border:1px solid #ddd;padding:6px}figcaption{font-size:13px;max-width:500px}"
       ".yes{color:#1a7f37;font-weight:bold}.no{color:#b42318;font-weight:bold}\n</style>\n</head>\n<body>\n";
  h << "<h1>Embedding lab</h1>\n<p>" << html_escape(set.name) << "; " << C << " classes, training counts ";
  for (int k = 0; k < C; ++k) h << (k ? ", " : "") << set.counts[k];
  h << ". Groups: " << html_escape(groups_desc) << ". An MLP with a 2-D feature layer, trained " << opt.epochs
    << " epochs (Adam, lr " << opt.lr << ", batch " << opt.batch << ", seed " << opt.seed
    << ") once per loss. Angular spread = mean angle (degrees) between a class's training features and their mean "
       "direction; region = degrees of the circle |f| = median training-feature norm that the classifier assigns to a class "
       "(mean over the group's classes); few&rarr;many = share of few-shot test images predicted as a many-shot class.</p>\n";
  h << "<h2>What the papers claim, measured here</h2>\n<table><tr><th>claim</th><th>measured</th><th>on this data</th></tr>\n";
  for (auto& k : claims)
    h << "<tr><td>" << html_escape(k.claim) << "</td><td>" << html_escape(k.measured) << "</td><td class=\"" << (k.holds ? "yes" : "no")
      << "\">" << (k.holds ? "holds" : "does not hold") << "</td></tr>\n";
  h << "</table>\n<h2>Numbers</h2>\n<table class=\"num\"><tr><th>loss</th><th>settings</th><th>test acc %</th><th>many %</th>"
       "<th>medium %</th><th>few %</th><th>spread many</th><th>spread medium</th><th>spread few</th>"
       "<th>region many</th><th>region medium</th><th>region few</th><th>few&rarr;many %</th></tr>\n";
  for (const LabResult& r : results)
    h << "<tr><td>" << html_escape(r.variant.label) << "</td><td>" << html_escape(r.variant.note) << "</td><td>" << num(r.acc) << "</td><td>"
      << num(r.acc_group[0]) << "</td><td>" << num(r.acc_group[1]) << "</td><td>" << num(r.acc_group[2]) << "</td><td>"
      << num(r.spread_group[0]) << "</td><td>" << num(r.spread_group[1]) << "</td><td>" << num(r.spread_group[2])
      << "</td><td>" << num(r.region_group[0]) << "</td><td>" << num(r.region_group[1]) << "</td><td>"
      << num(r.region_group[2]) << "</td><td>" << num(r.few_to_many) << "</td></tr>\n";
  h << "</table>\n<h2>Feature spaces</h2>\n<p>Background: the class each point of the feature plane is predicted as. "
       "Rays: the classifier's class weight directions. Dots: training features (a class-stratified sample); few-shot "
       "classes larger with a dark ring.</p>\n<p>";
  for (int k = 0; k < C; ++k) {
    plot::Color col = class_color(k, C);
    char rgb[16];
    std::snprintf(rgb, sizeof rgb, "#%02x%02x%02x", col.r, col.g, col.b);
    h << "<span style=\"color:" << rgb << "\">&#9679;</span> " << html_escape(set.class_names[k]) << " (" << set.counts[k] << ", "
      << kGroup[groups[k]] << ") &nbsp; ";
  }
  h << "</p>\n<div class=\"grid\">\n";
  for (const LabResult& r : results)
    h << "<figure><img src=\"plots/" << html_escape(r.variant.label) << ".png\" alt=\"" << html_escape(r.variant.label)
      << "\"><figcaption><b>" << html_escape(r.variant.label) << "</b>: " << html_escape(r.variant.note) << ". Spread many / few "
      << num(r.spread_group[0]) << " / " << num(r.spread_group[2]) << " deg; few&rarr;many " << num(r.few_to_many)
      << "%; region many / few " << num(r.region_group[0]) << " / " << num(r.region_group[2]) << " deg.</figcaption></figure>\n";
  h << "</div>\n</body>\n</html>\n";
  const std::string html = (dir / "explore.html").string();
  write_text_atomic(html, h.str());
  return html;
}

}  // namespace tailor
