// Pre-flight dataset check behind `tailor verify-data` (see tools/cmd_verify_data.cpp and docs/data.md).
//
//   verify-data --format imagefolder|cifar-bin|idx|list|inat --root DIR [--split NAME]
//               [--list FILE | --json FILE | --train-list F --val-list F --test-list F] [--num-classes N]
//               [--imbalance-ratio R --profile exp|step --seed S [--n-max N]] [--on-bad-image error|skip]
//               [--threads N] [--groups counts|thirds [--many-above N] [--few-below N]] [--config FILE.json]
//               [--expect imagenet_lt|places_lt|inat2018|cifar10|cifar100|fashion_mnist]
//               [--augment PRESET [--image-size S]]
// (tools/cmd_verify_data.cpp adds --train-config RUN_CONFIG [--set k=v]: a training config's data as these flags.)
//
// Loads every split (or the one named), checks every file exists and decodes and every label is in range,
// warns of repeated images and of evaluation images that are training images (data/duplicates.h; warnings
// do not change the exit status), prints per-split totals and per-class counts, the LT subset counts when a ratio is given, and the
// many / medium / few class counts (data/shots.h: > 100, 20-100, < 20 training images by default, or thirds
// of the classes). Returns 0 when everything checks out, 1 on any data problem (the message names the
// file), 2 on a usage error.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace tailor::data {

int verify_data_main(int argc, char** argv, std::ostream& out, std::ostream& err);
std::string verify_data_usage();

}  // namespace tailor::data
