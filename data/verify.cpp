#include "data/verify.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>

#include "data/cifar.h"
#include "data/dataset.h"
#include "data/duplicates.h"
#include "data/folder.h"
#include "data/idx.h"
#include "data/imbalance.h"
#include "data/known_datasets.h"
#include "data/presets.h"
#include "data/shots.h"

namespace fs = std::filesystem;

namespace tailor::data {

namespace {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct VerifyArgs {
  std::string format, root, split, list, json;
  std::string split_files[3];  // --train-list, --val-list, --test-list (list: text lists, inat: JSON files)
  int num_classes = -1;
  double imbalance_ratio = 0;  // 0 = no LT subset
  double n_max = -1;           // the subset's head-class count (-1: the data's)
  std::string profile = "exp";
  uint32_t seed = 0;
  std::string on_bad_image = "error";
  int threads = 0;
  std::string groups = "counts";  // the shot groups (data/shots.h)
  std::string expect;             // a benchmark whose published split sizes the counts must equal
  std::string augment;            // a training preset whose image-size rule the splits must meet ("": not checked)
  int64_t image_size = 0;         // its data.image_size (0: the preset's native size)
  int64_t many_above = 100, few_below = 20;
  std::string class_counts = "auto";  // every class's count (all), a summary (summary), or all up to 100 classes
};

double to_double(const std::string& key, const std::string& v) {
  try {
    size_t n = 0;
    double d = std::stod(v, &n);
    if (n != v.size()) throw std::invalid_argument("");
    return d;
  } catch (...) {
    throw UsageError(key + ": expected a number, got '" + v + "'");
  }
}

int64_t to_int(const std::string& key, const std::string& v) {
  try {
    size_t n = 0;
    long long d = std::stoll(v, &n);
    if (n != v.size()) throw std::invalid_argument("");
    return d;
  } catch (...) {
    throw UsageError(key + ": expected an integer, got '" + v + "'");
  }
}

const int64_t kMaxClasses = 10000000;  // a class count beyond this is a typo (its counts alone would take 80 MB)

int64_t in_range(const std::string& key, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    throw UsageError(key + ": " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

void set_seed(VerifyArgs& a, int64_t s, const std::string& key) {
  if (s < 0 || s > 0xffffffffll) throw UsageError(key + ": seed must be in [0, 2^32)");
  a.seed = (uint32_t)s;
}

void apply_config(VerifyArgs& a, const std::string& path) {
  std::ifstream f(path);
  if (!f) throw UsageError(path + ": cannot open config file");
  nlohmann::json j;
  try {
    f >> j;
  } catch (const std::exception& e) {
    throw UsageError(path + ": malformed JSON (" + e.what() + ")");  // a config file's error: exit 2, as its keys'
  }
  if (!j.is_object()) throw UsageError(path + ": config must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    auto str = [&]() {
      if (!v.is_string()) throw UsageError(path + ": key '" + k + "' must be a string");
      return v.get<std::string>();
    };
    auto num = [&]() {
      if (!v.is_number()) throw UsageError(path + ": key '" + k + "' must be a number");
      return v.get<double>();
    };
    auto whole = [&](double lo, double hi) {  // an integer in [lo, hi]: 3.5, -1 or 1e20 are usage errors
      const double d = num();
      if (d != std::floor(d) || d < lo || d > hi)
        throw UsageError(path + ": key '" + k + "' must be a whole number in [" + std::to_string((int64_t)lo) + ", " +
                         std::to_string((int64_t)hi) + "], got " + v.dump());
      return (int64_t)d;
    };
    if (k == "format") a.format = str();
    else if (k == "root") a.root = str();
    else if (k == "split") a.split = str();
    else if (k == "list") a.list = str();
    else if (k == "json") a.json = str();
    else if (k == "train_list") a.split_files[0] = str();
    else if (k == "val_list") a.split_files[1] = str();
    else if (k == "test_list") a.split_files[2] = str();
    else if (k == "n_max") a.n_max = (double)whole(-1, 1e9);
    else if (k == "profile") a.profile = str();
    else if (k == "on_bad_image") a.on_bad_image = str();
    else if (k == "groups") a.groups = str();
    else if (k == "expect") a.expect = str();
    else if (k == "augment") a.augment = str();
    else if (k == "image_size") a.image_size = whole(0, 4096);
    else if (k == "many_above") a.many_above = whole(0, 1e12);
    else if (k == "few_below") a.few_below = whole(0, 1e12);
    else if (k == "class_counts") a.class_counts = str();
    else if (k == "imbalance_ratio") a.imbalance_ratio = num();
    else if (k == "num_classes") a.num_classes = (int)whole(1, kMaxClasses);
    else if (k == "threads") a.threads = (int)whole(0, 1024);
    else if (k == "seed") set_seed(a, whole(0, 4294967295.0), path + ": seed");
    else throw UsageError(path + ": unknown config key '" + k + "'");
  }
}

VerifyArgs parse_args(int argc, char** argv) {
  VerifyArgs a;
  std::vector<std::string> args(argv + 1, argv + argc);
  // --config first, so that command-line flags override it.
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i] == "--config") {
      if (i + 1 >= args.size()) throw UsageError("--config needs a value");
      apply_config(a, args[i + 1]);
    }
  static const std::set<std::string> known = {
      "--config", "--format", "--root", "--split", "--list", "--json", "--train-list", "--val-list", "--test-list",
      "--n-max", "--num-classes", "--imbalance-ratio", "--profile", "--seed", "--on-bad-image", "--threads", "--groups",
      "--expect", "--augment", "--image-size", "--many-above", "--few-below", "--class-counts"};
  std::set<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    if (f.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + f + "'");
    if (!known.count(f)) throw UsageError("unknown flag " + f);
    seen.insert(f);  // (a flag given again wins: --train-config's flags come first, the user's after them)
    if (i + 1 >= args.size()) throw UsageError(f + " needs a value");
    const std::string v = args[++i];
    if (f == "--config") continue;
    else if (f == "--format") a.format = v;
    else if (f == "--root") a.root = v;
    else if (f == "--split") a.split = v;
    else if (f == "--list") a.list = v;
    else if (f == "--json") a.json = v;
    else if (f == "--train-list") a.split_files[0] = v;
    else if (f == "--val-list") a.split_files[1] = v;
    else if (f == "--test-list") a.split_files[2] = v;
    else if (f == "--n-max") a.n_max = (double)to_int(f, v);
    else if (f == "--num-classes") a.num_classes = (int)in_range(f, to_int(f, v), 1, kMaxClasses);
    else if (f == "--imbalance-ratio") a.imbalance_ratio = to_double(f, v);
    else if (f == "--profile") a.profile = v;
    else if (f == "--seed") set_seed(a, to_int(f, v), f);
    else if (f == "--on-bad-image") a.on_bad_image = v;
    else if (f == "--threads") a.threads = (int)in_range(f, to_int(f, v), 0, 1024);
    else if (f == "--groups") a.groups = v;
    else if (f == "--expect") a.expect = v;
    else if (f == "--augment") a.augment = v;
    else if (f == "--image-size") a.image_size = in_range(f, to_int(f, v), 0, 4096);
    else if (f == "--many-above") a.many_above = to_int(f, v);
    else if (f == "--few-below") a.few_below = to_int(f, v);
    else if (f == "--class-counts") a.class_counts = v;
    else throw UsageError("unknown flag " + f);
  }
  static const char* formats[] = {"imagefolder", "cifar-bin", "idx", "list", "inat"};
  if (a.format.empty()) throw UsageError("--format is required");
  if (std::find(std::begin(formats), std::end(formats), a.format) == std::end(formats))
    throw UsageError("unknown --format '" + a.format + "'");
  if (a.root.empty()) throw UsageError("--root is required");
  if (a.on_bad_image != "error" && a.on_bad_image != "skip")
    throw UsageError("--on-bad-image must be error or skip");
  if (a.profile != "exp" && a.profile != "step") throw UsageError("--profile must be exp or step");
  if (a.class_counts != "auto" && a.class_counts != "all" && a.class_counts != "summary")
    throw UsageError("--class-counts must be auto, all or summary");
  const bool per_split = !a.split_files[0].empty() || !a.split_files[1].empty() || !a.split_files[2].empty();
  if (per_split && (a.format != "list" && a.format != "inat"))
    throw UsageError("--train-list / --val-list / --test-list are for --format list or inat");
  if (per_split && (!a.list.empty() || !a.json.empty() || !a.split.empty()))
    throw UsageError("--train-list / --val-list / --test-list name the splits' files: not with --list, --json or --split");
  if (a.n_max != -1 && a.n_max < 1) throw UsageError("--n-max must be a positive count (or -1: the data's)");
  if (!std::isfinite(a.imbalance_ratio) || (seen.count("--imbalance-ratio") && a.imbalance_ratio < 1) ||
      (a.imbalance_ratio != 0 && a.imbalance_ratio < 1)) {
    char got[32], inverse[32];
    std::snprintf(got, sizeof got, "%g", a.imbalance_ratio);
    std::snprintf(inverse, sizeof inverse, "%g", 1 / a.imbalance_ratio);
    throw UsageError(std::string("--imbalance-ratio is n_max / n_min >= 1 (e.g. 100), got ") + got +
                     (a.imbalance_ratio > 0 && a.imbalance_ratio < 1
                          ? std::string(" (this looks like imb_factor = 1 / ratio: pass ") + inverse + ")"
                          : ""));
  }
  if (!a.expect.empty()) try {
      known_dataset(a.expect);
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("--expect: ") + e.what());
    }
  if (!a.augment.empty() && !is_preset_name(a.augment)) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("--augment: unknown preset '" + a.augment + "' (" + known + ")");
  }
  try {
    make_shot_rule(a.groups, a.many_above, a.few_below);
  } catch (const std::runtime_error& e) {
    throw UsageError(std::string("--groups / --many-above / --few-below: ") + e.what());
  }
  return a;
}

// The (split, file) pairs to check for list / inat formats.
std::vector<std::pair<std::string, std::string>> find_split_files(const VerifyArgs& a, bool json) {
  std::vector<std::pair<std::string, std::string>> out;
  auto under_root = [&](const std::string& f) { return fs::path(f).is_absolute() ? f : (fs::path(a.root) / f).string(); };
  static const char* kSplits[3] = {"train", "val", "test"};
  for (int s = 0; s < 3; ++s)
    if (!a.split_files[s].empty()) out.push_back({kSplits[s], under_root(a.split_files[s])});
  if (!out.empty()) return out;
  const std::string& given = json ? a.json : a.list;
  if (!given.empty()) {
    // relative to --root, as data.train_list & co. in a training config
    std::string p = fs::path(given).is_absolute() ? given : (fs::path(a.root) / given).string();
    std::string split = a.split.empty() ? fs::path(given).stem().string() : a.split;
    out.push_back({split, p});
    return out;
  }
  std::vector<std::string> splits = a.split.empty() ? std::vector<std::string>{"train", "val", "test"}
                                                     : std::vector<std::string>{a.split};
  std::string ambiguous;  // the splits with several candidate files
  for (const auto& s : splits) {
    std::vector<std::string> cands;
    if (json) {
      cands = {s + "2018.json", s + ".json"};
    } else {
      cands = {s + ".txt"};
      if (fs::is_directory(a.root))
        for (auto& e : fs::directory_iterator(a.root)) {
          std::string n = e.path().filename().string();
          if (n.size() > s.size() + 5 && n.compare(n.size() - s.size() - 5, std::string::npos, "_" + s + ".txt") == 0)
            cands.push_back(n);
        }
    }
    std::vector<std::string> found;
    for (const auto& c : cands)
      if (fs::exists(fs::path(a.root) / c)) found.push_back(c);
    if (found.size() > 1) {  // never pick one silently: they may hold different splits of the data
      std::string names;
      for (const auto& f : found) names += (names.empty() ? "" : ", ") + f;
      ambiguous += (ambiguous.empty() ? "" : "; ") + std::to_string(found.size()) + " " + s + " files (" + names +
                   "): name the one to check with " +
                   (s == "train" || s == "val" || s == "test" ? "--" + s + "-list FILE" : "--list FILE --split " + s);
    }
    if (!found.empty()) out.push_back({s, (fs::path(a.root) / found[0]).string()});
  }
  if (!ambiguous.empty()) throw std::runtime_error(a.root + ": " + ambiguous);
  if (out.empty())
    throw std::runtime_error(a.root + ": no " + std::string(json ? "JSON annotation" : "list") + " files found (pass --" +
                             (json ? "json" : "list") + " FILE)");
  return out;
}

std::vector<std::string> splits_for(const VerifyArgs& a) {
  if (!a.split.empty()) return {a.split};
  if (a.format == "cifar-bin" || a.format == "idx") return {"train", "test"};
  std::vector<std::string> s;
  for (const char* c : {"train", "val", "test"})
    if (fs::is_directory(fs::path(a.root) / c)) s.push_back(c);
  require_folder(a.root);
  if (s.empty()) throw std::runtime_error(a.root + ": no train/val/test folders (pass --split)");
  return s;
}

// Each class's count on a line of its own (--class-counts all, or auto up to 100 classes); above that (an
// iNaturalist has 8,142 classes) a summary: min / median / max, how many classes hold how many images, and the
// five largest and five smallest classes by name.
void print_counts(std::ostream& out, const Dataset& ds, const std::vector<int64_t>& counts, const std::string& mode) {
  if (mode == "all" || (mode == "auto" && counts.size() <= 100)) {
    for (size_t c = 0; c < counts.size(); ++c)
      out << "  class " << c << " (" << ds.class_names[c] << "): " << counts[c] << "\n";
    return;
  }
  if (counts.empty()) return;
  std::vector<size_t> order(counts.size());
  for (size_t c = 0; c < order.size(); ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return counts[x] > counts[y]; });
  const int64_t median = counts[order[order.size() / 2]];
  out << "  per-class counts: max " << counts[order.front()] << ", median " << median << ", min "
      << counts[order.back()] << "\n";
  const int64_t edges[] = {0, 1, 5, 20, 100, 1000};  // classes per count range
  out << "  classes with";
  for (size_t i = 0; i < std::size(edges); ++i) {
    const int64_t lo = edges[i], hi = i + 1 < std::size(edges) ? edges[i + 1] - 1 : -1;
    int64_t n = 0;
    for (int64_t v : counts) n += v >= lo && (hi < 0 || v <= hi);
    if (n == 0) continue;
    out << " " << (lo == hi ? std::to_string(lo) : hi < 0 ? ">= " + std::to_string(lo)
                                                          : std::to_string(lo) + "-" + std::to_string(hi))
        << " images: " << n << ";";
  }
  out << "\n";
  const size_t k = std::min<size_t>(5, order.size() / 2);
  if (k == 0) return;  // (one class: its count is all of the above)
  auto name = [&](size_t c) {
    return "class " + std::to_string(c) + " (" + ds.class_names[c] + ") " + std::to_string(counts[c]);
  };
  out << "  largest:";
  for (size_t i = 0; i < k; ++i) out << (i ? ", " : " ") << name(order[i]);
  out << "\n  smallest:";
  for (size_t i = 0; i < k; ++i) out << (i ? ", " : " ") << name(order[order.size() - 1 - i]);
  out << "\n  (every class's count: --class-counts all)\n";
}

// The dataset kind a training run gives the preset (data/presets.h: auto picks by it) for a verify-data format.
std::string preset_dataset(const std::string& format) {
  if (format == "idx") return "fashion_mnist";
  if (format == "cifar-bin") return "cifar10";
  if (format == "imagefolder") return "image_folder";
  return format;  // list, inat
}

std::string size_list(const Dataset& ds) {
  std::string s = "(" + std::to_string(ds.image_sizes.size()) + " sizes:";
  for (size_t i = 0; i < ds.image_sizes.size() && i < 3; ++i)
    s += std::string(i ? ", " : " ") + std::to_string(ds.image_sizes[i].width) + "x" +
         std::to_string(ds.image_sizes[i].height) + " " + std::to_string(ds.image_sizes[i].count) + (i ? "" : " images");
  return s + (ds.image_sizes.size() > 3 ? ", ...)" : ")");
}

// The image sizes of a split against the preset's rule: a preset that keeps images as they are needs every
// image S x S (train refuses anything else); a resizing one takes any size. Returns the problems found.
int check_sizes(std::ostream& out, std::ostream& err, const std::string& split, const Dataset& ds,
                const Preset* preset, const std::string& augment) {
  const std::string S = preset ? std::to_string(preset->size) + "x" + std::to_string(preset->size) : "";
  if (preset && preset->exact) {
    int64_t other = 0;
    std::string example;  // the first file of the commonest size that is not S x S
    for (const auto& z : ds.image_sizes)
      if (z.height != preset->size || z.width != preset->size) {
        other += z.count;
        if (example.empty()) example = ", e.g. " + z.example;
      }
    if (ds.in_memory() && (ds.height != preset->size || ds.width != preset->size)) other = ds.size();
    if (other == 0) return 0;
    err << "verify-data: " << split << ": " << counted(other, "image") << " not " << S << " "
        << (ds.image_sizes.empty() ? "(" + std::to_string(ds.width) + "x" + std::to_string(ds.height) + ")" : size_list(ds))
        << example << ": data.augment " << augment << (augment == preset->name ? "" : " (" + preset->name + ")")
        << " keeps images as they are and training refuses them; use a resizing preset (data.augment imagenet "
           "with data.image_size S) or resize the files\n";
    return 1;
  }
  if (ds.image_sizes.size() > 1)
    out << "  image sizes vary " << size_list(ds)
        << (preset ? ": resized to " + S + " by data.augment " + preset->name
                   : std::string(": train with data.augment imagenet (it resizes); cifar and mnist, and auto on small "
                                 "images, keep images as they are and refuse mixed sizes"))
        << "\n";
  return 0;
}

}  // namespace

std::string verify_data_usage() {
  return "usage: tailor verify-data --format imagefolder|cifar-bin|idx|list|inat --root DIR [--split NAME]\n"
         "         [--list FILE | --json FILE | --train-list F --val-list F --test-list F] [--num-classes N]\n"
         "                                              (files relative to DIR unless absolute)\n"
         "         [--imbalance-ratio R --profile exp|step --seed S [--n-max N]] [--on-bad-image error|skip]\n"
         "         [--threads N] [--groups counts|thirds [--many-above N] [--few-below N]] [--config FILE.json]\n"
         "         [--expect imagenet_lt|places_lt|inat2018|cifar10|cifar100|fashion_mnist]\n"
         "         [--augment PRESET [--image-size S]] [--class-counts auto|all|summary]\n"
         "       tailor verify-data --train-config RUN_CONFIG.json [--set key=value ...] [flags above]\n"
         "         (the data a training config loads: its dataset, root, lists, LT subset, shot groups)\n"
         "  Checks that every file exists, decodes and has a label in range (the other splits' labels among the\n"
         "  training split's classes, the training labels without a gap); warns of repeated images (a file\n"
         "  listed twice, byte-identical copies) and of evaluation images that are training images; prints\n"
         "  per-split and per-class counts, the long-tailed subset counts (ratio R = n_max / n_min) and the\n"
         "  many/medium/few split (by training count: > 100, 20-100, < 20 images, or --groups thirds:\n"
         "  thirds of the classes). --num-classes: list, iNat and IDX labels lie in 0..N-1; an image folder's\n"
         "  training split (or the one --split names) has N class folders. --expect: each split's image, class\n"
         "  and per-class counts must equal the benchmark's published ones (before any long-tailed subset).\n"
         "  --augment: the training preset\n"
         "  (data.augment) a run would take, and every split's image sizes against it (cifar, mnist and auto on\n"
         "  small images keep images as they are: all must be S x S). --class-counts: each class's count on a\n"
         "  line (all; auto up to 100 classes) or min / median / max, classes per count range, the five largest\n"
         "  and smallest classes (summary; auto above 100 classes).\n"
         "  Config keys: format root split list json train_list val_list test_list num_classes imbalance_ratio\n"
         "  profile seed n_max on_bad_image threads groups many_above few_below expect augment image_size class_counts.\n";
}

int verify_data_main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  VerifyArgs a;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      out << verify_data_usage();
      return 0;
    }
  try {
    a = parse_args(argc, argv);
  } catch (const UsageError& e) {
    if (e.what()[0]) err << "tailor verify-data: " << e.what() << "\n";
    err << verify_data_usage();
    return 2;
  } catch (const std::exception& e) {
    err << "verify-data: " << e.what() << "\n";
    return 1;
  }
  LoadOptions opts;
  const BadImagePolicy policy = parse_bad_image_policy(a.on_bad_image);
  opts.on_bad_image = BadImagePolicy::Skip;  // every bad image found and named; under "error" each is a problem
  opts.num_threads = a.threads;
  opts.num_classes = a.num_classes;
  opts.lazy = true;           // check every image but do not keep the pixels
  opts.verify_decode = true;
  opts.hash_contents = true;  // the repeat / leak check's hashes from the same read
  int problems = 0;
  int64_t skipped = 0;
  std::vector<int64_t> train_counts;
  bool counts_of_train = false;  // train_counts are the training split's (else another split's: no shot groups)
  std::vector<int32_t> train_labels;
  int train_classes = 0;
  Dataset train_set;                   // the training split, for the evaluation splits' leak check
  std::vector<uint64_t> train_hashes;  // its images' content hashes (data/duplicates.h)
  int64_t warnings = 0;                // repeated and leaked images: reported, not failures
  out << "verify-data: format " << a.format << ", root " << a.root << "\n";
  try {
    std::vector<std::pair<std::string, std::string>> work;  // (split, file or "")
    if (a.format == "list" || a.format == "inat") {
      require_folder(a.root);  // a mistyped root is named as such (not "no list files found")
      work = find_split_files(a, a.format == "inat");
    }
    else
      for (auto& s : splits_for(a)) work.push_back({s, ""});
    // the training split first: the other splits' labels must be among its classes
    std::stable_sort(work.begin(), work.end(), [](const auto& x, const auto& y) { return x.first == "train" && y.first != "train"; });
    std::vector<std::string> train_names;
    std::optional<Preset> preset;  // --augment: the preset a training run would take (from the training split)
    for (auto& [split, file] : work) {
      Dataset ds;
      const bool training_split = split == "train" || work.size() == 1;  // the split the classes are counted from
      try {
        LoadOptions o = opts;
        if (split != "train" && train_classes > 0 && a.num_classes <= 0) o.num_classes = train_classes;
        o.training_split = training_split;
        o.may_lack_classes = !training_split;
        if (a.format == "cifar-bin") ds = load_cifar_bin(a.root, split);
        else if (a.format == "idx") ds = load_idx_dataset(a.root, split, o);
        else if (a.format == "imagefolder") ds = load_image_folder(a.root, split, o);
        else if (a.format == "list") ds = load_list_file(a.root, file, o);
        else ds = load_inat_json(a.root, file, o);
        validate_dataset(ds);
        if (a.format == "imagefolder" && training_split && a.num_classes > 0 && ds.num_classes != a.num_classes)
          throw std::runtime_error((fs::path(a.root) / split).string() + ": " + std::to_string(ds.num_classes) +
                                   " class folders, expected " + std::to_string(a.num_classes) + " (--num-classes)");
        if (a.format == "imagefolder" && !train_names.empty())  // labels by class name, as training maps them
          map_to_training_classes(ds, train_names, (fs::path(a.root) / split).string());
        else if (!train_names.empty() && !training_split)  // lists, iNat: by index, under the training names
          adopt_training_class_names(ds, train_names, file);
      } catch (const std::exception& e) {
        err << "verify-data: " << split << ": " << e.what() << "\n";
        ++problems;
        continue;
      }
      if (policy == BadImagePolicy::Error && !ds.skipped.empty()) {
        write_skipped(err, ds, "verify-data: " + split + ": ");
        problems += (int)ds.skipped.size();
        continue;
      }
      std::vector<int64_t> counts = class_counts(ds.labels, ds.num_classes);
      out << split << ": " << counted(ds.size(), "image") << ", " << counted(ds.num_classes, "class", "classes");
      if (ds.height > 0) out << ", " << ds.height << "x" << ds.width << "x" << ds.channels;
      if (!file.empty()) out << " (" << file << ")";
      out << "\n";
      print_counts(out, ds, counts, a.class_counts);
      if (!a.expect.empty()) {
        const std::vector<std::string> diffs = compare_with_known(known_dataset(a.expect), split, counts);
        if (diffs.empty()) out << "  as published: " << describe_known_split(known_dataset(a.expect), split) << "\n";
        for (const auto& d : diffs) err << "verify-data: " << d << " (--expect " << a.expect << ")\n";
        problems += (int)diffs.size();
      }
      if (!a.augment.empty() && training_split && !preset) try {  // the preset a run would take, from this split
          // its first image decodes: verify-data loads under skip, so the bad ones are already out of ds
          preset = make_preset(a.augment, (int)a.image_size,
                               preset_input(preset_dataset(a.format), ds, BadImagePolicy::Error));
          out << "  augment " << preset->name << " at " << preset->size << "x" << preset->size
              << (preset->exact ? " (images as they are)" : " (resized)") << "\n";
        } catch (const std::exception& e) {
          err << "verify-data: " << split << ": " << e.what() << "\n";
          ++problems;
        }
      problems += check_sizes(out, err, split, ds, preset ? &*preset : nullptr, a.augment);
      write_ignored(out, ds, "  ", "    ");
      const std::vector<uint64_t> hashes = content_hashes(ds, a.threads);
      warnings += write_repeats(out, ds, find_repeats(ds, hashes), "  ", "    ");
      if (split != "train" && !train_hashes.empty())
        warnings += write_leaks(out, train_set, ds, split, find_leaks(train_set, train_hashes, ds, hashes), "  ", "    ");
      if (split == "train") {
        train_set = ds;
        train_hashes = hashes;
      }
      if (!ds.skipped.empty()) {
        out << "  skipped " << counted((int64_t)ds.skipped.size(), "bad image") << ":\n";
        write_skipped(out, ds, "    ");
        skipped += (int64_t)ds.skipped.size();
      }
      const bool own_counts = split == "train" || train_counts.empty();  // the training counts are this split's
      if (own_counts) {
        auto ends = [&](const char* x) { return split.size() >= std::strlen(x) && split.rfind(x) == split.size() - std::strlen(x); };
        counts_of_train = split == "train" || (work.size() == 1 && !ends("test") && !ends("val"));  // a lone list
        train_counts = counts;
        train_labels = ds.labels;
        train_classes = ds.num_classes;
        train_names = ds.class_names;
      }
      if (split == "train" && ds.num_classes < 2) {
        err << "verify-data: " << split << ": 1 class (" << ds.class_names[0] << "): a classifier needs at least 2\n";
        ++problems;
      }
      for (size_t c = 0; c < counts.size(); ++c)
        if (counts[c] == 0 && split == "train") {
          err << "verify-data: " << split << ": class " << c << " (" << ds.class_names[c] << ") has no images\n";
          ++problems;
        }
      // an evaluation split without a class of the training split (a stray label C in a training list adds
      // one): its accuracy would be n/a, said with the first few
      const std::string missing = own_counts ? "" : classes_without_images(counts, train_counts, train_names);
      if (!missing.empty()) {
        out << "  warning: no image of " << missing << " of the training split: their accuracy would be n/a\n";
        ++warnings;
      }
    }
    if (!train_counts.empty() && a.imbalance_ratio >= 1) {
      try {
        LtSubset s = make_lt_subset(train_labels, train_classes, a.imbalance_ratio, parse_lt_profile(a.profile), a.seed,
                                    a.n_max);
        log_lt_subset(out, s, a.imbalance_ratio, parse_lt_profile(a.profile), a.seed);
        train_counts = s.counts;
      } catch (const std::exception& e) {
        err << "verify-data: " << e.what() << "\n";
        ++problems;
      }
    }
    const bool chose_files = !a.split.empty() || !a.list.empty() || !a.json.empty();
    if (!chose_files && std::none_of(work.begin(), work.end(), [](const auto& w) { return w.first == "train"; })) {
      const std::string looked = a.format == "list"   ? "train.txt or *_train.txt in " + a.root
                                 : a.format == "inat" ? "train2018.json or train.json in " + a.root
                                                      : (fs::path(a.root) / "train").string() + "/";
      out << "warning: no training split (looked for " << looked << "): the other "
          << "splits' labels were not checked against the training classes\n";
      ++warnings;
    }
    if (!train_counts.empty() && !counts_of_train)
      out << "shots: not computed (the groups count training images; the training split was not read)\n";
    else if (!train_counts.empty()) {
      const ShotRule rule = make_shot_rule(a.groups, a.many_above, a.few_below);
      ShotSplit sh = shot_split(train_counts, rule);
      out << "shots (by training count): many " << sh.many.size() << (sh.many.size() == 1 ? " class" : " classes")
          << ", medium " << sh.medium.size()
          << ", few " << sh.few.size() << " (" << describe_shot_rule(rule, train_counts) << ")\n";
    }
  } catch (const std::exception& e) {
    err << "verify-data: " << e.what() << "\n";
    ++problems;
  }
  if (problems) {
    err << "verify-data: FAILED (" << problems << " problem" << (problems > 1 ? "s" : "") << ")\n";
    return 1;
  }
  std::string notes = skipped ? counted(skipped, "bad image") + " skipped" : "";
  if (warnings) notes += (notes.empty() ? "" : "; ") + counted(warnings, "warning") + " above";
  out << "OK" << (notes.empty() ? "" : " (" + notes + ")") << "\n";
  return 0;
}

}  // namespace tailor::data
