// Run configuration: one JSON document describes a whole run — dataset and LT subset, model, stage 1
// (loss, sampler, optimiser, schedule, mixup), stage 2 (decoupled classifier), checkpoints, evaluation,
// the non-finite guard and logging. Every key the trainer reads is declared once in a schema
// (config_schema(): path, type, default, range or choices, one line of help), so:
//   * an unknown key is an error naming the file and suggesting the nearest known key;
//   * a wrong type or an out-of-range value is an error naming the key and the allowed range;
//   * bad JSON is an error with the file's line and column;
//   * `--set key.path=value` overrides beat the file (the value is parsed as JSON, else taken as a
//     string: --set stage1.loss.name=gcl, --set stage1.schedule.milestones=[160,180]);
//   * the fully resolved document (defaults + file + overrides) is what the run directory keeps.
// Resolution order: schema defaults < config file < --set, left to right.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/samplers.h"
#include "losses/loss.h"
#include "train/schedule.h"
#include "train/sgd.h"

namespace tailor {

using Json = nlohmann::ordered_json;

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ConfigKey {
  std::string path;                  // "stage1.optim.lr"
  std::string type;                  // int | number | bool | string | ints | numbers
  Json def;                          // default value
  double lo = 0, hi = 0;             // inclusive range for int / number (lo == hi == 0: unbounded)
  std::vector<std::string> choices;  // allowed strings (empty: any)
  std::string help;
};

const std::vector<ConfigKey>& config_schema();
const ConfigKey* find_config_key(const std::string& path);

// The schema's defaults as a nested document.
Json default_config();
// The embedded default run (Fashion-MNIST-LT rho 100, ResNet-32, GCL two-stage, a few minutes on a CPU):
// overrides on top of default_config(). recipes/fashion_mnist_lt/gcl_default.json is the same text.
const char* embedded_default_overrides();

// Parses JSON text; a syntax error names `origin`, line and column.
Json parse_config_text(const std::string& text, const std::string& origin);
Json load_config_file(const std::string& path);  // a missing / unreadable file is an error naming it

// Writes every leaf of `overlay` into `cfg` after checking it against the schema (unknown keys, types,
// ranges, choices); errors start with `origin` (the file name or "--set").
void merge_config(Json& cfg, const Json& overlay, const std::string& origin);
// One "key.path=value" assignment.
void apply_set(Json& cfg, const std::string& assignment);
// Cross-key checks that the schema cannot express (e.g. milestones ascending, stage-2 needs stage 1).
void validate_config(const Json& cfg);

// defaults < embedded default (when `file` is empty and use_embedded) < file < sets; then validated.
Json resolve_config(const std::string& file, const std::vector<std::string>& sets, bool use_embedded);

// Levenshtein distance (the "did you mean" of config keys and command-line flags).
size_t edit_distance(const std::string& a, const std::string& b);
// "did you mean 'x'?" over the schema's paths (empty when nothing is close).
std::string did_you_mean(const std::string& key);

// Stable 64-bit FNV-1a hash of the resolved document's compact dump, as 16 hex digits (stored in the
// training state so a resume with a different config is refused). data.root is left out: it says where
// the images are, not what is trained, so a run can resume where the data lives at another path (the
// state's data fingerprint, train/run_data.h, checks that the images are the same).
std::string config_hash(const Json& cfg);

// 64-bit FNV-1a over the bytes added so far (config_hash, the data fingerprint of train/run_data.h).
struct Fnv1a {
  uint64_t h = 1469598103934665603ull;  // offset basis
  void add(const void* data, size_t n);
  std::string hex() const;  // 16 hex digits
};

// ---- typed views of a resolved document
// `stage` is cfg["stage1"] or cfg["stage2"].
LossConfig loss_config(const Json& stage);
SgdOptions sgd_options(const Json& stage);
LrSchedule lr_schedule(const Json& stage);  // base_lr and total_epochs filled from the stage
data::SamplerConfig sampler_config(const Json& stage, uint64_t seed);
// A schema listing for --help: "key  type  default  range/choices  help" lines.
std::string describe_schema();

}  // namespace tailor
