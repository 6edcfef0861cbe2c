#include "train/stage_plan.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "losses/equalization.h"
#include "train/checkpoint.h"
#include "train/method.h"
#include "train/run_model.h"

namespace tailor {

namespace {

std::string join_or(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i == 0 ? "" : i + 1 == v.size() ? " or " : ", ") + v[i];
  return s;
}

// The references a teacher key holds (one string or a list), skipping keys the stage does not have.
std::vector<std::string> teacher_refs(const StageConfig& c, const std::string& key) {
  const Json* v = &c.doc;
  for (size_t a = 0, b; a <= key.size(); a = b + 1) {
    b = std::min(key.find('.', a), key.size());
    const std::string part = key.substr(a, b - a);
    if (!v->is_object() || !v->contains(part)) return {};
    v = &v->at(part);
  }
  if (v->is_string()) return {v->get<std::string>()};
  return v->get<std::vector<std::string>>();
}

// Reads a checkpoint (checksum verified) and returns its metadata; errors name `where`.
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& where, const std::string& path,
                                                            CrcCheck crc) {
  std::map<std::string, std::string> meta;
  try {
    read_weights(path, &meta, crc);
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": " + e.what());
  }
  return meta;
}

}  // namespace

// `keys` and one more
static std::vector<std::string> plus_key(std::vector<std::string> keys, const std::string& key) {
  keys.push_back(key);
  return keys;
}

void check_stage_heads(const Json& cfg, const LoadFileHead& load_file_head, std::vector<std::string>* trained_heads) {
  const std::string model_head = cfg.at("model").at("head");
  std::string head = model_head, from = "model.head", fix = "set model.head";
  std::vector<std::string> from_keys = {"model.head"};  // the keys that gave the head (for the file's name)
  for (int k = 1; cfg.contains("stage" + std::to_string(k)); ++k) {
    const std::string key = "stage" + std::to_string(k);
    const Json& st = cfg.at(key);
    const MethodSpec& m = method_spec(st.at("method"));
    const std::string load = k >= 2 && st.contains("load") ? st.at("load").get<std::string>() : "best";
    if (k >= 2 && load == "fresh") {
      head = model_head;
      from = key + ".load fresh: model.head";
      from_keys = {key + ".load", "model.head"};
      fix = "set model.head";
    } else if (k >= 2 && load != "best" && load != "last") {
      head = load_file_head ? load_file_head(key, load, head) : "";
      from = "the checkpoint " + key + ".load names";
      from_keys = {key + ".load"};
      fix = "load another checkpoint";
    }
    if (!head.empty() && !m.starts_from.empty() &&
        std::find(m.starts_from.begin(), m.starts_from.end(), head) == m.starts_from.end())
      throw ConfigError(key + ".method " + m.name + ": starts from a classifier head " + join_or(m.starts_from) +
                        ", and the model it would get has head " + head + " (" + from + "); " + fix +
                            " or choose another method",
                        plus_key(from_keys, key + ".method"));
    // the head the stage trains is the one it leaves: a bias kept out of weight decay needs a Linear
    const std::string trained = m.leaves_head.empty() ? head : m.leaves_head;
    if (trained_heads) trained_heads->push_back(trained);
    if (st.contains("optim") && !st.at("optim").value("decay_head_bias", true) && !trained.empty() &&
        trained != "linear")
      throw ConfigError(key + ".optim.decay_head_bias false: the stage trains head " + trained + " (" +
                            (m.leaves_head.empty() ? from : "made by " + m.name) + "), not a Linear with bias",
                        plus_key(m.leaves_head.empty() ? from_keys : std::vector<std::string>{key + ".method"},
                                 key + ".optim.decay_head_bias"));
    if (!m.leaves_head.empty()) {
      head = m.leaves_head;
      from = "left by " + key + ", " + m.name;
      from_keys = {key + ".method"};
      fix = "change " + key;
    }
  }
}

// The cosine-margin losses (LDAM, GCL, GCL-Ang) take the raw cosines of a normed head and scale them by
// loss.s themselves; the other losses take logits as they are, which on a normed head are cosines in [-1, 1].
std::vector<std::string> head_loss_warnings(const RunConfig& cfg) {
  std::vector<std::string> heads, out;
  check_stage_heads(cfg.doc, nullptr, &heads);
  for (const StageConfig& s : cfg.stages) {
    const size_t k = (size_t)s.index - 1;
    if (!s.trains || !s.has_loss || k >= heads.size() || heads[k].empty()) continue;
    const std::string& head = heads[k];
    const bool cosine_loss = s.loss_name == "ldam" || s.loss_name == "gcl" || s.loss_name == "gcl_ang";
    const bool scaled = head == "cosine" || head == "camc" || head == "projected_cosine";
    const std::string what = s.key() + ".loss " + s.loss_name + ": the stage trains head " + head;
    if (cosine_loss && head != "normed")
      out.push_back(what + (scaled ? ", whose logits are cosines already times its own scale: loss.s scales them "
                                     "again"
                                   : ", whose logits are not cosines") +
                    "; this loss takes the cosines of a normed head (the recipes use model.head normed)");
    if (!cosine_loss && head == "normed")
      out.push_back(what + ", whose logits are cosines in [-1, 1] with no scale: a softmax over them stays near "
                    "uniform; a cosine-margin loss (ldam, gcl) scales them by loss.s, model.head cosine learns a scale");
  }
  return out;
}

void check_stage_files(const RunConfig& cfg, int from) {
  for (const StageConfig& s : cfg.stages) {
    if (s.index < from) continue;
    if (auto& check = method_spec(s.method).check) check(s);
    if (s.load.kind == LoadFrom::File && !std::filesystem::is_regular_file(s.load.path))
      throw ConfigError(s.key() + ".load: checkpoint not found: " + s.load.path +
                        " (refusing to start from an untrained model)");
  }
}

// Softmax EQL drops the logits of the rare classes, T_j = [n_j / N < lambda], from the other samples'
// denominators. A lambda that marks every class rare with gamma 1 leaves only the target logit (the loss is 0):
// refused. One that marks no class rare leaves plain cross-entropy (as on balanced data): said.
static void check_eql_threshold(const StageConfig& c, const std::vector<int64_t>& counts, std::ostream* warnings) {
  double total = 0;
  int64_t rarest = -1, commonest = 0;
  for (int64_t n : counts) {
    total += (double)n;
    if (rarest < 0 || n < rarest) rarest = n;
    commonest = std::max(commonest, n);
  }
  if (total <= 0 || rarest < 0) return;
  char f[3][32];
  std::snprintf(f[0], sizeof f[0], "%.6g", (double)rarest / total);
  std::snprintf(f[1], sizeof f[1], "%.6g", (double)commonest / total);
  std::snprintf(f[2], sizeof f[2], "%g", c.loss.eql_lambda);
  const std::string lambda = c.key() + ".loss.eql_lambda " + f[2];
  const std::vector<bool> rare = eql_rare_classes(counts, c.loss.eql_lambda);
  const size_t n_rare = (size_t)std::count(rare.begin(), rare.end(), true);
  if (n_rare == rare.size() && c.loss.eql_gamma >= 1)
    throw ConfigError(lambda + " marks every class rare (the commonest holds " + f[1] + " of the training images), "
                      "and with eql_gamma 1 every non-target logit leaves the softmax: the loss would be 0; lower it "
                      "to " + f[1] + " or below, or eql_gamma below 1");
  if (n_rare == 0 && warnings)
    *warnings << "warning: " << lambda << " marks no class rare (the rarest holds " << f[0] << " of the training "
              << "images): the loss is plain cross-entropy; classes below lambda are rare\n";
}

void check_stage_plan(const RunConfig& cfg, const RunData& data, int world, int from, std::ostream* warnings) {
  const int64_t C = data.train.num_classes, channels = data.train.channels;
  const std::string& arch = cfg.model.arch;
  // the load files: read, of the run's model, and their heads followed through the stages
  check_stage_heads(cfg.doc, [&](const std::string& key, const std::string& path, const std::string& before) {
    if (stage_number(key) < from) return std::string();  // a finished stage: its file is not read again
    const std::string where = key + ".load";
    auto meta = read_checkpoint_metadata(where, path, CrcCheck::IfPresent);
    const std::string mismatch = checkpoint_mismatch(meta, arch, C, channels);
    if (!mismatch.empty()) throw ConfigError(where + ": " + path + ": " + mismatch);
    // the stage's load itself, into a model like the run's: every tensor's name and shape. Weights from
    // elsewhere (no metadata) load into the model as it is, whose head is known here only when it is model.head.
    if (!meta.count("head") && before != cfg.model.head) return before;
    Rng scratch(0);
    auto net = build_model(cfg.model, C, channels, scratch);
    try {
      load_into(*net, path, nullptr);
    } catch (const std::exception& e) {
      throw std::runtime_error(where + ": " + e.what());
    }
    return head_kind(*net);
  });
  for (const StageConfig& c : cfg.stages) {
    if (c.index < from) continue;
    const MethodSpec& m = method_spec(c.method);
    for (const std::string& key : m.teacher_keys)
      for (const std::string& ref : teacher_refs(c, key)) {
        if (stage_number(ref) > 0) continue;  // an earlier stage of this run: its classes are the run's
        const std::string where = c.key() + "." + key + " " + ref;  // (as the stage's own errors name it)
        auto meta = read_checkpoint_metadata(where, ref, CrcCheck::Required);
        for (const char* k : {"arch", "num_classes", "in_channels", "head"})
          if (!meta.count(k))
            throw ConfigError(where + ": no '" + k + "' in the metadata: a teacher is a checkpoint tailor wrote");
        if (meta.at("num_classes") != std::to_string(C) || meta.at("in_channels") != std::to_string(channels))
          throw ConfigError(where + ": a model of " + meta.at("num_classes") + " classes and " +
                            meta.at("in_channels") + " input channels; the run's data has " + std::to_string(C) +
                            " classes and " + std::to_string(channels) + " channels");
        try {  // the model the metadata describes, loaded as the stage will: its tensors agree with it
          load_model(ref);
        } catch (const std::exception& e) {
          throw std::runtime_error(where + ": " + e.what());
        }
      }
    if (!c.trains) continue;
    if (c.has_loss && !c.loss.weight.empty() && (int64_t)c.loss.weight.size() != C)
      throw ConfigError(c.key() + ".loss.weight: " + std::to_string(c.loss.weight.size()) + " class weights for " +
                        std::to_string(C) + " classes (one per class of the training data)");
    if (c.has_loss && c.loss_name == "eql") check_eql_threshold(c, data.train_counts, warnings);
    train_transform_for(data, c.augment, c.key() + ".augment");
    const std::string view2 = m.make(c)->second_view();
    if (!view2.empty()) {
      if (c.mixup_alpha > 0)
        throw ConfigError(c.key() + ": method " + c.method + " compares two views; mixup_alpha must be 0");
      train_transform_for(data, view2, c.key() + " (" + c.method + ") second view");
    }
    if (m.check_data) m.check_data(c, data, world);
  }
}

void explain_init_from_failure(const RunConfig& cfg, const RunData& data) {
  const std::string& path = cfg.model.init_from;
  std::map<std::string, std::string> meta;
  try {
    read_weights(path, &meta, CrcCheck::IfPresent);
  } catch (const std::exception&) {
    return;
  }
  std::string why = checkpoint_mismatch(meta, cfg.model.arch, data.train.num_classes, data.train.channels);
  if (why.empty() && meta.count("head") && meta.at("head") != cfg.model.head)
    why = "a checkpoint with head " + meta.at("head") + ", and model.head is " + cfg.model.head;
  if (why.empty()) return;
  // another backbone (architecture, input channels) loads in no mode; another classifier with init_allow_partial
  const bool backbone = (meta.count("arch") && meta.at("arch") != cfg.model.arch) ||
                        (meta.count("in_channels") && meta.at("in_channels") != std::to_string(data.train.channels));
  throw ConfigError("model.init_from " + path + ": " + why +
                    (backbone ? " (the backbone must be the model's)"
                     : cfg.model.init_allow_partial
                         ? ""
                         : " (model.init_allow_partial true takes the tensors that match, e.g. the backbone's; or start "
                           "from it with a stage's load)"));
}

}  // namespace tailor
