// `tailor extract-features`: pooled features [N, F], logits [N, C], labels [N] and dataset indices [N]
// of one split (evaluation transform, eval mode) to a safetensors file — for t-SNE, NCM, or a classifier
// trained elsewhere. Row i is dataset sample i of the split.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "engine/precision.h"
#include "engine/version.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/model_source.h"
#include "train/checkpoint.h"
#include "train/run_model.h"

namespace tailor {

static const char* kFeatUsage =
    "usage: tailor extract-features (--run DIR [--checkpoint F] | --checkpoint F --config FILE) --out FILE\n"
    "                               [--split test|val|train] [--set key.path=value ...] [--threads N]\n"
    "                   [--device cpu|cuda]  (default: the run's device when this machine has one, else cpu)\n"
    "Writes safetensors with features (F32 [N, F]), logits (F32 [N, C]), labels and indices (I64 [N]).\n";

int cmd_extract_features(int argc, char** argv) {
  ModelSource src;
  std::string split, out;
  try {
    auto flags = model_source_flags();
    flags.insert(flags.end(), {"split", "out"});
    Args a(argc, argv, flags, {"help"}, {"set"});
    if (a.has("help")) {
      std::cout << kFeatUsage;
      return 0;
    }
    split = a.has("split") ? a.choice("split", "test", {"test", "val", "train"}) : "";
    out = a.output_file("out");
    if (out.empty()) throw UsageError("--out FILE is required");
    src = open_model_source(a, std::cout);
    split = eval_split_or_default(src.data, split, std::cout);
  } catch (const UsageError& e) {
    std::cerr << "tailor extract-features: " << e.what() << "\n" << kFeatUsage;
    return 2;
  }
  PrecisionScope precision_scope(src.precision);  // the run's (tools/model_source.h)
  const data::Dataset& ds = run_split(src.data, split);
  const int64_t F = src.net->feature_dim(), C = src.net->config().num_classes;
  // features and logits streamed to the file as the batches come (iNaturalist's training split: 14 GB of logits)
  StreamedTensorsWriter file(out, {{"features", F}, {"logits", C}});
  std::vector<int32_t> labels, indices;
  for_each_feature_batch(*src.net, ds, src.data.eval_tf, src.cfg.at("data").at("eval_batch_size"),
                         src.cfg.at("data").at("workers"), /*with_logits=*/true,
                         [&](const std::vector<float>& f, const std::vector<float>& z, const std::vector<int32_t>& y,
                             const std::vector<int64_t>& idx) {
                           file.append("features", f.data(), f.size());
                           file.append("logits", z.data(), z.size());
                           labels.insert(labels.end(), y.begin(), y.end());
                           for (int64_t i : idx) indices.push_back((int32_t)i);
                         });
  const int64_t N = (int64_t)labels.size();
  file.finish({{"labels", Tensor::from_vector_i32(labels, {N})}, {"indices", Tensor::from_vector_i32(indices, {N})}},
              {{"split", split}, {"checkpoint", src.checkpoint}, {"engine_version", version_commit()},
               {"engine_build", version_build()}});
  std::cout << "written: " << out << " (" << N << " x " << F << " features, " << C << " logits)\n";
  return 0;
}

}  // namespace tailor
