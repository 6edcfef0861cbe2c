#include "train/run_config.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>

#include "train/method.h"

namespace tailor {

std::string expand_home(const std::string& p, const std::string& key) {
  if (p != "~" && p.rfind("~/", 0) != 0) return p;
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw ConfigError(key + " " + p + ": '~' needs $HOME, which is not set; give the full path");
  return std::string(home) + p.substr(1);
}

LossConfig loss_config(const Json& st) {
  const Json& l = st.at("loss");
  LossConfig c;
  // a key the stage does not read is absent from the resolved document: the struct's default stays
  std::set<std::string> read = {"name", "weight"};
  auto get = [&](const char* k, auto& field) {
    read.insert(k);
    if (l.contains(k)) field = l.at(k).get<std::decay_t<decltype(field)>>();
  };
  if (l.contains("weight"))
    for (auto& w : l.at("weight")) c.weight.push_back(w.get<float>());
  get("train_rule", c.train_rule);
  get("drw_epoch", c.drw_epoch);
  get("beta", c.beta);
  get("gamma", c.gamma);
  get("detach_p", c.detach_p);
  get("max_m", c.max_m);
  get("s", c.s);
  get("tau", c.tau);
  get("m", c.m);
  get("noise_mul", c.noise_mul);
  get("train_cls", c.train_cls);
  get("epsilon", c.epsilon);
  get("easy_margin", c.easy_margin);
  get("smooth_head", c.smooth_head);
  get("smooth_tail", c.smooth_tail);
  get("shape", c.shape);
  get("power", c.power);
  get("eql_lambda", c.eql_lambda);
  get("eql_gamma", c.eql_gamma);
  // every key the loss declares (losses/loss.cpp loss_keys) must land in LossConfig: a key added to the schema
  // and the loss but not here would be accepted, written to config.json and silently have no effect
  for (auto it = l.begin(); it != l.end(); ++it)
    if (!read.count(it.key()))
      throw std::logic_error("loss." + it.key() + " is a key of loss '" + l.value("name", std::string("?")) +
                             "' that train/run_config.cpp's loss_config does not read into LossConfig");
  return c;
}

ModelConfig parse_model_config(const Json& m) {
  ModelConfig c;
  c.arch = m.at("arch");
  c.head = m.at("head");
  c.init_from = expand_home(m.at("init_from"), "model.init_from");
  c.init_allow_partial = m.at("init_allow_partial");
  c.head_bias_prior = m.value("head_bias_prior", 0.0);  // present with head linear only
  c.cosine_scale = m.value("cosine_scale", 20.0);  // present with head cosine only
  c.camc_scale = m.value("camc_scale", 16.0);      // present with head camc only
  c.camc_temperature = m.value("camc_temperature", 0.5);
  c.camc_lambda = m.value("camc_lambda", 1.0);
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
  r.kind = parse_schedule_kind(s.at("kind"));
  r.base_lr = st.at("optim").at("lr").get<float>();
  r.warmup_epochs = s.at("warmup_epochs");
  r.warmup_from = s.at("warmup_from").get<float>();
  if (s.contains("milestones"))
    for (auto& m : s.at("milestones")) r.milestones.push_back(m.get<int>());
  if (s.contains("gamma")) r.gamma = s.at("gamma").get<float>();
  if (s.contains("factors"))
    for (auto& f : s.at("factors")) r.factors.push_back(f.get<float>());
  r.total_epochs = std::max(1, st.at("epochs").get<int>());
  if (s.contains("min_lr")) r.min_lr = s.at("min_lr").get<float>();
  if (s.contains("per_step")) r.per_step = s.at("per_step");
  r.validate();
  return r;
}

data::SamplerConfig sampler_config(const Json& st, uint64_t seed) {
  const Json& s = st.at("sampler");
  data::SamplerConfig c;
  c.kind = data::parse_sampler_kind(s.at("name").get<std::string>());
  c.seed = seed;
  if (s.contains("samples_per_class")) c.samples_per_class = s.at("samples_per_class");
  if (s.contains("beta")) c.beta = s.at("beta");
  if (s.contains("cben_beta_a")) c.cben_beta_a = s.at("cben_beta_a");
  if (s.contains("cben_beta_b")) c.cben_beta_b = s.at("cben_beta_b");
  c.total_epochs = std::max(1, st.at("epochs").get<int>());
  return c;
}

DataConfig parse_data_config(const Json& d) {
  DataConfig c;
  c.dataset = d.at("dataset");
  c.root = expand_home(d.at("root"), "data.root");
  c.format = d.at("format");
  c.train_list = d.at("train_list");
  c.val_list = d.at("val_list");
  c.test_list = d.at("test_list");
  c.imbalance_profile = d.at("imbalance").at("profile");
  c.imbalance_ratio = d.at("imbalance").at("ratio");
  c.imbalance_seed = d.at("imbalance").at("seed").get<uint32_t>();
  c.imbalance_n_max = d.at("imbalance").at("n_max");
  c.test_per_class = d.at("test_per_class");
  c.augment = d.at("augment");
  c.image_size = d.at("image_size");
  c.eval_batch_size = d.at("eval_batch_size");
  c.workers = d.at("workers");
  c.resident = d.value("resident", false);  // absent in run directories written before the key
  c.on_bad_image = d.at("on_bad_image");
  return c;
}

data::ShotRule parse_shot_rule(const Json& e) {
  data::ShotRule d;  // many_above / few_below are absent for the thirds rule
  return data::make_shot_rule(e.at("groups").get<std::string>(), e.value("many_above", d.many_above),
                              e.value("few_below", d.few_below));
}

static StageConfig parse_stage(const Json& st, int index) {
  StageConfig c;
  c.index = index;
  c.doc = st;
  c.method = st.at("method");
  const MethodSpec& m = method_spec(c.method);
  c.trains = m.trains;
  if (st.contains("load")) {
    const std::string l = st.at("load");
    c.load.kind = l == "best"    ? LoadFrom::Best
                  : l == "last"  ? LoadFrom::Last
                  : l == "fresh" ? LoadFrom::Fresh
                                 : LoadFrom::File;
    if (c.load.kind == LoadFrom::File) c.load.path = l;
  }
  if (m.trains) {
    c.epochs = st.at("epochs");
    c.batch_size = st.at("batch_size");
    c.max_steps_per_epoch = st.at("max_steps_per_epoch");
    c.mixup_alpha = st.at("mixup_alpha");
    c.augment = st.value("augment", "");
    if (st.contains("sampler")) c.sampler = sampler_config(st, 0);  // absent: the method draws its batches
    c.optim = sgd_options(st);
    c.decay_head_bias = st.at("optim").value("decay_head_bias", true);
    c.schedule = lr_schedule(st);
  }
  if (m.takes_loss) {
    c.has_loss = true;
    c.loss_name = st.at("loss").at("name");
    c.loss = loss_config(st);
  }
  if (st.contains("bn_mode")) c.bn_mode = st.at("bn_mode") == "train" ? BnMode::Train : BnMode::Eval;
  return c;
}

RunConfig parse_run_config(const Json& j) {
  RunConfig c;
  c.doc = j;
  c.name = j.at("name");
  c.runs_dir = expand_home(j.at("runs_dir"), "runs_dir");
  c.seed = j.at("seed").get<uint64_t>();
  c.threads = j.at("threads");
  c.device = j.at("device");
  c.deterministic = j.at("deterministic");
  c.cuda_graphs = j.value("cuda_graphs", false);  // absent in run directories written before the key
  c.precision = parse_precision(j.value("precision", "fp32"));  // absent in run directories written before the key
  c.data = parse_data_config(j.at("data"));
  c.model = parse_model_config(j.at("model"));
  for (int k = 1; j.contains("stage" + std::to_string(k)); ++k) c.stages.push_back(parse_stage(j.at("stage" + std::to_string(k)), k));
  c.checkpoint_every_steps = j.at("checkpoint").at("every_steps");
  c.keep_best = j.at("checkpoint").at("keep_best");
  c.eval_every_epochs = j.at("eval").at("every_epochs");
  const std::string sel = j.at("eval").at("select");
  c.eval_select = sel == "val" ? EvalSelect::Val : sel == "last" ? EvalSelect::Last : EvalSelect::Test;
  c.shot_rule = parse_shot_rule(j.at("eval"));
  c.nonfinite = j.at("guard").at("nonfinite") == "skip" ? NonFinite::Skip : NonFinite::Stop;
  c.max_skips = j.at("guard").at("max_skips");
  c.step_losses = j.at("log").at("step_losses");
  c.progress = j.at("log").at("progress");
  c.anomaly = j.at("debug").at("anomaly");
  c.profile_steps = j.at("debug").value("profile_steps", (int64_t)0);  // absent in older run directories
  if (j.contains("dist")) {  // a run directory written before the dist section: the defaults
    const Json& d = j.at("dist");
    c.dist.backend = d.value("backend", c.dist.backend);
    c.dist.sync_bn = d.value("sync_bn", c.dist.sync_bn);
    c.dist.timeout_s = d.value("timeout_s", c.dist.timeout_s);
    c.dist.bucket_mb = d.value("bucket_mb", c.dist.bucket_mb);
    c.dist.overlap = d.value("overlap", c.dist.overlap);
  }
  return c;
}

std::vector<std::string> schedule_warnings(const RunConfig& c) {
  std::vector<std::string> out;
  for (const StageConfig& s : c.stages) {
    if (!s.trains) continue;
    const std::string e = std::to_string(s.epochs) + (s.epochs == 1 ? " epoch" : " epochs");
    if (s.schedule.kind == ScheduleKind::MultiStep)
      for (int m : s.schedule.milestones)
        if (m >= s.epochs) {
          out.push_back(s.key() + ".schedule.milestones: " + std::to_string(m) + " is not before the stage's end (" + e +
                        "): the learning rate never drops there");
          break;
        }
    if (s.loss.train_rule == "DRW" && s.loss.drw_epoch >= s.epochs)
      out.push_back(s.key() + ".loss.drw_epoch " + std::to_string(s.loss.drw_epoch) + " is not before the stage's end (" +
                    e + "): the deferred re-weighting never starts");
  }
  const DataConfig& d = c.data;  // an LT subset's keys under profile none (a dataset's own counts) change nothing
  if (d.imbalance_profile == "none" && (d.imbalance_ratio != 100.0 || d.imbalance_n_max != -1))
    out.push_back("data.imbalance.ratio / n_max are read by data.imbalance.profile exp or step only; this run's "
                  "profile is none (the default for folders, lists and iNat), so the training set keeps its own "
                  "counts");
  return out;
}

}  // namespace tailor
