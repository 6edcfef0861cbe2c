#include "data/known_datasets.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <stdexcept>

#include "data/dataset.h"

namespace tailor::data {

namespace {

const std::vector<KnownDataset>& table() {
  static const std::vector<KnownDataset> t = {
      {"imagenet_lt", "ImageNet-LT", 1000, {{"train", 115846, 1280, 5}, {"val", 20000, 20, 20}, {"test", 50000, 50, 50}}},
      {"places_lt", "Places-LT", 365, {{"train", 62500, 4980, 5}, {"val", 7300, 20, 20}, {"test", 36500, 100, 100}}},
      {"inat2018", "iNaturalist 2018", 8142, {{"train", 437513, 1000, 2}, {"val", 24426, 3, 3}}},
      {"cifar10", "CIFAR-10", 10, {{"train", 50000, 5000, 5000}, {"test", 10000, 1000, 1000}}},
      {"cifar100", "CIFAR-100", 100, {{"train", 50000, 500, 500}, {"test", 10000, 100, 100}}},
      {"fashion_mnist", "Fashion-MNIST", 10, {{"train", 60000, 6000, 6000}, {"test", 10000, 1000, 1000}}},
  };
  return t;
}

std::string per_class_text(int64_t max, int64_t min) {
  return max == min ? std::to_string(max) + " per class" : std::to_string(max) + " .. " + std::to_string(min) + " per class";
}

}  // namespace

std::string split_kind(std::string s) {
  for (auto& c : s) c = (char)std::tolower((unsigned char)c);
  while (!s.empty() && std::isdigit((unsigned char)s.back())) s.pop_back();
  const size_t cut = s.find_last_of("_-");
  return cut == std::string::npos ? s : s.substr(cut + 1);
}

std::vector<std::string> known_dataset_keys() {
  std::vector<std::string> k;
  for (const auto& d : table()) k.push_back(d.key);
  return k;
}

const KnownDataset& known_dataset(const std::string& key) {
  for (const auto& d : table())
    if (d.key == key) return d;
  std::string keys;
  for (const auto& k : known_dataset_keys()) keys += (keys.empty() ? "" : ", ") + k;
  throw std::runtime_error("unknown dataset '" + key + "' (known: " + keys + ")");
}

std::vector<std::string> compare_with_known(const KnownDataset& k, const std::string& split,
                                            const std::vector<int64_t>& class_counts) {
  const std::string kind = split_kind(split);
  auto it = std::find_if(k.splits.begin(), k.splits.end(), [&](const KnownSplit& s) { return s.split == kind; });
  if (it == k.splits.end()) {
    std::string names;
    for (const auto& s : k.splits) names += (names.empty() ? "" : ", ") + s.split;
    return {split + ": " + k.name + " has no split of that name (" + names + ")"};
  }
  std::vector<std::string> out;
  const std::string theirs = k.name + "'s " + kind + " split has ";
  if ((int)class_counts.size() != k.classes)
    out.push_back(split + ": " + counted((int64_t)class_counts.size(), "class", "classes") + ", " + theirs +
                  std::to_string(k.classes));
  const int64_t total = std::accumulate(class_counts.begin(), class_counts.end(), (int64_t)0);
  if (total != it->images)
    out.push_back(split + ": " + counted(total, "image") + ", " + theirs + std::to_string(it->images));
  if (!class_counts.empty()) {
    auto mm = std::minmax_element(class_counts.begin(), class_counts.end());
    if (*mm.second != it->max_per_class || *mm.first != it->min_per_class)
      out.push_back(split + ": " + per_class_text(*mm.second, *mm.first) + ", " + theirs +
                    per_class_text(it->max_per_class, it->min_per_class));
  }
  return out;
}

std::string describe_known_split(const KnownDataset& k, const std::string& split) {
  const std::string kind = split_kind(split);
  for (const auto& s : k.splits)
    if (s.split == kind)
      return k.name + "'s " + kind + " split: " + counted(s.images, "image") + ", " +
             counted(k.classes, "class", "classes") + ", " + per_class_text(s.max_per_class, s.min_per_class);
  return "";
}

}  // namespace tailor::data
