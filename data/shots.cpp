#include "data/shots.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace tailor::data {

ShotRule make_shot_rule(const std::string& groups, int64_t many_above, int64_t few_below) {
  ShotRule r;
  if (groups == "thirds") r.kind = ShotRule::Kind::Thirds;
  else if (groups != "counts")
    throw std::runtime_error("unknown shot groups '" + groups + "' (expected counts or thirds)");
  if (few_below > many_above + 1)
    throw std::runtime_error("shot groups: few_below (" + std::to_string(few_below) + ") must be <= many_above + 1 (" +
                             std::to_string(many_above + 1) + "), or a class would be both many and few");
  r.many_above = many_above;
  r.few_below = few_below;
  return r;
}

const char* shot_rule_name(ShotRule::Kind kind) { return kind == ShotRule::Kind::Thirds ? "thirds" : "counts"; }

std::vector<int> ShotSplit::group_of_class(size_t num_classes) const {
  std::vector<int> g(num_classes, 1);
  for (int k : {0, 2})
    for (int c : group(k)) g[(size_t)c] = k;
  return g;
}

namespace {

// Class ids by training count, most first; ties: lower class index first.
std::vector<int> by_count_descending(const std::vector<int64_t>& counts) {
  std::vector<int> order(counts.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return counts[(size_t)a] > counts[(size_t)b]; });
  return order;
}

// round(C / 3) in integers: C / 3 never ends in .5, so it is (C + 1) / 3.
size_t third(size_t C) { return (C + 1) / 3; }

}  // namespace

ShotSplit shot_split(const std::vector<int64_t>& train_counts, const ShotRule& rule) {
  ShotSplit s;
  if (rule.kind == ShotRule::Kind::Thirds) {
    const std::vector<int> order = by_count_descending(train_counts);
    const size_t C = order.size(), k = third(C);
    for (size_t r = 0; r < C; ++r) (r < k ? s.many : r >= C - k ? s.few : s.medium).push_back(order[r]);
    for (auto* g : {&s.many, &s.medium, &s.few}) std::sort(g->begin(), g->end());
    return s;
  }
  for (size_t c = 0; c < train_counts.size(); ++c) {
    const int64_t n = train_counts[c];
    (n > rule.many_above ? s.many : n < rule.few_below ? s.few : s.medium).push_back((int)c);
  }
  return s;
}

std::string describe_shot_rule(const ShotRule& rule, const std::vector<int64_t>& train_counts) {
  auto range = [](int64_t a, int64_t b) {
    return a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
  };
  if (rule.kind == ShotRule::Kind::Counts) {
    const std::string medium = rule.few_below > rule.many_above ? "none" : range(rule.few_below, rule.many_above);
    return "many > " + std::to_string(rule.many_above) + ", medium " + medium + ", few < " +
           std::to_string(rule.few_below) + " training images";
  }
  const ShotSplit s = shot_split(train_counts, rule);
  std::string out = "thirds of the classes by training count:";
  int64_t lo[3] = {-1, -1, -1}, hi[3] = {-1, -1, -1};
  for (int g = 0; g < 3; ++g) {
    std::vector<int64_t> n;
    for (int c : s.group(g)) n.push_back(train_counts[(size_t)c]);
    out += std::string(g ? "," : "") + " " + kShotGroupName[g] + " " + std::to_string(n.size()) +
           (g ? "" : n.size() == 1 ? " class" : " classes");
    if (n.empty()) continue;
    const auto [l, h] = std::minmax_element(n.begin(), n.end());
    lo[g] = *l, hi[g] = *h;
    out += " (" + range(*h, *l) + (g ? ")" : " images)");
  }
  // a count shared across a boundary (iNaturalist: thousands of 2-image classes) is cut by class index:
  // the two groups then differ by which classes they drew, not by their counts
  for (int g = 0; g < 2; ++g) {
    int next = g + 1;  // the next group that has classes (medium is empty with 2 classes)
    while (next < 3 && hi[next] < 0) ++next;
    if (lo[g] >= 0 && next < 3 && lo[g] == hi[next])
      out += std::string("; ") + kShotGroupName[g] + " and " + kShotGroupName[next] + " share the classes of " +
             std::to_string(lo[g]) + " images (a tie, cut by class index)";
  }
  return out;
}

}  // namespace tailor::data
