// The datasets of a run, built from the resolved config's "data" section: the training set cut to its
// LT subset (logged with its per-class counts), the optional validation split, the test split (optionally
// the first k images per class), and the train / eval transforms.
#pragma once
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/presets.h"
#include "train/config.h"
#include "train/run_config.h"

namespace tailor {

struct RunData {
  data::Dataset train;
  std::unique_ptr<data::Dataset> val, test;  // null when the config has no such split
  std::vector<int64_t> train_counts;         // per class, of the (LT) training set
  data::TransformConfig train_tf, eval_tf;
  std::string description;                   // "CIFAR-10-LT exp rho 100 seed 0: 12406 images, counts [...]"
  data::Preset preset;                       // data.augment's, resolved
  data::PresetInput preset_input;            // what it was chosen for (dataset kind, image size)
};

// The training transform of another preset (a stage's `augment`, a method's second view) at the run's image
// size. It must keep images as data.augment's does (exact or resized) and evaluate the same way, or the
// error names `key`.
data::TransformConfig train_transform_for(const RunData& d, const std::string& augment, const std::string& key);

// Errors name the config key or the file that is wrong.
RunData load_run_data(const DataConfig& d, std::ostream& log);
// data.resident: throws, naming the split and the reason, when an evaluated split (val, test) cannot be
// gathered on the device (read from files, or an eval transform the kernel cannot run), so that a run fails
// before its first step rather than at its first evaluation.
void check_resident_eval(const RunData& d);

// FNV-1a over what a resumed run must see again, every split (train, val, test): its labels and class count,
// and its images: the pixels when held in memory, else each file's size (lazily decoded sets: image lists,
// iNat, folders under a resizing preset). "3" then per split "-LABELS.IMAGES" (16 hex digits each, or
// "none.none" for a split the data has not), so that a resume can say which split changed. Class names are
// left out (they may come from the folder's name), and so are paths (data.root may move).
std::string data_fingerprint(const RunData& d);
// What differs between the data now and a state's version-3 fingerprint `was`, in words ("the test split's
// images changed (their pixels); the training split is the same"); "" when nothing does or `was` is of
// another version.
std::string data_fingerprint_difference(const RunData& d, const std::string& was);
// A resume's data (fingerprint `now`, in the state's version) against the state's `was`: nothing when the
// same; a refusal naming what differs; or, when only evaluation splits' images differ (version 3: the training
// split and every split's labels the same, and the val images too when a method trains on them: val_trains)
// and `accept` (`tailor train --resume --accept-changed-eval-images`: a repaired image), a note.
struct ResumeDataCheck {
  std::string refusal, note;
};
ResumeDataCheck check_resume_data(const RunData& d, const std::string& now, const std::string& was,
                                  const std::string& root, bool accept, bool val_trains);
// The fingerprint of states written with version 2 ("2-" and 16 hex digits: one hash over every split).
std::string data_fingerprint_v2(const RunData& d);
// The fingerprint of states written before "2-" (16 hex digits): the training labels and in-memory pixels,
// the evaluation splits' labels only. A resume compares a state's fingerprint in its own version.
std::string data_fingerprint_v1(const RunData& d);

// Just the split called `split` ("train" = the LT training subset, "val", "test").
const data::Dataset& run_split(const RunData& d, const std::string& split);

// data.root, or Fashion-MNIST's Debian folder when it is empty; whether a cifar10/100 root is a folder of
// images (data.format folder, or auto with a train/ folder) rather than the binary batches.
std::string data_root(const DataConfig& d);
bool cifar_from_folder(const DataConfig& d);
int cifar_classes(const DataConfig& d);  // data.dataset cifar10 / cifar100: 10 / 100

// The tools' split: the one given, else "test", or "val" (said on `log`) when the data has only a val split.
std::string eval_split_or_default(const RunData& d, const std::string& given, std::ostream& log);

}  // namespace tailor
