#include "data/presets.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "data/decode.h"

namespace tailor::data {

namespace {

[[noreturn]] void preset_fail(const std::string& msg) { throw std::runtime_error(msg); }

void set_norm(TransformConfig& t, const float* m, const float* s) {
  t.mean.assign(m, m + 3);
  t.std.assign(s, s + 3);
}

// SimCLR's colour distortion: RandomApply([ColorJitter(x, x, x, hue)], p = 0.8) + RandomGrayscale(p = 0.2).
void set_colour_distortion(TransformConfig& t, double x, double hue) {
  t.brightness = t.contrast = t.saturation = x;
  t.hue = hue;
  t.color_jitter_p = 0.8;
  t.grayscale_p = 0.2;
}

const float kMnistMean[1] = {0.1307f}, kMnistStd[1] = {0.3081f};
const float kFashionMean[1] = {0.2860f}, kFashionStd[1] = {0.3530f};

std::string auto_preset(const PresetInput& in) {
  if (in.dataset == "fashion_mnist" || in.dataset == "mnist") return "mnist";
  if (in.dataset == "cifar10" || in.dataset == "cifar100") return "cifar";
  if (in.dataset == "inat") return "inat";
  return in.height > 0 && in.height <= 64 && in.width <= 64 ? "cifar" : "imagenet";
}

}  // namespace

std::vector<std::string> preset_names() {
  return {"auto",    "cifar",             "cifar_autoaugment", "cifar_moco", "cifar_simclr", "mnist",
          "imagenet", "imagenet_nojitter", "inat",              "moco_v2",    "simclr",       "none"};
}

bool is_preset_name(const std::string& name) {
  const std::vector<std::string> names = preset_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

PresetInput preset_input(const std::string& dataset, const Dataset& train, BadImagePolicy policy) {
  PresetInput in{dataset, train.height, train.width, train.channels > 0 ? train.channels : 3};
  if (train.in_memory()) return in;
  for (const auto& path : train.paths) {
    try {
      const ImageU8 first = decode_image_file(path);
      in.height = first.height;
      in.width = first.width;
      return in;
    } catch (const std::runtime_error&) {
      if (policy == BadImagePolicy::Error) throw;
    }
  }
  throw std::runtime_error(train.name + ": no training image decodes (data.on_bad_image skip left none)");
}

bool preset_is_exact(const std::string& augment, const PresetInput& in) {
  const std::string a = augment == "auto" || augment == "none" ? auto_preset(in) : augment;
  return a == "cifar" || a == "cifar_autoaugment" || a == "cifar_moco" || a == "cifar_simclr" || a == "mnist";
}

Preset make_preset(const std::string& augment, int image_size, const PresetInput& in) {
  if (augment == "none") {  // the auto preset's evaluation transform, in training too
    Preset p = make_preset("auto", image_size, in);
    p.name = "none (" + p.name + " evaluation transform)";
    p.train = p.eval;
    return p;
  }
  Preset p;
  p.name = augment == "auto" ? auto_preset(in) : augment;
  p.exact = preset_is_exact(p.name, in);
  const bool mnist_like = in.dataset == "fashion_mnist" || in.dataset == "mnist";
  if (p.name == "mnist" && !mnist_like)
    preset_fail("data.augment mnist is for the one-channel IDX datasets (fashion_mnist, mnist), not " + in.dataset +
                ", whose images are read as 3 channels (grey ones repeated): use auto (cifar for images of at most 64 "
                "pixels a side, imagenet above) or a preset by name");
  if (mnist_like && p.name != "mnist" && p.name != "none")
    preset_fail("data.augment " + p.name + " does not fit 1-channel 28x28 " + in.dataset + " images (use mnist or none)");
  const std::string images = std::to_string(in.height) + "x" + std::to_string(in.width);
  if (p.exact) {
    // the images are used at their own size: S is theirs
    p.size = image_size > 0 ? image_size : in.height;
    if (in.height > 0 && (in.height != p.size || in.width != p.size)) {
      if (image_size > 0 && in.height == in.width)
        preset_fail("data.image_size " + std::to_string(image_size) + " with data.augment " + p.name +
                    ", but the training images are " + images + ": " + p.name +
                    " keeps images as they are (no resize); set data.image_size " + std::to_string(in.height) +
                    " (or 0: the images' own size), or use a resizing preset (imagenet)");
      preset_fail("data.augment " + p.name + " keeps images as they are and needs square images of one size, but "
                  "the training images are " + images + ": use a resizing preset (data.augment imagenet with "
                  "data.image_size S) or resize the files");
    }
    if (p.size <= 0) preset_fail("data.augment " + p.name + ": the images have no single size; set data.image_size");
  } else {
    p.size = image_size > 0 ? image_size : 224;
  }
  const int S = p.size;
  TransformConfig& t = p.train;
  TransformConfig& e = p.eval;
  if (p.name == "cifar" || p.name == "cifar_autoaugment" || p.name == "cifar_moco" || p.name == "cifar_simclr") {
    t.crop = CropMode::RandomCrop;
    t.size = S;
    t.padding = std::max(1, S / 8);
    t.hflip = true;
    if (p.name == "cifar_autoaugment") {
      t.autoaugment_cifar = true;
      t.cutout_holes = 1;
      t.cutout_length = std::max(1, S / 2);
    }
    if (p.name == "cifar_moco" || p.name == "cifar_simclr") set_colour_distortion(t, 0.4, 0.1);
    set_norm(t, kCifarMean, kCifarStd);
    set_norm(e, kCifarMean, kCifarStd);
  } else if (p.name == "mnist") {
    const bool fashion = in.dataset == "fashion_mnist";
    t.crop = CropMode::RandomCrop;
    t.size = S;
    t.padding = std::max(1, S / 14);
    t.hflip = fashion;  // garments are left-right symmetric; digits are not
    t.mean = e.mean = {fashion ? kFashionMean[0] : kMnistMean[0]};
    t.std = e.std = {fashion ? kFashionStd[0] : kMnistStd[0]};
  } else if (p.name == "imagenet" || p.name == "imagenet_nojitter" || p.name == "inat" || p.name == "moco_v2" ||
             p.name == "simclr") {
    t.crop = CropMode::RandomResizedCrop;
    t.size = S;
    t.hflip = true;
    if (p.name == "imagenet") t.brightness = t.contrast = t.saturation = 0.4;
    if (p.name == "moco_v2") {
      t.scale_min = 0.2;
      set_colour_distortion(t, 0.4, 0.1);
      t.blur_p = 0.5;
      t.blur_sigma_min = 0.1;
      t.blur_sigma_max = 2.0;
    }
    if (p.name == "simclr") set_colour_distortion(t, 0.8, 0.2);
    e.crop = CropMode::ResizeCenterCrop;
    e.size = S;
    e.resize = (int)std::lround(S * 256.0 / 224.0);
    const bool inat = p.name == "inat";
    set_norm(t, inat ? kINatMean : kImageNetMean, inat ? kINatStd : kImageNetStd);
    set_norm(e, inat ? kINatMean : kImageNetMean, inat ? kINatStd : kImageNetStd);
  } else {
    preset_fail("data.augment: unknown preset '" + p.name + "'");
  }
  return p;
}

}  // namespace tailor::data
