// Repeated and leaked images, for `tailor verify-data`: a file listed twice in one split, two files of one
// split with the same bytes (with the same label, or with different labels: a labelling error), and
// evaluation images that are training images (the same file, or a copy of its bytes), which would measure
// test accuracy on images the model was trained on.
//
// Content is compared by a 64-bit FNV-1a hash of each image's bytes (the file of a dataset read from files,
// the decoded pixels of one held in memory, e.g. CIFAR binaries); images whose hashes agree are compared byte
// for byte before they are reported, so a reported pair is always identical. Near-duplicates (re-encoded,
// resized) are not found.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tailor::data {

// FNV-1a 64 of the bytes, never 0 (0 marks an unread file).
uint64_t content_hash(const uint8_t* bytes, size_t n);

// The content hash of every sample: ds.content_hashes when the decode pass kept them (LoadOptions::
// hash_contents: each file read once), else computed here, on num_threads threads (0: resolve_threads). A file that cannot be read
// hashes to 0 and is never reported (verify-data names it elsewhere).
std::vector<uint64_t> content_hashes(const Dataset& ds, int num_threads);

struct RepeatPair {
  int64_t first = 0;   // the earlier sample (within a split), or the training sample (across splits)
  int64_t repeat = 0;  // the later sample, or the evaluation sample
};

struct SplitRepeats {
  std::vector<RepeatPair> same_file;     // a path listed again (equal once absolute and lexically normal, so
                                         // a/b.jpg = /cwd/a/b.jpg; records of a binary file, "file#k", are all distinct)
  std::vector<RepeatPair> same_content;  // another file with the same bytes
  int64_t label_conflicts = 0;           // of those pairs, how many disagree on the label
};
SplitRepeats find_repeats(const Dataset& ds, const std::vector<uint64_t>& hashes);

// Samples of `eval` that are samples of `train`: the same file, or another file with the same bytes.
SplitRepeats find_leaks(const Dataset& train, const std::vector<uint64_t>& train_hashes, const Dataset& eval,
                        const std::vector<uint64_t>& eval_hashes);

// "<head>warning: ..." lines for the pairs (the first `limit` of each kind after `indent`); nothing when
// there are none. write_leaks names the evaluation split `eval_name`. Both return their warning lines' count.
int write_repeats(std::ostream& os, const Dataset& ds, const SplitRepeats& r, const std::string& head,
                  const std::string& indent, size_t limit = 5);
int write_leaks(std::ostream& os, const Dataset& train, const Dataset& eval, const std::string& eval_name,
                const SplitRepeats& r, const std::string& head, const std::string& indent, size_t limit = 5);

}  // namespace tailor::data
