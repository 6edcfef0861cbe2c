// Run configuration: one JSON document describes a whole run — dataset and LT subset, model, the stages
// (stage1, stage2, ... each with its method, loss, sampler, optimiser, schedule, mixup), checkpoints,
// evaluation, the non-finite guard and logging. Every key is declared once in a schema (path, type,
// default, range or choices, one line of help); a stage's keys are declared once for every stage, and a
// method's own keys and defaults in its MethodSpec (train/method.h). So:
//   * an unknown key is an error naming the file and suggesting the nearest known key;
//   * a wrong type or an out-of-range value is an error naming the key and the allowed range;
//   * a key the stage's method (or its loss, sampler or schedule) does not read is an error naming what
//     does read it — nothing given is silently dropped (so is eval.many_above / few_below with eval.groups
//     thirds);
//   * bad JSON is an error with the file's line and column;
//   * `--set key.path=value` overrides beat the file (the value is parsed as JSON, else taken as a
//     string: --set stage1.loss.name=gcl, --set stage1.schedule.milestones=[160,180]);
//     `--set stage2.method=none` removes stage 2 (and its keys) from the run;
//   * the resolved document holds every key that applies, with its default when not given, and nothing
//     else; it is what the run directory keeps (config.json), and resolving it again changes nothing.
// Resolution order: schema defaults < the method's defaults < config file < --set, left to right.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>


namespace tailor {

using Json = nlohmann::ordered_json;

// A configuration the run cannot take. `keys`: the full key paths the message is about ("stage1.optim.lr"),
// when it is about keys; resolve_config puts the config file's path in front of the message when the file
// gave one of them and no --set touched any. A check across keys lists them all (a --set of either clears
// the file); a key that is not read (by the stage's method, loss, the model's head) is listed alone: the
// file's key is the one refused, whatever --set changed the method.
struct ConfigError : std::runtime_error {
  std::vector<std::string> keys;
  explicit ConfigError(const std::string& msg, std::vector<std::string> about = {})
      : std::runtime_error(msg), keys(std::move(about)) {}
};

struct ConfigKey {
  std::string path;                  // "stage1.optim.lr"; stage keys are relative: "optim.lr"
  std::string type;                  // int | number | bool | string | ints | numbers | strings
  Json def;                          // default value
  double lo = 0, hi = 0;             // inclusive range for int / number (lo == hi == 0: unbounded)
  std::vector<std::string> choices;  // allowed strings (empty: any)
  std::string help;
};

// The keys outside the stages ("seed", "data.root", ...) and the keys of one stage, relative to it
// ("epochs", "loss.s", ...; the union over every method's own keys included).
const std::vector<ConfigKey>& config_schema();
const std::vector<ConfigKey>& stage_schema();
// The declaration of a full path ("stage2.optim.lr" finds the stage key "optim.lr"); null when unknown.
const ConfigKey* find_config_key(const std::string& path);
// "stage3" -> 3; 0 when `name` is not a stage section.
int stage_number(const std::string& name);

// The embedded default run (Fashion-MNIST-LT rho 100, ResNet-32, GCL two-stage, a few minutes on a CPU).
// recipes/fashion_mnist_lt/gcl_default.json is the same text.
const char* embedded_default_overrides();

// Parses JSON text; a syntax error names `origin`, line and column.
// JSON nested deeper than any config (64 levels; a recursive parser would overflow the stack on 100,000) and a
// non-zero number below float32's range (1e-50 would read as 0): refused naming `origin` (a file: line:column).
void check_config_text(const std::string& text, const std::string& origin);
Json parse_config_text(const std::string& text, const std::string& origin);
Json load_config_file(const std::string& path);  // a missing / unreadable file is an error naming it

// Writes every leaf of `overlay` into the user document `doc` after checking it against the schema
// (unknown keys, types, ranges, choices); errors start with `origin` (the file name or "--set").
void merge_config(Json& doc, const Json& overlay, const std::string& origin);
// One "key.path=value" assignment into the user document.
void apply_set(Json& doc, const std::string& assignment);
// The resolved document of a user document: defaults filled in for every key that applies, keys that do
// not apply refused, cross-key checks (milestones ascending, a stage-2 method needs stage 1, ...).
Json expand_config(const Json& doc);

// defaults < embedded default (when `file` is empty and use_embedded) < file < sets; then expanded.
Json resolve_config(const std::string& file, const std::vector<std::string>& sets, bool use_embedded);
// The same for a config file read already (`file_doc`, load_config_file's; `file` names it in messages).
Json resolve_config_doc(const Json& file_doc, const std::string& file, const std::vector<std::string>& sets,
                        bool use_embedded);

// Levenshtein distance (the "did you mean" of config keys and command-line flags).
size_t edit_distance(const std::string& a, const std::string& b);
// "did you mean 'x'?" over the schema's paths (empty when nothing is close).
std::string did_you_mean(const std::string& key);

// Stable 64-bit FNV-1a hash of the resolved document's compact dump, as 16 hex digits (stored in the
// training state so a resume with a different config is refused). data.root is left out: it says where
// the images are, not what is trained, so a run can resume where the data lives at another path (the
// state's data fingerprint, train/run_data.h, checks that the images are the same). The shot groups
// (eval.groups, eval.many_above, eval.few_below) are left out too: they say how the accuracy is grouped,
// not what is trained, and a run written before they existed resumes.
std::string config_hash(const Json& cfg);
// The part of a resolved config the hash covers (what a resume must not change: not data.root, the shot
// groups, how the ranks talk, ...), and the keys that differ between two configs there, "key old -> new, ...".
Json config_identity(const Json& cfg);
std::string config_differences(const Json& before, const Json& now);

// 64-bit FNV-1a over the bytes added so far (config_hash, the data fingerprint of train/run_data.h).
struct Fnv1a {
  uint64_t h = 1469598103934665603ull;  // offset basis
  void add(const void* data, size_t n);
  std::string hex() const;  // 16 hex digits
};

// A schema listing for --help: "key  type  default  range/choices  help" lines.
std::string describe_schema();

}  // namespace tailor
