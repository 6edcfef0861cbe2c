// Image files on disk: class folders, list files and iNaturalist JSON.
//
//   image folder: <root>/<split>/<class>/**/*.{jpg,jpeg,png,ppm,pgm} (extensions case-insensitive). Classes are
//                 the sub-folders sorted by name (byte order, like torchvision's ImageFolder); files sorted by path.
//                 Other files (another extension, or beside the class folders) are not read and are listed in
//                 Dataset::ignored; hidden files and folders (names starting with '.') are not read, only counted.
//   list file:    one "relative/path label" per line (ImageNet-LT, Places-LT); the label is the last
//                 whitespace-separated field, the path is relative to `root`; blank lines are ignored, as are
//                 CR line ends and a UTF-8 byte-order mark; UTF-16 text is refused by name.
//   iNat JSON:    COCO style, images[{id, file_name}] + annotations[{image_id, category_id}], paths relative
//                 to `root`; samples in the order of `images`. num_classes = len(categories) when present.
// Folders decode eagerly by default (opts.lazy keeps paths); lists and iNat are lazy (paths are checked
// to exist; opts.verify_decode decodes each once).
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tailor::data {

extern const char* const kImageFileKinds;  // the files an image folder reads, in words

Dataset load_image_folder(const std::string& root, const std::string& split, const LoadOptions& opts = {});
Dataset load_list_file(const std::string& root, const std::string& list_path, const LoadOptions& opts = {});
Dataset load_inat_json(const std::string& root, const std::string& json_path, const LoadOptions& opts = {});

// Parsers on in-memory text (exposed for tests and fuzzing); `name` is used in errors. They append
// paths (joined to root) and labels to `out` and return each sample's origin ("list.txt:12",
// "train2018.json: images[5]"); they do not touch the file system. The caller sets num_classes. Malformed
// list lines are thrown together, or (malformed given) handed back for the caller to report with its own.
std::vector<std::string> parse_list_text(const std::string& text, const std::string& name, const std::string& root,
                                         Dataset& out, std::vector<std::string>* malformed = nullptr);
std::vector<std::string> parse_inat_text(const std::string& text, const std::string& name, const std::string& root,
                                         Dataset& out);

// An evaluation folder's labels renumbered by class name to the training classes `train_names` (a split may
// lack classes); a class the training split does not have throws "<dir>/<class>: a class the training split
// does not have (...)". `dir` is the split's folder.
void map_to_training_classes(Dataset& split, const std::vector<std::string>& train_names, const std::string& dir);
// An evaluation list's or iNat file's classes are the training file's (labels are indices): the split takes the
// training names. A category both files name, differently, throws "<file>: category 3 is named 'x', the
// training file's 'y' ..." (another taxonomy's file, whose indices would mean other classes).
void adopt_training_class_names(Dataset& split, const std::vector<std::string>& train_names, const std::string& file);

// Decodes ds.paths (RGB) with opts.num_threads threads. keep_pixels: store the images in ds.pixels (all must
// share one shape, else ImageSizeMismatch); else only check them. Under BadImagePolicy::Skip failing samples are removed and listed
// in ds.skipped; under Error the first failure (in sample order) is thrown.
void decode_dataset_images(Dataset& ds, const LoadOptions& opts, bool keep_pixels);

// Checks that every path exists (in sample order); a missing one throws "<origin>: <path>: missing file"
// (origin = where[i]), or is dropped and listed in ds.skipped under Skip.
void check_paths_exist(Dataset& ds, const std::vector<std::string>& where, const LoadOptions& opts);

// Removes the samples with drop[i] true (keeps labels, paths and pixels aligned).
void remove_samples(Dataset& ds, const std::vector<char>& drop);

}  // namespace tailor::data
