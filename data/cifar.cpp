#include "data/cifar.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "data/decode.h"

namespace fs = std::filesystem;

namespace tailor::data {

static const char* kCifar10Names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                        "dog", "frog", "horse", "ship", "truck"};

void parse_cifar_records(const uint8_t* p, size_t n, const std::string& name, bool cifar100, bool coarse,
                         int64_t expected_records, Dataset& out) {
  const size_t label_bytes = cifar100 ? 2 : 1;
  const size_t rec = label_bytes + 3072;
  if (n == 0) throw std::runtime_error(name + ": empty file (0 bytes)");
  if (n % rec != 0)
    throw std::runtime_error(name + ": size " + std::to_string(n) + " is not a multiple of the " +
                             std::to_string(rec) + "-byte record (short or damaged file; record " +
                             std::to_string(n / rec) + " is cut off)");
  const int64_t count = (int64_t)(n / rec);
  if (expected_records > 0 && count != expected_records)
    throw std::runtime_error(name + ": " + counted(count, "record") + ", expected " + std::to_string(expected_records));
  const int num_classes = cifar100 ? (coarse ? 20 : 100) : 10;
  const size_t base = out.pixels.size();
  out.pixels.resize(base + (size_t)count * 3072);
  for (int64_t r = 0; r < count; ++r) {
    const uint8_t* q = p + (size_t)r * rec;
    int label = cifar100 ? (coarse ? q[0] : q[1]) : q[0];
    if (cifar100 && q[0] >= 20)
      throw std::runtime_error(name + ": record " + std::to_string(r) + ": coarse label " + std::to_string(q[0]) +
                               " out of range [0, 20)");
    if (label >= num_classes)
      throw std::runtime_error(name + ": record " + std::to_string(r) + ": label " + std::to_string(label) +
                               " out of range [0, " + std::to_string(num_classes) + ")");
    const uint8_t* planes = q + label_bytes;
    uint8_t* dst = out.pixels.data() + base + (size_t)r * 3072;
    for (int i = 0; i < 1024; ++i) {  // CHW planes -> HWC
      dst[i * 3 + 0] = planes[i];
      dst[i * 3 + 1] = planes[1024 + i];
      dst[i * 3 + 2] = planes[2048 + i];
    }
    out.labels.push_back(label);
    out.paths.push_back(name + "#" + std::to_string(r));
  }
}

static std::vector<std::string> read_names(const fs::path& p, size_t expected) {
  std::vector<std::string> names;
  std::ifstream f(p);
  if (!f) return names;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.size() != expected)
    throw std::runtime_error(p.string() + ": " + std::to_string(names.size()) + " class names, expected " +
                             std::to_string(expected));
  return names;
}

namespace {
bool present(const fs::path& p) {
  std::error_code ec;  // (an unreadable folder: not present here; require_folder or the read names it)
  return fs::exists(p, ec);
}
bool has10(const fs::path& d) { return present(d / "data_batch_1.bin") || present(d / "test_batch.bin"); }
bool has100(const fs::path& d) { return present(d / "train.bin") || present(d / "test.bin"); }
}  // namespace

std::string cifar_binaries_folder(const std::string& root_in, CifarKind kind) {
  const fs::path root(root_in);
  if ((kind != CifarKind::Cifar100 && has10(root)) || (kind != CifarKind::Cifar10 && has100(root))) return root_in;
  if (kind != CifarKind::Cifar100 && has10(root / "cifar-10-batches-bin")) return (root / "cifar-10-batches-bin").string();
  if (kind != CifarKind::Cifar10 && has100(root / "cifar-100-binary")) return (root / "cifar-100-binary").string();
  return "";
}

Dataset load_cifar_bin(const std::string& root_in, const std::string& split, CifarKind kind, bool coarse) {
  if (split != "train" && split != "test")
    throw std::runtime_error("cifar-bin: unknown split '" + split + "' (expected train or test)");
  require_folder(root_in);
  const std::string folder = cifar_binaries_folder(root_in, kind);
  fs::path root(folder.empty() ? root_in : folder);  // (none: the missing files named below)
  if (kind == CifarKind::Auto) {
    if (has10(root)) kind = CifarKind::Cifar10;
    else if (has100(root)) kind = CifarKind::Cifar100;
    else
      throw std::runtime_error(root_in + ": no CIFAR binary files (expected data_batch_1.bin..5, test_batch.bin "
                               "or train.bin, test.bin)");
  }
  const bool c100 = kind == CifarKind::Cifar100;
  std::vector<std::pair<std::string, int64_t>> files;
  if (!c100) {
    if (split == "train")
      for (int b = 1; b <= 5; ++b) files.push_back({"data_batch_" + std::to_string(b) + ".bin", 10000});
    else
      files.push_back({"test_batch.bin", 10000});
  } else {
    files.push_back({split == "train" ? "train.bin" : "test.bin", split == "train" ? 50000 : 10000});
  }
  Dataset ds;
  ds.name = std::string(c100 ? "cifar100-bin " : "cifar10-bin ") + split;
  ds.height = ds.width = 32;
  ds.channels = 3;
  ds.num_classes = c100 ? (coarse ? 20 : 100) : 10;
  for (auto& [fname, expected] : files) {
    fs::path p = root / fname;
    if (!fs::exists(p)) throw std::runtime_error(p.string() + ": missing CIFAR file");
    std::vector<uint8_t> b = read_file(p.string());
    parse_cifar_records(b.data(), b.size(), p.string(), c100, coarse, expected, ds);
  }
  if (!c100) {
    ds.class_names = read_names(root / "batches.meta.txt", 10);
    if (ds.class_names.empty()) ds.class_names.assign(kCifar10Names, kCifar10Names + 10);
  } else {
    ds.class_names = read_names(root / (coarse ? "coarse_label_names.txt" : "fine_label_names.txt"), (size_t)ds.num_classes);
    if (ds.class_names.empty())
      for (int c = 0; c < ds.num_classes; ++c) ds.class_names.push_back(std::to_string(c));
  }
  return ds;
}

}  // namespace tailor::data
