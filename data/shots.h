// Shot groups: which classes are many / medium / few-shot, decided by their TRAINING counts (the LT subset
// a run trains on). The one definition that verify-data, the metrics, the training log and the report use.
//   Counts (default): many n > many_above, medium few_below <= n <= many_above, few n < few_below
//                     (100 / 20: OLTR's split of ImageNet-LT / Places-LT, which the papers since report).
//   Thirds:           classes sorted by training count, most first (ties: lower class index first); the
//                     first round(C/3) are many, the last round(C/3) few, the rest medium
//                     (C = 10: 3 / 4 / 3, C = 100: 33 / 34 / 33). For a long tail whose rarest class has
//                     more than 100 images, where the counts rule puts every class into "many".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tailor::data {

struct ShotRule {
  enum class Kind { Counts, Thirds };
  Kind kind = Kind::Counts;
  int64_t many_above = 100, few_below = 20;  // Counts only; few_below <= many_above + 1
};

// "counts" | "thirds" (the config's eval.groups) into a rule; throws std::runtime_error on another name or
// on few_below > many_above + 1 (a class would be both many and few).
ShotRule make_shot_rule(const std::string& groups, int64_t many_above = 100, int64_t few_below = 20);
const char* shot_rule_name(ShotRule::Kind kind);  // "counts" | "thirds"

struct ShotSplit {
  std::vector<int> many, medium, few;  // class ids, ascending
  const std::vector<int>& group(int g) const { return g == 0 ? many : g == 1 ? medium : few; }
  std::vector<int> group_of_class(size_t num_classes) const;  // per class: 0 many, 1 medium, 2 few
};
inline const char* const kShotGroupName[3] = {"many", "medium", "few"};

// Every class of `train_counts` into exactly one group.
ShotSplit shot_split(const std::vector<int64_t>& train_counts, const ShotRule& rule = {});

// The rule in one line, for the tables and the report:
//   "many > 100, medium 20-100, few < 20 training images"
//   "thirds of the classes by training count: many 3 classes (5000-1796 images), medium 4 (1077-232), few 3 (139-50)"
std::string describe_shot_rule(const ShotRule& rule, const std::vector<int64_t>& train_counts);

}  // namespace tailor::data
