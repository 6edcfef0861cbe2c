// A dataset in memory: decoded uint8 HWC images (or, for big datasets, the paths to decode lazily),
// integer labels in [0, num_classes), class names and the image shape.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

namespace tailor::data {

// How decode problems are handled: Error (default) throws naming the file; Skip drops the sample and
// records "path: reason" in Dataset::skipped. Nothing is ever padded.
enum class BadImagePolicy { Error, Skip };
BadImagePolicy parse_bad_image_policy(const std::string& s);  // "error" | "skip"

// Thrown when images that must share one size (decoded into one array) do not: the message names the file and
// both sizes; the caller knows the remedy (a resizing preset, lazy decoding).
struct ImageSizeMismatch : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ImageU8 {  // one decoded image, HWC interleaved
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> data;
};

struct ImageView {  // non-owning view of an HWC uint8 image
  const uint8_t* data = nullptr;
  int height = 0, width = 0, channels = 0;
};

struct ImageSizeCount {  // how many images of a lazy dataset have one size (verify_decode records them)
  int height = 0, width = 0;
  int64_t count = 0;
  std::string example;  // the first file of that size
};

struct Dataset {
  std::string name;                      // e.g. "cifar-bin train"
  int height = 0, width = 0;             // uniform image shape; 0 when the images vary (lazy datasets)
  int channels = 0;                      // 3 (RGB) or 1 (IDX grayscale)
  std::vector<uint8_t> pixels;           // size() * H * W * C bytes when decoded in memory, else empty
  std::vector<std::string> paths;        // source of each sample (file path, or "file#record"); lazy decode reads it
  std::vector<std::string> origins;      // lists / iNat: each sample's record ("list.txt:LINE", "x.json: images[k]"),
                                         // named with its image's errors; empty for other formats
  std::vector<int32_t> labels;
  std::vector<std::string> class_names;  // num_classes entries
  int num_classes = 0;
  std::vector<std::string> skipped;      // "source: reason" of samples dropped under BadImagePolicy::Skip
  std::vector<ImageSizeCount> image_sizes;  // lazy datasets after a pre-flight decode: the sizes, commonest first
  std::vector<std::string> ignored;      // image folders: files not read (not an image, or beside the class folders)
  int64_t hidden_ignored = 0;            // image folders: hidden files and folders (".DS_Store", ...) not read
  std::vector<uint64_t> content_hashes;  // each file's hash (data/duplicates.h) when read with hash_contents
  // lazy datasets: what an image that fails to decode when it is read does (LoadOptions's): the training
  // loader and the evaluation loaders leave it out under Skip, and count it
  BadImagePolicy on_bad_image = BadImagePolicy::Error;

  int64_t size() const { return (int64_t)labels.size(); }
  bool in_memory() const { return !pixels.empty() || labels.empty(); }
  int64_t image_bytes() const { return (int64_t)height * width * channels; }
};

// Options shared by the readers.
struct LoadOptions {
  BadImagePolicy on_bad_image = BadImagePolicy::Error;
  bool lazy = false;           // image folders: keep paths and decode on access (lists and iNat are always lazy)
  bool verify_decode = false;  // lazy datasets: decode every image once now (pre-flight check)
  bool hash_contents = false;  // ... and keep each file's content hash (Dataset::content_hashes; verify-data)
  int num_threads = 0;         // decode threads; 0 = min(hardware threads, 8)
  int num_classes = -1;        // expected class count for list/iNat/IDX labels; -1 = max label + 1 (IDX: 10)
  bool training_split = false; // lists: the classes are counted from these labels, which must run 0..C-1
                               // without a gap (a class with no training image is an error naming the list)
  bool may_lack_classes = false;  // image folders: an empty class folder is a class the split lacks (an
                                  // evaluation split), not an error; labels then follow the kept folders
};
int resolve_threads(int requested);

// Image i of an in-memory dataset, or decoded from paths[i] (RGB) into `scratch` for a lazy one.
ImageView dataset_image(const Dataset& ds, int64_t i, ImageU8& scratch);

// A new dataset with the samples `indices` (in that order); labels/classes/shape carried over.
Dataset subset(const Dataset& ds, const std::vector<int64_t>& indices);

// Per-class counts of labels (every label must lie in [0, num_classes)).
std::vector<int64_t> class_counts(const std::vector<int32_t>& labels, int num_classes);

// The skipped samples' "source: reason" lines, each after `prefix`, at most `limit` of them, then "... and N more".
void write_skipped(std::ostream& os, const Dataset& ds, const std::string& prefix, size_t limit = 20);

// An image folder's files that were not read: "<head>N files not read (...):", the first `limit` paths after
// `indent`, "... and N more", and "<head>N hidden files or folders not read". Nothing when every file was read.
void write_ignored(std::ostream& os, const Dataset& ds, const std::string& head, const std::string& indent,
                   size_t limit = 10);

// Throws "<dir>: no such folder" or "<dir>: not a folder" unless dir is a directory (a dataset's root or split).
void require_folder(const std::string& dir);

// "1 image", "3 images": n and the noun, plural unless n is 1 (plural = noun + "s" unless given).
std::string counted(int64_t n, const std::string& noun, const std::string& plural = "");
// The first k items joined with ", ", then " and N more" when there are more.
std::string first_few(const std::vector<std::string>& items, size_t k);
// The classes an evaluation split has no image of, in words: "" when none, else "2 classes (7 'cat' with 3
// training images, ...)" naming the first five (names when given).
std::string classes_without_images(const std::vector<int64_t>& split_counts, const std::vector<int64_t>& train_counts,
                                   const std::vector<std::string>& names);
// "[n0, n1, ...]" of per-class counts; above 100 classes the first and last five and the class count.
std::string counts_list(const std::vector<int64_t>& counts);

// Checks labels in range, sizes consistent; throws std::runtime_error naming the dataset.
void validate_dataset(const Dataset& ds);

}  // namespace tailor::data
