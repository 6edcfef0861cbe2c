// `tailor extract-features`: pooled features [N, F], logits [N, C], labels [N] and dataset indices [N]
// of one split (evaluation transform, eval mode) to a safetensors file — for t-SNE, NCM, or a classifier
// trained elsewhere. Row i is dataset sample i of the split.
#include <iostream>
#include <map>
#include <string>
#include <utility>

#include "engine/precision.h"
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
  SplitFeatures f = extract_features(*src.net, ds, src.data.eval_tf, src.cfg.at("data").at("eval_batch_size"),
                                     src.cfg.at("data").at("workers"), /*with_logits=*/true);
  const int64_t N = (int64_t)f.labels.size(), F = src.net->feature_dim(), C = src.net->config().num_classes;
  std::map<std::string, Tensor> tensors = {{"features", f.features}, {"logits", f.logits},
                                           {"labels", Tensor::from_vector_i32(f.labels, {N})},
                                           {"indices", Tensor::from_vector_i32(f.indices, {N})}};
  f.features = f.logits = Tensor();  // the map holds the only references: each is freed once written out
  save_tensors_releasing(out, std::move(tensors), {{"split", split}, {"checkpoint", src.checkpoint}});
  std::cout << "written: " << out << " (" << N << " x " << F << " features, " << C << " logits)\n";
  return 0;
}

}  // namespace tailor
