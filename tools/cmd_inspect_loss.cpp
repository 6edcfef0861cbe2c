// `tailor inspect-loss`: one sample through one loss of losses/ — the logits its softmax sees, the loss
// value and dL/dz per class from the engine's autograd (losses/inspect.h). --sweep-gap: the target-class
// gradient against the logit gap for CE, GCL, LDAM and Balanced Softmax (GCL Eq. 2-3), as CSV + PNG.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "losses/inspect.h"
#include "report/plot.h"
#include "rundir/files.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/config.h"
#include "train/run_config.h"

namespace tailor {

static const char* kInspectUsage =
    "usage: tailor inspect-loss --loss NAME --counts n1,n2,... --logits z1,z2,... --target Y\n"
    "                           [--set loss.key=value ...] [--seed S] [--noise e1,e2,...]\n"
    "       tailor inspect-loss --sweep-gap --counts n1,n2,... [--out DIR] [--gap-min A] [--gap-max B]\n"
    "                           [--steps K] [--draws D] [--seed S]\n"
    "Prints the logits the loss's softmax sees, the loss and its gradient dL/dz_j (autograd of the real loss).\n"
    "ldam / gcl / gcl_ang take raw cosines. Random losses (gcl, gcl_ang, eql) draw from --seed (default 0);\n"
    "--noise gives gcl's raw N(0, sd 1/3) draw instead. --sweep-gap writes DIR/gap_sweep.csv and gap_sweep.png:\n"
    "|dL/dz_y| of the rarest class against the gap z_y - z_j for ce, gcl, ldam, balanced_softmax.\n";

static std::vector<int64_t> parse_counts(const Args& a) {
  std::vector<int64_t> out;
  for (double v : a.numbers("counts")) {
    if (v < 1 || v != std::floor(v)) throw UsageError("--counts expects whole numbers >= 1, got " + std::to_string(v));
    out.push_back((int64_t)v);
  }
  return out;
}

// --set loss.key=value assignments, checked against the stage schema (type, range, choices) and
// against the keys the loss reads; returns the loss's LossConfig.
static LossConfig loss_config_from_sets(const std::string& name, const std::vector<std::string>& sets) {
  Json stage;
  stage["loss"] = Json::object();
  for (const std::string& a : sets) {
    size_t eq = a.find('=');
    if (eq == std::string::npos) throw UsageError("--set expects loss.key=value, got '" + a + "'");
    std::string key = a.substr(0, eq), text = a.substr(eq + 1);
    const ConfigKey* k = nullptr;
    for (auto& c : stage_schema())
      if (c.path == key) k = &c;
    if (key.rfind("loss.", 0) != 0 || key == "loss.name" || !k)
      throw UsageError("--set: unknown loss key '" + key + "' (keys are loss.<key>, see docs/losses.md)");
    Json v;
    try {
      v = Json::parse(text);
    } catch (...) {
      v = text;
    }
    bool ok = (k->type == "number" && v.is_number()) || (k->type == "int" && v.is_number_integer()) ||
              (k->type == "bool" && v.is_boolean()) || (k->type == "string" && v.is_string()) ||
              (k->type == "numbers" && v.is_array());
    if (!ok) throw UsageError("--set " + key + ": expects " + k->type + ", got '" + text + "'");
    if ((k->type == "number" || k->type == "int") && (k->lo != 0 || k->hi != 0) &&
        (v.get<double>() < k->lo || v.get<double>() > k->hi))
      throw UsageError("--set " + key + ": " + text + " is outside [" + std::to_string(k->lo) + ", " +
                       std::to_string(k->hi) + "]");
    if (k->type == "string" && !k->choices.empty() &&
        std::find(k->choices.begin(), k->choices.end(), v.get<std::string>()) == k->choices.end())
      throw UsageError("--set " + key + ": '" + text + "' is not one of the allowed values");
    stage["loss"][key.substr(5)] = v;
  }
  LossConfig cfg = loss_config(stage);
  std::vector<std::string> reads = loss_keys(name, cfg);
  for (auto& [key, v] : stage["loss"].items())
    if (std::find(reads.begin(), reads.end(), key) == reads.end()) {
      std::string r;
      for (auto& x : reads) r += (r.empty() ? "" : ", ") + x;
      throw UsageError("--set loss." + key + ": the loss " + name + " does not read it (it reads " +
                       (r.empty() ? "no keys" : r) + ")");
    }
  return cfg;
}

static std::string row(const std::vector<double>& v) {
  std::string s;
  char buf[32];
  for (double x : v) {
    std::snprintf(buf, sizeof buf, "%12.6f", x);
    s += buf;
  }
  return s;
}

static void print_inspection(const LossInspection& r, const std::vector<int64_t>& counts, int target) {
  std::string cls;
  char buf[32];
  for (size_t j = 0; j < counts.size(); ++j) {
    std::snprintf(buf, sizeof buf, "%11s%s", ("c" + std::to_string(j)).c_str(), (int)j == target ? "*" : " ");
    cls += buf;
  }
  std::string n;
  for (int64_t c : counts) {
    std::snprintf(buf, sizeof buf, "%12lld", (long long)c);
    n += buf;
  }
  std::cout << "loss " << r.loss << ", target class " << target << " (*)\n";
  if (!r.randomness.empty()) std::cout << "random: " << r.randomness << "\n";
  std::cout << "class       " << cls << "\n";
  std::cout << "count       " << n << "\n";
  std::cout << "z (input)   " << row(r.logits) << "\n";
  if (!r.noise.empty()) std::cout << "|eps|       " << row(r.noise) << "\n";
  std::cout << "adjusted    " << (r.adjusted.empty() ? std::string("  -") : row(r.adjusted)) << "\n";
  if (!r.probs.empty()) std::cout << "softmax     " << row(r.probs) << "\n";
  std::cout << "dL/dz       " << row(r.grad) << "\n";
  std::printf("loss value  %12.6f\n", r.value);
  std::cout << "adjusted = " << r.adjusted_formula << "\n";
  if (!r.weights_note.empty()) std::cout << "weights: " << r.weights_note << "\n";
}

// The sweep's curves on one plot (PNG written to a temp name, then renamed).
static void plot_sweep(const GapSweep& s, const std::string& path) {
  using namespace plot;
  Canvas c(760, 440);
  const Color cols[] = {colors::black, colors::red, colors::blue, colors::green, colors::purple};
  std::vector<LegendEntry> legend;
  for (size_t k = 0; k < s.names.size(); ++k) legend.push_back({s.names[k], cols[k % 5]});
  // (the cosine losses: the logit the softmax sees is s x cosine, and their gradient is per unit of it)
  AxisSpec x{s.gaps.front(), s.gaps.back(), false, false, "logit gap z_y - z_j (ldam, gcl: s 30 x the cosine gap)"};
  AxisSpec y{0, 1.05, false, false, "|dL/dz_y|"};
  Axes a = draw_axes(c, {0, 0, c.w, c.h}, x, y, "target-class gradient vs logit gap (rarest class as target)", legend);
  for (size_t k = 0; k < s.names.size(); ++k) plot_line(a, s.gaps, s.grads[k], cols[k % 5], 2);
  c.save_png(path);  // (atomic)
}

int cmd_inspect_loss(int argc, char** argv) {
  std::string name, out;
  std::vector<int64_t> counts;
  std::vector<double> logits, noise;
  int target = 0, steps = 61, draws = 200;
  uint64_t seed = 0;
  double gap_min = -5, gap_max = 20;
  bool sweep = false;
  LossConfig cfg;
  try {
    Args a(argc, argv, {"loss", "counts", "logits", "target", "seed", "noise", "out", "gap-min", "gap-max", "steps", "draws"},
           {"help", "sweep-gap"}, {"set"});
    if (a.has("help")) {
      std::cout << kInspectUsage;
      return 0;
    }
    if (!a.has("counts")) throw UsageError("--counts is required");
    counts = parse_counts(a);
    seed = (uint64_t)a.integer("seed", 0, 0, (1ll << 62));
    sweep = a.has("sweep-gap");
    if (sweep) {
      for (const char* f : {"loss", "logits", "target", "noise", "set"})
        if (a.has(f) || !a.list(f).empty()) throw UsageError(std::string("--") + f + " does not apply to --sweep-gap");
      out = a.str("out", ".");
      gap_min = a.number("gap-min", gap_min, -1000, 1000);
      gap_max = a.number("gap-max", gap_max, -1000, 1000);
      steps = (int)a.integer("steps", steps, 2, 100000);
      draws = (int)a.integer("draws", draws, 1, 100000);
      if (gap_max <= gap_min) {
        std::ostringstream m;
        m << "--gap-max (" << gap_max << ") must be above --gap-min (" << gap_min << ")";
        throw UsageError(m.str());
      }
      if (counts.size() < 2) throw UsageError("--sweep-gap needs at least 2 classes in --counts");
    } else {
      for (const char* f : {"out", "gap-min", "gap-max", "steps", "draws"})
        if (a.has(f)) throw UsageError(std::string("--") + f + " is for --sweep-gap only");
      if (!a.has("loss") || !a.has("logits") || !a.has("target"))
        throw UsageError("--loss, --logits and --target are required (or --sweep-gap)");
      name = a.str("loss", "");
      try {
        loss_keys(name, LossConfig());  // an unknown name: its error lists the losses
      } catch (const std::runtime_error& e) {
        throw UsageError(std::string("--loss: ") + e.what());
      }
      logits = a.numbers("logits");
      if (logits.size() != counts.size())
        throw UsageError("--logits has " + std::to_string(logits.size()) + " values but --counts has " +
                         std::to_string(counts.size()));
      target = (int)a.integer("target", 0, 0, (long long)counts.size() - 1);
      if (a.has("noise")) noise = a.numbers("noise");
      cfg = loss_config_from_sets(name, a.list("set"));
    }
  } catch (const UsageError& e) {
    std::cerr << "tailor inspect-loss: " << e.what() << "\n" << kInspectUsage;
    return 2;
  }
  if (!sweep) {
    print_inspection(inspect_loss(name, cfg, counts, logits, target, seed, noise), counts, target);
    return 0;
  }
  GapSweep s = sweep_target_gap(counts, gap_min, gap_max, steps, draws, seed);
  std::filesystem::create_directories(out);
  const std::string csv = (std::filesystem::path(out) / "gap_sweep.csv").string();
  const std::string png = (std::filesystem::path(out) / "gap_sweep.png").string();
  write_text_atomic(csv, gap_sweep_csv(s));
  plot_sweep(s, png);
  for (auto& d : s.descriptions) std::cout << d << "\n";
  std::cout << "gap      ";
  for (auto& n : s.names) std::printf("%18s", n.c_str());
  std::cout << "\n";
  for (size_t i = 0; i < s.gaps.size(); i += std::max<size_t>(1, s.gaps.size() / 10)) {
    std::printf("%7.2f  ", s.gaps[i]);
    for (auto& col : s.grads) std::printf("%18.6f", col[i]);
    std::cout << "\n";
  }
  std::cout << "written: " << csv << "\nwritten: " << png << "\n";
  return 0;
}

}  // namespace tailor
