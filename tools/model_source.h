// The model and data a tool works on: `--run DIR` (the run's config.json and its final checkpoint, or
// --checkpoint to pick another file of it) or `--checkpoint F --config C` (a checkpoint written by the
// trainer, with the config that describes its data). `--set k=v` overrides apply to the data config, the
// shot groups (`--set eval.groups=thirds` regroups a run trained with the counts rule), precision and
// deterministic; any other key (model.*, stageN.*, ...) is a usage error, since it would change nothing.
// `--device cpu|cuda`: where the model runs; default the run's own device when this machine has it, else the CPU.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/precision.h"
#include "layers/resnet.h"
#include "tools/args.h"
#include "train/config.h"
#include "train/run_data.h"

namespace tailor {

struct ModelSource {
  Json cfg;
  std::string run_dir;     // empty with --checkpoint --config
  std::string checkpoint;
  std::shared_ptr<ResNet> net;
  RunData data;
  // The run's precision (so that its own numbers come back), or fp32 where this device has no native bf16
  // (said in the log). Each tool runs its forwards under PrecisionScope(precision).
  Precision precision = Precision::F32;
};

// The flags every model tool takes, for Args.
std::vector<std::string> model_source_flags();
// Throws UsageError on a bad flag combination; loads model and data (data logs go to `log`).
ModelSource open_model_source(const Args& a, std::ostream& log);

}  // namespace tailor
