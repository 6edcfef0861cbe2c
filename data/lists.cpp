// List files (ImageNet-LT / Places-LT) and iNaturalist 2018 COCO-style JSON.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <unordered_map>

#include "data/decode.h"
#include "data/folder.h"

namespace fs = std::filesystem;

namespace tailor::data {

static std::string join_root(const std::string& root, const std::string& rel) {
  if (root.empty() || (!rel.empty() && rel[0] == '/')) return rel;
  return (fs::path(root) / rel).string();
}

// Every problem found in a file as one error: the first as it is, then how many more and the next few, so
// that a systematic slip (1-based labels, a path with spaces) shows at once, not one problem per attempt.
static void throw_problems(const std::vector<std::string>& problems, const std::string& what) {
  if (problems.empty()) return;
  std::string msg = problems[0];
  if (problems.size() > 1) msg += "\n  and " + std::to_string(problems.size() - 1) + " more " + what + ":";
  for (size_t i = 1; i < problems.size() && i < 10; ++i) msg += "\n  " + problems[i];
  if (problems.size() > 10) msg += "\n  ...";
  throw std::runtime_error(msg);
}

std::vector<std::string> parse_list_text(const std::string& text, const std::string& name, const std::string& root,
                                         Dataset& out, std::vector<std::string>* malformed) {
  std::vector<std::string> origins;
  if (text.size() >= 2 && (((uint8_t)text[0] == 0xFF && (uint8_t)text[1] == 0xFE) ||
                           ((uint8_t)text[0] == 0xFE && (uint8_t)text[1] == 0xFF)))
    throw std::runtime_error(name + ": UTF-16 text (as Windows PowerShell's '>' writes it): save the list as UTF-8");
  size_t pos = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;  // a UTF-8 byte-order mark (Notepad's) is not a path
  int64_t line_no = 0;
  std::vector<std::string> problems;  // malformed lines, all reported together
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) {
      if (end == text.size()) break;
      continue;
    }
    line = line.substr(first);
    std::string where = name + ":" + std::to_string(line_no);
    if (line.find('\0') != std::string::npos) throw std::runtime_error(where + ": NUL byte in list line");
    size_t sp = line.find_last_of(" \t");
    std::string label = sp == std::string::npos ? "" : line.substr(sp + 1);
    std::string path = sp == std::string::npos ? "" : line.substr(0, sp);
    while (!path.empty() && (path.back() == ' ' || path.back() == '\t')) path.pop_back();
    std::string problem;
    if (sp == std::string::npos) problem = where + ": expected 'path label', got '" + line + "'";
    else if (path.empty()) problem = where + ": empty path";
    else if (label.empty() || !std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; }))
      problem = where + ": label '" + label + "' is not a non-negative integer";
    else if (label.size() > 9) problem = where + ": label " + label + " is too large: labels are class indices 0..C-1";
    if (!problem.empty()) {
      problems.push_back(problem);
      if (end == text.size()) break;
      continue;
    }
    out.paths.push_back(join_root(root, path));
    out.labels.push_back((int32_t)std::stol(label));
    origins.push_back(where);
    if (end == text.size()) break;
  }
  if (malformed) *malformed = std::move(problems);
  else throw_problems(problems, "malformed lines");
  return origins;
}

static int64_t json_int(const nlohmann::json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) throw std::runtime_error(where + ": missing key '" + key + "'");
  if (!it->is_number_integer()) throw std::runtime_error(where + ": '" + key + "' is not an integer");
  return it->get<int64_t>();
}

std::vector<std::string> parse_inat_text(const std::string& text, const std::string& name, const std::string& root,
                                         Dataset& out) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(name + ": malformed JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw std::runtime_error(name + ": top level is not a JSON object");
  if (!j.contains("images") || !j["images"].is_array()) throw std::runtime_error(name + ": missing 'images' array");
  if (!j.contains("annotations") || !j["annotations"].is_array())
    throw std::runtime_error(name + ": missing 'annotations' array");
  const auto& images = j["images"];
  const auto& anns = j["annotations"];
  std::unordered_map<int64_t, std::pair<int64_t, size_t>> cat_of;  // image id -> (category, its annotation's index)
  cat_of.reserve(anns.size());
  for (size_t k = 0; k < anns.size(); ++k) {
    std::string where = name + ": annotations[" + std::to_string(k) + "]";
    if (!anns[k].is_object()) throw std::runtime_error(where + ": not an object");
    int64_t img = json_int(anns[k], "image_id", where);
    int64_t cat = json_int(anns[k], "category_id", where);
    if (cat < 0 || cat > INT32_MAX) throw std::runtime_error(where + ": category_id " + std::to_string(cat) + " out of range");
    if (!cat_of.emplace(img, std::make_pair(cat, k)).second)
      throw std::runtime_error(where + ": second annotation for image_id " + std::to_string(img));
  }
  std::vector<std::string> origins;
  std::vector<size_t> annotation_of;  // per sample: the annotations[] entry that gave its category
  std::unordered_map<int64_t, size_t> seen;
  for (size_t k = 0; k < images.size(); ++k) {
    std::string where = name + ": images[" + std::to_string(k) + "]";
    if (!images[k].is_object()) throw std::runtime_error(where + ": not an object");
    int64_t id = json_int(images[k], "id", where);
    auto fn = images[k].find("file_name");
    if (fn == images[k].end() || !fn->is_string()) throw std::runtime_error(where + ": missing string 'file_name'");
    if (auto [it, fresh] = seen.emplace(id, k); !fresh)
      throw std::runtime_error(where + ": duplicate image id " + std::to_string(id) + " (images[" +
                               std::to_string(it->second) + "] has it too)");
    auto c = cat_of.find(id);
    if (c == cat_of.end()) throw std::runtime_error(where + ": image id " + std::to_string(id) + " has no annotation");
    std::string rel = fn->get<std::string>();
    if (rel.empty() || rel.find('\0') != std::string::npos) throw std::runtime_error(where + ": bad file_name");
    out.paths.push_back(join_root(root, rel));
    out.labels.push_back((int32_t)c->second.first);
    annotation_of.push_back(c->second.second);
    origins.push_back(where);
  }
  if (cat_of.size() != images.size()) {
    for (auto& kv : cat_of)
      if (!seen.count(kv.first))
        throw std::runtime_error(name + ": annotation for image_id " + std::to_string(kv.first) + " without an image");
  }
  if (j.contains("categories") && !j["categories"].is_array())
    throw std::runtime_error(name + ": 'categories' is not an array");
  if (j.contains("categories") && !j["categories"].empty()) {
    // each entry {"id": 0..C-1, "name": "..."}, every id once: the class index and its name
    const auto& cats = j["categories"];
    out.num_classes = (int)cats.size();
    out.class_names.assign(cats.size(), "");
    // category ids are class indices 0..C-1 (as in iNaturalist 2018); ids from 1 (COCO style) are the usual slip
    const int32_t lowest = out.labels.empty() ? 0 : *std::min_element(out.labels.begin(), out.labels.end());
    for (size_t i = 0; i < out.labels.size(); ++i)
      if (out.labels[i] >= out.num_classes)
        throw std::runtime_error(name + ": annotations[" + std::to_string(annotation_of[i]) + "]: category_id " +
                                 std::to_string(out.labels[i]) + " out of range [0, " +
                                 std::to_string(out.num_classes) + "): category ids are class indices 0..C-1, C = " +
                                 "the 'categories' entries (" + std::to_string(out.num_classes) + ")" +
                                 (lowest == 1 ? "; these start at 1: renumber them from 0" : "") + " (the image: " +
                                 origins[i].substr(name.size() + 2) + ")");
    // then the entries themselves (the annotations' range first: its message names the image)
    std::vector<size_t> entry_of(cats.size(), SIZE_MAX);
    for (size_t k = 0; k < cats.size(); ++k) {
      const std::string where = name + ": categories[" + std::to_string(k) + "]";
      if (!cats[k].is_object()) throw std::runtime_error(where + ": not an object");
      const int64_t v = json_int(cats[k], "id", where);
      auto nm = cats[k].find("name");
      if (nm == cats[k].end() || !nm->is_string()) throw std::runtime_error(where + ": missing string 'name'");
      if (v < 0 || v >= (int64_t)cats.size())
        throw std::runtime_error(where + ": id " + std::to_string(v) + " out of range [0, " +
                                 std::to_string(cats.size()) + "): category ids are class indices 0..C-1, C = the "
                                 "'categories' entries" + (v == (int64_t)cats.size() ? " (ids from 1? renumber them from 0)" : ""));
      if (entry_of[(size_t)v] != SIZE_MAX)
        throw std::runtime_error(where + ": id " + std::to_string(v) + " again (categories[" +
                                 std::to_string(entry_of[(size_t)v]) + "] has it)");
      entry_of[(size_t)v] = k;
      out.class_names[(size_t)v] = nm->get<std::string>();
    }
  }
  return origins;
}

static std::string read_text(const std::string& path) {
  std::vector<uint8_t> b = read_file(path);
  return std::string(b.begin(), b.end());
}

// Sets num_classes (explicit, or from the data) and class names; checks every label.
static void finish_labels(Dataset& ds, const std::vector<std::string>& origins, const LoadOptions& opts,
                          const std::string& name, const std::vector<std::string>& malformed = {}) {
  int max_label = -1;
  for (int32_t y : ds.labels) max_label = std::max(max_label, (int)y);
  const bool counted = opts.training_split && opts.num_classes <= 0 && ds.num_classes <= 0;
  if (opts.num_classes > 0) ds.num_classes = opts.num_classes;
  else if (ds.num_classes <= 0) ds.num_classes = max_label + 1;
  if (ds.labels.empty() && malformed.empty()) throw std::runtime_error(name + ": no samples");
  std::vector<std::string> out_of_range = malformed;  // malformed lines and labels out of range, in one error
  for (size_t i = 0; i < ds.labels.size(); ++i)
    if (ds.labels[i] >= ds.num_classes)
      out_of_range.push_back(origins[i] + ": label " + std::to_string(ds.labels[i]) + " out of range [0, " +
                             std::to_string(ds.num_classes) + ")" +
                             (opts.num_classes <= 0     ? ""
                              : opts.training_split ? " (the number of classes given)"
                                                    : " (the classes of the training split)"));
  throw_problems(out_of_range, malformed.empty()            ? "labels out of range"
                               : out_of_range.size() == malformed.size() ? "malformed lines"
                                                                         : "malformed lines and labels out of range");
  if (counted) {  // 0..C-1 without a gap (checked on the distinct labels: a stray huge label allocates nothing)
    std::vector<int32_t> seen(ds.labels);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    if ((int64_t)seen.size() != ds.num_classes) {
      int c = 0;
      while (c < (int)seen.size() && seen[(size_t)c] == c) ++c;  // the first class with no sample
      size_t at = 0;
      while (ds.labels[at] != max_label) ++at;
      throw std::runtime_error(name + ": no sample of class " + std::to_string(c) + ": labels must run 0.." +
                               std::to_string(ds.num_classes - 1) + " without a gap (the largest, " +
                               std::to_string(max_label) + ", first at " + origins[at] + ")");
    }
  }
  if ((int)ds.class_names.size() != ds.num_classes) ds.class_names.assign((size_t)ds.num_classes, "");
  for (int c = 0; c < ds.num_classes; ++c)
    if (ds.class_names[(size_t)c].empty()) ds.class_names[(size_t)c] = std::to_string(c);
}

void adopt_training_class_names(Dataset& split, const std::vector<std::string>& train_names, const std::string& file) {
  for (size_t c = 0; c < split.class_names.size() && c < train_names.size(); ++c) {
    const std::string &mine = split.class_names[c], &theirs = train_names[c], index = std::to_string(c);
    if (mine != theirs && mine != index && theirs != index && !mine.empty())  // (a number: a name not given)
      throw std::runtime_error(file + ": category " + index + " is named '" + mine + "', the training file's '" +
                               theirs + "': an evaluation file must share the training file's categories (its "
                               "category ids are the class indices)");
  }
  split.class_names = train_names;
}

static Dataset load_lazy(const std::string& root, const std::string& file, const LoadOptions& opts, bool json) {
  Dataset ds;
  ds.on_bad_image = opts.on_bad_image;
  ds.name = (json ? "inat " : "list ") + fs::path(file).filename().string();
  ds.channels = 3;
  std::string text = read_text(file);
  std::vector<std::string> malformed;
  std::vector<std::string> origins =
      json ? parse_inat_text(text, file, root, ds) : parse_list_text(text, file, root, ds, &malformed);
  finish_labels(ds, origins, opts, file, malformed);
  ds.origins = std::move(origins);  // (kept aligned with the samples from here on: remove_samples, subset)
  check_paths_exist(ds, ds.origins, opts);
  if (opts.verify_decode) decode_dataset_images(ds, opts, false);
  return ds;
}

Dataset load_list_file(const std::string& root, const std::string& list_path, const LoadOptions& opts) {
  return load_lazy(root, list_path, opts, false);
}

Dataset load_inat_json(const std::string& root, const std::string& json_path, const LoadOptions& opts) {
  return load_lazy(root, json_path, opts, true);
}

}  // namespace tailor::data
