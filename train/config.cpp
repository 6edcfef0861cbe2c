#include "train/config.h"
#include "train/stage_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <utility>

#include "losses/loss.h"
#include "train/method.h"

namespace tailor {

namespace {

[[noreturn]] void config_fail(const std::string& msg, std::vector<std::string> keys = {}) {
  throw ConfigError(msg, std::move(keys));
}

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> out;
  std::stringstream ss(p);
  std::string part;
  while (std::getline(ss, part, '.')) out.push_back(part);
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : sep) + (x.empty() ? std::string("\"\"") : x);
  return s;
}

// A bound or value as a user wrote it: whole numbers in full (1048576, not 1.04858e+06), others to 10 digits.
std::string number_text(double x) {
  char buf[40];
  if (x == std::floor(x) && std::fabs(x) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", x);
  else std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

std::string range_text(const ConfigKey& k) {
  if (!k.choices.empty()) return join(k.choices, " | ");
  if (k.lo == 0 && k.hi == 0) return "";
  return "[" + number_text(k.lo) + ", " + number_text(k.hi) + "]";
}

// A value in a message: its JSON, cut to 80 characters.
std::string cut(const std::string& s) { return s.size() <= 80 ? s : s.substr(0, 77) + "..."; }
std::string shown(const Json& v) { return cut(v.dump()); }

// Checks one value against its key; `where` prefixes the message, `path` is the full key path.
void check_value(const ConfigKey& k, const std::string& path, const Json& v, const std::string& where) {
  auto bad = [&](const std::string& why) { config_fail(where + ": " + path + ": " + why); };
  // an integer beyond int64 (JSON keeps it unsigned) would wrap to a negative value when read
  auto check_int64 = [&](const Json& x) {
    if (x.is_number_unsigned() && x.get<uint64_t>() > (uint64_t)std::numeric_limits<int64_t>::max())
      bad("value " + x.dump() + " out of range " + range_text(k));
  };
  auto check_range = [&](double x) {
    if (!std::isfinite(x)) bad("must be finite");
    if (!(k.lo == 0 && k.hi == 0) && (x < k.lo || x > k.hi)) {
      // the LDAM-DRW / GCL code's imb_factor is the inverse (0.01 for ratio 100)
      const bool imb_factor = path == "data.imbalance.ratio" && x > 0 && x < 1;
      bad("value " + number_text(x) + " out of range " + range_text(k) +
          (imb_factor ? ": this looks like imb_factor = 1 / ratio; the ratio is n_max / n_min, here " +
                            number_text(1 / x)
                      : ""));
    }
  };
  if (k.type == "int") {
    if (!v.is_number_integer()) bad("expects an integer, got " + shown(v));
    check_int64(v);
    check_range((double)v.get<int64_t>());
  } else if (k.type == "number") {
    if (!v.is_number()) bad("expects a number, got " + shown(v));
    check_range(v.get<double>());
  } else if (k.type == "bool") {
    if (!v.is_boolean()) bad("expects true or false, got " + shown(v));
  } else if (k.type == "string") {
    if (!v.is_string()) bad("expects a string, got " + shown(v));
    if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(), v.get<std::string>()) == k.choices.end())
      bad("'" + v.get<std::string>() + "' is not one of " + range_text(k));
  } else if (k.type == "strings") {
    if (!v.is_array()) bad("expects a list of strings, got " + shown(v));
    for (auto& x : v)
      if (!x.is_string()) bad("expects a list of strings, got " + shown(v));
  } else {  // ints | numbers
    if (!v.is_array()) bad("expects a list, got " + shown(v));
    for (auto& x : v) {
      if (k.type == "ints" ? !x.is_number_integer() : !x.is_number())
        bad("expects a list of " + std::string(k.type == "ints" ? "integers" : "numbers") + ", got " + shown(v));
      if (k.type == "ints") check_int64(x);
      check_range(x.get<double>());
    }
  }
}

void set_path(Json& doc, const std::string& path, const Json& v) {
  Json* node = &doc;
  for (auto& part : split_path(path)) node = &(*node)[part];
  *node = v;
}

const Json* get_path(const Json& doc, const std::string& path) {
  const Json* node = &doc;
  for (auto& part : split_path(path)) {
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
  }
  return node;
}

// The leaf paths of an object ("loss.s", ...).
void leaves(const Json& j, const std::string& prefix, std::vector<std::string>* out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string p = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it.value().is_object()) leaves(it.value(), p, out);
    else out->push_back(p);
  }
}

const ConfigKey* find_in(const std::vector<ConfigKey>& keys, const std::string& path) {
  for (auto& k : keys)
    if (k.path == path) return &k;
  return nullptr;
}

bool is_section(const std::string& path) {
  const int n = stage_number(path.substr(0, path.find('.')));
  const std::string rel = n > 0 ? (path.find('.') == std::string::npos ? "" : path.substr(path.find('.') + 1)) : path;
  if (n > 0 && rel.empty()) return true;
  for (auto& k : n > 0 ? stage_schema() : config_schema())
    if (k.path.rfind(rel + ".", 0) == 0) return true;
  return false;
}

void merge_rec(Json& doc, const Json& overlay, const std::string& prefix, const std::string& origin) {
  if (!overlay.is_object()) config_fail(origin + ": the configuration must be a JSON object");
  for (auto it = overlay.begin(); it != overlay.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    const ConfigKey* k = find_config_key(path);
    if (!k) {
      if (is_section(path)) {
        if (!it.value().is_object())
          config_fail(origin + ": " + path + ": expects an object (a section), got " + shown(it.value()));
        merge_rec(doc, it.value(), path, origin);
        continue;
      }
      std::string hint = did_you_mean(path);
      config_fail(origin + ": unknown key '" + path + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
    Json v = it.value();
    if (k->type == "number" && v.is_number_integer()) v = v.get<double>();  // 1 is a fine number
    check_value(*k, path, v, origin);
    set_path(doc, path, v);
  }
}

// ---- one stage: which keys its method reads, and their values

bool in(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

const std::vector<std::string> kTrainingSections = {"sampler.", "optim.", "schedule."};
const std::vector<std::string> kTrainingKeys = {"epochs", "batch_size", "max_steps_per_epoch", "mixup_alpha", "augment"};

struct StageResolver {
  const Json& user;  // the stage section as given (maybe empty)
  int k;
  const MethodSpec& m;
  std::string where;  // "stage2"

  // user value > the method's default > the schema's default
  Json value(const ConfigKey& key) const {
    if (const Json* v = get_path(user, key.path)) return *v;
    if (const Json* d = get_path(m.defaults, key.path)) {
      const bool loss_key = key.path.rfind("loss.", 0) == 0;
      const Json* dname = get_path(m.defaults, "loss.name");
      const Json* uname = get_path(user, "loss.name");
      if (!loss_key || !dname || !uname || *uname == *dname) return *d;
    }
    return key.def;
  }
  std::string str(const std::string& path) const { return value(*find_in(stage_schema(), path)).get<std::string>(); }

  // "" when the stage reads `rel`, else why not.
  std::string why_not(const std::string& rel) const {
    const bool training = in(kTrainingKeys, rel) ||
                          std::any_of(kTrainingSections.begin(), kTrainingSections.end(),
                                      [&](const std::string& s) { return rel.rfind(s, 0) == 0; });
    if (rel == "method") return "";
    if (rel == "load") return k >= 2 ? "" : "the first stage starts from the built model (use model.init_from)";
    if (training) {
      if (!m.trains) return "method " + m.name + " trains nothing (it runs once on the previous stage's model)";
      if (m.chooses_batches && rel.rfind("sampler.", 0) == 0)
        return "method " + m.name + " draws its own batches (a learned sampler)";
      const std::string sampler = str("sampler.name"), sched = str("schedule.kind");
      auto only = [&](const char* what, const std::string& is) {
        return std::string("read by the ") + what + " only (this stage's is " + is + ")";
      };
      if (rel == "sampler.samples_per_class" && sampler != "class_aware") return only("class_aware sampler", sampler);
      if (rel == "sampler.beta" && sampler != "effective_number") return only("effective_number sampler", sampler);
      if (rel.rfind("sampler.cben_", 0) == 0 && sampler != "cben") return only("cben sampler", sampler);
      if ((rel == "schedule.milestones" || rel == "schedule.gamma" || rel == "schedule.factors") && sched != "multistep")
        return only("multistep schedule", sched);
      if (rel == "schedule.min_lr" && sched != "cosine") return only("cosine schedule", sched);
      if (rel == "schedule.per_step" && sched != "cosine" &&
          value(*find_in(stage_schema(), "schedule.warmup_epochs")).get<int>() == 0)
        return "read by the cosine schedule or a warm-up only (this stage's schedule is " + sched + ", no warm-up)";
      return "";
    }
    if (rel.rfind("loss.", 0) == 0) {
      if (!m.takes_loss) return "method " + m.name + " takes no loss";
      if (rel == "loss.name") return "";
      LossConfig c;
      c.train_rule = str("loss.train_rule");
      c.train_cls = value(*find_in(stage_schema(), "loss.train_cls")).get<bool>();
      c.shape = str("loss.shape");
      const std::string name = str("loss.name");
      const std::vector<std::string> reads = loss_keys(name, c);
      if (in(reads, rel.substr(5))) return "";
      return "the loss " + name + " does not read it" + (reads.empty() ? "" : " (it reads " + join(reads) + ")");
    }
    if (rel == "bn_mode")
      return m.frozen_backbone ? "" : "method " + m.name + " does not freeze the backbone (bn_mode is for those that do)";
    for (auto& key : m.keys)
      if (key.path == rel) return "";
    for (auto& other : method_specs())
      for (auto& key : other.keys)
        if (key.path == rel) return "a key of method " + other.name + ", not of " + m.name;
    return "not read by method " + m.name;
  }

  Json resolve() const {
    std::vector<std::string> given;
    leaves(user, "", &given);
    for (auto& rel : given) {
      const std::string why = why_not(rel);
      if (why.empty()) continue;
      const auto dot = rel.find('.');
      const std::string section = where + (dot == std::string::npos ? "" : "." + rel.substr(0, dot));
      config_fail(where + "." + rel + ": " + why + "; to change a " + (dot == std::string::npos ? "stage" : "section") +
                      " on the command line, replace it whole: --set '" + section + "={...}'",
                  {where + "." + rel});
    }
    Json out = Json::object();
    for (auto& key : stage_schema())
      if (why_not(key.path).empty()) set_path(out, key.path, key.path == "method" ? Json(m.name) : value(key));
    return out;
  }
};

Json resolve_stage(const Json& user, int k) {
  const std::string where = "stage" + std::to_string(k);
  std::string method = k == 1 ? "joint" : "";
  if (const Json* v = get_path(user, "method")) method = v->get<std::string>();
  if (method.empty())
    config_fail(where + ": no method (a stage after the first names one: stage" + std::to_string(k) +
                    ".method = crt, lws, tau_norm, ...)",
                {where});
  if (method == "none") return nullptr;  // (its other keys may come from the file that --set removes it from)
  return StageResolver{user, k, method_spec(method), where}.resolve();
}

// "" when the run reads the key `path` outside the stages, else why not: the thresholds belong to the
// counts rule of the shot groups (data/shots.h), the cosine scale to the cosine head.
std::string why_not_read(const Json& doc, const std::string& path) {
  const bool cosine = path == "model.cosine_scale", camc = path.rfind("model.camc_", 0) == 0,
             linear = path == "model.head_bias_prior";
  if (cosine || camc || linear) {
    const Json* h = get_path(doc, "model.head");
    const std::string head = (h ? *h : find_in(config_schema(), "model.head")->def).get<std::string>(),
                      reader = cosine ? "cosine" : camc ? "camc" : "linear";
    return head == reader ? "" : "read by model.head " + reader + " only (this run's is " + head + ")";
  }
  if (path != "eval.many_above" && path != "eval.few_below") return "";
  const Json* g = get_path(doc, "eval.groups");
  const std::string groups = (g ? *g : find_in(config_schema(), "eval.groups")->def).get<std::string>();
  return groups == "counts" ? "" : "read by eval.groups counts only (this run's is " + groups + ")";
}

void validate(const Json& cfg) {
  for (int k = 1; cfg.contains("stage" + std::to_string(k)); ++k) {
    const std::string st = "stage" + std::to_string(k);
    const Json& s = cfg.at(st);
    const MethodSpec& m = method_spec(s.at("method"));
    if (k == 1 && !m.first_stage && cfg.at("model").at("init_from").get<std::string>().empty())
      config_fail(st + ".method " + m.name + " starts from trained weights: give model.init_from (a checkpoint), or "
                  "put a training stage before it",
                  {st + ".method", "model.init_from"});
    if (!m.trains) continue;
    if (s.contains("sampler") && s["sampler"].value("name", "") == "cben") {
      const double a = s["sampler"].at("cben_beta_a"), b = s["sampler"].at("cben_beta_b");
      if (a + b >= 1)  // the rarest class's beta = a + b: its effective number (1 - beta^n) / (1 - beta) needs < 1
        config_fail(st + ".sampler.cben_beta_a + cben_beta_b = " + std::to_string(a + b) + ": the rarest class's "
                    "beta would be 1 or more (its effective number (1 - beta^n) / (1 - beta) needs beta < 1); keep "
                    "the sum below 1 (GCL: 0.9999 + 1e-5)",
                    {st + ".sampler.cben_beta_a", st + ".sampler.cben_beta_b"});
    }
    if (s.contains("loss") && s["loss"].contains("weight")) {
      const Json& w = s["loss"]["weight"];
      for (size_t i = 0; i < w.size(); ++i)
        if (!(w[i].get<double>() > 0))
          config_fail(st + ".loss.weight[" + std::to_string(i) + "] = " + w[i].dump() + ": every class needs a weight "
                      "above 0 (the loss is the weighted mean sum w_y l / sum w_y: a batch of weight-0 classes has "
                      "none)",
                      {st + ".loss.weight"});
    }
    const Json& o = s.at("optim");
    if (o.at("nesterov").get<bool>() && (o.at("momentum").get<double>() <= 0 || o.at("dampening").get<double>() != 0))
      config_fail(st + ".optim.nesterov true needs a momentum above 0 and dampening 0 (torch.optim.SGD's rule), got "
                  "momentum " + o.at("momentum").dump() + ", dampening " + o.at("dampening").dump(),
                  {st + ".optim.nesterov", st + ".optim.momentum", st + ".optim.dampening"});
    const float momentum = o.at("momentum").get<float>(), dampening = o.at("dampening").get<float>();  // as SGD reads
    if (momentum >= 1)  // buf = m buf + g: at m = 1 no gradient is ever forgotten (the step is their running sum)
      config_fail(st + ".optim.momentum " + o.at("momentum").dump() + " must be below 1 (as float32; at 1 the "
                  "momentum buffer never forgets a gradient; 0.9 is the usual)",
                  {st + ".optim.momentum"});
    if (momentum == 0 && dampening != 0)
      config_fail(st + ".optim.dampening: read with a momentum above 0 only (this stage's momentum is 0)",
                  {st + ".optim.dampening", st + ".optim.momentum"});
    if (momentum > 0 && dampening >= 1)  // buf = m buf + (1 - d) g: at d = 1 no gradient after the first enters
      config_fail(st + ".optim.dampening " + o.at("dampening").dump() + " lets no gradient after the first step into "
                  "the momentum buffer (as float32 it is 1): below 1",
                  {st + ".optim.dampening"});
    if (s.at("max_steps_per_epoch").get<int64_t>() == 0)
      config_fail(st + ".max_steps_per_epoch 0 would train no step: -1 (the whole epoch) or a cap of 1 or more",
                  {st + ".max_steps_per_epoch"});
    const int epochs = s.at("epochs"), warmup = s.at("schedule").at("warmup_epochs");
    if (warmup > epochs)
      config_fail(st + ".schedule.warmup_epochs (" + std::to_string(warmup) + ") exceeds " + st + ".epochs (" +
                  std::to_string(epochs) + ")",
                  {st + ".schedule.warmup_epochs", st + ".epochs"});
    if (warmup == 0 && s.at("schedule").at("warmup_from").get<double>() > 0)
      config_fail(st + ".schedule.warmup_from: read with schedule.warmup_epochs > 0 only (this stage warms up for 0)",
                  {st + ".schedule.warmup_from", st + ".schedule.warmup_epochs"});
    if (s.at("schedule").at("kind") != "multistep") continue;
    const Json& ms = s.at("schedule").at("milestones");
    for (size_t i = 1; i < ms.size(); ++i)
      if (ms[i].get<int>() <= ms[i - 1].get<int>())
        config_fail(st + ".schedule.milestones must be strictly ascending, got " + ms.dump(), {st + ".schedule.milestones"});
    const Json& fs = s.at("schedule").at("factors");
    if (!fs.empty() && fs.size() != ms.size())
      config_fail(st + ".schedule.factors needs one factor per milestone (" + std::to_string(ms.size()) + "), got " +
                  std::to_string(fs.size()),
                  {st + ".schedule.factors", st + ".schedule.milestones"});
    if (!fs.empty() && s.at("schedule").at("gamma") != find_in(stage_schema(), "schedule.gamma")->def)
      config_fail(st + ".schedule.gamma: not read when schedule.factors are given (they are the multipliers)",
                  {st + ".schedule.gamma", st + ".schedule.factors"});
  }
  check_stage_heads(cfg);  // the heads the stages leave each other (load files: when the run starts)
  if (cfg.value("cuda_graphs", false) && cfg.at("device") != "cuda")
    config_fail("cuda_graphs true: CUDA graphs need device cuda, got " + cfg.at("device").get<std::string>(),
                {"cuda_graphs", "device"});
  if (cfg.at("data").at("test_per_class").get<int64_t>() == 0)
    config_fail("data.test_per_class 0 would evaluate on no image: -1 (all) or 1 or more", {"data.test_per_class"});
  if (cfg.at("data").at("imbalance").contains("n_max") && cfg.at("data").at("imbalance").at("n_max") == 0)
    config_fail("data.imbalance.n_max 0 keeps no image: -1 (the data's own per-class count) or 1 or more",
                {"data.imbalance.n_max"});
  const std::string ds = cfg.at("data").at("dataset");
  if ((ds == "list" || ds == "inat") && cfg.at("data").at("train_list").get<std::string>().empty())
    config_fail("data.train_list is required for data.dataset " + ds, {"data.train_list", "data.dataset"});
  if ((ds == "list" || ds == "inat") && cfg.at("data").at("test_list").get<std::string>().empty() &&
      cfg.at("data").at("val_list").get<std::string>().empty())
    config_fail("data.dataset " + ds + " needs data.test_list or data.val_list",
                {"data.dataset", "data.test_list", "data.val_list"});
  if (ds != "fashion_mnist" && cfg.at("data").at("root").get<std::string>().empty())
    config_fail("data.root is required for data.dataset " + ds, {"data.root", "data.dataset"});
  if (ds != "cifar10" && ds != "cifar100" && cfg.at("data").at("format") != "auto")
    config_fail("data.format: read by data.dataset cifar10 / cifar100 only (this run's is " + ds + ")",
                {"data.format", "data.dataset"});
  if (cfg.at("guard").at("nonfinite") == "stop" && cfg.at("guard").at("max_skips").get<int64_t>() != 10)
    config_fail("guard.max_skips: read under guard.nonfinite skip only (this run's stops at the first non-finite step)",
                {"guard.max_skips", "guard.nonfinite"});
  const bool lists = ds == "list" || ds == "inat";
  for (const char* key : {"train_list", "val_list", "test_list"})
    if (!lists && !cfg.at("data").at(key).get<std::string>().empty())
      config_fail(std::string("data.") + key + ": read by data.dataset list / inat only (this run's is " + ds + ")",
                  {std::string("data.") + key, "data.dataset"});
  if (cfg.at("eval").at("select") == "val") {
    if (lists && cfg.at("data").at("val_list").get<std::string>().empty())
      config_fail("eval.select val needs data.val_list (a validation split)", {"eval.select", "data.val_list"});
    if (!lists && ds != "image_folder")
      config_fail("eval.select val: data.dataset " + ds + " has no validation split (test or last instead)",
                  {"eval.select", "data.dataset"});
  }  // an image folder's: DATA/val/, checked when the data is read
  const std::string name = cfg.at("name");
  if (name == "." || name == ".." || name.find_first_of("/\\\t\n\r") != std::string::npos ||
      name.size() > 200)
    config_fail("name " + shown(Json(name)) + ": a run name is one folder name inside runs_dir (no '/', '\\', tab "
                "or line break, not '.' or '..', at most 200 bytes); put the parent folder in runs_dir",
                {"name"});
  const Json& ev = cfg.at("eval");
  if (ev.contains("few_below") && ev.at("few_below").get<int64_t>() > ev.at("many_above").get<int64_t>() + 1)
    config_fail("eval.few_below (" + ev.at("few_below").dump() + ") must be <= eval.many_above + 1 (" +
                std::to_string(ev.at("many_above").get<int64_t>() + 1) + "): a class would be both many and few",
                {"eval.few_below", "eval.many_above"});
}

}  // namespace

const ConfigKey* find_config_key(const std::string& path) {
  const auto dot = path.find('.');
  if (stage_number(path.substr(0, dot)) > 0)
    return dot == std::string::npos ? nullptr : find_in(stage_schema(), path.substr(dot + 1));
  return find_in(config_schema(), path);
}

void merge_config(Json& doc, const Json& overlay, const std::string& origin) {
  if (doc.is_null()) doc = Json::object();
  merge_rec(doc, overlay, "", origin);
}

void apply_set(Json& doc, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    config_fail("--set " + assignment + ": expected key.path=value (e.g. --set stage1.optim.lr=0.05)");
  std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  const ConfigKey* k = find_config_key(path);
  if (!k && is_section(path)) {  // a whole section replaced: --set 'stage1.loss={"name": "ce"}'
    Json v;
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '{') {
      v = parse_config_text(text, "--set " + path);  // an object's syntax error: named with its column
    } else {
      try {
        check_config_text(text, "--set " + path);
        v = Json::parse(text);
      } catch (const Json::exception&) {
        config_fail("--set " + path + ": a section takes a JSON object, got '" + cut(text) + "'");
      }
    }
    if (!v.is_object()) config_fail("--set " + path + ": a section takes a JSON object, got " + shown(v));
    if (doc.is_null()) doc = Json::object();
    std::vector<std::string> parts = split_path(path);
    Json* parent = &doc;
    for (size_t i = 0; i + 1 < parts.size(); ++i) parent = &(*parent)[parts[i]];
    if (parent->is_object()) parent->erase(parts.back());
    parse_config_text(text, "--set " + path);  // (a key given twice in it: refused, as in a file)
    merge_rec(doc, v, path, "--set");
    if (!parent->contains(parts.back())) (*parent)[parts.back()] = Json::object();  // {} stays an empty section
    return;
  }
  if (!k) {
    std::string hint = did_you_mean(path);
    config_fail("--set: unknown key '" + path + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  Json v;
  if (k->type == "string") {
    v = text;  // strings are taken literally; in double quotes, a JSON string ("a\"b": a"b), else the text inside
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
      const Json j = Json::parse(text, nullptr, false);
      v = j.is_string() ? j : Json(text.substr(1, text.size() - 2));
    }
  } else if (k->type == "strings" && (text.empty() || text.front() != '[')) {
    v = Json::array();  // a,b,c (nothing: the empty list)
    for (size_t i = 0; !text.empty() && i <= text.size();) {
      const size_t j = std::min(text.find(',', i), text.size());
      if (j == i)
        config_fail("--set " + path + ": an empty item in '" + cut(text) + "' (items are separated by commas; " +
                    "the empty list is '" + path + "=')");
      v.push_back(text.substr(i, j - i));
      i = j + 1;
    }
  } else {
    try {
      check_config_text(text, "--set " + path);
      v = Json::parse(text);
    } catch (const Json::exception&) {
      config_fail("--set " + path + ": cannot parse '" + cut(text) + "' as " + k->type);
    }
  }
  Json overlay = Json::object();
  set_path(overlay, path, v);
  merge_config(doc, overlay, "--set");
}

Json expand_config(const Json& doc) {
  Json out = Json::object();
  for (auto& k : config_schema()) {
    const Json* v = get_path(doc, k.path);
    const std::string why = why_not_read(doc, k.path);
    if (why.empty()) set_path(out, k.path, v ? *v : k.def);
    else if (v)
      config_fail(k.path + ": " + why + "; to change a section on the command line, replace it whole: --set '" +
                      k.path.substr(0, k.path.find('.')) + "={...}'",
                  {k.path});
  }
  // a dataset that is long-tailed already keeps its own counts unless a subset is asked for
  Json& profile = out["data"]["imbalance"]["profile"];
  if (profile == "auto") {
    const std::string ds = out["data"]["dataset"];
    const bool balanced = ds == "fashion_mnist" || ds == "mnist" || ds == "cifar10" || ds == "cifar100";
    profile = balanced ? "exp" : "none";
  }
  int last = 0;  // stage sections must be stage1..stageN without a gap
  for (auto it = doc.begin(); it != doc.end(); ++it) last = std::max(last, stage_number(it.key()));
  Json stages = Json::object();
  bool ended = false;  // a stage with method none ends the run's stages
  for (int k = 1; k <= std::max(1, last); ++k) {
    const std::string name = "stage" + std::to_string(k);
    const Json* user = get_path(doc, name);
    if (!user && k > 1) config_fail(name + " is missing: stages are numbered stage1, stage2, ... without a gap");
    Json st = resolve_stage(user ? *user : Json::object(), k);
    if (st.is_null()) {
      ended = true;
      continue;
    }
    if (ended)
      config_fail(name + ": an earlier stage has method none (no such stage), so there is no " + name, {name});
    stages[name] = st;
  }
  // the stages go after "model", where a reader looks for them
  Json ordered = Json::object();
  for (auto it = out.begin(); it != out.end(); ++it) {
    ordered[it.key()] = it.value();
    if (it.key() == "model")
      for (auto s = stages.begin(); s != stages.end(); ++s) ordered[s.key()] = s.value();
  }
  validate(ordered);
  return ordered;
}

Json resolve_config(const std::string& file, const std::vector<std::string>& sets, bool use_embedded) {
  // (the file read once: a pipe reads once)
  return resolve_config_doc(file.empty() ? Json::object() : load_config_file(file), file, sets, use_embedded);
}

Json resolve_config_doc(const Json& from_file, const std::string& file, const std::vector<std::string>& sets,
                        bool use_embedded) {
  Json doc = Json::object();
  if (file.empty() && use_embedded)
    merge_config(doc, parse_config_text(embedded_default_overrides(), "<embedded default>"), "<embedded default>");
  if (!file.empty()) merge_config(doc, from_file, file);
  for (auto& s : sets) apply_set(doc, s);
  if (doc.value("name", std::string()).empty()) {  // "" (in the file or by --set name=): the file's stem
    const std::string base = file.substr(file.find_last_of('/') + 1), stem = base.substr(0, base.rfind('.'));
    if (!file.empty() && (stem.empty() || stem == "." || stem == ".."))
      config_fail(file + ": the run's name comes from the config file's name, and '" + base + "' gives none: "
                  "set \"name\" in the file or --set name=NAME");
    doc["name"] = file.empty() ? "default" : stem;
  }
  try {
    return expand_config(doc);
  } catch (const ConfigError& e) {  // about keys the file gave, none a --set touched: the file's message
    auto by_set = [&](const std::string& path) {
      for (auto& set : sets) {
        const std::string key = set.substr(0, set.find('='));
        if (path == key || path.rfind(key + ".", 0) == 0) return true;  // (the --set's, or its section's)
      }
      return false;
    };
    if (file.empty() || e.keys.empty() || std::any_of(e.keys.begin(), e.keys.end(), by_set) ||
        std::none_of(e.keys.begin(), e.keys.end(), [&](const std::string& k) { return get_path(from_file, k); }))
      throw;
    config_fail(file + ": " + e.what(), e.keys);
  }
}

}  // namespace tailor
