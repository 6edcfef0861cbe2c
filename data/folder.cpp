#include "data/folder.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "data/decode.h"
#include "data/duplicates.h"

namespace fs = std::filesystem;

namespace tailor::data {

const char* const kImageFileKinds = "files ending .jpg, .jpeg, .png, .ppm or .pgm, in any letter case";

static bool has_image_ext(const fs::path& p) {
  std::string e = p.extension().string();
  for (auto& c : e) c = (char)std::tolower((unsigned char)c);
  return e == ".jpg" || e == ".jpeg" || e == ".png" || e == ".ppm" || e == ".pgm";
}

// Hidden files and folders (".DS_Store", ".ipynb_checkpoints", macOS "._img.jpg" resource forks) are never data.
static bool is_hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

void remove_samples(Dataset& ds, const std::vector<char>& drop) {
  const size_t ib = (size_t)ds.image_bytes();
  const bool mem = !ds.pixels.empty();
  size_t w = 0;
  for (size_t i = 0; i < ds.labels.size(); ++i) {
    if (drop[i]) continue;
    if (w != i) {
      ds.labels[w] = ds.labels[i];
      if (i < ds.content_hashes.size()) ds.content_hashes[w] = ds.content_hashes[i];
      if (i < ds.paths.size()) ds.paths[w] = std::move(ds.paths[i]);
      if (i < ds.origins.size()) ds.origins[w] = std::move(ds.origins[i]);
      if (mem) std::memmove(ds.pixels.data() + w * ib, ds.pixels.data() + i * ib, ib);
    }
    ++w;
  }
  ds.labels.resize(w);
  if (!ds.content_hashes.empty()) ds.content_hashes.resize(w);
  if (!ds.paths.empty()) ds.paths.resize(w);
  if (!ds.origins.empty()) ds.origins.resize(w);
  if (mem) ds.pixels.resize(w * ib);
}

void decode_dataset_images(Dataset& ds, const LoadOptions& opts, bool keep_pixels) {
  const size_t n = ds.paths.size();
  std::vector<ImageU8> images(keep_pixels ? n : 0);
  std::vector<std::pair<int, int>> sizes(n);  // (height, width) of each decoded image
  std::vector<std::string> errors(n);
  std::vector<uint64_t> hashes(opts.hash_contents ? n : 0);
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        const std::vector<uint8_t> bytes = read_file(ds.paths[i]);
        if (opts.hash_contents) hashes[i] = content_hash(bytes.data(), bytes.size());
        ImageU8 im = decode_image(bytes.data(), bytes.size(), ds.paths[i], 3);
        sizes[i] = {im.height, im.width};
        if (keep_pixels) images[i] = std::move(im);
      } catch (const std::exception& e) {
        errors[i] = e.what();
        if (errors[i].empty()) errors[i] = ds.paths[i] + ": decode failed";
        if (i < ds.origins.size()) errors[i] = ds.origins[i] + ": " + errors[i];  // (a list's line, a JSON's record)
      }
    }
  };
  int nt = std::min<int>(resolve_threads(opts.num_threads), (int)std::max<size_t>(n, 1));
  std::vector<std::thread> th;
  for (int t = 1; t < nt; ++t) th.emplace_back(work);
  work();
  for (auto& t : th) t.join();
  std::vector<char> drop(n, 0);
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    if (errors[i].empty()) continue;
    if (opts.on_bad_image == BadImagePolicy::Error) throw std::runtime_error(errors[i]);
    ds.skipped.push_back(errors[i]);
    drop[i] = 1;
    any = true;
  }
  ds.channels = 3;
  ds.content_hashes = std::move(hashes);  // aligned with the samples; remove_samples keeps it so
  std::map<std::pair<int, int>, ImageSizeCount> per_size;
  for (size_t i = 0; i < n; ++i)
    if (!drop[i] && per_size[sizes[i]].count++ == 0) per_size[sizes[i]].example = ds.paths[i];
  ds.image_sizes.clear();
  for (auto& [hw, z] : per_size) ds.image_sizes.push_back({hw.first, hw.second, z.count, z.example});
  std::stable_sort(ds.image_sizes.begin(), ds.image_sizes.end(),
                   [](const ImageSizeCount& a, const ImageSizeCount& b) { return a.count > b.count; });
  if (keep_pixels) {
    int h = 0, w = 0;
    for (size_t i = 0; i < n; ++i) {
      if (drop[i]) continue;
      if (h == 0) {
        h = images[i].height;
        w = images[i].width;
      } else if (images[i].height != h || images[i].width != w) {
        throw ImageSizeMismatch(ds.paths[i] + ": image is " + std::to_string(images[i].width) + "x" +
                                std::to_string(images[i].height) + " but earlier images are " + std::to_string(w) +
                                "x" + std::to_string(h));
      }
    }
    ds.height = h;
    ds.width = w;
    const size_t ib = (size_t)h * w * 3;
    ds.pixels.assign(ib * n, 0);
    for (size_t i = 0; i < n; ++i)
      if (!drop[i]) std::memcpy(ds.pixels.data() + i * ib, images[i].data.data(), ib);
  }
  if (any) remove_samples(ds, drop);
}

// A link that resolves through itself (ELOOP): named as such, never "missing" nor a raw filesystem error.
static bool is_link_loop(const fs::path& p) {
  std::error_code ec;
  (void)fs::status(p, ec);
  return ec == std::errc::too_many_symbolic_link_levels;
}
static std::string link_loop(const fs::path& p) {
  return p.string() + ": a symbolic-link loop (" + std::make_error_code(std::errc::too_many_symbolic_link_levels).message() + ")";
}

void check_paths_exist(Dataset& ds, const std::vector<std::string>& where, const LoadOptions& opts) {
  std::vector<char> drop(ds.paths.size(), 0);
  bool any = false;
  for (size_t i = 0; i < ds.paths.size(); ++i) {
    std::error_code ec;
    if (fs::is_regular_file(ds.paths[i], ec)) continue;
    std::string msg = (i < where.size() ? where[i] + ": " : std::string()) +
                      (is_link_loop(ds.paths[i]) ? link_loop(ds.paths[i])
                       : ds.paths[i] + (fs::is_directory(ds.paths[i], ec) ? ": a folder, not an image file" : ": missing file"));
    if (opts.on_bad_image == BadImagePolicy::Error) throw std::runtime_error(msg);
    ds.skipped.push_back(msg);
    drop[i] = 1;
    any = true;
  }
  if (any) remove_samples(ds, drop);
}

void map_to_training_classes(Dataset& split, const std::vector<std::string>& train_names, const std::string& dir) {
  if (split.class_names == train_names) return;
  std::vector<int32_t> to(split.class_names.size());
  for (size_t c = 0; c < split.class_names.size(); ++c) {
    auto it = std::find(train_names.begin(), train_names.end(), split.class_names[c]);
    if (it == train_names.end())
      throw std::runtime_error((fs::path(dir) / split.class_names[c]).string() + ": a class the training split does "
                               "not have (its classes are the folders of " +
                               (fs::path(dir).parent_path() / "train").string() + ")");
    to[c] = (int32_t)(it - train_names.begin());
  }
  for (auto& y : split.labels) y = to[(size_t)y];
  split.class_names = train_names;
  split.num_classes = (int)train_names.size();
}

Dataset load_image_folder(const std::string& root, const std::string& split, const LoadOptions& opts) {
  fs::path dir = split.empty() ? fs::path(root) : fs::path(root) / split;
  require_folder(root);  // the data root first: a mistyped root is named as such
  require_folder(dir.string());
  Dataset ds;
  ds.on_bad_image = opts.on_bad_image;
  std::vector<std::string> classes;
  for (auto& e : fs::directory_iterator(dir)) {
    std::error_code lec;
    if (is_hidden(e.path())) ++ds.hidden_ignored;
    else if (e.is_symlink(lec) && is_link_loop(e.path())) throw std::runtime_error(link_loop(e.path()));
    else if (e.is_directory()) classes.push_back(e.path().filename().string());
    else ds.ignored.push_back(e.path().string());  // a file beside the class folders: no class to give it
  }
  std::sort(classes.begin(), classes.end());
  if (classes.empty()) throw std::runtime_error(dir.string() + ": no class folders");
  ds.name = "imagefolder " + (split.empty() ? root : split);
  ds.class_names = classes;
  ds.num_classes = (int)classes.size();
  ds.channels = 3;
  std::vector<std::string> kept;  // the class folders with images
  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<std::string> files;
    fs::recursive_directory_iterator it(dir / classes[c], fs::directory_options::follow_directory_symlink), end;
    std::error_code ec;
    for (; it != end; it.increment(ec)) {
      if (ec) break;
      std::error_code lec;
      if (!is_hidden(it->path()) && it->is_symlink(lec) && is_link_loop(it->path())) {
        // an image's name: an image that cannot be read (error, or skipped and listed); another: not read, listed
        if (!has_image_ext(it->path())) ds.ignored.push_back(it->path().string());
        else if (opts.on_bad_image == BadImagePolicy::Error) throw std::runtime_error(link_loop(it->path()));
        else ds.skipped.push_back(link_loop(it->path()));
        it.disable_recursion_pending();  // (never followed)
        continue;
      }
      if (it->is_symlink() && it->is_directory() && !is_hidden(it->path())) {  // a link to a folder holding it
        const fs::path target = fs::canonical(it->path(), ec), here = fs::canonical(it->path().parent_path(), ec);
        if (!ec && std::mismatch(target.begin(), target.end(), here.begin(), here.end()).first == target.end())
          throw std::runtime_error(it->path().string() + ": a link to " + target.string() + ", a folder that holds "
                                   "it: its images would be listed again and again; remove the link");
      }
      if (is_hidden(it->path())) {
        ++ds.hidden_ignored;
        std::error_code hidden_ec;  // (a hidden link loop: ignored as every hidden entry)
        if (it->is_directory(hidden_ec)) it.disable_recursion_pending();
      } else if (it->is_regular_file() || (it->is_symlink() && !fs::exists(it->path()))) {
        // a broken link is kept: reading it fails by name (error, or skipped and listed), never silently
        (has_image_ext(it->path()) ? files : ds.ignored).push_back(it->path().string());
      }
    }
    if (ec)
      throw std::runtime_error((dir / classes[c]).string() + ": cannot list its files (" + ec.message() + ")");
    std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
      fs::path pa(a), pb(b);  // directory first, then file name (torchvision's sorted(os.walk) order)
      if (pa.parent_path() != pb.parent_path()) return pa.parent_path().string() < pb.parent_path().string();
      return pa.filename().string() < pb.filename().string();
    });
    if (files.empty() && !opts.may_lack_classes)
      throw std::runtime_error((dir / classes[c]).string() + ": class folder without images (" + kImageFileKinds + ")");
    if (files.empty()) continue;  // an evaluation split may lack classes: an empty folder is one it lacks
    kept.push_back(classes[c]);
    for (auto& f : files) {
      ds.paths.push_back(f);
      ds.labels.push_back((int32_t)kept.size() - 1);
    }
  }
  if (kept.empty()) throw std::runtime_error(dir.string() + ": no images in any class folder (" + kImageFileKinds + ")");
  ds.class_names = kept;
  ds.num_classes = (int)kept.size();
  std::sort(ds.ignored.begin(), ds.ignored.end());  // a folder's listing order is the file system's
  if (!opts.lazy || opts.verify_decode) decode_dataset_images(ds, opts, !opts.lazy);
  return ds;
}

}  // namespace tailor::data
