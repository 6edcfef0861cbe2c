// Augmentation presets (the config's data.augment and data.image_size): the training transform and the
// evaluation transform chosen together for one image size S, so evaluation always sees the geometry
// training saw, on any dataset kind.
//
//   cifar              S x S images kept as they are (never resized): training RandomCrop(S, zero padding
//                      S/8) + horizontal flip, evaluation the image itself; CIFAR mean/std (every CIFAR-LT
//                      recipe; at S = 32 exactly LDAM-DRW's transforms)
//   cifar_autoaugment  cifar + AutoAugment (CIFAR-10 policy) + Cutout(1 hole, S/2) in training (BALMS)
//   mnist              S x S one-channel images: RandomCrop(S, padding S/14) (+ flip for Fashion-MNIST),
//                      the dataset's mean/std
//   imagenet           any image size: training RandomResizedCrop(S) + flip + ColorJitter(0.4, 0.4, 0.4),
//                      evaluation Resize(round(S * 256 / 224)) + CenterCrop(S); ImageNet mean/std (Kang et al.)
//   imagenet_nojitter  imagenet without the jitter;  inat: imagenet_nojitter with iNaturalist's mean/std
//   moco_v2            MoCo v2's view: RandomResizedCrop(S, scale (0.2, 1)) + RandomApply(ColorJitter(0.4, 0.4, 0.4,
//                      0.1), 0.8) + RandomGrayscale(0.2) + RandomApply(GaussianBlur(sigma in [0.1, 2]), 0.5) + flip;
//                      evaluation and mean/std as imagenet
//   simclr             SimCLR's view: RandomResizedCrop(S) + flip + colour distortion of strength 1
//                      (RandomApply(ColorJitter(0.8, 0.8, 0.8, 0.2), 0.8) + RandomGrayscale(0.2)); as imagenet
//   cifar_moco, cifar_simclr  small images kept as they are: cifar's RandomCrop(S, S/8) + flip + the colour
//                      distortion of strength 0.5 (ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8 + grayscale p 0.2), no
//                      blur; the same transform under both names; CIFAR mean/std
//   none               no augmentation: training uses the evaluation transform of the dataset's auto preset
// S = 0: the native size — the images' own for cifar / mnist, 224 for the resizing presets.
// The presets that keep images as they are ("exact") need every image to be S x S: anything else is an
// error naming the size and the choices, never a silent resize. `auto` picks by dataset: mnist for the IDX
// sets, cifar for CIFAR, inat for iNaturalist, and for folders and lists cifar when the first training
// image is at most 64 pixels a side (small images kept as they are), else imagenet.
#pragma once
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"

namespace tailor::data {

struct PresetInput {
  std::string dataset;            // the config's data.dataset
  int height = 0, width = 0;      // the training images' size (0: not known / varying)
  int channels = 3;
};

struct Preset {
  std::string name;  // the preset applied (auto resolved)
  int size = 0;      // S
  bool exact = false;  // images are used at their own size: they must all be size x size
  TransformConfig train, eval;
};

// What the preset is chosen for: the dataset kind and the training images' size — known for data in memory,
// else the first training image's that decodes (one that does not is an error under BadImagePolicy::Error; under
// Skip it is passed over, and left out later by name). Used by training and by verify-data --augment.
PresetInput preset_input(const std::string& dataset, const Dataset& train, BadImagePolicy policy);

// Throws std::runtime_error naming data.augment / data.image_size when the choice cannot work.
Preset make_preset(const std::string& augment, int image_size, const PresetInput& in);

// The data.augment values: auto, the presets, none (in that order); whether `name` is one of them.
std::vector<std::string> preset_names();
bool is_preset_name(const std::string& name);

// Whether the preset (auto resolved) keeps images at their own size: cifar, cifar_autoaugment, cifar_moco,
// cifar_simclr, mnist.
bool preset_is_exact(const std::string& augment, const PresetInput& in);

}  // namespace tailor::data
