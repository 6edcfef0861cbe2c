// The published split sizes of the long-tailed benchmarks, for `tailor verify-data --expect NAME`: a list
// that lost lines, a folder from another dataset version or a wrong split shows up as a count that differs.
//
// Sources: the OLTR / classifier-balancing list files (ImageNet-LT, Places-LT), the iNaturalist 2018 JSON
// files, the CIFAR and Fashion-MNIST distributions:
//   ImageNet-LT   1000 classes  train 115,846 (1280 .. 5 per class)  val 20,000 (20 each)  test 50,000 (50 each)
//   Places-LT      365 classes  train  62,500 (4980 .. 5)            val  7,300 (20 each)  test 36,500 (100 each)
//   iNat 2018     8142 classes  train 437,513 (1000 .. 2)            val 24,426 (3 each; the test set)
//   CIFAR-10        10 classes  train  50,000 (5000 each)            test 10,000 (1000 each)
//   CIFAR-100      100 classes  train  50,000 (500 each)             test 10,000 (100 each)
//   Fashion-MNIST   10 classes  train  60,000 (6000 each)            test 10,000 (1000 each)
// CIFAR and Fashion-MNIST are checked before any long-tailed subset is drawn from them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tailor::data {

struct KnownSplit {
  std::string split;        // "train", "val", "test"
  int64_t images = 0;
  int64_t max_per_class = 0, min_per_class = 0;  // equal for a balanced split
};

struct KnownDataset {
  std::string key, name;  // "imagenet_lt", "ImageNet-LT"
  int classes = 0;
  std::vector<KnownSplit> splits;
};

std::vector<std::string> known_dataset_keys();
const KnownDataset& known_dataset(const std::string& key);  // throws naming the known keys

// A split's name as the table knows it: "ImageNet_LT_train" and "train2018" are "train".
std::string split_kind(std::string split);

// "ImageNet-LT's train split: 115846 images, 1000 classes, 1280 .. 5 per class"; "" for an unknown split.
std::string describe_known_split(const KnownDataset& k, const std::string& split);

// What differs between a split's class counts and the published ones, one phrase each ("train: 115000
// images, ImageNet-LT's train split has 115846"); empty when it matches. A split the dataset does not
// publish gives one phrase saying so.
std::vector<std::string> compare_with_known(const KnownDataset& k, const std::string& split,
                                            const std::vector<int64_t>& class_counts);

}  // namespace tailor::data
