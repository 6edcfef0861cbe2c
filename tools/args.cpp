#include "tools/args.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/atomic_file.h"
#include "train/config.h"  // edit_distance

namespace tailor {

Args::Args(int argc, char** argv, const std::vector<std::string>& flags, const std::vector<std::string>& switches,
           const std::vector<std::string>& repeatable) {
  auto known = [](const std::vector<std::string>& v, const std::string& n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" && known(switches, "help")) a = "--help";  // the short form every command line knows
    if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    auto eq = name.find('=');
    bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (known(switches, name)) {
      if (inline_value) throw UsageError("--" + name + " takes no value");
      values_[name] = "1";
    } else if (known(flags, name) || known(repeatable, name)) {
      if (!inline_value) {
        if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
        value = argv[++i];
      }
      if (known(repeatable, name)) lists_[name].push_back(value);
      else if (values_.count(name)) throw UsageError("--" + name + " given twice");
      values_[name] = value;
    } else {
      std::string best;
      size_t best_d = 3;
      for (auto* v : {&flags, &switches, &repeatable})
        for (auto& f : *v)
          if (edit_distance(name, f) < best_d) {
            best_d = edit_distance(name, f);
            best = f;
          }
      throw UsageError("unknown flag --" + name + (best.empty() ? "" : " (did you mean --" + best + "?)"));
    }
  }
}

std::vector<std::string> Args::list(const std::string& name) const {
  auto it = lists_.find(name);
  return it == lists_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::str(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

long long Args::integer(const std::string& name, long long def, long long lo, long long hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  size_t pos = 0;
  long long v;
  try {
    v = std::stoll(it->second, &pos);
  } catch (...) {
    pos = 0;
  }
  if (pos == 0 || pos != it->second.size())
    throw UsageError("--" + name + " expects an integer, got '" + it->second + "'");
  if (v < lo || v > hi)
    throw UsageError("--" + name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                     it->second);
  return v;
}

double Args::number(const std::string& name, double def, double lo, double hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  size_t pos = 0;
  double v;
  try {
    v = std::stod(it->second, &pos);
  } catch (...) {
    pos = 0;
  }
  if (pos == 0 || pos != it->second.size())
    throw UsageError("--" + name + " expects a number, got '" + it->second + "'");
  if (v < lo || v > hi) throw UsageError("--" + name + " out of range: " + it->second);
  return v;
}

std::vector<double> Args::numbers(const std::string& name, double lo, double hi) const {
  std::vector<double> out;
  auto it = values_.find(name);
  if (it == values_.end()) return out;
  std::stringstream ss(it->second);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t pos = 0;
    double v = 0;
    try {
      v = std::stod(item, &pos);
    } catch (...) {
      pos = 0;
    }
    if (pos == 0 || pos != item.size() || !std::isfinite(v) || v < lo || v > hi)
    {
      char range[80] = "";
      if (std::isfinite(lo) || std::isfinite(hi)) std::snprintf(range, sizeof range, " in [%g, %g]", lo, hi);
      throw UsageError("--" + name + " expects comma-separated numbers" + range + ", got '" + item + "'");
    }
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("--" + name + " is empty");
  return out;
}

std::string Args::choice(const std::string& name, const std::string& def,
                         const std::vector<std::string>& allowed) const {
  std::string v = str(name, def);
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (auto& a : allowed) list += (list.empty() ? "" : "|") + a;
    throw UsageError("--" + name + " must be one of " + list + ", got '" + v + "'");
  }
  return v;
}

std::string Args::output_file(const std::string& name) const {
  const std::string v = str(name, "");
  if (v.empty()) {
    if (has(name)) throw UsageError("--" + name + " needs a file name");
    return v;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(v, ec)) throw UsageError("--" + name + " " + v + " is a folder; give a file name in it");
  const fs::path folder = fs::path(v).parent_path();
  if (!folder.empty() && !fs::is_directory(folder, ec))
    throw UsageError("--" + name + " " + v + ": the folder " + folder.string() + " does not exist");
  // the file is written as FILE.tmp renamed over FILE: a folder that takes no new file is said now
  const std::string why = cannot_create_in(folder.string());
  if (!why.empty()) throw UsageError("--" + name + " " + v + ": cannot write there (" + why + ")");
  return v;
}

}  // namespace tailor
