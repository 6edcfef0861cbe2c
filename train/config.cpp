#include "train/config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace tailor {

namespace {

[[noreturn]] void config_fail(const std::string& msg) { throw ConfigError(msg); }

void add(std::vector<ConfigKey>& s, const std::string& path, const std::string& type, Json def, double lo, double hi,
         std::vector<std::string> choices, const std::string& help) {
  s.push_back(ConfigKey{path, type, std::move(def), lo, hi, std::move(choices), help});
}

// The keys of one stage's loss, sampler, optimiser and schedule (the same for stage 1 and stage 2).
void add_stage(std::vector<ConfigKey>& s, const std::string& p, bool stage2) {
  std::vector<std::string> losses = loss_names(), samplers = {"instance", "class_aware", "sqrt", "progressive",
                                                               "effective_number", "balanced_rs", "cben"};
  if (stage2) {
    losses.insert(losses.begin(), "");
    samplers.insert(samplers.begin(), "");
  }
  add(s, p + "epochs", "int", stage2 ? 10 : 200, stage2 ? 0 : 1, 100000, {}, "training epochs of this stage");
  add(s, p + "batch_size", "int", 128, 1, 1 << 20, {}, "training batch size");
  add(s, p + "max_steps_per_epoch", "int", -1, -1, 1e12, {}, "cap on steps per epoch (-1: the whole epoch)");
  add(s, p + "mixup_alpha", "number", 0.0, 0, 1000, {}, "mixup Beta(alpha, alpha); 0 = off");
  add(s, p + "loss.name", "string", stage2 ? "" : "ce", 0, 0, losses,
      stage2 ? "stage-2 loss; \"\" = ce (crt, lws) or gcl stage-2 form (gcl_retrain)" : "loss (losses/)");
  add(s, p + "loss.weight", "numbers", Json::array(), 0, 1e9, {}, "per-class weights inside the softmax CE");
  add(s, p + "loss.train_rule", "string", "None", 0, 0, {"None", "Reweight", "DRW"}, "LDAM-DRW class re-weighting");
  add(s, p + "loss.drw_epoch", "int", 160, 0, 1e9, {}, "DRW: first re-weighted epoch (0-based)");
  add(s, p + "loss.beta", "number", 0.9999, 0, 0.999999999, {}, "effective-number beta (cb_*, Reweight, DRW)");
  add(s, p + "loss.gamma", "number", 1.0, 0, 100, {}, "focal exponent");
  add(s, p + "loss.detach_p", "bool", false, 0, 0, {}, "focal: stop the gradient through (1-p)^gamma");
  add(s, p + "loss.max_m", "number", 0.5, 0, 10, {}, "ldam: margin of the rarest class");
  add(s, p + "loss.s", "number", 30.0, 1e-6, 1e4, {}, "ldam / gcl: logit scale");
  add(s, p + "loss.tau", "number", 1.0, 0, 100, {}, "logit_adjust: prior exponent");
  add(s, p + "loss.m", "number", 0.5, 0, 10, {}, "gcl: additive margin on the target cosine");
  add(s, p + "loss.noise_mul", "number", 1.0, 0, 100, {}, "gcl: amplitude nu of the Gaussian cloud");
  add(s, p + "loss.train_cls", "bool", false, 0, 0, {}, "gcl: stage-2 form (focal with detached p, plain mean)");
  add(s, p + "loss.epsilon", "number", 0.1, 0, 10, {}, "gcl_ang: angular noise amplitude");
  add(s, p + "loss.easy_margin", "bool", false, 0, 0, {}, "gcl_ang: ArcFace easy margin");
  add(s, p + "loss.smooth_head", "number", 0.3, 0, 1, {}, "las: smoothing of the largest class");
  add(s, p + "loss.smooth_tail", "number", 0.0, 0, 1, {}, "las: smoothing of the smallest class");
  add(s, p + "loss.shape", "string", "concave", 0, 0, {"concave", "linear", "convex", "exp"}, "las: smoothing curve");
  add(s, p + "loss.power", "number", 1.0, 0, 100, {}, "las: exponent of the exp shape");
  add(s, p + "loss.eql_lambda", "number", 1.77e-3, 0, 1, {}, "eql: rare-class frequency threshold");
  add(s, p + "loss.eql_gamma", "number", 0.9, 0, 1, {}, "eql: probability of dropping rare logits");
  add(s, p + "sampler.name", "string", stage2 ? "" : "instance", 0, 0, samplers,
      stage2 ? "stage-2 sampler; \"\" = class_aware (crt, lws) or cben (gcl_retrain)" : "training sampler");
  add(s, p + "sampler.samples_per_class", "int", 4, 1, 1e6, {}, "class_aware: k consecutive samples per class");
  add(s, p + "sampler.beta", "number", 0.9999, 0, 0.999999999, {}, "effective_number sampler beta");
  add(s, p + "sampler.cben_beta_a", "number", 0.9999, 0, 0.999999999, {}, "cben: beta_a");
  add(s, p + "sampler.cben_beta_b", "number", 1e-5, 0, 1, {}, "cben: beta_b");
  add(s, p + "optim.lr", "number", 0.1, 0, 1000, {}, "base learning rate");
  add(s, p + "optim.momentum", "number", 0.9, 0, 1, {}, "SGD momentum");
  add(s, p + "optim.dampening", "number", 0.0, 0, 1, {}, "SGD dampening");
  add(s, p + "optim.weight_decay", "number", 5e-4, 0, 1, {}, "L2 weight decay (every parameter)");
  add(s, p + "optim.nesterov", "bool", false, 0, 0, {}, "Nesterov momentum");
  add(s, p + "schedule.kind", "string", stage2 ? "cosine" : "multistep", 0, 0, {"multistep", "cosine", "constant"},
      "learning-rate schedule");
  add(s, p + "schedule.warmup_epochs", "int", 0, 0, 1e6, {}, "linear warm-up lr*(e+1)/W for e < W");
  add(s, p + "schedule.milestones", "ints", Json::array(), 0, 1e9, {}, "multistep: 0-based epochs of each decay");
  add(s, p + "schedule.gamma", "number", 0.1, 0, 1, {}, "multistep: factor gamma^k after milestone k");
  add(s, p + "schedule.factors", "numbers", Json::array(), 0, 1e6, {}, "multistep: explicit factor per milestone");
  add(s, p + "schedule.min_lr", "number", 0.0, 0, 1000, {}, "cosine: final learning rate");
  add(s, p + "schedule.per_step", "bool", false, 0, 0, {}, "cosine: advance within an epoch");
}

std::vector<ConfigKey> build_schema() {
  std::vector<ConfigKey> s;
  add(s, "description", "string", "", 0, 0, {}, "free text: what the recipe is and where it comes from");
  add(s, "name", "string", "", 0, 0, {}, "run name: runs_dir/name (\"\" = the config file's stem, or \"default\")");
  add(s, "runs_dir", "string", "runs", 0, 0, {}, "parent folder of run directories");
  add(s, "seed", "int", 0, 0, 2147483647, {}, "training seed (init, sampler, augmentation, mixup, loss noise)");
  add(s, "threads", "int", 0, 0, 1024, {}, "CPU threads (0 = all cores)");
  add(s, "device", "string", "cpu", 0, 0, {"cpu", "cuda"}, "compute device");
  add(s, "deterministic", "bool", false, 0, 0, {}, "CUDA: deterministic cuDNN algorithms only (bit-identical reruns)");
  add(s, "data.dataset", "string", "fashion_mnist", 0, 0,
      {"fashion_mnist", "mnist", "cifar10", "cifar100", "image_folder", "list", "inat"}, "dataset kind");
  add(s, "data.root", "string", "", 0, 0, {},
      "dataset folder (\"\" = /usr/share/datasets/fashion-mnist for fashion_mnist)");
  add(s, "data.format", "string", "auto", 0, 0, {"auto", "bin", "folder"},
      "cifar: binary batches or <root>/{train,test}/<class>/*.jpg");
  add(s, "data.train_list", "string", "", 0, 0, {}, "list / inat: training list or JSON (relative to root)");
  add(s, "data.val_list", "string", "", 0, 0, {}, "list / inat: validation list (model selection, tau)");
  add(s, "data.test_list", "string", "", 0, 0, {}, "list / inat: test list");
  add(s, "data.imbalance.profile", "string", "exp", 0, 0, {"exp", "step", "none"},
      "LT subset of a balanced training set (none: use the training set as is)");
  add(s, "data.imbalance.ratio", "number", 100.0, 1, 1e6, {}, "rho = n_max / n_min");
  add(s, "data.imbalance.seed", "int", 0, 0, 4294967295.0, {}, "numpy seed of the subset (LDAM-DRW: 0)");
  add(s, "data.imbalance.n_max", "int", -1, -1, 1e9, {}, "head-class count (-1 = the per-class count of the data)");
  add(s, "data.test_per_class", "int", -1, -1, 1e9, {}, "evaluate on the first k test images per class (-1: all)");
  add(s, "data.augment", "string", "auto", 0, 0,
      {"auto", "cifar", "cifar_autoaugment", "mnist", "imagenet", "imagenet_nojitter", "inat", "none"},
      "training augmentation preset (auto: by dataset)");
  add(s, "data.eval_batch_size", "int", 500, 1, 1 << 20, {}, "evaluation batch size");
  add(s, "data.workers", "int", 2, 0, 256, {}, "loader worker threads");
  add(s, "data.on_bad_image", "string", "error", 0, 0, {"error", "skip"}, "an undecodable image stops or is skipped");
  add(s, "model.arch", "string", "resnet32", 0, 0, {"resnet32", "resnet50", "resnet152"}, "backbone");
  add(s, "model.head", "string", "linear", 0, 0, {"linear", "normed"}, "classifier (normed = cosine NormedLinear)");
  add(s, "model.init_from", "string", "", 0, 0, {}, "pretrained weights (safetensors) loaded before stage 1");
  add(s, "model.init_allow_partial", "bool", false, 0, 0, {},
      "init_from: load the matching names and report the rest (else strict)");
  add_stage(s, "stage1.", false);
  add(s, "stage2.method", "string", "none", 0, 0, {"none", "crt", "gcl_retrain", "lws", "tau_norm"},
      "decoupled stage 2 (none = single stage)");
  add(s, "stage2.bn_mode", "string", "eval", 0, 0, {"eval", "train"}, "frozen backbone BN: eval, or train (shifted BN)");
  add(s, "stage2.load", "string", "best", 0, 0, {"best", "last"}, "which stage-1 checkpoint stage 2 starts from");
  add(s, "stage2.taus", "numbers", Json::array(), 0, 100, {}, "tau_norm grid (empty = 0, 0.1, ..., 2)");
  add(s, "stage2.choose_tau_on_test", "bool", false, 0, 0, {}, "tau_norm without val split: select on test");
  add_stage(s, "stage2.", true);
  add(s, "checkpoint.every_steps", "int", 0, 0, 1e12, {}, "also write the training state every N steps (0 = epoch ends)");
  add(s, "checkpoint.keep_best", "bool", true, 0, 0, {}, "keep the best weights of each stage besides the last");
  add(s, "eval.every_epochs", "int", 1, 0, 1e6, {}, "evaluate every N epochs (0 = only at the end of each stage)");
  add(s, "eval.select", "string", "test", 0, 0, {"test", "val", "last"},
      "what picks the best checkpoint (test = the LDAM/GCL repos' practice)");
  add(s, "guard.nonfinite", "string", "stop", 0, 0, {"stop", "skip"}, "non-finite loss or gradient: stop, or skip the step");
  add(s, "guard.max_skips", "int", 10, 0, 1e9, {}, "skip: stop after this many skipped steps");
  add(s, "log.step_losses", "bool", false, 0, 0, {}, "write every step's loss to steps.jsonl");
  add(s, "log.progress", "string", "auto", 0, 0, {"auto", "bar", "plain"}, "live bar on a terminal, plain lines otherwise");
  add(s, "debug.anomaly", "bool", false, 0, 0, {}, "anomaly detection: name the first op producing a NaN/Inf");
  return s;
}

std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> out;
  std::stringstream ss(p);
  std::string part;
  while (std::getline(ss, part, '.')) out.push_back(part);
  return out;
}

std::string range_text(const ConfigKey& k) {
  if (!k.choices.empty()) {
    std::string s;
    for (auto& c : k.choices) s += (s.empty() ? "" : " | ") + (c.empty() ? std::string("\"\"") : c);
    return s;
  }
  if (k.lo == 0 && k.hi == 0) return "";
  char buf[80];
  std::snprintf(buf, sizeof buf, "[%g, %g]", k.lo, k.hi);
  return buf;
}

// Checks one value against its key; `where` prefixes the message.
void check_value(const ConfigKey& k, const Json& v, const std::string& where) {
  auto bad = [&](const std::string& why) { config_fail(where + ": " + k.path + ": " + why); };
  auto check_range = [&](double x) {
    if (!std::isfinite(x)) bad("must be finite");
    if (!(k.lo == 0 && k.hi == 0) && (x < k.lo || x > k.hi)) {
      std::ostringstream os;
      os << "value " << x << " out of range " << range_text(k);
      bad(os.str());
    }
  };
  if (k.type == "int") {
    if (!v.is_number_integer()) bad("expects an integer, got " + v.dump());
    check_range((double)v.get<int64_t>());
  } else if (k.type == "number") {
    if (!v.is_number()) bad("expects a number, got " + v.dump());
    check_range(v.get<double>());
  } else if (k.type == "bool") {
    if (!v.is_boolean()) bad("expects true or false, got " + v.dump());
  } else if (k.type == "string") {
    if (!v.is_string()) bad("expects a string, got " + v.dump());
    if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(), v.get<std::string>()) == k.choices.end())
      bad("'" + v.get<std::string>() + "' is not one of " + range_text(k));
  } else {  // ints | numbers
    if (!v.is_array()) bad("expects a list, got " + v.dump());
    for (auto& x : v) {
      if (k.type == "ints" ? !x.is_number_integer() : !x.is_number())
        bad("expects a list of " + std::string(k.type == "ints" ? "integers" : "numbers") + ", got " + v.dump());
      check_range(x.get<double>());
    }
  }
}

void set_path(Json& cfg, const std::string& path, const Json& v) {
  Json* node = &cfg;
  for (auto& part : split_path(path)) node = &(*node)[part];
  *node = v;
}

void merge_rec(Json& cfg, const Json& overlay, const std::string& prefix, const std::string& origin) {
  if (!overlay.is_object()) config_fail(origin + ": the configuration must be a JSON object");
  for (auto it = overlay.begin(); it != overlay.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    const ConfigKey* k = find_config_key(path);
    if (!k) {
      // a section (prefix of known keys) takes an object
      bool section = false;
      for (auto& key : config_schema())
        if (key.path.rfind(path + ".", 0) == 0) section = true;
      if (section) {
        if (!it.value().is_object()) config_fail(origin + ": " + path + ": expects an object (a section), got " + it.value().dump());
        merge_rec(cfg, it.value(), path, origin);
        continue;
      }
      std::string hint = did_you_mean(path);
      config_fail(origin + ": unknown key '" + path + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
    Json v = it.value();
    if (k->type == "number" && v.is_number_integer()) v = v.get<double>();  // 1 is a fine number
    check_value(*k, v, origin);
    set_path(cfg, path, v);
  }
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const std::vector<ConfigKey>& config_schema() {
  static const std::vector<ConfigKey> s = build_schema();
  return s;
}

const ConfigKey* find_config_key(const std::string& path) {
  for (auto& k : config_schema())
    if (k.path == path) return &k;
  return nullptr;
}

Json default_config() {
  Json cfg = Json::object();
  for (auto& k : config_schema()) set_path(cfg, k.path, k.def);
  return cfg;
}

const char* embedded_default_overrides() {
  // Keep in sync with recipes/fashion_mnist_lt/gcl_default.json (a test compares them).
  return R"JSON({
  "name": "fashion_mnist_lt_gcl",
  "data": {
    "dataset": "fashion_mnist",
    "imbalance": {"profile": "exp", "ratio": 100, "seed": 0},
    "augment": "mnist",
    "workers": 2
  },
  "model": {"arch": "resnet32", "head": "normed"},
  "stage1": {
    "epochs": 3,
    "batch_size": 128,
    "loss": {"name": "gcl", "s": 30, "m": 0.0, "noise_mul": 0.5},
    "sampler": {"name": "instance"},
    "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4},
    "schedule": {"kind": "cosine", "warmup_epochs": 1},
    "mixup_alpha": 0
  },
  "stage2": {
    "method": "gcl_retrain",
    "epochs": 1,
    "batch_size": 128,
    "load": "last",
    "loss": {"name": "gcl", "s": 20, "m": 0.1, "noise_mul": 0.5, "train_cls": true, "gamma": 1},
    "sampler": {"name": "cben"},
    "optim": {"lr": 0.02, "momentum": 0.9, "weight_decay": 2e-4},
    "schedule": {"kind": "cosine"}
  },
  "eval": {"every_epochs": 1, "select": "last"}
}
)JSON";
}

Json parse_config_text(const std::string& text, const std::string& origin) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // e.byte is 1-based; count lines and columns up to it
    size_t byte = e.byte == 0 ? 0 : e.byte - 1, line = 1, col = 1;
    for (size_t i = 0; i < byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    auto p = what.find("syntax error");
    config_fail(origin + ":" + std::to_string(line) + ":" + std::to_string(col) + ": invalid JSON (" +
                (p == std::string::npos ? what : what.substr(p)) + ")");
  }
}

Json load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) config_fail(path + ": cannot open the config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config_text(ss.str(), path);
}

void merge_config(Json& cfg, const Json& overlay, const std::string& origin) { merge_rec(cfg, overlay, "", origin); }

void apply_set(Json& cfg, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    config_fail("--set " + assignment + ": expected key.path=value (e.g. --set stage1.optim.lr=0.05)");
  std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  const ConfigKey* k = find_config_key(path);
  if (!k) {
    std::string hint = did_you_mean(path);
    config_fail("--set: unknown key '" + path + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  Json v;
  if (k->type == "string") {
    v = text;  // strings are taken literally (quotes optional)
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') v = text.substr(1, text.size() - 2);
  } else {
    try {
      v = Json::parse(text);
    } catch (const std::exception&) {
      config_fail("--set " + path + ": cannot parse '" + text + "' as " + k->type);
    }
  }
  Json overlay = Json::object();
  set_path(overlay, path, v);
  merge_rec(cfg, overlay, "", "--set");
}

void validate_config(const Json& cfg) {
  for (const char* st : {"stage1", "stage2"}) {
    const Json& s = cfg.at(st);
    const Json& ms = s.at("schedule").at("milestones");
    for (size_t i = 1; i < ms.size(); ++i)
      if (ms[i].get<int>() <= ms[i - 1].get<int>())
        config_fail(std::string(st) + ".schedule.milestones must be strictly ascending, got " + ms.dump());
    const Json& fs = s.at("schedule").at("factors");
    if (!fs.empty() && fs.size() != ms.size())
      config_fail(std::string(st) + ".schedule.factors needs one factor per milestone (" + std::to_string(ms.size()) +
                  "), got " + std::to_string(fs.size()));
  }
  const std::string method = cfg.at("stage2").at("method");
  if (method != "none" && method != "tau_norm" && cfg.at("stage2").at("epochs").get<int>() < 1)
    config_fail("stage2.epochs must be >= 1 for stage2.method " + method);
  if ((method == "lws" || method == "tau_norm" || method == "crt") && cfg.at("model").at("head") != "linear")
    config_fail("stage2.method " + method + " needs model.head linear (got " + cfg.at("model").at("head").dump() + ")");
  const std::string ds = cfg.at("data").at("dataset");
  if ((ds == "list" || ds == "inat") && cfg.at("data").at("train_list").get<std::string>().empty())
    config_fail("data.train_list is required for data.dataset " + ds);
  if ((ds == "list" || ds == "inat") && cfg.at("data").at("test_list").get<std::string>().empty() &&
      cfg.at("data").at("val_list").get<std::string>().empty())
    config_fail("data.dataset " + ds + " needs data.test_list or data.val_list");
  if (ds != "fashion_mnist" && cfg.at("data").at("root").get<std::string>().empty())
    config_fail("data.root is required for data.dataset " + ds);
  if (cfg.at("eval").at("select") == "val" && cfg.at("data").at("val_list").get<std::string>().empty())
    config_fail("eval.select val needs data.val_list (a validation split)");
}

Json resolve_config(const std::string& file, const std::vector<std::string>& sets, bool use_embedded) {
  Json cfg = default_config();
  if (file.empty() && use_embedded)
    merge_config(cfg, parse_config_text(embedded_default_overrides(), "<embedded default>"), "<embedded default>");
  if (!file.empty()) {
    merge_config(cfg, load_config_file(file), file);
    if (cfg.at("name").get<std::string>().empty()) {
      std::string stem = file.substr(file.find_last_of('/') + 1);
      stem = stem.substr(0, stem.rfind('.'));
      cfg["name"] = stem;
    }
  }
  for (auto& s : sets) apply_set(cfg, s);
  if (cfg.at("name").get<std::string>().empty()) cfg["name"] = "default";
  validate_config(cfg);
  return cfg;
}

std::string did_you_mean(const std::string& key) {
  std::string best;
  size_t best_d = (size_t)-1;
  const std::string leaf = key.substr(key.find_last_of('.') + 1);
  for (auto& k : config_schema()) {
    size_t d = edit_distance(key, k.path);
    // a right leaf in a wrong section ("stage1.lr" -> "stage1.optim.lr") counts as close
    const std::string kleaf = k.path.substr(k.path.find_last_of('.') + 1);
    if (kleaf == leaf && k.path.rfind(key.substr(0, key.find('.')), 0) == 0) d = std::min<size_t>(d, 2);
    if (d < best_d) {
      best_d = d;
      best = k.path;
    }
  }
  return best_d <= std::max<size_t>(3, key.size() / 4) ? best : "";
}

std::string config_hash(const Json& cfg) {
  Json identity = cfg;
  if (identity.contains("data") && identity["data"].contains("root")) identity["data"]["root"] = "";
  const std::string s = identity.dump();
  Fnv1a h;
  h.add(s.data(), s.size());
  return h.hex();
}

// h = (h xor byte) * FNV prime, over every byte
void Fnv1a::add(const void* data, size_t n) {
  const unsigned char* p = (const unsigned char*)data;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
}

std::string Fnv1a::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

LossConfig loss_config(const Json& st) {
  const Json& l = st.at("loss");
  LossConfig c;
  for (auto& w : l.at("weight")) c.weight.push_back(w.get<float>());
  c.train_rule = l.at("train_rule");
  c.drw_epoch = l.at("drw_epoch");
  c.beta = l.at("beta");
  c.gamma = l.at("gamma");
  c.detach_p = l.at("detach_p");
  c.max_m = l.at("max_m");
  c.s = l.at("s");
  c.tau = l.at("tau");
  c.m = l.at("m");
  c.noise_mul = l.at("noise_mul");
  c.train_cls = l.at("train_cls");
  c.epsilon = l.at("epsilon");
  c.easy_margin = l.at("easy_margin");
  c.smooth_head = l.at("smooth_head");
  c.smooth_tail = l.at("smooth_tail");
  c.shape = l.at("shape");
  c.power = l.at("power");
  c.eql_lambda = l.at("eql_lambda");
  c.eql_gamma = l.at("eql_gamma");
  return c;
}

SgdOptions sgd_options(const Json& st) {
  const Json& o = st.at("optim");
  SgdOptions s;
  s.lr = o.at("lr").get<float>();
  s.momentum = o.at("momentum").get<float>();
  s.dampening = o.at("dampening").get<float>();
  s.weight_decay = o.at("weight_decay").get<float>();
  s.nesterov = o.at("nesterov");
  return s;
}

LrSchedule lr_schedule(const Json& st) {
  const Json& s = st.at("schedule");
  LrSchedule r;
  r.kind = s.at("kind");
  r.base_lr = st.at("optim").at("lr").get<float>();
  r.warmup_epochs = s.at("warmup_epochs");
  for (auto& m : s.at("milestones")) r.milestones.push_back(m.get<int>());
  r.gamma = s.at("gamma").get<float>();
  for (auto& f : s.at("factors")) r.factors.push_back(f.get<float>());
  r.total_epochs = std::max(1, st.at("epochs").get<int>());
  r.min_lr = s.at("min_lr").get<float>();
  r.per_step = s.at("per_step");
  r.validate();
  return r;
}

data::SamplerConfig sampler_config(const Json& st, uint64_t seed) {
  const Json& s = st.at("sampler");
  data::SamplerConfig c;
  c.kind = data::parse_sampler_kind(s.at("name").get<std::string>());
  c.seed = seed;
  c.samples_per_class = s.at("samples_per_class");
  c.beta = s.at("beta");
  c.cben_beta_a = s.at("cben_beta_a");
  c.cben_beta_b = s.at("cben_beta_b");
  c.total_epochs = std::max(1, st.at("epochs").get<int>());
  return c;
}

std::string describe_schema() {
  std::string out;
  char buf[512];
  for (auto& k : config_schema()) {
    std::snprintf(buf, sizeof buf, "  %-34s %-7s %-12s %-s%s%s\n", k.path.c_str(), k.type.c_str(), k.def.dump().c_str(),
                  k.help.c_str(), range_text(k).empty() ? "" : "  ", range_text(k).c_str());
    out += buf;
  }
  return out;
}

}  // namespace tailor
