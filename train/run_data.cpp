#include "train/run_data.h"

#include <algorithm>
#include <filesystem>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "data/cifar.h"
#include "data/folder.h"
#include "data/idx.h"
#include "data/decode.h"
#include "data/duplicates.h"
#include "data/imbalance.h"
#include "data/resident.h"
#include "data/presets.h"

namespace tailor {

namespace {

namespace fs = std::filesystem;

data::Dataset first_per_class(const data::Dataset& ds, int64_t k) {
  std::vector<int64_t> taken(ds.num_classes, 0), keep;
  for (int64_t i = 0; i < ds.size(); ++i)
    if (taken[ds.labels[i]]++ < k) keep.push_back(i);
  return data::subset(ds, keep);
}

// A list / JSON path of the config: relative to data.root unless absolute.
std::string under_root(const std::string& root, const std::string& p, const char* key) {
  const fs::path f = fs::path(p).is_absolute() ? fs::path(p) : fs::path(root) / p;
  if (!fs::is_regular_file(f))
    throw ConfigError(std::string("data.") + key + ": " + f.string() + ": no such file (a relative path is taken "
                      "relative to data.root, " + root + ")");
  return f.string();
}

// A split of images read as they are: decoded into memory, all of the preset's size.
void decode_for_preset(data::Dataset& ds, const data::Preset& p, const data::LoadOptions& opts, const char* split) {
  if (!ds.in_memory()) {
    try {
      data::decode_dataset_images(ds, opts, true);  // an unreadable image: its error as it is (data, not config)
    } catch (const data::ImageSizeMismatch& e) {
      throw ConfigError(std::string(e.what()) + " (data.augment " + p.name + " keeps images as they are: every " +
                        split + " image must be " + std::to_string(p.size) + "x" + std::to_string(p.size) +
                        "; a resizing preset such as data.augment imagenet takes any size)");
    }
  }
  if (ds.height != p.size || ds.width != p.size)
    throw ConfigError(std::string("data: the ") + split + " images are " + std::to_string(ds.height) + "x" +
                      std::to_string(ds.width) + ", the training images " + std::to_string(p.size) + "x" +
                      std::to_string(p.size) + " (data.augment " + p.name + " keeps images as they are)");
}

// The hashes a run can afford before training: the pixels of a split in memory; none (0: paths compared only)
// for one read from files, which is not read again here (tailor verify-data compares their bytes).
std::vector<uint64_t> cheap_hashes(const data::Dataset& ds) {
  if (ds.pixels.empty()) return std::vector<uint64_t>((size_t)ds.size(), 0);
  return data::content_hashes(ds, 0);
}

// Never silent: a file listed twice for training, and evaluation images that are training images.
void log_repeats_and_leaks(std::ostream& log, const RunData& r) {
  const std::vector<uint64_t> train = cheap_hashes(r.train);
  data::write_repeats(log, r.train, data::find_repeats(r.train, train), "data: training split: ", "  ");
  for (const auto& [split, set] : {std::pair<const char*, const data::Dataset*>{"val", r.val.get()},
                                   {"test", r.test.get()}})
    if (set) {
      const std::vector<uint64_t> hashes = cheap_hashes(*set);
      data::write_repeats(log, *set, data::find_repeats(*set, hashes), std::string("data: ") + split + " split: ", "  ");
      data::write_leaks(log, r.train, *set, split, data::find_leaks(r.train, train, *set, hashes), "data: ", "  ");
    }
}

}  // namespace

std::string data_root(const DataConfig& d) {
  return d.root.empty() && d.dataset == "fashion_mnist" ? std::string(data::kFashionMnistRoot) : d.root;
}

// data.dataset cifar10 / cifar100: which binary files its root holds, its class count
static data::CifarKind cifar_kind(const DataConfig& d) {
  return d.dataset == "cifar100" ? data::CifarKind::Cifar100 : data::CifarKind::Cifar10;
}
int cifar_classes(const DataConfig& d) { return d.dataset == "cifar100" ? 100 : 10; }

bool cifar_from_folder(const DataConfig& d) {
  if (d.format != "auto") return d.format == "folder";
  const std::string root = data_root(d);
  std::error_code ec;
  const bool folder = fs::is_directory(fs::path(root) / "train", ec),
             bins = !data::cifar_binaries_folder(root, cifar_kind(d)).empty();
  if (folder && bins)  // (never one of the two picked without a word)
    throw ConfigError("data.root " + root + " holds both the CIFAR binary batches and an image folder (" +
                      (fs::path(root) / "train").string() + "): set data.format bin or folder");
  return folder;
}

RunData load_run_data(const DataConfig& d, std::ostream& log) {
  const std::string ds = d.dataset;
  const std::string root = data_root(d);
  data::LoadOptions opts;
  opts.on_bad_image = data::parse_bad_image_policy(d.on_bad_image);
  RunData r;
  data::Dataset full;
  std::string pretty = ds, source = root;  // source: the folder or file the training split came from
  if (ds == "fashion_mnist" || ds == "mnist") {
    full = data::load_idx_dataset(root, "train", opts);
    r.test = std::make_unique<data::Dataset>(data::load_idx_dataset(root, "test", opts));
    pretty = ds == "mnist" ? "MNIST" : "Fashion-MNIST";
  } else if (ds == "cifar10" || ds == "cifar100") {
    const bool folder = cifar_from_folder(d);
    pretty = ds == "cifar10" ? "CIFAR-10" : "CIFAR-100";
    if (folder) {
      full = data::load_image_folder(root, "train", opts);
      const int expected = cifar_classes(d);
      if (full.num_classes != expected)
        throw ConfigError((fs::path(root) / "train").string() + ": " + std::to_string(full.num_classes) +
                          " class folders, data.dataset " + ds + " has " + std::to_string(expected) +
                          "; a folder with its own classes is data.dataset image_folder (data.imbalance.profile exp "
                          "for an LT subset of it)");
      data::LoadOptions eval = opts;
      eval.may_lack_classes = true;
      r.test = std::make_unique<data::Dataset>(data::load_image_folder(root, "test", eval));
      try {
        data::map_to_training_classes(*r.test, full.class_names, (fs::path(root) / "test").string());
      } catch (const std::runtime_error& e) {
        throw ConfigError(e.what());  // the data's layout, refused before training (exit 2, as an image_folder's)
      }
      source = (fs::path(root) / "train").string();
      log << "data: " << pretty << " from the image folders " << source << " and "
          << (fs::path(root) / "test").string() << "\n";
    } else {
      full = data::load_cifar_bin(root, "train", cifar_kind(d));
      r.test = std::make_unique<data::Dataset>(data::load_cifar_bin(root, "test", cifar_kind(d)));
      source = data::cifar_binaries_folder(root, cifar_kind(d));
      log << "data: " << pretty << " from the binary batches in " << source << "\n";
    }
  } else if (ds == "image_folder") {
    data::LoadOptions lazy = opts;
    lazy.lazy = true;  // decoded below when the preset keeps images as they are
    full = data::load_image_folder(root, "train", lazy);
    for (const char* split : {"val", "test"}) {
      const fs::path dir = fs::path(root) / split;
      if (!fs::is_directory(dir)) continue;
      data::LoadOptions eval = lazy;
      eval.may_lack_classes = true;  // (an empty class folder: a class the split lacks, as a missing one)
      auto sd = std::make_unique<data::Dataset>(data::load_image_folder(root, split, eval));
      try {
        data::map_to_training_classes(*sd, full.class_names, dir.string());
      } catch (const std::runtime_error& e) {
        throw ConfigError(e.what());  // the data's layout, refused before training (exit 2, as before)
      }
      (split[0] == 'v' ? r.val : r.test) = std::move(sd);
    }
    pretty = "image folder " + root;
    source = (fs::path(root) / "train").string();
  } else {  // list | inat: the training list first; the others' labels must be among its classes
    auto load = [&](const std::string& p, const char* key, int classes) -> std::unique_ptr<data::Dataset> {
      if (p.empty()) return nullptr;
      data::LoadOptions o = opts;
      o.num_classes = classes;
      o.training_split = classes <= 0;
      const std::string file = under_root(root, p, key);
      auto split = std::make_unique<data::Dataset>(ds == "list" ? data::load_list_file(root, file, o)
                                                                : data::load_inat_json(root, file, o));
      if (classes > 0) data::adopt_training_class_names(*split, full.class_names, file);  // (val, test)
      return split;
    };
    full = *load(d.train_list, "train_list", -1);
    source = under_root(root, d.train_list, "train_list");
    r.val = load(d.val_list, "val_list", full.num_classes);
    r.test = load(d.test_list, "test_list", full.num_classes);
    pretty = (ds == "list" ? "list " : "iNaturalist ") + d.train_list;
  }

  // the transforms: one preset for training and evaluation, at one image size
  data::Preset preset;
  const data::PresetInput input = data::preset_input(ds, full, opts.on_bad_image);  // a bad image: a data error
  try {
    preset = data::make_preset(d.augment, (int)d.image_size, input);
  } catch (const std::runtime_error& e) {
    throw ConfigError(e.what());  // a choice of the config that cannot work with these images
  }
  if (preset.exact) {
    decode_for_preset(full, preset, opts, "training");
    if (r.val) decode_for_preset(*r.val, preset, opts, "validation");
    if (r.test) decode_for_preset(*r.test, preset, opts, "test");
  }
  r.train_tf = preset.train;
  r.eval_tf = preset.eval;
  r.preset = preset;
  r.preset_input = input;
  log << "data: augment " << preset.name << " at " << preset.size << "x" << preset.size
      << (preset.exact ? " (images as they are)" : " (resized)") << "\n";

  const std::string profile = d.imbalance_profile;
  if (profile == "none") {
    r.train = std::move(full);
    r.train_counts = data::class_counts(r.train.labels, r.train.num_classes);
    r.description = pretty + " (its own counts): " + data::counted(r.train.size(), "training image") + ", " +
                    data::counted(r.train.num_classes, "class", "classes") + ", counts " + data::counts_list(r.train_counts);
  } else {
    const double ratio = d.imbalance_ratio;
    const uint32_t seed = d.imbalance_seed;
    const int64_t n_max = d.imbalance_n_max;
    auto prof = data::parse_lt_profile(profile);
    data::LtSubset s;
    try {
      s = data::make_lt_subset(full.labels, full.num_classes, ratio, prof, seed, (double)n_max);
    } catch (const std::runtime_error& e) {  // a head count the data does not have: the config's (exit 2)
      std::ostringstream r;
      r << ratio;
      throw ConfigError("data.imbalance (profile " + profile + ", ratio " + r.str() + ", n_max " +
                        std::to_string(n_max) + "): " + e.what() + "; lower data.imbalance.n_max (-1: the data's "
                        "own per-class count)");
    }
    r.train = data::subset(full, s.indices);
    r.train_counts = s.counts;
    r.description = pretty + "-LT: " + data::describe_lt_subset(s, ratio, prof, seed);
  }
  log << "data: " << r.description << "\n";
  for (const auto& [split, set] : {std::pair<const char*, const data::Dataset*>{"training", &r.train},
                                   {"validation", r.val.get()}, {"test", r.test.get()}}) {
    if (!set || set->skipped.empty()) continue;  // data.on_bad_image skip: what was left out, by name
    log << "data: " << data::counted((int64_t)set->skipped.size(), std::string(split) + " image") << " left out (data.on_bad_image skip):\n";
    data::write_skipped(log, *set, "  ");
  }
  std::vector<std::string> empty;  // after the listing: a class emptied by skipped images shows why
  for (int c = 0; c < r.train.num_classes; ++c)
    if (r.train_counts[c] == 0) empty.push_back(std::to_string(c) + " (" + r.train.class_names[c] + ")");
  if (!empty.empty()) {
    const std::string msg = "data: " + std::string(empty.size() == 1 ? "class " : "classes ") + data::first_few(empty, 5) +
                            (empty.size() == 1 ? " has" : " have") + " no training image" +
                            (profile == "none" ? " in " + source
                                               : " after the LT subset (raise data.imbalance.n_max or lower "
                                                 "data.imbalance.ratio: the rarest class keeps n_max / ratio; "
                                                 "data.imbalance.profile none keeps the data's own counts)");
    if (r.train.skipped.empty()) throw ConfigError(msg);  // the config's subset emptied it
    // the bad images emptied it: a data error (exit 1), as each of them is under on_bad_image error
    throw std::runtime_error(msg + " (images left out under on_bad_image skip are listed above)");
  }
  if (r.train.num_classes < 2)  // every loss would be 0 and every prediction right: nothing to learn or measure
    throw std::runtime_error("data: the training split has 1 class (" + r.train.class_names[0] + "): a classifier "
                             "needs at least 2");

  const int64_t k = d.test_per_class;
  if (k > 0 && r.test) r.test = std::make_unique<data::Dataset>(first_per_class(*r.test, k));
  for (const auto& [split, set] : {std::pair<const char*, const data::Dataset*>{"training", &r.train},
                                   {"validation", r.val.get()}, {"test", r.test.get()}})
    if (set) data::write_ignored(log, *set, std::string("data: the ") + split + " folder: ", "  ");
  log_repeats_and_leaks(log, r);
  if (r.test) log << "data: test " << data::counted(r.test->size(), "image") << "\n";
  if (r.val) log << "data: val " << data::counted(r.val->size(), "image") << "\n";
  // A class an evaluation split lacks (a stray label C in a training list adds one): its accuracy is n/a and
  // the balanced accuracy leaves it out; said, with the first few.
  for (const auto& [split, set] : {std::pair<const char*, const data::Dataset*>{"test", r.test.get()}, {"val", r.val.get()}}) {
    if (!set) continue;
    const std::string missing = data::classes_without_images(data::class_counts(set->labels, set->num_classes),
                                                             r.train_counts, r.train.class_names);
    if (!missing.empty())
      log << "warning: the " << split << " split has no image of " << missing
          << ": their accuracy is n/a and the balanced accuracy leaves them out\n";
  }
  if (!r.test && !r.val) log << "data: no test or validation split: no evaluation\n";
  return r;
}

static void add_labels(Fnv1a& h, const data::Dataset& ds) {
  h.add(ds.labels.data(), ds.labels.size() * sizeof(int32_t));
  const uint64_t n[2] = {(uint64_t)ds.labels.size(), (uint64_t)ds.num_classes};
  h.add(n, sizeof n);
}

// A split's images: its pixels when they are in memory, else each file's size (a stat, not a read: an image
// changed or two swapped between classes almost always changes a size).
static void add_images(Fnv1a& h, const data::Dataset& ds) {
  h.add(ds.pixels.data(), ds.pixels.size());
  if (!ds.pixels.empty()) return;
  for (const std::string& p : ds.paths) {
    std::error_code ec;
    const uint64_t size = fs::file_size(p, ec);
    const uint64_t v = ec ? ~0ull : size;
    h.add(&v, sizeof v);
  }
}

static const char* const kSplitWords[3] = {"training", "validation", "test"};

std::string data_fingerprint(const RunData& d) {
  std::string out = "3";
  const data::Dataset* splits[] = {&d.train, d.val.get(), d.test.get()};
  for (const data::Dataset* s : splits) {
    if (!s) {
      out += "-none.none";
      continue;
    }
    Fnv1a labels, images;
    add_labels(labels, *s);
    add_images(images, *s);
    out += "-" + labels.hex() + "." + images.hex();
  }
  return out;
}

std::string data_fingerprint_v2(const RunData& d) {
  Fnv1a h;
  const data::Dataset* splits[] = {&d.train, d.val.get(), d.test.get()};
  for (const data::Dataset* s : splits)
    if (s) {
      add_labels(h, *s);
      add_images(h, *s);
    }
  return "2-" + h.hex();
}

// "3-L.I-L.I-L.I" -> its 6 fields (labels, images of train, val, test); another version: not 6
static std::vector<std::string> fingerprint_fields(const std::string& f) {
  std::vector<std::string> v;
  if (f.rfind("3-", 0) != 0) return v;
  std::string cur;
  for (char c : f.substr(2) + "-") {
    if (c == '-' || c == '.') {
      v.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return v;
}

// Whether only evaluation splits' images differ (version 3): the training split, every split's labels, and
// the val images when they are training data too (val_trains), the same.
static bool only_eval_images_differ(const std::string& now, const std::string& was, bool val_trains) {
  const std::vector<std::string> a = fingerprint_fields(was), b = fingerprint_fields(now);
  if (a.size() != 6 || b.size() != 6 || a[0] != b[0] || a[1] != b[1]) return false;  // (the training split)
  if (val_trains && a[3] != b[3]) return false;
  bool images = false;
  for (int s = 1; s < 3; ++s) {
    if (a[2 * s] != b[2 * s]) return false;  // labels, size or class count (or a split new / gone)
    images = images || a[2 * s + 1] != b[2 * s + 1];
  }
  return images;
}

ResumeDataCheck check_resume_data(const RunData& d, const std::string& now, const std::string& was,
                                  const std::string& root, bool accept, bool val_trains) {
  ResumeDataCheck c;
  if (was.empty() || was == now) return c;
  const std::string what = data_fingerprint_difference(d, was);
  const bool eval_images = only_eval_images_differ(now, was, val_trains);
  if (eval_images && accept) {
    c.note = what + "; continued (--accept-changed-eval-images): the steps of the stage in progress are the "
             "uninterrupted run's; the evaluations from here on use these images, and so does what follows from "
             "them (the best checkpoint a later stage loads, a tau chosen on the split), the earlier ones used the old";
    return c;
  }
  c.refusal = "data.root " + root + ": not the data this run started with: " +
              (what.empty() ? "the images of a split, their labels or (files read as they are used) their sizes differ"
                            : what) +
              "; point data.root and the list files at the data the run started with (or start the run anew)" +
              (eval_images ? "; evaluation images repaired or replaced on purpose: --accept-changed-eval-images" : "");
  return c;
}

std::string data_fingerprint_difference(const RunData& d, const std::string& was) {
  const std::vector<std::string> a = fingerprint_fields(was), b = fingerprint_fields(data_fingerprint(d));
  if (a.size() != 6 || b.size() != 6) return "";
  const data::Dataset* splits[] = {&d.train, d.val.get(), d.test.get()};
  std::string differ, same;
  for (int s = 0; s < 3; ++s) {
    const std::string word = kSplitWords[s];
    std::string what;
    if ((a[2 * s] == "none") != (b[2 * s] == "none"))
      what = a[2 * s] == "none" ? "split is new" : "split is gone";
    else if (a[2 * s] != b[2 * s])
      what = "split's labels changed (or its size or class count)";
    else if (a[2 * s + 1] != b[2 * s + 1])
      what = splits[s] && splits[s]->pixels.empty()
                 ? "split's images changed (the sizes of its files, read as they are used)"
                 : "split's images changed (their pixels)";
    if (!what.empty())
      differ += (differ.empty() ? "the " : "; the ") + word + " " + what;
    else if (a[2 * s] != "none")
      same += (same.empty() ? "" : " and ") + word;
  }
  if (differ.empty()) return "";
  return differ + (same.empty() ? "" : "; the " + same + " split" +
                                           (same.find(" and ") == std::string::npos ? " is" : "s are") + " the same");
}

std::string data_fingerprint_v1(const RunData& d) {
  Fnv1a h;
  add_labels(h, d.train);
  h.add(d.train.pixels.data(), d.train.pixels.size());
  if (d.val) add_labels(h, *d.val);
  if (d.test) add_labels(h, *d.test);
  return h.hex();
}

const data::Dataset& run_split(const RunData& d, const std::string& split) {
  if (split == "train") return d.train;
  if (split == "val" && d.val) return *d.val;
  if (split == "test" && d.test) return *d.test;
  throw ConfigError("the run's data has no '" + split + "' split (it has: train" + (d.val ? ", val" : "") +
                    (d.test ? ", test" : "") + ")");
}

std::string eval_split_or_default(const RunData& d, const std::string& given, std::ostream& log) {
  if (!given.empty()) return given;
  if (d.test || !d.val) return "test";
  log << "the run's data has no test split: evaluating its val split (--split chooses)\n";
  return "val";
}

data::TransformConfig train_transform_for(const RunData& d, const std::string& augment, const std::string& key) {
  if (augment.empty() || augment == d.preset.name) return d.train_tf;
  data::Preset p;
  try {
    p = data::make_preset(augment, d.preset.size, d.preset_input);
  } catch (const std::runtime_error& e) {
    std::string why = e.what();  // (the preset's words name data.augment: here it is `key`)
    const std::string own = "data.augment " + augment + " ";
    if (why.rfind(own, 0) == 0) why = why.substr(own.size());
    throw ConfigError(key + " " + augment + ": " + why);
  }
  if (p.exact != d.preset.exact)
    throw ConfigError(key + " " + augment + (p.exact ? " keeps images as they are" : " resizes images") +
                      ", data.augment " + d.preset.name + (d.preset.exact ? " keeps them" : " resizes them") +
                      ": choose a preset of the same kind");
  return p.train;
}

void check_resident_eval(const RunData& d) {
  for (const auto* split : {d.val.get(), d.test.get()}) {
    if (!split) continue;
    const std::string which = split == d.val.get() ? "val" : "test";
    if (split->pixels.empty())
      throw std::runtime_error("data.resident: the " + which + " split (" + split->name + ") is read from files "
                               "as it is evaluated; only a split decoded in memory can live on the device");
    const std::string problem = data::resident_transform_problem(d.eval_tf, split->height, split->width);
    if (!problem.empty()) throw std::runtime_error("data.resident: the " + which + " split's transform: " + problem);
  }
}

}  // namespace tailor
