// Models of a run: built from the config, saved with enough metadata to be rebuilt (arch, classes,
// input channels, head kind), loaded back — into a run's model between stages, or whole for `tailor eval /
// tau-sweep / extract-features` — and evaluated, with the evaluation written as the JSON the report reads.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "data/augment.h"
#include "data/loader.h"
#include "data/dataset.h"
#include "layers/resnet.h"
#include "train/config.h"
#include "train/eval_graph.h"
#include "train/metrics.h"
#include "train/run_config.h"

namespace tailor {


// The run's model; every initial weight drawn from `rng` (the run's model stream, Rng(seed)).
std::shared_ptr<ResNet> build_model(const ModelConfig& m, int64_t num_classes, int64_t in_channels, Rng& rng);

// "linear" | "normed" | "lws" | "tau_norm" (a bias-free Linear) | "ncm" | "cosine" | "projected_cosine" |
// "two_heads" | "camc"
std::string head_kind(const ResNet& net);
// Weights + metadata (arch, num_classes, in_channels, head, and `extra`), atomically with crc32.
void save_model(const std::string& path, const ResNet& net, const std::map<std::string, std::string>& extra = {});
// Rebuilds the network a save_model file describes and loads it strictly; `metadata` (optional) gets the
// file's metadata.
std::shared_ptr<ResNet> load_model(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);
// What a safetensors file is, by its metadata: "model" (a tailor model checkpoint: it names its model),
// "state" (a run's training state), "foreign" (no tailor metadata: PyTorch's save_file, converted
// torchvision weights; they load into a model built from a config) or "damaged" (some of tailor's keys).
std::string weights_origin(const std::map<std::string, std::string>& metadata);
// "" or a warning: ResNet-32 (CIFAR's network: no downsampling stem) on images larger than 64 pixels, whose
// activations grow with the image area (a batch of 128 at 224x224 took 23 GB of host memory, measured).
std::string arch_input_warning(const std::string& arch, int image_size, int64_t batch_size);
// The host memory of one training step (forward + backward + SGD with momentum) of this model on batches of
// `batch` images, measured on blank batches of `probe` and 2 `probe` images of a scratch model (bytes; the
// run's own weights, oneDNN's buffers and a method's extra networks not counted). Runs on the CPU.
double training_step_host_bytes(const ModelConfig& m, int64_t classes, int64_t channels, int image_size,
                                int64_t batch, int64_t probe = 2);
// "" or a warning: on the CPU, the stage that trains the backbone on the largest batch (its share on each of
// `world` ranks, times the ranks on this host) needs 70 % or more of the host memory available now
// (/proc/meminfo MemAvailable): the kernel's OOM killer ends such a run with no message of the program's.
// The images: the training set's classes and channels at the preset's side (0: the images' own).
std::string host_memory_warning(const RunConfig& cfg, const data::Dataset& train, int preset_size, int world = 1);
// Loads a checkpoint into `net` strictly. A file save_model wrote must describe net's architecture, class
// count and input channels; its head kind replaces net's head when it differs (a stage after LWS starts
// from the LWS classifier). A file without that metadata (PyTorch weights) must match net as it is.
// Errors name the file and what differs. `log` gets one line.
void load_into(ResNet& net, const std::string& path, std::ostream* log);
// "" when checkpoint metadata describes a model of this architecture, class count and input channels (or has
// none: weights from elsewhere), else "a checkpoint of resnet32, 100 classes, 3 input channels; this run's
// model is ..." (what load_into refuses).
std::string checkpoint_mismatch(const std::map<std::string, std::string>& meta, const std::string& arch,
                                int64_t num_classes, int64_t in_channels);

// Evaluation of `net` on a whole dataset (eval mode, no grad, sequential; the model's mode is restored);
// the shot groups by `rule` over `train_counts`. resident (data.resident): the images go to the model's device
// once as u8 and every batch is normalised there (data/resident.h), the same floats as the host path.
// graphs: the forward of each batch shape captured once and replayed (train/eval_graph.h).
EvalMetrics evaluate_dataset(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf,
                             const std::vector<int64_t>& train_counts, const ShotRule& rule, int64_t batch,
                             int workers, bool resident = false, GraphMode graphs = GraphMode::Off);

// The evaluation loader of `ds`: the sequential sampler and a loader on it (eval transform); resident: the
// loader gathers the batches on that device (LoaderConfig::resident).
struct EvalLoader {
  EvalLoader(const data::Dataset& ds, const data::TransformConfig& tf, int64_t batch, int workers,
             std::optional<Device> resident = std::nullopt);
  data::Sampler sampler;
  data::Loader loader;
};

// Every batch of `ds` in order (eval transform, batches on the model's device) through `net` in eval mode
// without gradient; the model's mode is restored afterwards. resident: as evaluate_dataset's.
// Returns how many images were left out: a lazily decoded image that fails under data.on_bad_image skip
// (the dataset's on_bad_image).
int64_t for_each_eval_batch(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf, int64_t batch,
                            int workers, const std::function<void(const data::Batch&)>& fn, bool resident = false);

// One split through the model (eval transform, eval mode, no grad), in dataset order: the pooled features
// [N, F] on the host, the labels and dataset indices, and (with_logits) the head's logits [N, C].
struct SplitFeatures {
  Tensor features, logits;
  std::vector<int32_t> labels, indices;
};
SplitFeatures extract_features(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf, int64_t batch,
                               int workers, bool with_logits = false);
// The same batch by batch, nothing kept: fn(features [b x F] on the host, row-major; logits [b x C] (empty without
// with_logits); labels [b]; dataset indices [b]).
using FeatureBatchFn = std::function<void(const std::vector<float>& features, const std::vector<float>& logits,
                                          const std::vector<int32_t>& labels, const std::vector<int64_t>& indices)>;
void for_each_feature_batch(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf, int64_t batch,
                            int workers, bool with_logits, const FeatureBatchFn& fn);

// L2 norm of each class's classifier weight vector (empty when the head has no per-class weights).
std::vector<double> class_weight_norms(const ResNet& net);

// The eval.json document (accuracies in percent; n/a groups as null; "shot_groups": the rule, its
// description and the class ids of each group; "head": head_kind; "weight_norms": class_weight_norms).
Json eval_to_json(const EvalMetrics& m, const std::vector<int64_t>& train_counts,
                  const std::vector<std::string>& class_names, const ResNet& net);
// Accuracy fields of a metrics.jsonl line (top1, balanced_acc, top5, many, medium, few, ece in percent).
void add_eval_fields(Json& line, const EvalMetrics& m);

}  // namespace tailor
