// The table spec (report/table.h): strict reading of the JSON file, and the cells it makes.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "report/table.h"

namespace tailor {

namespace fs = std::filesystem;

namespace {

struct SpecReader {
  std::string file;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ConfigError(file + ": " + key + ": " + what);  // exit status 2, as a config error
  }
  // Refuses any key of `j` (an object at `where`) that is not in `allowed`.
  void only(const Json& j, const std::string& where, const std::set<std::string>& allowed) const {
    if (!j.is_object()) fail(where.empty() ? "(top level)" : where, "expected an object");
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!allowed.count(it.key())) {
        std::string list;
        for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(where.empty() ? it.key() : where + "." + it.key(), "unknown key (known: " + list + ")");
      }
  }
  std::string str(const Json& j, const std::string& key, const std::string& where, const std::string& def) const {
    if (!j.contains(key)) return def;
    if (!j[key].is_string()) fail(where + key, "expected a string");
    return j[key].get<std::string>();
  }
  std::vector<std::string> sets(const Json& j, const std::string& where) const {
    std::vector<std::string> out;
    if (!j.contains("set")) return out;
    if (!j["set"].is_array()) fail(where + "set", "expected an array of \"key.path=value\" strings");
    for (auto& s : j["set"]) {
      if (!s.is_string() || s.get<std::string>().find('=') == std::string::npos)
        fail(where + "set", "expected \"key.path=value\" strings, got " + s.dump());
      const std::string kv = s.get<std::string>();
      const size_t colon = kv.find(':');  // "SCOPE:key=value": the key after the scope
      const std::string key_value = colon < kv.find('=') ? kv.substr(colon + 1) : kv;
      for (const char* own : {"runs_dir=", "name=", "seed="})
        if (key_value.rfind(own, 0) == 0)
          fail(where + "set", "\"" + kv + "\": the table sets runs_dir, name and seed of its cells itself (seeds: the "
                              "spec's \"seeds\")");
      out.push_back(kv);
    }
    return out;
  }
  // Names become directory names: letters, digits, '_' and '-'.
  std::string name(const Json& j, const std::string& where) const {
    const std::string n = str(j, "name", where, "");
    if (n.empty()) fail(where + "name", "missing (every row and column needs a name)");
    for (char c : n)
      if (!std::isalnum((unsigned char)c) && c != '_' && c != '-')
        fail(where + "name", "'" + n + "': only letters, digits, '_' and '-' (it names directories)");
    return n;
  }
};

}  // namespace

TableSpec load_table_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read table spec " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  const Json doc = parse_config_text(ss.str(), path);
  SpecReader r{path};
  r.only(doc, "", {"title", "description", "axis", "compare", "seeds", "set", "columns", "rows"});
  TableSpec s;
  s.path = path;
  s.stem = fs::path(path).stem().string();
  s.title = r.str(doc, "title", "", s.stem);
  s.description = r.str(doc, "description", "", "");
  s.axis = r.str(doc, "axis", "", "x");
  s.compare = r.str(doc, "compare", "", "best");
  if (s.compare != "best" && s.compare != "last") r.fail("compare", "must be \"best\" or \"last\"");
  if (doc.contains("seeds")) {
    const Json& sd = doc["seeds"];
    if (!sd.is_array() || sd.empty()) r.fail("seeds", "expected a non-empty array of integers");
    s.seeds.clear();
    std::set<int> seen;
    for (auto& v : sd) {
      if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > 2147483647)
        r.fail("seeds", "expected integers in [0, 2147483647] (the config's seed), got " + v.dump());
      if (!seen.insert(v.get<int>()).second) r.fail("seeds", "seed " + v.dump() + " given twice");
      s.seeds.push_back(v.get<int>());
    }
  }
  s.sets = r.sets(doc, "");
  if (!doc.contains("columns") || !doc["columns"].is_array() || doc["columns"].empty())
    r.fail("columns", "expected a non-empty array of columns");
  if (!doc.contains("rows") || !doc["rows"].is_array() || doc["rows"].empty())
    r.fail("rows", "expected a non-empty array of rows");
  std::set<std::string> col_names, groups, row_names;
  for (size_t i = 0; i < doc["columns"].size(); ++i) {
    const Json& c = doc["columns"][i];
    const std::string where = "columns[" + std::to_string(i) + "].";
    r.only(c, where.substr(0, where.size() - 1), {"name", "group", "x", "label", "set"});
    TableColumn col;
    col.name = r.name(c, where);
    if (!col_names.insert(col.name).second) r.fail(where + "name", "'" + col.name + "' given twice");
    col.group = r.str(c, "group", where, "");
    if (!c.contains("x") || !c["x"].is_number()) r.fail(where + "x", "expected a number (the column's axis value)");
    col.x = c["x"].get<double>();
    col.label = r.str(c, "label", where, "");
    col.sets = r.sets(c, where);
    groups.insert(col.group);
    s.columns.push_back(col);
  }
  // "SCOPE:key=value" reaches the cells of the columns with that name or group; a column's own sets only its
  // own scope; an unknown scope is an error (it would reach no cell, silently)
  auto check_scopes = [&](const std::vector<std::string>& sets, const std::string& where,
                          const TableColumn* own = nullptr) {
    for (const std::string& kv : sets) {
      const size_t colon = kv.find(':');
      if (colon == std::string::npos || colon > kv.find('=')) continue;
      const std::string scope = kv.substr(0, colon);
      if (own ? scope != own->name && scope != own->group : !col_names.count(scope) && !groups.count(scope))
        r.fail(where + "set", "\"" + kv + "\": " + scope + (own ? " is not this column's name or group"
                                                                  : " is no column's name or group"));
    }
  };
  check_scopes(s.sets, "");
  for (size_t i = 0; i < s.columns.size(); ++i)
    check_scopes(s.columns[i].sets, "columns[" + std::to_string(i) + "].", &s.columns[i]);
  const fs::path base = fs::path(path).parent_path();
  for (size_t i = 0; i < doc["rows"].size(); ++i) {
    const Json& rj = doc["rows"][i];
    const std::string where = "rows[" + std::to_string(i) + "].";
    r.only(rj, where.substr(0, where.size() - 1), {"name", "label", "recipe", "set", "paper", "paper_source"});
    TableRow row;
    row.name = r.name(rj, where);
    if (!row_names.insert(row.name).second) r.fail(where + "name", "'" + row.name + "' given twice");
    row.label = r.str(rj, "label", where, "");
    row.paper_source = r.str(rj, "paper_source", where, "");
    row.sets = r.sets(rj, where);
    check_scopes(row.sets, where);
    auto add_recipe = [&](const std::string& group, const Json& v, const std::string& key) {
      if (!v.is_string() || v.get<std::string>().empty()) r.fail(key, "expected a recipe file path");
      const fs::path p = fs::path(v.get<std::string>()).is_absolute() ? fs::path(v.get<std::string>())
                                                                        : base / v.get<std::string>();
      if (!fs::is_regular_file(p)) r.fail(key, "recipe file not found: " + p.string());
      row.recipe[group] = fs::absolute(p).lexically_normal().string();
    };
    if (!rj.contains("recipe")) r.fail(where + "recipe", "missing");
    if (rj["recipe"].is_object()) {  // one recipe per column group
      for (auto it = rj["recipe"].begin(); it != rj["recipe"].end(); ++it) {
        if (!groups.count(it.key())) r.fail(where + "recipe." + it.key(), "no column has this group");
        add_recipe(it.key(), it.value(), where + "recipe." + it.key());
      }
    } else {
      add_recipe("", rj["recipe"], where + "recipe");
    }
    if (rj.contains("paper")) {
      if (!rj["paper"].is_object()) r.fail(where + "paper", "expected {\"<column name>\": top-1, ...}");
      for (auto it = rj["paper"].begin(); it != rj["paper"].end(); ++it) {
        if (!col_names.count(it.key())) r.fail(where + "paper." + it.key(), "no column has this name");
        if (!it.value().is_number()) r.fail(where + "paper." + it.key(), "expected a number (top-1 %)");
        row.paper[it.key()] = it.value().get<double>();
      }
    }
    s.rows.push_back(row);
  }
  return s;
}

std::string set_for_column(const std::string& set, const TableColumn& col) {
  const size_t colon = set.find(':'), eq = set.find('=');
  if (colon == std::string::npos || colon > eq) return set;  // keys have no ':'
  const std::string scope = set.substr(0, colon);
  return scope == col.group || scope == col.name ? set.substr(colon + 1) : "";
}

std::vector<TableCell> table_cells(const TableSpec& spec, const std::string& out_dir,
                                   const std::vector<std::string>& extra_sets) {
  std::vector<TableCell> cells;
  const std::string runs_dir = (fs::path(out_dir) / "runs").string();
  for (size_t r = 0; r < spec.rows.size(); ++r)
    for (size_t c = 0; c < spec.columns.size(); ++c) {
      const TableRow& row = spec.rows[r];
      const TableColumn& col = spec.columns[c];
      auto it = row.recipe.find(col.group);
      if (it == row.recipe.end()) it = row.recipe.find("");
      if (it == row.recipe.end()) continue;
      for (int seed : spec.seeds) {
        TableCell cell;
        cell.row = (int)r;
        cell.col = (int)c;
        cell.seed = seed;
        cell.id = row.name + "." + col.name + ".seed" + std::to_string(seed);
        cell.recipe = it->second;
        for (auto* v : {&spec.sets, &row.sets, &col.sets, &extra_sets})
          for (const std::string& s : *v)
            if (!set_for_column(s, col).empty()) cell.sets.push_back(set_for_column(s, col));
        cell.sets.push_back("runs_dir=" + runs_dir);
        cell.sets.push_back("name=" + cell.id);
        cell.sets.push_back("seed=" + std::to_string(seed));
        cells.push_back(cell);
      }
    }
  return cells;
}

}  // namespace tailor
