#include "tools/model_source.h"

#include <omp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/allocator.h"
#include "engine/safetensors.h"
#include "report/table.h"  // run_finished
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/run_model.h"
#include "train/trainer.h"

namespace tailor {

namespace {

// A finished run's eval.json names its classes and training counts: the data loaded now must have the same
// classes in the same order (renamed or re-sorted class folders would silently permute the labels); other
// training counts only move the many / medium / few groups, which is said.
void check_run_classes(const std::string& run_dir, const RunData& data, std::ostream& log) {
  const std::string path = run_dir + "/eval.json";
  std::ifstream f(path);
  if (!f) return;  // an unfinished run: nothing recorded
  Json e;
  try {
    f >> e;
  } catch (const std::exception&) {
    return;  // tailor report names a damaged eval.json; the model and data are checked already
  }
  if (e.contains("class_names") && e["class_names"].is_array()) {
    const auto names = e["class_names"].get<std::vector<std::string>>();
    for (size_t c = 0; c < names.size() && c < data.train.class_names.size(); ++c)
      if (names[c] != data.train.class_names[c])
        throw ConfigError("the data's class " + std::to_string(c) + " is '" + data.train.class_names[c] + "', the run's was '" +
                          names[c] + "' (" + path + "): the labels would not be the model's; point data.root at the "
                          "run's data (--set data.root=DIR)");
  }
  if (e.contains("train_counts") && e["train_counts"].is_array() &&
      e["train_counts"].get<std::vector<int64_t>>() != data.train_counts)
    log << "note: the training counts differ from the run's (" << path << "): the many / medium / few groups follow "
        << "the data as it is now\n";
}

}  // namespace

std::vector<std::string> model_source_flags() { return {"run", "checkpoint", "config", "threads", "device"}; }

// The --set keys a model tool reads: the data, the evaluation (shot groups, split choice), the numerics. The
// model is the checkpoint's (its architecture and head are in the file) and no training runs, so any other
// key would be accepted and have no effect: refused, naming it.
// With --config, model.* describes the model that weights without tailor's metadata go into (checked once
// the file is known).
static void check_tool_sets(const std::vector<std::string>& sets, bool with_config) {
  for (const std::string& kv : sets) {
    const std::string key = kv.substr(0, kv.find('='));
    if (key.rfind("data.", 0) == 0 || key.rfind("eval.", 0) == 0 || key == "precision" || key == "deterministic" ||
        (with_config && key.rfind("model.", 0) == 0))
      continue;
    throw UsageError("--set " + key + ": a model tool reads only data.*, eval.*, precision and deterministic" +
                     (key.rfind("model.", 0) == 0 ? " (the model is the checkpoint's)"
                      : key == "device" || key == "threads" ? " (use --" + key + ")"
                                                            : " (nothing is trained here)"));
  }
}

ModelSource open_model_source(const Args& a, std::ostream& log) {
  ModelSource s;
  std::string config_file, config_arch;  // --config, and its own model.arch (not the schema's default)
  check_tool_sets(a.list("set"), a.has("config"));
  if (a.has("run") == a.has("config"))
    throw UsageError(a.has("run") ? "--run and --config exclude each other (the run has its config.json)"
                                  : "give --run DIR, or --checkpoint F with --config FILE");
  if (a.has("config") && !a.has("checkpoint")) throw UsageError("--config needs --checkpoint F");
  if (a.has("run")) {
    s.run_dir = a.str("run", "");
    const std::string cfg_path = s.run_dir + "/config.json";
    if (!std::filesystem::is_regular_file(cfg_path))
      throw ConfigError("--run " + s.run_dir + ": no config.json (not a run directory)");
    Json doc = Json::object(), run_cfg = load_config_file(cfg_path);
    // config.json holds the thresholds of the run's shot groups; --set eval.groups=... picks a rule anew
    for (auto& kv : a.list("set"))
      if (kv.rfind("eval.groups=", 0) == 0 && run_cfg.contains("eval"))
        for (const char* k : {"many_above", "few_below"}) run_cfg["eval"].erase(k);
    merge_config(doc, run_cfg, cfg_path);
    for (auto& kv : a.list("set")) apply_set(doc, kv);
    s.cfg = expand_config(doc);
    s.checkpoint = a.has("checkpoint") ? a.str("checkpoint", "") : final_checkpoint(s.cfg, s.run_dir);
    if (!a.has("checkpoint") && !run_finished(s.run_dir) && std::filesystem::is_regular_file(s.checkpoint)) {
      std::string at;  // the stage and epoch the checkpoint was written after (a stop mid-epoch is later)
      try {
        const auto meta = read_safetensors_metadata(s.checkpoint);
        if (meta.count("stage") && meta.count("epoch"))
          at = ", written after stage " + meta.at("stage") + " epoch " + meta.at("epoch");
      } catch (const std::exception&) {
      }  // (a damaged file: named by the load below)
      log << "note: " << s.run_dir << " has not finished (stopped or killed; `tailor train --resume` continues it): "
          << "evaluating its latest checkpoint, " << std::filesystem::path(s.checkpoint).filename().string() << at
          << "\n";
    }
  } else {
    config_file = a.str("config", "");
    const Json file = config_file.empty() ? Json::object() : load_config_file(config_file);  // (read once)
    if (file.contains("model") && file["model"].is_object() && file["model"].contains("arch") &&
        file["model"]["arch"].is_string())
      config_arch = file["model"]["arch"].get<std::string>();  // the file's own, not the schema's default
    s.cfg = resolve_config_doc(file, config_file, a.list("set"), false);
    s.checkpoint = a.str("checkpoint", "");
  }
  // The device: --device, else the run's own (its numbers come back as it computed them), else the CPU (a run
  // trained on a GPU evaluated on a machine without one: said).
  const std::string run_device = s.cfg.value("device", std::string("cpu"));
  const std::string device = a.choice("device", run_device == "cuda" && cuda_available() ? "cuda" : "cpu",
                                      {"cpu", "cuda"});
  if (device == "cuda" && !cuda_available())
    throw UsageError("--device cuda: no CUDA device is available (or this build has no CUDA backend)");
  if (!a.has("device") && run_device == "cuda" && device == "cpu")
    log << "note: the model trained on cuda; no CUDA device here: on the CPU (--device picks one)\n";
  const long long threads = a.integer("threads", 0, 0, 1024);
  const int config_threads = s.cfg.value("threads", 0);  // --threads, else the run's (config's), else all we may use
  omp_set_num_threads(threads > 0 ? (int)threads : config_threads > 0 ? config_threads : default_threads());
  if (!std::filesystem::is_regular_file(s.checkpoint)) {
    namespace fs = std::filesystem;
    std::string msg = !fs::exists(s.checkpoint)      ? "checkpoint not found: " + s.checkpoint
                      : fs::is_directory(s.checkpoint) ? s.checkpoint + ": a folder, not a safetensors file"
                                                       : s.checkpoint + ": not a regular file";
    if (!s.run_dir.empty() && !a.has("checkpoint")) {  // the run's final checkpoint: say why it is missing
      std::vector<std::string> have;
      std::error_code ec;
      for (auto& e : std::filesystem::directory_iterator(s.run_dir + "/checkpoints", ec))
        if (e.path().filename().string().rfind("stage", 0) == 0) have.push_back(e.path().filename().string());
      std::sort(have.begin(), have.end());
      if (!std::filesystem::exists(s.run_dir + "/summary.json"))
        msg += " (the run has not finished: continue it with `tailor train --resume " + s.run_dir + "`";
      else
        msg += " (the run's final checkpoint";
      msg += have.empty() ? ")" : "; or give one of its checkpoints with --checkpoint: " + have[0];
      for (size_t i = 1; i < have.size(); ++i) msg += ", " + have[i];
      if (!have.empty()) msg += ")";
    }
    throw ConfigError(msg);
  }
  // A tailor checkpoint names its model; weights of another origin (PyTorch's save_file, converted torchvision
  // weights) go into the model the config describes, once the data says its classes, every name matched.
  const auto metadata = read_safetensors_metadata(s.checkpoint);
  const std::string origin = weights_origin(metadata);
  if (origin == "state")
    throw ConfigError(s.checkpoint + ": a run's training state (the loop's, the optimiser's), not a model checkpoint: "
                      "give one of the run's model checkpoints (checkpoints/stage<k>_last.safetensors, _best)");
  if (origin != "foreign") {
    for (const std::string& kv : a.list("set"))
      if (kv.rfind("model.", 0) == 0)
        throw UsageError("--set " + kv.substr(0, kv.find('=')) + ": " + s.checkpoint + " is a tailor checkpoint, "
                         "which names its model; model.* describes the model for weights without tailor's metadata");
    s.net = load_model(s.checkpoint);  // (a damaged header: its error)
    // a config naming another architecture is not obeyed (a distillation student may differ from its run's
    // model.arch, so it is not refused): said
    if (metadata.count("arch") && !config_arch.empty() && config_arch != metadata.at("arch"))
      log << "note: " << config_file << ": model.arch " << config_arch << ", but " << s.checkpoint
          << " is a tailor checkpoint of a " << metadata.at("arch") << ", which is the model evaluated (model.* "
          << "describes the model only for weights without tailor's metadata)\n";
  }
  s.data = load_run_data(parse_data_config(s.cfg.at("data")), log);
  if (origin == "foreign") {
    const ModelConfig m = parse_model_config(s.cfg.at("model"));
    Rng scratch(0);  // every weight is overwritten by the load
    s.net = build_model(m, s.data.train.num_classes, s.data.train.channels, scratch);
    Module::LoadReport rep;  // as model.init_from loads: strict unless model.init_allow_partial
    try {
      rep = load_weights(s.checkpoint, *s.net, m.init_allow_partial);
    } catch (const std::exception& e) {
      throw ConfigError("no tailor metadata in " + s.checkpoint + ", so loaded into the config's model (" + m.arch +
                        ", head " + m.head + ", " + std::to_string(s.data.train.num_classes) + " classes): " + e.what());
    }
    log << "model: " << s.checkpoint << " has no tailor metadata: loaded into the config's model: " << rep.str() << "\n";
    if (!rep.ok())  // (partial: only the classifier may differ)
      log << "note: the classifier (" << s.net->head_name() << ".*) was not in the file as the model has it: it is "
          << "untrained (its logits and accuracy mean nothing; the features are the file's backbone)\n";
  }
  if (device == "cuda") {
    cuda_set_deterministic(s.cfg.value("deterministic", false));
    s.net->to(rank_device(Device::cuda()));  // under mpirun: a rank's own GPU, as in training
  }
  if (s.net->config().num_classes != s.data.train.num_classes)
    throw ConfigError(s.checkpoint + " has " + std::to_string(s.net->config().num_classes) +
                      " classes but the data has " + std::to_string(s.data.train.num_classes));
  if (!s.run_dir.empty()) check_run_classes(s.run_dir, s.data, log);
  s.precision = parse_precision(s.cfg.value("precision", "fp32"));
  if (s.precision == Precision::BF16 && !has_native_bf16(s.net->device())) {
    log << "note: the run trained with precision bf16; evaluating in fp32 (this device has no native bf16 "
           "convolutions)\n";
    s.precision = Precision::F32;
  }
  log << "model: " << s.checkpoint << " (" << s.net->config().arch << ", head " << head_kind(*s.net) << ")\n";
  return s;
}

}  // namespace tailor
