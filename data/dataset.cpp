#include "data/dataset.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <thread>
#include <stdexcept>

#include "data/decode.h"
#include "data/folder.h"

namespace tailor::data {

BadImagePolicy parse_bad_image_policy(const std::string& s) {
  if (s == "error") return BadImagePolicy::Error;
  if (s == "skip") return BadImagePolicy::Skip;
  throw std::runtime_error("unknown bad-image policy '" + s + "' (expected error or skip)");
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned h = std::thread::hardware_concurrency();
  return (int)std::max(1u, std::min(h == 0 ? 2u : h, 8u));
}

ImageView dataset_image(const Dataset& ds, int64_t i, ImageU8& scratch) {
  if (i < 0 || i >= ds.size())
    throw std::runtime_error(ds.name + ": sample index " + std::to_string(i) + " out of range [0, " +
                             std::to_string(ds.size()) + ")");
  if (!ds.pixels.empty()) {
    ImageView v;
    v.data = ds.pixels.data() + (size_t)i * (size_t)ds.image_bytes();
    v.height = ds.height;
    v.width = ds.width;
    v.channels = ds.channels;
    return v;
  }
  if ((size_t)i >= ds.paths.size()) throw std::runtime_error(ds.name + ": lazy dataset without a path for sample " + std::to_string(i));
  try {
    scratch = decode_image_file(ds.paths[(size_t)i], ds.channels > 0 ? ds.channels : 3);
  } catch (const std::exception& e) {  // a list's or a JSON's image: its record named first
    if ((size_t)i < ds.origins.size()) throw std::runtime_error(ds.origins[(size_t)i] + ": " + e.what());
    throw;
  }
  return ImageView{scratch.data.data(), scratch.height, scratch.width, scratch.channels};
}

Dataset subset(const Dataset& ds, const std::vector<int64_t>& indices) {
  Dataset out;
  out.name = ds.name;
  out.height = ds.height;
  out.width = ds.width;
  out.channels = ds.channels;
  out.class_names = ds.class_names;
  out.num_classes = ds.num_classes;
  out.skipped = ds.skipped;
  out.ignored = ds.ignored;
  out.hidden_ignored = ds.hidden_ignored;
  const size_t ib = (size_t)ds.image_bytes();
  const bool mem = !ds.pixels.empty();
  if (mem) out.pixels.resize(indices.size() * ib);
  out.labels.reserve(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    int64_t i = indices[k];
    if (i < 0 || i >= ds.size())
      throw std::runtime_error(ds.name + ": subset index " + std::to_string(i) + " out of range");
    out.labels.push_back(ds.labels[(size_t)i]);
    if (!ds.paths.empty()) out.paths.push_back(ds.paths[(size_t)i]);
    if (!ds.origins.empty()) out.origins.push_back(ds.origins[(size_t)i]);
    if (mem) std::memcpy(out.pixels.data() + k * ib, ds.pixels.data() + (size_t)i * ib, ib);
  }
  return out;
}

std::vector<int64_t> class_counts(const std::vector<int32_t>& labels, int num_classes) {
  std::vector<int64_t> c((size_t)std::max(num_classes, 0), 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    int32_t y = labels[i];
    if (y < 0 || y >= num_classes)
      throw std::runtime_error("label " + std::to_string(y) + " of sample " + std::to_string(i) +
                               " out of range [0, " + std::to_string(num_classes) + ")");
    ++c[(size_t)y];
  }
  return c;
}

void validate_dataset(const Dataset& ds) {
  if (ds.num_classes <= 0) throw std::runtime_error(ds.name + ": num_classes must be positive");
  if ((int)ds.class_names.size() != ds.num_classes)
    throw std::runtime_error(ds.name + ": " + std::to_string(ds.class_names.size()) + " class names for " +
                             std::to_string(ds.num_classes) + " classes");
  if (!ds.pixels.empty() && (int64_t)ds.pixels.size() != ds.size() * ds.image_bytes())
    throw std::runtime_error(ds.name + ": pixel buffer size does not match " + std::to_string(ds.size()) + " images");
  if (ds.pixels.empty() && !ds.labels.empty() && ds.paths.size() != ds.labels.size())
    throw std::runtime_error(ds.name + ": lazy dataset needs one path per label");
  for (size_t i = 0; i < ds.labels.size(); ++i) {
    int32_t y = ds.labels[i];
    if (y < 0 || y >= ds.num_classes) {
      std::string where = i < ds.paths.size() ? ds.paths[i] : ("sample " + std::to_string(i));
      throw std::runtime_error(where + ": label " + std::to_string(y) + " out of range [0, " +
                               std::to_string(ds.num_classes) + ")");
    }
  }
}

void require_folder(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return;
  throw std::runtime_error(dir + (std::filesystem::exists(dir, ec) ? ": not a folder" : ": no such folder"));
}

std::string counted(int64_t n, const std::string& noun, const std::string& plural) {
  return std::to_string(n) + " " + (n == 1 ? noun : plural.empty() ? noun + "s" : plural);
}

std::string first_few(const std::vector<std::string>& items, size_t k) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < k; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > k) out += " and " + std::to_string(items.size() - k) + " more";
  return out;
}

std::string classes_without_images(const std::vector<int64_t>& split_counts, const std::vector<int64_t>& train_counts,
                                   const std::vector<std::string>& names) {
  std::vector<size_t> missing;
  for (size_t c = 0; c < split_counts.size(); ++c)
    if (split_counts[c] == 0) missing.push_back(c);
  if (missing.empty()) return "";
  std::string s = counted((int64_t)missing.size(), "class", "classes") + " (";
  for (size_t i = 0; i < missing.size() && i < 5; ++i) {
    const size_t c = missing[i];
    s += (i ? ", " : "") + std::to_string(c) + (c < names.size() ? " '" + names[c] + "'" : "");
    if (c < train_counts.size()) s += " with " + counted(train_counts[c], "training image");
  }
  return s + (missing.size() > 5 ? ", ...)" : ")");
}

std::string counts_list(const std::vector<int64_t>& counts) {
  const size_t n = counts.size(), shown = n > 100 ? 5 : n;  // above 100 classes: the first and last 5
  std::string s = "[";
  for (size_t c = 0; c < shown; ++c) s += (c ? ", " : "") + std::to_string(counts[c]);
  if (shown < n) {
    s += ", ...";
    for (size_t c = n - 5; c < n; ++c) s += ", " + std::to_string(counts[c]);
    s += "] (" + std::to_string(n) + " classes; eval.json lists every count)";
    return s;
  }
  return s + "]";
}

static void write_lines(std::ostream& os, const std::vector<std::string>& lines, const std::string& prefix,
                        size_t limit) {
  for (size_t i = 0; i < lines.size() && i < limit; ++i) os << prefix << lines[i] << "\n";
  if (lines.size() > limit) os << prefix << "... and " << lines.size() - limit << " more\n";
}

void write_skipped(std::ostream& os, const Dataset& ds, const std::string& prefix, size_t limit) {
  write_lines(os, ds.skipped, prefix, limit);
}

void write_ignored(std::ostream& os, const Dataset& ds, const std::string& head, const std::string& indent,
                   size_t limit) {
  if (!ds.ignored.empty()) {
    os << head << counted((int64_t)ds.ignored.size(), "file") << " not read (an image folder reads only " << kImageFileKinds << ", inside class folders):\n";
    write_lines(os, ds.ignored, indent, limit);
  }
  if (ds.hidden_ignored > 0)
    os << head << counted(ds.hidden_ignored, "hidden file or folder", "hidden files or folders") << " not read (names starting with '.')\n";
}

}  // namespace tailor::data
