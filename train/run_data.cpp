#include "train/run_data.h"

#include <filesystem>
#include <ostream>
#include <stdexcept>

#include "data/cifar.h"
#include "data/folder.h"
#include "data/idx.h"
#include "data/imbalance.h"

namespace tailor {

namespace {

namespace fs = std::filesystem;

data::TransformConfig mnist_transform(bool train, bool fashion) {
  data::TransformConfig t;
  if (train) {
    t.crop = data::CropMode::RandomCrop;
    t.size = 28;
    t.padding = 2;
    t.hflip = fashion;  // garments are left-right symmetric; digits are not
  }
  t.mean = {fashion ? 0.2860f : 0.1307f};
  t.std = {fashion ? 0.3530f : 0.3081f};
  return t;
}

void set_transforms(const DataConfig& d, RunData& r) {
  const std::string ds = d.dataset, aug = d.augment;
  const bool mnist_like = ds == "fashion_mnist" || ds == "mnist";
  const bool cifar_like = ds == "cifar10" || ds == "cifar100";
  // evaluation transform follows the dataset
  if (mnist_like) r.eval_tf = mnist_transform(false, ds == "fashion_mnist");
  else if (cifar_like) r.eval_tf = data::cifar_test_transform();
  else if (ds == "inat") r.eval_tf = data::inat_test_transform();
  else r.eval_tf = data::imagenet_test_transform();
  std::string a = aug;
  if (a == "auto") a = mnist_like ? "mnist" : cifar_like ? "cifar" : ds == "inat" ? "inat" : "imagenet";
  if (a == "mnist") r.train_tf = mnist_transform(true, ds == "fashion_mnist");
  else if (a == "cifar") r.train_tf = data::cifar_train_transform();
  else if (a == "cifar_autoaugment") r.train_tf = data::balms_cifar_train_transform();
  else if (a == "imagenet") r.train_tf = data::imagenet_train_transform(true);
  else if (a == "imagenet_nojitter") r.train_tf = data::imagenet_train_transform(false);
  else if (a == "inat") r.train_tf = data::inat_train_transform();
  else r.train_tf = r.eval_tf;  // none
  if (mnist_like && (a == "cifar" || a == "cifar_autoaugment" || a == "imagenet" || a == "inat" ||
                     a == "imagenet_nojitter"))
    throw ConfigError("data.augment " + a + " does not fit 1-channel 28x28 " + ds + " images (use mnist or none)");
}

data::Dataset first_per_class(const data::Dataset& ds, int64_t k) {
  std::vector<int64_t> taken(ds.num_classes, 0), keep;
  for (int64_t i = 0; i < ds.size(); ++i)
    if (taken[ds.labels[i]]++ < k) keep.push_back(i);
  return data::subset(ds, keep);
}

}  // namespace

RunData load_run_data(const DataConfig& d, std::ostream& log) {
  const std::string ds = d.dataset, format = d.format;
  std::string root = d.root;
  if (root.empty() && ds == "fashion_mnist") root = data::kFashionMnistRoot;
  data::LoadOptions opts;
  opts.on_bad_image = data::parse_bad_image_policy(d.on_bad_image);
  RunData r;
  data::Dataset full;
  std::string pretty = ds;
  if (ds == "fashion_mnist" || ds == "mnist") {
    full = data::load_idx_dataset(root, "train", opts);
    r.test = std::make_unique<data::Dataset>(data::load_idx_dataset(root, "test", opts));
    pretty = ds == "mnist" ? "MNIST" : "Fashion-MNIST";
  } else if (ds == "cifar10" || ds == "cifar100") {
    bool folder = format == "folder" || (format == "auto" && fs::is_directory(fs::path(root) / "train"));
    if (folder) {
      full = data::load_image_folder(root, "train", opts);
      r.test = std::make_unique<data::Dataset>(data::load_image_folder(root, "test", opts));
    } else {
      auto kind = ds == "cifar10" ? data::CifarKind::Cifar10 : data::CifarKind::Cifar100;
      full = data::load_cifar_bin(root, "train", kind);
      r.test = std::make_unique<data::Dataset>(data::load_cifar_bin(root, "test", kind));
    }
    pretty = ds == "cifar10" ? "CIFAR-10" : "CIFAR-100";
  } else if (ds == "image_folder") {
    full = data::load_image_folder(root, "train", opts);
    if (fs::is_directory(fs::path(root) / "val"))
      r.val = std::make_unique<data::Dataset>(data::load_image_folder(root, "val", opts));
    if (fs::is_directory(fs::path(root) / "test"))
      r.test = std::make_unique<data::Dataset>(data::load_image_folder(root, "test", opts));
  } else {  // list | inat
    auto load = [&](const std::string& p) -> std::unique_ptr<data::Dataset> {
      if (p.empty()) return nullptr;
      return std::make_unique<data::Dataset>(ds == "list" ? data::load_list_file(root, p, opts)
                                                          : data::load_inat_json(root, p, opts));
    };
    full = *load(d.train_list);
    r.val = load(d.val_list);
    r.test = load(d.test_list);
  }

  const std::string profile = d.imbalance_profile;
  if (profile == "none") {
    r.train = std::move(full);
    r.train_counts = data::class_counts(r.train.labels, r.train.num_classes);
    r.description = pretty + " (as given): " + std::to_string(r.train.size()) + " training images";
  } else {
    const double ratio = d.imbalance_ratio;
    const uint32_t seed = d.imbalance_seed;
    const int64_t n_max = d.imbalance_n_max;
    auto prof = data::parse_lt_profile(profile);
    data::LtSubset s = data::make_lt_subset(full.labels, full.num_classes, ratio, prof, seed, (double)n_max);
    r.train = data::subset(full, s.indices);
    r.train_counts = s.counts;
    r.description = pretty + "-LT: " + data::describe_lt_subset(s, ratio, prof, seed);
  }
  log << "data: " << r.description << "\n";
  for (int c = 0; c < r.train.num_classes; ++c)
    if (r.train_counts[c] == 0)
      throw ConfigError("data: class " + std::to_string(c) + " has no training image after the LT subset");

  const int64_t k = d.test_per_class;
  if (k > 0 && r.test) r.test = std::make_unique<data::Dataset>(first_per_class(*r.test, k));
  if (r.test) log << "data: test " << r.test->size() << " images\n";
  if (r.val) log << "data: val " << r.val->size() << " images\n";
  if (!r.test && !r.val) log << "data: no test or validation split: no evaluation\n";
  set_transforms(d, r);
  return r;
}

static void add_labels(Fnv1a& h, const data::Dataset& ds) {
  h.add(ds.labels.data(), ds.labels.size() * sizeof(int32_t));
  const uint64_t n[2] = {(uint64_t)ds.labels.size(), (uint64_t)ds.num_classes};
  h.add(n, sizeof n);
}

std::string data_fingerprint(const RunData& d) {
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
  throw ConfigError("the run's data has no '" + split + "' split");
}

}  // namespace tailor
