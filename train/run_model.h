// Models of a run: built from the config, saved with enough metadata to be rebuilt (arch, classes,
// input channels, head kind), loaded back for `tailor eval / tau-sweep / extract-features`, and their
// evaluation written as the JSON the report reads.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/augment.h"
#include "layers/resnet.h"
#include "train/config.h"
#include "train/metrics.h"

namespace tailor {

std::shared_ptr<ResNet> build_model(const Json& cfg, int64_t num_classes, int64_t in_channels);

// "linear" | "normed" | "lws" | "tau_norm" (a bias-free Linear)
std::string head_kind(const ResNet& net);
// Weights + metadata (arch, num_classes, in_channels, head, and `extra`), atomically with crc32.
void save_model(const std::string& path, const ResNet& net, const std::map<std::string, std::string>& extra = {});
// Rebuilds the network a save_model file describes and loads it strictly.
std::shared_ptr<ResNet> load_model(const std::string& path);

// Evaluation of `net` on a whole dataset (eval mode, no grad, sequential).
EvalMetrics evaluate_dataset(ResNet& net, const data::Dataset& ds, const data::TransformConfig& tf,
                             const std::vector<int64_t>& train_counts, int64_t batch, int workers);

// L2 norm of each class's classifier weight vector (empty when the head has no per-class weights).
std::vector<double> class_weight_norms(const ResNet& net);

// The eval.json document (accuracies in percent; n/a groups as null).
Json eval_to_json(const EvalMetrics& m, const std::vector<int64_t>& train_counts,
                  const std::vector<std::string>& class_names, const std::vector<double>& weight_norms);
// Accuracy fields of a metrics.jsonl line (top1, top5, many, medium, few, ece in percent).
void add_eval_fields(Json& line, const EvalMetrics& m);

}  // namespace tailor
