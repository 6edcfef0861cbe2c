// In-process runs of the training loop on the tiny synthetic long-tailed set (tests/synthetic_lt.h, twice:
// 90 images), for the tests that look inside the loop (host reads, CUDA graphs).
#pragma once
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "train/config.h"
#include "train/trainer.h"
#include "synthetic_lt.h"

namespace loop_run {

// 4 classes with 48 / 24 / 12 / 6 images
inline tailor::RunData synthetic() {
  tailor::RunData d;
  d.train = tailor::test::lt_synthetic(12345, 2);
  d.train_counts = tailor::data::class_counts(d.train.labels, d.train.num_classes);
  d.description = "synthetic-lt";
  return d;
}

// stage 1 on 90 images in batches of 3 (30 steps an epoch), 2 epochs; plain progress (a read point every
// tenth of the epoch: 3 steps); `extra` overrides (key=value)
inline tailor::Json config(const std::string& name, std::vector<std::string> extra) {
  std::vector<std::string> sets = {"name=" + name,         "threads=1",
                                   "data.workers=0",       "stage1.epochs=2",
                                   "stage1.batch_size=3",  "stage1.schedule.kind=constant",
                                   "stage1.optim.lr=0.05", "eval.every_epochs=0",
                                   "log.progress=plain",   "checkpoint.every_steps=0"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return tailor::resolve_config("", sets, false);
}

// Trains the config in <root>/<name>; returns the run directory.
inline std::filesystem::path train(const std::filesystem::path& root, const tailor::Json& cfg) {
  const std::filesystem::path dir = root / cfg.at("name").get<std::string>();
  std::ostringstream log;
  tailor::TrainFlags f;
  f.report = false;
  tailor::train_run(cfg, synthetic(), dir.string(), f, log);
  return dir;
}

}  // namespace loop_run
