// Per-sample augmentation: uint8 HWC in, float HWC out (one row of an NHWC batch).
//
// Order of the ops (torchvision's Compose order in the reference recipes; MoCo v2's main_moco.py
// `augmentation` list and SimCLR's colour distortion for the colour ops):
//   crop (RandomCrop with zero padding | RandomResizedCrop | Resize(shorter side)+CenterCrop | CenterCrop)
//   -> RandomApply([ColorJitter(brightness, contrast, saturation, hue)], color_jitter_p)
//   -> RandomGrayscale(grayscale_p) -> RandomApply([GaussianBlur(sigma ~ U[blur_sigma_min, blur_sigma_max])], blur_p)
//   -> horizontal flip (p = 0.5) -> AutoAugment(CIFAR-10 policy) -> Cutout -> ToTensor+Normalize.
// The flip is applied right after the crop: every op between the crop and the flip above commutes with it bit for
// bit (pointwise colour maps, the contrast mean over the whole image, the mirror-symmetric box blur), so the
// output equals flipping after the blur as MoCo v2 does, and equals crop -> flip -> ColorJitter of the recipes
// that jitter after the flip (Decoupling's ImageNet transform).
//
// Random draws, in this order, from the CounterRng passed in (the loader derives it from (seed, epoch, position,
// view)); a draw is made only where its op is enabled:
//   1. crop: RandomCrop top = below(H + 2p - S + 1), left = below(W + 2p - S + 1); RandomResizedCrop: up to 10
//      attempts of (area fraction, log-ratio) and then (top, left) of the accepted box (none for the fallback)
//   2. flip = uniform() < 0.5                                       (hflip)
//   3. ColorJitter (any strength > 0 and color_jitter_p > 0): applied = uniform() < color_jitter_p, drawn only when
//      0 < color_jitter_p < 1; when applied: the factors b, c, s ~ U[max(0, 1 - x), 1 + x] and h ~ U[-hue, hue] (each
//      only when its strength is > 0), then the order: a Fisher-Yates permutation of the 3 ops (hue = 0) or of
//      the 4 ops (hue > 0) with j = below(i + 1) for i = n-1 .. 1
//   4. grayscale = uniform() < grayscale_p                          (grayscale_p > 0)
//   5. blur = uniform() < blur_p, then sigma = U[blur_sigma_min, blur_sigma_max] when it blurs   (blur_p > 0)
//   6. AutoAugment's draws (data/autoaugment.h), 7. Cutout's hole centres (y, x) per hole
// With the defaults (color_jitter_p = 1, hue = grayscale_p = blur_p = 0) the draws are those of the transforms
// without these options, so earlier configurations give the same pixels.
// Geometry and colour ops use Pillow's arithmetic (data/pil_ops.h), so a transform with given random
// parameters equals the PIL pipeline bit for bit (checked against Pillow in tests/test_data_augment.cpp).
// Normalisation is ((float)v / 255 - mean[c]) / std[c] in float32, as ToTensor + Normalize.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/rng.h"

namespace tailor::data {

enum class CropMode { None, RandomCrop, RandomResizedCrop, ResizeCenterCrop, CenterCrop };

struct TransformConfig {
  CropMode crop = CropMode::None;
  int size = 32;                          // output side (square) of every crop mode
  int padding = 4;                        // RandomCrop: zero padding on each side
  int resize = 256;                       // ResizeCenterCrop: shorter side before the centre crop
  double scale_min = 0.08, scale_max = 1.0;          // RandomResizedCrop area fraction
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  // RandomResizedCrop aspect ratio
  bool hflip = false;
  double brightness = 0, contrast = 0, saturation = 0;  // ColorJitter strengths (factor ~ U[max(0,1-s), 1+s])
  double hue = 0;                         // ColorJitter hue strength: factor ~ U[-hue, hue], hue <= 0.5
  double color_jitter_p = 1;              // RandomApply([ColorJitter], p)
  double grayscale_p = 0;                 // RandomGrayscale(p): L = PIL convert("L") in all three channels
  double blur_p = 0;                      // RandomApply([GaussianBlur(sigma)], p) (PIL ImageFilter.GaussianBlur)
  double blur_sigma_min = 0.1, blur_sigma_max = 2.0;
  bool autoaugment_cifar = false;         // AutoAugment CIFAR-10 policy (BALMS recipes)
  int cutout_holes = 0, cutout_length = 16;
  std::vector<float> mean, std;           // per channel, 0..1 scale; empty = plain v / 255
};

extern const float kCifarMean[3], kCifarStd[3];        // (0.4914, 0.4822, 0.4465) / (0.2023, 0.1994, 0.2010)
extern const float kImageNetMean[3], kImageNetStd[3];  // (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225)
extern const float kINatMean[3], kINatStd[3];          // (0.466, 0.471, 0.380) / (0.195, 0.194, 0.192)

// The presets of data/presets.h at their native sizes:
TransformConfig cifar_train_transform();        // RandomCrop(32, 4) + flip + normalize
TransformConfig cifar_test_transform();         // normalize
TransformConfig balms_cifar_train_transform();  // RandomCrop(32, 4) + flip + AutoAugment + Cutout(1, 16) + normalize
TransformConfig imagenet_train_transform(bool color_jitter = true);  // RRC 224 + flip (+ jitter 0.4) + normalize
TransformConfig imagenet_test_transform();      // Resize 256 + CenterCrop 224 + normalize
TransformConfig inat_train_transform();         // RRC 224 + flip, iNat mean/std
TransformConfig inat_test_transform();

// Output (h, w) for an input of (in_h, in_w); the crop modes give size x size.
void transform_output_shape(const TransformConfig& cfg, int in_h, int in_w, int* out_h, int* out_w);

// ToTensor + Normalize as a table: entry c * 256 + v is channel c's value for the byte v (what every
// transform above writes), for a device kernel to gather from.
std::vector<float> normalization_table(int C, const std::vector<float>& mean, const std::vector<float>& std);

struct TransformScratch {  // per-thread reusable buffers
  ImageU8 a, b;
};

// Writes out_h * out_w * channels floats (HWC) to `out`.
void apply_transform(const TransformConfig& cfg, const ImageView& src, CounterRng& rng, float* out,
                     TransformScratch& scratch);

// ---- pieces, exposed for tests
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
};
// torchvision RandomResizedCrop.get_params: 10 attempts, then the centre crop clamped to the ratio range.
CropBox random_resized_crop_params(int h, int w, double scale_min, double scale_max, double ratio_min,
                                   double ratio_max, CounterRng& rng);
// torchvision CenterCrop offsets: int(round((h - th) / 2)) with Python's round-half-even.
CropBox center_crop_box(int h, int w, int th, int tw);
// torchvision Resize(size) with an int: shorter side -> size, longer -> int(size * long / short).
void resize_shorter_side(int h, int w, int size, int* out_h, int* out_w);
// Crops `box` from src (zero-filled where it leaves the image) and resizes to out_h x out_w (PIL bilinear).
void crop_resize(const ImageView& src, const CropBox& box, int out_h, int out_w, ImageU8& out);
// ColorJitter: the factors, then the ops in a random order (torchvision's randperm over its four ops; the draws
// of step 3 above). hue in [0, 0.5].
void color_jitter(ImageU8& im, double brightness, double contrast, double saturation, double hue, CounterRng& rng);
// Cutout (DeVries & Taylor): `holes` squares of side `length` centred at uniform pixels, clipped, set to 0.
void cutout(ImageU8& im, int holes, int length, CounterRng& rng);
// ToTensor + Normalize (+ optional horizontal flip) into out.
void normalize_to_float(const ImageView& src, bool flip, const std::vector<float>& mean, const std::vector<float>& std,
                        float* out);

}  // namespace tailor::data
