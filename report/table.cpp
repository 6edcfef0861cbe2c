// The aggregated table (report/table.h): the numbers of each finished run, mean ± sample std over seeds
// per cell, table.json and table.md.
#include "report/table.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "rundir/files.h"
#include "train/metrics.h"

namespace tailor {

namespace fs = std::filesystem;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// The parsed file, or null when it is absent or malformed (`error` then says which).
Json read_json_or_null(const fs::path& p, std::string& error) {
  std::ifstream in(p);
  if (!in) {
    error = "no " + p.filename().string();
    return nullptr;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return Json::parse(ss.str());
  } catch (const Json::exception& e) {
    error = p.string() + ": malformed JSON";
    return nullptr;
  }
}

double num_or_nan(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : kNaN;
}

Json stat_json(const MeanStd& s) {
  auto val = [](double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  return Json{{"n", s.n}, {"mean", val(s.mean)}, {"std", val(s.std)}};
}

double stat_mean(const Json& stat) {
  return stat.is_object() && stat["mean"].is_number() ? stat["mean"].get<double>() : kNaN;
}

}  // namespace

bool regroup_run_numbers(RunNumbers& r, const data::ShotRule& rule) {
  if (r.per_class.empty() || r.per_class.size() != r.train_counts.size()) return false;
  std::vector<int64_t> counts;
  for (double n : r.train_counts) counts.push_back(std::isfinite(n) ? (int64_t)n : 0);
  const std::string described = data::describe_shot_rule(rule, counts);
  if (described == r.groups) return false;
  const data::ShotSplit split = data::shot_split(counts, rule);
  auto mean_acc = [&](const std::vector<int>& classes) {  // the evaluation's own mean; NaN for a group without classes
    const ShotGroup g = mean_class_accuracy(r.per_class, classes);
    return g.empty() ? kNaN : g.acc;
  };
  r.many = mean_acc(split.many);
  r.medium = mean_acc(split.medium);
  r.few = mean_acc(split.few);
  r.groups = described;
  return true;
}

std::string engine_text(const Json& summary) {
  if (!summary.is_object() || !summary.contains("engine_version") || !summary["engine_version"].is_string()) return "";
  const Json history = summary.value("engine_history", Json::array());
  if (!history.is_array() || history.size() < 2)
    return summary["engine_version"].get<std::string>() + " (" + summary.value("engine_build", "") + ")";
  std::string text;  // continued by other builds: each, with the global step where the next took over
  for (const Json& e : history) {
    if (!text.empty()) text += " to global step " + std::to_string(e.value("from_global_step", 0)) + ", then tailor ";
    const std::string v = e.value("version", "");
    text += v.empty() ? "(not recorded)" : v + " (" + e.value("build", "") + ")";
  }
  return text;
}

bool run_finished(const std::string& dir) {
  std::string err;
  const Json s = read_json_or_null(fs::path(dir) / "summary.json", err);
  const Json e = read_json_or_null(fs::path(dir) / "eval.json", err);
  return s.is_object() && s.contains("top1") && !s.contains("stopped") && e.is_object() && e.contains("top1");
}

RunNumbers read_run_numbers(const std::string& dir) {
  RunNumbers r;
  r.dir = dir;
  r.name = fs::path(dir).lexically_normal().filename().string();
  if (r.name.empty()) r.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  std::string err;
  const Json summary = read_json_or_null(fs::path(dir) / "summary.json", err);
  const Json ev = summary.is_object() ? read_json_or_null(fs::path(dir) / "eval.json", err) : Json();
  if (!summary.is_object() || !summary.contains("top1") || !ev.is_object() || !ev["top1"].is_number()) {
    r.error = err.empty() ? "not finished (summary.json / eval.json incomplete)" : err;
    return r;
  }
  const Json cfg = read_json_or_null(fs::path(dir) / "config.json", err);
  r.select = cfg.is_object() && cfg.contains("eval") ? cfg["eval"].value("select", "test") : "test";
  r.top1 = ev["top1"].get<double>();
  r.balanced = num_or_nan(ev, "balanced_acc");
  r.many = num_or_nan(ev, "many");
  r.medium = num_or_nan(ev, "medium");
  r.few = num_or_nan(ev, "few");
  r.checkpoint = ev.value("checkpoint", "");
  if (ev.contains("shot_groups") && ev["shot_groups"].is_object())
    r.groups = ev["shot_groups"].value("description", ev["shot_groups"].value("rule", ""));
  r.wall_s = num_or_nan(summary, "wall_s");
  r.img_per_s = num_or_nan(summary, "train_img_per_s");
  r.engine = engine_text(summary);
  if (ev.contains("class_names") && ev["class_names"].is_array())
    for (auto& n : ev["class_names"]) r.class_names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  r.samples = num_or_nan(ev, "samples");
  for (const char* key : {"per_class_acc", "train_counts", "test_counts"}) {
    std::vector<double>& v = key[0] == 'p' ? r.per_class : key[1] == 'r' ? r.train_counts : r.test_counts;
    if (ev.contains(key) && ev[key].is_array())
      for (auto& x : ev[key]) v.push_back(x.is_number() ? x.get<double>() : kNaN);
  }
  // the last stage's epochs evaluated on the test split, in order
  const int last_stage = summary.contains("stages") && summary["stages"].is_array() ? (int)summary["stages"].size() : 1;
  std::vector<double> test_top1;
  std::ifstream in(fs::path(dir) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Json l = Json::parse(line, nullptr, false);
    if (l.is_object() && l.value("stage", 0) == last_stage && l.value("eval_split", "") == "test" &&
        l["top1"].is_number())
      test_top1.push_back(l["top1"].get<double>());
  }
  // eval.json evaluates the run's final checkpoint: the best epoch's (chosen on eval.select's split) or the last's
  const bool reports_best = r.checkpoint.find("_best.") != std::string::npos;
  if (reports_best) {
    r.top1_best = r.top1;
    r.best_by = r.select;
    r.top1_last = test_top1.empty() ? kNaN : test_top1.back();
  } else {
    r.top1_last = r.top1;
    r.top1_best = r.top1;
    r.best_by = "-";
    for (double t : test_top1) {
      if (r.best_by == "-" || t > r.top1_best) r.top1_best = t;
      r.best_by = "test";
    }
  }
  return r;
}

// mean = sum x / n; std = sqrt(sum (x - mean)^2 / (n - 1)) over the finite x.
MeanStd mean_std(const std::vector<double>& values) {
  MeanStd s;
  double sum = 0;
  for (double v : values)
    if (std::isfinite(v)) sum += v, ++s.n;
  s.mean = s.n ? sum / s.n : kNaN;
  if (s.n < 2) {
    s.std = kNaN;
    return s;
  }
  double ss = 0;
  for (double v : values)
    if (std::isfinite(v)) ss += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(ss / (s.n - 1));
  return s;
}

Json aggregate_table(const TableSpec& spec, const std::vector<TableCell>& cells, const std::string& out_dir,
                     const std::map<std::string, std::string>& failures) {
  Json t{{"title", spec.title},           {"description", spec.description},
         {"spec", fs::absolute(spec.path).lexically_normal().string()},  // as typed or not: one table.md
         {"axis", spec.axis},
         {"compare", spec.compare},       {"seeds", spec.seeds},
         {"columns", Json::array()},      {"rows", Json::array()},
         {"groups", Json::array()},       {"cells", Json::array()},
         {"timing", Json::array()}};
  std::vector<std::string> groups;
  for (auto& c : spec.columns) {
    t["columns"].push_back(
        Json{{"name", c.name}, {"group", c.group}, {"x", c.x}, {"label", c.label.empty() ? fmt_num(c.x, -1) : c.label}});
    if (std::find(groups.begin(), groups.end(), c.group) == groups.end()) groups.push_back(c.group);
  }
  t["groups"] = groups;
  for (auto& r : spec.rows)
    t["rows"].push_back(
        Json{{"name", r.name}, {"label", r.label.empty() ? r.name : r.label}, {"paper_source", r.paper_source}});
  Json regrouped = Json::array();  // finished cells evaluated under other shot groups than the spec's
  // which tailor trained each finished run (summary.json's engine_version (engine_build); "" before they were
  // kept): a table resumed after the code changed mixes builds, and other code can explain a difference
  std::map<std::string, Json> engines;
  for (size_t ri = 0; ri < spec.rows.size(); ++ri)
    for (size_t ci = 0; ci < spec.columns.size(); ++ci) {
      std::vector<RunNumbers> done;
      Json failed = Json::array(), pending = Json::array();
      int total = 0;
      for (const TableCell& cell : cells) {
        if (cell.row != (int)ri || cell.col != (int)ci) continue;
        ++total;
        const std::string dir = (fs::path(out_dir) / "runs" / cell.id).string();
        // a failure (or a refused directory of another config) wins over whatever files the directory holds
        if (failures.count(cell.id)) failed.push_back(cell.id + ": " + failures.at(cell.id));
        else if (run_finished(dir)) {
          done.push_back(read_run_numbers(dir));
          auto& ids = engines[done.back().engine];
          if (ids.is_null()) ids = Json::array();
          ids.push_back(cell.id);
          if (cell.has_shot_rule && regroup_run_numbers(done.back(), cell.shot_rule)) regrouped.push_back(cell.id);
        }
        else pending.push_back(cell.id);
      }
      if (total == 0) continue;  // the row has no recipe for this column's group
      const TableRow& row = spec.rows[ri];
      const TableColumn& col = spec.columns[ci];
      Json c{{"row", row.name}, {"column", col.name}, {"seeds", total}};
      c["status"] = (int)done.size() == total ? "done" : !done.empty() ? "partial" : !failed.empty() ? "failed" : "pending";
      auto collect = [&](double RunNumbers::*field) {
        std::vector<double> v;
        for (auto& n : done) v.push_back(n.*field);
        return stat_json(mean_std(v));
      };
      c["top1_last"] = collect(&RunNumbers::top1_last);
      c["top1_best"] = collect(&RunNumbers::top1_best);
      c["balanced"] = collect(&RunNumbers::balanced);
      c["many"] = collect(&RunNumbers::many);
      c["medium"] = collect(&RunNumbers::medium);
      c["few"] = collect(&RunNumbers::few);
      std::set<std::string> by, rule;
      for (auto& n : done) by.insert(n.best_by), rule.insert(n.groups);
      c["best_by"] = by.empty() ? "" : by.size() == 1 ? *by.begin() : "mixed";
      c["shot_groups"] = rule.empty() ? "" : rule.size() == 1 ? *rule.begin() : "mixed";
      auto p = row.paper.find(col.name);
      c["paper"] = p == row.paper.end() ? Json(nullptr) : Json(p->second);
      const double ours = stat_mean(c[spec.compare == "last" ? "top1_last" : "top1_best"]);
      c["diff"] = p != row.paper.end() && std::isfinite(ours) ? Json(ours - p->second) : Json(nullptr);
      c["failed"] = failed;
      c["pending"] = pending;
      t["cells"].push_back(c);
      t["timing"].push_back(Json{{"row", row.name},
                                 {"column", col.name},
                                 {"wall_s", collect(&RunNumbers::wall_s)},
                                 {"img_per_s", collect(&RunNumbers::img_per_s)}});
    }
  t["regrouped"] = regrouped;
  t["engines"] = Json::array();
  for (auto& [engine, ids] : engines) t["engines"].push_back(Json{{"engine", engine}, {"runs", ids}});
  return t;
}

namespace {

const Json* find_cell(const Json& t, const std::string& key, const std::string& row, const std::string& col) {
  for (auto& c : t[key])
    if (c["row"] == row && c["column"] == col) return &c;
  return nullptr;
}

std::string signed_num(double v) {
  return std::isfinite(v) ? (v >= 0 ? "+" : "") + fmt_num(v) : "n/a";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> shot_group_rules(const Json& t) {
  std::vector<std::pair<std::string, std::vector<std::string>>> rules;  // in the order of first use
  for (auto& col : t["columns"])
    for (auto& c : t["cells"]) {
      if (c["column"] != col["name"] || c["shot_groups"].get<std::string>().empty()) continue;
      const std::string rule = c["shot_groups"], name = col["label"];
      auto it = std::find_if(rules.begin(), rules.end(), [&](auto& e) { return e.first == rule; });
      if (it == rules.end()) it = rules.insert(rules.end(), {rule, {}});
      if (std::find(it->second.begin(), it->second.end(), name) == it->second.end()) it->second.push_back(name);
    }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [rule, names] : rules) {
    std::string joined;
    for (auto& n : names) joined += (joined.empty() ? "" : ", ") + n;
    out.emplace_back(rule, joined);
  }
  return out;
}

std::vector<std::string> table_engine_lines(const Json& t) {
  if (!t.contains("engines") || t["engines"].empty()) return {};
  const Json& engines = t["engines"];
  if (engines.size() == 1) {
    const std::string e = engines[0]["engine"];
    if (e.empty()) return {};
    return {"Engine: tailor " + e + ", every finished run."};
  }
  std::vector<std::string> lines{"Note: the finished runs were trained by " + std::to_string(engines.size()) +
                                 " tailor builds (other code, not only other settings, may explain a difference):"};
  for (auto& e : engines) {
    const std::string name = e["engine"];
    std::string ids;
    for (auto& id : e["runs"]) ids += (ids.empty() ? "" : ", ") + id.get<std::string>();
    lines.push_back((name.empty() ? "not recorded (before engine_version)" : "tailor " + name) + ": " + ids);
  }
  return lines;
}

std::string table_markdown(const Json& t) {
  std::ostringstream md;
  const std::string compare = t["compare"];
  md << "# " << t["title"].get<std::string>() << "\n\n";
  if (!t["description"].get<std::string>().empty()) md << t["description"].get<std::string>() << "\n\n";
  std::set<std::string> by;
  for (auto& c : t["cells"])
    if (!c["best_by"].get<std::string>().empty()) by.insert(c["best_by"].get<std::string>());
  std::string by_list;
  for (auto& b : by) by_list += (by_list.empty() ? "" : ", ") + b;
  md << "Spec `" << t["spec"].get<std::string>() << "`: " << t["rows"].size() << " rows x " << t["columns"].size()
     << " columns x " << t["seeds"].size() << " seeds. Top-1 (%) on the test split, mean ± sample std over the "
     << "seeds (n = finished seeds). *last*: the final epoch of the last stage; *best*: the checkpoint with the "
     << "highest top-1 on the split named under \"best by\" (eval.select; test = the reference repositories' "
     << "practice, an optimistic number; - = no selection)" << (by_list.empty() ? "" : ", here: " + by_list)
     << ". The paper's numbers are compared with *" << compare << "*.\n";
  const std::vector<std::string> engine_lines = table_engine_lines(t);
  if (!engine_lines.empty()) md << "\n" << engine_lines[0] << "\n";
  for (size_t i = 1; i < engine_lines.size(); ++i) md << "- " << engine_lines[i] << "\n";
  for (const Json& gj : t["groups"]) {
    const std::string group = gj;
    md << "\n## " << (group.empty() ? "Results" : group) << " (top-1 " << compare << ")\n\n| method |";
    std::vector<const Json*> cols;
    for (auto& c : t["columns"])
      if (c["group"] == group) cols.push_back(&c), md << " " << c["label"].get<std::string>() << " |";
    md << "\n|---|";
    for (size_t i = 0; i < cols.size(); ++i) md << "---|";
    md << "\n";
    for (auto& r : t["rows"]) {
      std::string line = "| " + r["label"].get<std::string>() + " |";
      bool any = false;
      for (const Json* col : cols) {
        const Json* c = find_cell(t, "cells", r["name"], (*col)["name"]);
        if (!c) {
          line += " |";
          continue;
        }
        any = true;
        std::string text = (*c)["status"] == "failed" ? "failed" : (*c)["status"] == "pending" ? "pending"
                                                                  : fmt_mean_std((*c)["top1_" + compare]);
        if ((*c)["paper"].is_number())
          text += " (paper " + fmt_num((*c)["paper"].get<double>()) +
                  ((*c)["diff"].is_number() ? ", " + signed_num((*c)["diff"].get<double>()) : "") + ")";
        line += " " + text + " |";
      }
      if (any) md << line << "\n";
    }
  }
  md << "\n## All cells\n\n| method | column | n | top-1 last | top-1 best | best by | balanced | many | medium | few "
        "| paper | diff |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (auto& c : t["cells"]) {
    md << "| " << c["row"].get<std::string>() << " | " << c["column"].get<std::string>() << " | "
       << c["top1_best"]["n"].get<int>() << "/" << c["seeds"].get<int>() << " | " << fmt_mean_std(c["top1_last"])
       << " | " << fmt_mean_std(c["top1_best"]) << " | " << c["best_by"].get<std::string>() << " | "
       << fmt_mean_std(c["balanced"]) << " | " << fmt_mean_std(c["many"]) << " | " << fmt_mean_std(c["medium"])
       << " | " << fmt_mean_std(c["few"]) << " | "
       << (c["paper"].is_number() ? fmt_num(c["paper"].get<double>()) : "") << " | "
       << (c["diff"].is_number() ? signed_num(c["diff"].get<double>()) : "") << " |\n";
  }
  md << "\nShot groups (many / medium / few):";
  const auto rule_columns = shot_group_rules(t);
  if (rule_columns.empty()) md << " none finished.";
  for (auto& [rule, columns] : rule_columns)
    md << (rule_columns.size() > 1 ? "\n- " + columns + ": " : " ") << rule;
  md << "\n";
  if (t.contains("regrouped") && !t["regrouped"].empty()) {
    md << "\nRegrouped from their per-class accuracies (evaluated under other shot groups than the spec's):";
    for (auto& id : t["regrouped"]) md << " " << id.get<std::string>();
    md << ".\n";
  }
  std::ostringstream problems;
  for (auto& c : t["cells"]) {
    for (auto& f : c["failed"]) problems << "- failed: " << f.get<std::string>() << "\n";
    for (auto& p : c["pending"]) problems << "- not finished: " << p.get<std::string>() << "\n";
  }
  if (!problems.str().empty()) md << "\n## Unfinished cells\n\n" << problems.str();
  std::set<std::string> sources;
  for (auto& r : t["rows"])
    if (!r["paper_source"].get<std::string>().empty())
      sources.insert("- " + r["label"].get<std::string>() + ": " + r["paper_source"].get<std::string>());
  if (!sources.empty()) {
    md << "\n## Paper numbers\n\n";
    for (auto& s : sources) md << s << "\n";
  }
  md << "\n## Timing\n\nWall time per seed (mean) and training images per second; these vary from one "
        "execution to another.\n\n| method | column | n | wall time (s) | train img/s |\n|---|---|---|---|---|\n";
  for (auto& c : t["timing"])
    md << "| " << c["row"].get<std::string>() << " | " << c["column"].get<std::string>() << " | "
       << c["wall_s"]["n"].get<int>() << " | " << fmt_mean_std(c["wall_s"], 1) << " | "
       << fmt_mean_std(c["img_per_s"], 1) << " |\n";
  return md.str();
}

void write_table_files(const Json& table, const std::string& out_dir) {
  fs::create_directories(out_dir);
  write_text_atomic(fs::path(out_dir) / "table.json", table.dump(2) + "\n");
  write_text_atomic(fs::path(out_dir) / "table.md", table_markdown(table));
  write_table_page(table, out_dir);
}

}  // namespace tailor
