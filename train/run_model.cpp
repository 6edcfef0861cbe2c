#include "train/run_model.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "data/loader.h"
#include "engine/allocator.h"
#include "engine/version.h"
#include "data/samplers.h"
#include "layers/camc.h"
#include "layers/distill_heads.h"
#include "layers/heads.h"
#include "train/checkpoint.h"
#include "train/method.h"

namespace tailor {

std::shared_ptr<ResNet> build_model(const ModelConfig& m, int64_t num_classes, int64_t in_channels, Rng& rng) {
  if (m.head == "cosine") {  // CBD's teachers: the backbone's draws, then the cosine classifier's
    auto net = make_resnet(m.arch, num_classes, in_channels, HeadKind::None, rng);
    net->set_head(std::make_shared<CosineClassifier>(net->feature_dim(), num_classes, m.cosine_scale, rng));
    return net;
  }
  if (m.head == "camc") {  // CAMC: the backbone's draws, then the normalised classifier's
    auto net = make_resnet(m.arch, num_classes, in_channels, HeadKind::None, rng);
    net->set_head(std::make_shared<CamcHead>(net->feature_dim(), num_classes, m.camc_scale, m.camc_temperature,
                                             m.camc_lambda, rng));
    return net;
  }
  auto net = make_resnet(m.arch, num_classes, in_channels, parse_head(m.head), rng);
  // The prior bias of sigmoid / focal models (Lin et al. 2017; Cui et al. 2019 with p = 1/C): every class
  // starts at probability p, b = -log((1 - p) / p). The default init is drawn first, so no other weight moves.
  if (m.head_bias_prior > 0) {
    auto lin = std::dynamic_pointer_cast<Linear>(net->head());
    TAILOR_CHECK(lin && lin->bias.defined(), "model.head_bias_prior: the head has no bias");
    lin->bias.fill_((float)-std::log((1.0 - m.head_bias_prior) / m.head_bias_prior));
  }
  return net;
}

std::string head_kind(const ResNet& net) {
  auto h = net.head();
  if (std::dynamic_pointer_cast<NormedLinear>(h)) return "normed";
  if (std::dynamic_pointer_cast<LWSClassifier>(h)) return "lws";
  if (std::dynamic_pointer_cast<NCMClassifier>(h)) return "ncm";
  if (std::dynamic_pointer_cast<CosineClassifier>(h)) return "cosine";
  if (std::dynamic_pointer_cast<ProjectedCosineHead>(h)) return "projected_cosine";
  if (std::dynamic_pointer_cast<TwoHeads>(h)) return "two_heads";
  if (std::dynamic_pointer_cast<CamcHead>(h)) return "camc";
  if (auto lin = std::dynamic_pointer_cast<Linear>(h)) return lin->bias.defined() ? "linear" : "tau_norm";
  fail("save_model: unsupported classifier head");
}

void save_model(const std::string& path, const ResNet& net, const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> meta = extra;
  meta["arch"] = net.config().arch;
  meta["num_classes"] = std::to_string(net.config().num_classes);
  meta["in_channels"] = std::to_string(net.config().in_channels);
  meta["head"] = head_kind(net);
  meta["engine_version"] = version_commit();  // the tailor that wrote the weights (as summary.json's)
  meta["engine_build"] = version_build();
  if (auto ncm = std::dynamic_pointer_cast<NCMClassifier>(net.head())) {
    meta["ncm_feat_type"] = ncm->feat_type;
    meta["ncm_dist_type"] = ncm->dist_type;
  }
  if (auto p = std::dynamic_pointer_cast<ProjectedCosineHead>(net.head())) meta["proj_dim"] = std::to_string(p->proj_dim());
  if (auto t = std::dynamic_pointer_cast<TwoHeads>(net.head())) meta["eval_head"] = t->eval_soft ? "soft" : "hard";
  save_weights(path, net, meta);
}

namespace {

// Installs an empty head of `kind` (its values are about to be loaded) unless net has one already.
void install_head(ResNet& net, const std::string& kind, std::map<std::string, std::string>& meta,
                  const std::string& path) {
  if (head_kind(net) == kind) return;
  const int64_t F = net.feature_dim(), C = net.config().num_classes;
  Rng scratch(0);  // overwritten by the load
  std::shared_ptr<Module> h;
  if (kind == "linear") h = std::make_shared<Linear>(F, C, true, scratch);
  else if (kind == "normed") h = std::make_shared<NormedLinear>(F, C, scratch);
  else if (kind == "lws") h = std::make_shared<LWSClassifier>(F, C, true, scratch);
  else if (kind == "tau_norm") h = std::make_shared<Linear>(F, C, false, scratch);
  else if (kind == "ncm") h = std::make_shared<NCMClassifier>(F, C, meta["ncm_feat_type"], meta["ncm_dist_type"]);
  else if (kind == "cosine") h = std::make_shared<CosineClassifier>(F, C, 1.0, scratch);  // sigma is loaded
  else if (kind == "projected_cosine") {
    if (!meta.count("proj_dim")) fail(path + ": head projected_cosine without 'proj_dim' in the metadata");
    h = std::make_shared<ProjectedCosineHead>(F, std::stoll(meta["proj_dim"]), C, 1.0, scratch);
  } else if (kind == "two_heads") h = std::make_shared<TwoHeads>(F, C, meta["eval_head"] != "hard", scratch);
  else if (kind == "camc") h = std::make_shared<CamcHead>(F, C, 1.0, 1.0, 0.0, scratch);  // s, T, lambda are loaded
  else fail(path + ": unknown head '" + kind + "' in the metadata");
  h->to(net.device());
  net.set_head(h);
}

}  // namespace

std::string arch_input_warning(const std::string& arch, int image_size, int64_t batch_size) {
  if (arch != "resnet32" || image_size <= 64) return "";
  const double gb = 23.2 * (image_size / 224.0) * (image_size / 224.0) * (double)batch_size / 128.0;
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "warning: model.arch resnet32 is CIFAR's network for 32x32 images (no downsampling stem); at %dx%d a "
                "batch of %lld needs about %.0f GB for its activations: data.augment cifar keeps small images as "
                "they are, and resnet10 / resnet50 are the networks for large ones\n",
                image_size, image_size, (long long)batch_size, gb);
  return buf;
}

// MemAvailable of /proc/meminfo in bytes (what can be allocated without swapping); 0 when unknown.
static double mem_available_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// The host memory of a training step, measured: a blank model of the run's architecture (scratch weights,
// no state of the run touched) takes one forward + backward (cross-entropy) on n and 2n blank images; the
// allocator's peak above what it held before, d(n) = A n + F, gives the activations per image A and the fixed
// part F (gradients, transients). A step of batch B: the momentum buffers W + F + A B (the run's own weights
// are allocated already). Small probes see a smaller A: ResNet-32 at 28x28, 2.10 MB per image at n = 2,
// 2.36 at n = 16 and at 64, 2.55 in real steps of 1000 to 3000 images by the process's peak RSS (oneDNN's
// buffers included).
double training_step_host_bytes(const ModelConfig& m, int64_t classes, int64_t channels, int image_size,
                                int64_t batch, int64_t probe) {
  double d[2] = {0, 0}, weights = 0;
  const int64_t n[2] = {probe, 2 * probe};
  for (int i = 0; i < 2; ++i) {
    Rng scratch(0);
    auto net = build_model(m, classes, channels, scratch);
    net->train();
    weights = 4.0 * (double)net->num_parameters();
    const Tensor x = Tensor::zeros({n[i], image_size, image_size, channels});
    const Tensor y = Tensor::from_vector_i32(std::vector<int32_t>(n[i], 0), {n[i]});
    cpu_reset_peak_memory();
    const double base = (double)cpu_memory_stats().allocated;
    try {
      softmax_cross_entropy(net->forward(x), y).backward();
    } catch (...) {
      cpu_release_conv_setups();
      throw;
    }
    d[i] = (double)cpu_memory_stats().peak - base;
  }
  cpu_empty_cache();          // the probes' blocks, and the convolution setups of their batch sizes: not kept
  cpu_release_conv_setups();  // for sizes training never asks for (no convolution of the run has run yet)
  const double per_image = std::max(0.0, (d[1] - d[0]) / (double)(n[1] - n[0]));
  const double fixed = std::max(0.0, d[0] - per_image * (double)n[0]);
  return weights + fixed + per_image * (double)batch;
}

std::string host_memory_warning(const RunConfig& cfg, const data::Dataset& train, int preset_size, int world) {
  if (cfg.device != "cpu") return "";  // a GPU's allocation failure is an error with a message
  const int image_size = preset_size > 0 ? preset_size : train.height;  // (data given whole: its images' size)
  const StageConfig* largest = nullptr;  // the stage training the backbone on the largest batch
  for (const StageConfig& s : cfg.stages)
    if (s.trains && !method_spec(s.method).frozen_backbone && (!largest || s.batch_size > largest->batch_size))
      largest = &s;
  const double available = mem_available_bytes();
  if (!largest || available <= 0) return "";
  // a rank trains its share of the global batch; the ranks on this host (Open MPI says how many) share it
  const int64_t B = (largest->batch_size + world - 1) / world;
  const int said = launch_info().local_size;  // the ranks on this host (not said by the launcher: all of them)
  const int on_host = world <= 1 ? 1 : said > 0 ? said : world;
  if (B < 8) return "";  // a few images: no host runs short of them (and the probe would take more than a step)
  double need = 0;
  try {
    need = on_host * training_step_host_bytes(cfg.model, train.num_classes, train.channels, image_size, B, 2);
  } catch (const std::exception&) {
    return "";  // images this model cannot take: the first step says so
  }
  if (need < 0.7 * available) return "";  // (the estimate is 10-20 % low: see training_step_host_bytes)
  char gb[2][32];
  std::snprintf(gb[0], sizeof gb[0], "%.1f", need / 1e9);
  std::snprintf(gb[1], sizeof gb[1], "%.1f", available / 1e9);
  return "warning: " + largest->key() + " trains " + cfg.model.arch + " on batches of " + std::to_string(B) +
         (world > 1 ? " per rank (" + std::to_string(on_host) + " on this host)" : "") + " at " +
         std::to_string(image_size) + "x" + std::to_string(image_size) + ": a step needs about " + gb[0] +
         " GB of host memory or more (measured on blank batches of 2 and 4 images, which take 10-20 % less per "
         "image than large ones; a method's extra networks not counted) and " + gb[1] +
         " GB are available: the system may kill the run without a message (lower " + largest->key() +
         ".batch_size, or train on a GPU)\n";
}

std::string weights_origin(const std::map<std::string, std::string>& meta) {
  if (meta.count("state")) return "state";
  if (meta.count("arch")) return "model";
  for (const char* k : {"crc32", "head", "num_classes", "in_channels", "stage"})
    if (meta.count(k)) return "damaged";
  return "foreign";
}

std::shared_ptr<ResNet> load_model(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::map<std::string, std::string> meta;
  auto sd = read_weights(path, &meta);
  if (metadata) *metadata = meta;
  if (meta.count("state"))
    fail(path + ": a run's training state, not a model checkpoint (checkpoints/stage<k>_last.safetensors, _best)");
  for (const char* k : {"arch", "num_classes", "in_channels", "head"})
    if (!meta.count(k))
      fail(path + ": no '" + k + "' in the metadata: not a tailor model checkpoint (the model tools load other "
           "weights into the model of a config: --checkpoint F --config C)");
  const int64_t C = std::stoll(meta["num_classes"]), in = std::stoll(meta["in_channels"]);
  Rng scratch(0);  // every weight is overwritten by the load
  auto net = make_resnet(meta["arch"], C, in, meta["head"] == "normed" ? HeadKind::Normed : HeadKind::Linear, scratch);
  install_head(*net, meta["head"], meta, path);
  try {
    net->load_state_dict(sd, false);
  } catch (const std::exception& e) {
    fail(path + ": " + e.what());
  }
  return net;
}

static std::string model_words(const std::string& arch, const std::string& classes, const std::string& channels) {
  return arch + ", " + classes + " classes, " + channels + " input channels";
}

std::string checkpoint_mismatch(const std::map<std::string, std::string>& meta, const std::string& arch,
                                int64_t num_classes, int64_t in_channels) {
  if (!meta.count("arch")) return "";
  auto at = [&](const char* k) { return meta.count(k) ? meta.at(k) : std::string("?"); };
  const std::string got = model_words(at("arch"), at("num_classes"), at("in_channels")),
                    model = model_words(arch, std::to_string(num_classes), std::to_string(in_channels));
  return got == model ? "" : "a checkpoint of " + got + "; this run's model is " + model;
}

void load_into(ResNet& net, const std::string& path, std::ostream* log) {
  std::map<std::string, std::string> meta;
  auto sd = read_weights(path, &meta, CrcCheck::IfPresent);
  const ResNetConfig& c = net.config();
  const std::string model = model_words(c.arch, std::to_string(c.num_classes), std::to_string(c.in_channels));
  if (meta.count("arch")) {
    const std::string mismatch = checkpoint_mismatch(meta, c.arch, c.num_classes, c.in_channels);
    if (!mismatch.empty()) fail(path + ": " + mismatch);
    install_head(net, meta["head"], meta, path);
  }
  Module::LoadReport rep;
  try {
    rep = net.load_state_dict(sd, false);
  } catch (const std::exception& e) {
    fail(path + " does not match the model (" + model + ", head " + head_kind(net) + "): " + e.what());
  }
  if (log) *log << "loaded " << path << " (head " << head_kind(net) << "): " << rep.str() << "\n";
}

// run_model.h
static data::SamplerConfig sequential() {
  data::SamplerConfig sc;
  sc.kind = data::SamplerKind::Sequential;
  return sc;
}

static data::LoaderConfig eval_loader_config(const data::Dataset& ds, int64_t batch, int workers,
                                             std::optional<Device> resident) {
  data::LoaderConfig lc;
  lc.on_bad_image = ds.on_bad_image;  // (lazy sets: a failing image left out under skip, and counted)
  lc.batch_size = batch;
  lc.num_workers = workers;
  lc.resident = resident;
  return lc;
}

EvalLoader::EvalLoader(const data::Dataset& ds, const data::TransformConfig& tf, int64_t batch, int workers,
                       std::optional<Device> resident)
    : sampler(ds.labels, ds.num_classes, sequential()),
      loader(ds, sampler, tf, eval_loader_config(ds, batch, workers, resident)) {}

int64_t for_each_eval_batch(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf, int64_t batch,
                            int workers, const std::function<void(const data::Batch&)>& fn, bool resident) {
  EvalLoader el(ds, tf, batch, workers, resident ? std::optional<Device>(net.device()) : std::nullopt);
  data::Loader& loader = el.loader;
  const bool was_training = net.is_training();
  net.eval();
  NoGradGuard ng;
  loader.start_epoch(0);
  data::Batch b;
  while (loader.next(b)) {
    data::to_device(b, net.device());
    if (b.labels.numel() > 0) fn(b);
  }
  net.train(was_training);
  return loader.skipped();
}

EvalMetrics evaluate_dataset(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf,
                             const std::vector<int64_t>& train_counts, const ShotRule& rule, int64_t batch,
                             int workers, bool resident, GraphMode graphs) {
  MetricsAccumulator acc(ds.num_classes, train_counts, rule);
  std::optional<EvalGraph> graph;  // for this evaluation only
  if (graphs == GraphMode::Capture && !net.device().is_cuda()) graphs = GraphMode::Off;  // nothing to capture
  if (graphs != GraphMode::Off) graph.emplace(graphs);
  const int64_t skipped = for_each_eval_batch(
      net, ds, tf, batch, workers,
      [&](const data::Batch& b) { acc.add(graph ? graph->forward(net, b.images) : net.forward(b.images), b.labels); },
      resident);
  EvalMetrics m = acc.finish();
  m.skipped = skipped;
  return m;
}

void for_each_feature_batch(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf, int64_t batch,
                            int workers, bool with_logits, const FeatureBatchFn& fn) {
  auto* map_head = dynamic_cast<FeatureMapHead*>(net.head().get());  // CAMC: logits from the feature map
  for_each_eval_batch(net, ds, tf, batch, workers, [&](const data::Batch& b) {
    Tensor phi = map_head ? net.feature_map(b.images) : Tensor();
    Tensor f = map_head ? global_avg_pool(phi) : net.features(b.images);
    std::vector<float> logits;
    if (with_logits) {  // the model's own logits (ResNet::forward's)
      Tensor z = map_head ? map_head->forward_map(phi, Tensor()) : net.head()->forward(f);
      logits = z.contiguous().cpu().to_vector();
    }
    fn(f.contiguous().cpu().to_vector(), logits, b.labels.cpu().to_vector_i32(), b.indices);
  });
}

SplitFeatures extract_features(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf, int64_t batch,
                               int workers, bool with_logits) {
  std::vector<float> feats, logits;
  feats.reserve((size_t)ds.size() * (size_t)net.feature_dim());
  if (with_logits) logits.reserve((size_t)ds.size() * (size_t)net.config().num_classes);
  SplitFeatures out;
  for_each_feature_batch(net, ds, tf, batch, workers, with_logits,
                         [&](const std::vector<float>& f, const std::vector<float>& z, const std::vector<int32_t>& y,
                             const std::vector<int64_t>& idx) {
                           feats.insert(feats.end(), f.begin(), f.end());
                           logits.insert(logits.end(), z.begin(), z.end());
                           out.labels.insert(out.labels.end(), y.begin(), y.end());
                           for (int64_t i : idx) out.indices.push_back((int32_t)i);
                         });
  const int64_t N = (int64_t)out.labels.size();
  out.features = Tensor::from_vector(feats, {N, net.feature_dim()});
  std::vector<float>().swap(feats);
  if (with_logits) out.logits = Tensor::from_vector(logits, {N, net.config().num_classes});
  return out;
}

std::vector<double> class_weight_norms(const ResNet& net) {
  auto h = net.head();
  Tensor w;
  bool columns = false;  // NormedLinear keeps [in, out]
  if (auto n = std::dynamic_pointer_cast<NormedLinear>(h)) {
    w = n->weight;
    columns = true;
  } else if (auto l = std::dynamic_pointer_cast<Linear>(h)) {
    w = l->weight;
  } else {
    for (auto& [name, t] : h->named_parameters())
      if (name == "fc.weight") w = t;  // LWS: the frozen stage-1 classifier
  }
  if (!w.defined() || w.dim() != 2) return {};
  std::vector<float> v = w.contiguous().cpu().to_vector();
  const int64_t R = w.shape()[0], K = w.shape()[1];
  const int64_t C = columns ? K : R, F = columns ? R : K;
  std::vector<double> norms(C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t f = 0; f < F; ++f) {
      double x = columns ? v[f * K + c] : v[c * K + f];
      s += x * x;
    }
    norms[c] = std::sqrt(s);
  }
  return norms;
}

static Json pct(double fraction) { return std::isfinite(fraction) ? Json(std::round(fraction * 1e6) / 1e4) : Json(nullptr); }
static Json group(const ShotGroup& g) { return g.empty() ? Json(nullptr) : pct(g.acc); }

void add_eval_fields(Json& line, const EvalMetrics& m) {
  line["top1"] = pct(m.top1);
  line["balanced_acc"] = pct(m.balanced_acc);
  line["top5"] = pct(m.top5);
  line["many"] = group(m.many);
  line["medium"] = group(m.medium);
  line["few"] = group(m.few);
  line["ece"] = pct(m.ece);
}

Json eval_to_json(const EvalMetrics& m, const std::vector<int64_t>& train_counts,
                  const std::vector<std::string>& class_names, const ResNet& net) {
  Json j;
  j["samples"] = m.samples;
  if (m.skipped > 0) j["skipped_images"] = m.skipped;  // not decodable, left out (data.on_bad_image skip)
  add_eval_fields(j, m);
  j["mce"] = pct(m.mce);
  j["many_classes"] = m.many.classes;
  j["medium_classes"] = m.medium.classes;
  j["few_classes"] = m.few.classes;
  Json groups{{"rule", data::shot_rule_name(m.shot_rule.kind)}};
  if (m.shot_rule.kind == ShotRule::Kind::Counts) {
    groups["many_above"] = m.shot_rule.many_above;
    groups["few_below"] = m.shot_rule.few_below;
  }
  groups["description"] = m.shot_rule_text;
  for (int g = 0; g < 3; ++g) groups[data::kShotGroupName[g]] = m.shot_split.group(g);
  j["shot_groups"] = groups;
  if (!class_names.empty()) j["class_names"] = class_names;
  j["train_counts"] = train_counts;
  j["test_counts"] = m.per_class_count;
  Json acc = Json::array();
  for (double a : m.per_class_acc) acc.push_back(pct(a));
  j["per_class_acc"] = acc;
  // the confusion matrix: C x C rows up to kDenseConfusionMax classes, else its non-zero cells
  // [true, predicted, count] (iNaturalist's 8,142 classes: 66M cells, for one non-zero cell per image at most)
  const size_t C = m.per_class_count.size();
  if (!m.confusion.empty()) {
    Json conf = Json::array();
    for (size_t r = 0; r < C; ++r) {
      Json row = Json::array();
      for (size_t c = 0; c < C; ++c) row.push_back(m.confusion[r * C + c]);
      conf.push_back(row);
    }
    j["confusion"] = conf;
  } else {
    Json cells = Json::array();
    for (auto& cell : m.confusion_cells) cells.push_back({cell[0], cell[1], cell[2]});
    j["confusion_cells"] = cells;
  }
  Json rel;
  rel["bins"] = m.bin_count.size();
  Json bc = Json::array(), ba = Json::array();
  for (size_t b = 0; b < m.bin_count.size(); ++b) {
    bc.push_back(std::isfinite(m.bin_confidence[b]) ? Json(m.bin_confidence[b]) : Json(nullptr));
    ba.push_back(std::isfinite(m.bin_accuracy[b]) ? Json(m.bin_accuracy[b]) : Json(nullptr));
  }
  rel["confidence"] = bc;
  rel["accuracy"] = ba;
  rel["count"] = m.bin_count;
  j["reliability"] = rel;
  j["head"] = head_kind(net);
  j["engine_version"] = version_commit();  // the tailor that evaluated (as summary.json's, tailor --version)
  j["engine_build"] = version_build();
  const std::vector<double> weight_norms = class_weight_norms(net);
  if (!weight_norms.empty()) j["weight_norms"] = weight_norms;
  return j;
}

}  // namespace tailor
