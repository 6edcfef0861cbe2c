#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "data/autoaugment.h"
#include "data/pil_ops.h"
#include "data/presets.h"

namespace tailor::data {

const float kCifarMean[3] = {0.4914f, 0.4822f, 0.4465f}, kCifarStd[3] = {0.2023f, 0.1994f, 0.2010f};
const float kImageNetMean[3] = {0.485f, 0.456f, 0.406f}, kImageNetStd[3] = {0.229f, 0.224f, 0.225f};
const float kINatMean[3] = {0.466f, 0.471f, 0.380f}, kINatStd[3] = {0.195f, 0.194f, 0.192f};

// The presets at their native sizes (data/presets.h holds the rules).
static Preset native(const char* name, int size, const char* dataset) {
  PresetInput in;
  in.dataset = dataset;
  in.height = in.width = size;
  return make_preset(name, size, in);
}

TransformConfig cifar_train_transform() { return native("cifar", 32, "cifar10").train; }
TransformConfig cifar_test_transform() { return native("cifar", 32, "cifar10").eval; }
TransformConfig balms_cifar_train_transform() { return native("cifar_autoaugment", 32, "cifar10").train; }
TransformConfig imagenet_train_transform(bool color_jitter) {
  return native(color_jitter ? "imagenet" : "imagenet_nojitter", 224, "list").train;
}
TransformConfig imagenet_test_transform() { return native("imagenet", 224, "list").eval; }
TransformConfig inat_train_transform() { return native("inat", 224, "inat").train; }
TransformConfig inat_test_transform() { return native("inat", 224, "inat").eval; }

void transform_output_shape(const TransformConfig& cfg, int in_h, int in_w, int* out_h, int* out_w) {
  if (cfg.crop == CropMode::None) {
    *out_h = in_h;
    *out_w = in_w;
  } else {
    *out_h = *out_w = cfg.size;
  }
}

CropBox random_resized_crop_params(int h, int w, double scale_min, double scale_max, double ratio_min,
                                   double ratio_max, CounterRng& rng) {
  const double area = (double)h * w;
  const double lr0 = std::log(ratio_min), lr1 = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * rng.uniform(scale_min, scale_max);
    double ar = std::exp(rng.uniform(lr0, lr1));
    int cw = (int)std::nearbyint(std::sqrt(target * ar));  // Python round(): half to even
    int ch = (int)std::nearbyint(std::sqrt(target / ar));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      CropBox b;
      b.top = (int)rng.below(h - ch + 1);
      b.left = (int)rng.below(w - cw + 1);
      b.height = ch;
      b.width = cw;
      return b;
    }
  }
  double in_ratio = (double)w / h;
  CropBox b;
  if (in_ratio < ratio_min) {
    b.width = w;
    b.height = (int)std::nearbyint(w / ratio_min);
  } else if (in_ratio > ratio_max) {
    b.height = h;
    b.width = (int)std::nearbyint(h * ratio_max);
  } else {
    b.width = w;
    b.height = h;
  }
  b.top = (h - b.height) / 2;
  b.left = (w - b.width) / 2;
  return b;
}

CropBox center_crop_box(int h, int w, int th, int tw) {
  CropBox b;
  b.height = th;
  b.width = tw;
  // A crop larger than the image pads first (left/top gets the floor half), as torchvision's CenterCrop.
  b.top = th > h ? -((th - h) / 2) : (int)std::nearbyint((h - th) / 2.0);
  b.left = tw > w ? -((tw - w) / 2) : (int)std::nearbyint((w - tw) / 2.0);
  return b;
}

void resize_shorter_side(int h, int w, int size, int* out_h, int* out_w) {
  if (w <= h) {
    *out_w = size;
    *out_h = (int)((int64_t)size * h / w);
  } else {
    *out_h = size;
    *out_w = (int)((int64_t)size * w / h);
  }
}

void crop_resize(const ImageView& src, const CropBox& box, int out_h, int out_w, ImageU8& out) {
  const int C = src.channels;
  out.height = out_h;
  out.width = out_w;
  out.channels = C;
  out.data.resize((size_t)out_h * out_w * C);
  const bool inside = box.top >= 0 && box.left >= 0 && box.top + box.height <= src.height &&
                      box.left + box.width <= src.width;
  if (inside) {
    const uint8_t* p = src.data + ((size_t)box.top * src.width + box.left) * C;
    resize_bilinear(p, box.height, box.width, C, (size_t)src.width * C, out_h, out_w, out.data.data());
    return;
  }
  // The box leaves the image (a centre crop larger than the image): zero-fill like PIL's crop.
  std::vector<uint8_t> tmp((size_t)box.height * box.width * C, 0);
  for (int y = 0; y < box.height; ++y) {
    int sy = box.top + y;
    if (sy < 0 || sy >= src.height) continue;
    for (int x = 0; x < box.width; ++x) {
      int sx = box.left + x;
      if (sx < 0 || sx >= src.width) continue;
      std::memcpy(&tmp[((size_t)y * box.width + x) * C], src.data + ((size_t)sy * src.width + sx) * C, (size_t)C);
    }
  }
  resize_bilinear(tmp.data(), box.height, box.width, C, (size_t)box.width * C, out_h, out_w, out.data.data());
}

void color_jitter(ImageU8& im, double brightness, double contrast, double saturation, double hue, CounterRng& rng) {
  if (hue < 0 || hue > 0.5) throw std::runtime_error("ColorJitter: hue " + std::to_string(hue) + " outside [0, 0.5]");
  // The factors are drawn first (b, c, s, h), then the order of the ops: a permutation of the three (hue = 0,
  // the draws of a jitter without hue) or of all four (torchvision's randperm(4)).
  auto factor = [&](double x) { return x > 0 ? rng.uniform(std::max(0.0, 1 - x), 1 + x) : -1; };
  const double fb = factor(brightness), fc = factor(contrast), fs = factor(saturation);
  const double fh = hue > 0 ? rng.uniform(-hue, hue) : 0;
  int order[4] = {0, 1, 2, 3};
  for (int i = hue > 0 ? 3 : 2; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  for (int k : order) {
    if (k == 0 && fb >= 0) adjust_brightness(im, fb);
    if (k == 1 && fc >= 0) adjust_contrast(im, fc);
    if (k == 2 && fs >= 0) adjust_saturation(im, fs);
    if (k == 3 && hue > 0) adjust_hue(im, fh);
  }
}

void cutout(ImageU8& im, int holes, int length, CounterRng& rng) {
  const int H = im.height, W = im.width, C = im.channels;
  for (int n = 0; n < holes; ++n) {
    int y = (int)rng.below(H), x = (int)rng.below(W);
    int y1 = std::clamp(y - length / 2, 0, H), y2 = std::clamp(y + length / 2, 0, H);
    int x1 = std::clamp(x - length / 2, 0, W), x2 = std::clamp(x + length / 2, 0, W);
    for (int yy = y1; yy < y2; ++yy) std::memset(&im.data[((size_t)yy * W + x1) * C], 0, (size_t)(x2 - x1) * C);
  }
}

namespace {
struct NormLut {
  std::vector<float> v;  // channels * 256
};
void build_lut(int C, const std::vector<float>& mean, const std::vector<float>& std, NormLut& lut) {
  if (!mean.empty() && ((int)mean.size() != C || (int)std.size() != C))
    throw std::runtime_error("normalize: mean/std have " + std::to_string(mean.size()) + "/" +
                             std::to_string(std.size()) + " values for " + std::to_string(C) + " channels");
  lut.v.resize((size_t)C * 256);
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < 256; ++i) {
      float x = (float)i / 255.f;
      lut.v[(size_t)c * 256 + i] = mean.empty() ? x : (x - mean[(size_t)c]) / std[(size_t)c];
    }
}
thread_local NormLut tl_lut;
thread_local std::vector<float> tl_mean, tl_std;
thread_local int tl_c = -1;
const NormLut& cached_lut(int C, const std::vector<float>& mean, const std::vector<float>& std) {
  if (tl_c != C || tl_mean != mean || tl_std != std) {
    build_lut(C, mean, std, tl_lut);
    tl_c = C;
    tl_mean = mean;
    tl_std = std;
  }
  return tl_lut;
}
}  // namespace

std::vector<float> normalization_table(int C, const std::vector<float>& mean, const std::vector<float>& std) {
  NormLut lut;
  build_lut(C, mean, std, lut);
  return lut.v;
}

void normalize_to_float(const ImageView& src, bool flip, const std::vector<float>& mean, const std::vector<float>& std,
                        float* out) {
  const int H = src.height, W = src.width, C = src.channels;
  const float* __restrict lut = cached_lut(C, mean, std).v.data();
  if (C == 3) {
    const float* __restrict l0 = lut;
    const float* __restrict l1 = lut + 256;
    const float* __restrict l2 = lut + 512;
    for (int y = 0; y < H; ++y) {
      const uint8_t* __restrict row = src.data + (size_t)y * W * 3;
      float* __restrict o = out + (size_t)y * W * 3;
      if (!flip) {
        for (int x = 0; x < W; ++x) {
          o[x * 3] = l0[row[x * 3]];
          o[x * 3 + 1] = l1[row[x * 3 + 1]];
          o[x * 3 + 2] = l2[row[x * 3 + 2]];
        }
      } else {
        for (int x = 0; x < W; ++x) {
          const uint8_t* p = row + (size_t)(W - 1 - x) * 3;
          o[x * 3] = l0[p[0]];
          o[x * 3 + 1] = l1[p[1]];
          o[x * 3 + 2] = l2[p[2]];
        }
      }
    }
    return;
  }
  for (int y = 0; y < H; ++y) {
    const uint8_t* row = src.data + (size_t)y * W * C;
    float* o = out + (size_t)y * W * C;
    for (int x = 0; x < W; ++x) {
      const uint8_t* p = row + (size_t)(flip ? W - 1 - x : x) * C;
      for (int c = 0; c < C; ++c) o[x * C + c] = lut[c * 256 + p[c]];
    }
  }
}

// RandomCrop with zero padding + optional flip + normalize, straight from the source (no temporaries).
static void fast_pad_crop(const TransformConfig& cfg, const ImageView& src, int top, int left, bool flip, float* out) {
  const int H = src.height, W = src.width, C = src.channels, S = cfg.size;
  const float* lut = cached_lut(C, cfg.mean, cfg.std).v.data();
  for (int y = 0; y < S; ++y) {
    const int sy = top + y;
    float* o = out + (size_t)y * S * C;
    for (int x = 0; x < S; ++x) {
      const int sx = left + (flip ? S - 1 - x : x);
      const bool in = sy >= 0 && sy < H && sx >= 0 && sx < W;
      const uint8_t* p = in ? src.data + ((size_t)sy * W + sx) * C : nullptr;
      for (int c = 0; c < C; ++c) o[x * C + c] = lut[c * 256 + (in ? p[c] : 0)];
    }
  }
}

static void hflip_u8(ImageU8& im) {
  const int W = im.width, C = im.channels;
  for (int y = 0; y < im.height; ++y) {
    uint8_t* row = &im.data[(size_t)y * W * C];
    for (int x = 0; x < W / 2; ++x)
      for (int c = 0; c < C; ++c) std::swap(row[x * C + c], row[(W - 1 - x) * C + c]);
  }
}

void apply_transform(const TransformConfig& cfg, const ImageView& src, CounterRng& rng, float* out,
                     TransformScratch& s) {
  const bool color = (cfg.brightness > 0 || cfg.contrast > 0 || cfg.saturation > 0 || cfg.hue > 0) &&
                     cfg.color_jitter_p > 0;
  const bool extra = color || cfg.grayscale_p > 0 || cfg.blur_p > 0 || cfg.autoaugment_cifar || cfg.cutout_holes > 0;
  ImageU8& im = s.a;
  ImageView cur = src;
  bool flip = false;
  switch (cfg.crop) {
    case CropMode::None:
      break;
    case CropMode::RandomCrop: {
      const int p = cfg.padding, S = cfg.size;
      if (src.height + 2 * p < S || src.width + 2 * p < S)
        throw std::runtime_error("RandomCrop: padded image smaller than the crop size");
      int top = (int)rng.below(src.height + 2 * p - S + 1) - p;
      int left = (int)rng.below(src.width + 2 * p - S + 1) - p;
      flip = cfg.hflip && rng.bernoulli(0.5);
      if (!extra) {
        fast_pad_crop(cfg, src, top, left, flip, out);
        return;
      }
      CropBox b{top, left, S, S};
      crop_resize(src, b, S, S, im);  // same size: a plain (zero-padded) copy
      cur = ImageView{im.data.data(), im.height, im.width, im.channels};
      break;
    }
    case CropMode::RandomResizedCrop: {
      CropBox b = random_resized_crop_params(src.height, src.width, cfg.scale_min, cfg.scale_max, cfg.ratio_min,
                                             cfg.ratio_max, rng);
      crop_resize(src, b, cfg.size, cfg.size, im);
      cur = ImageView{im.data.data(), im.height, im.width, im.channels};
      break;
    }
    case CropMode::ResizeCenterCrop: {
      int rh, rw;
      resize_shorter_side(src.height, src.width, cfg.resize, &rh, &rw);
      CropBox b = center_crop_box(rh, rw, cfg.size, cfg.size);
      if (b.top >= 0 && b.left >= 0) {  // only the pixels the centre crop keeps
        im.height = im.width = cfg.size;
        im.channels = src.channels;
        im.data.resize((size_t)cfg.size * cfg.size * src.channels);
        resize_bilinear_window(src.data, src.height, src.width, src.channels, (size_t)src.width * src.channels, rh,
                               rw, b.top, b.left, cfg.size, cfg.size, im.data.data());
      } else {
        ImageU8& r = s.b;
        crop_resize(src, CropBox{0, 0, src.height, src.width}, rh, rw, r);
        crop_resize(ImageView{r.data.data(), r.height, r.width, r.channels}, b, cfg.size, cfg.size, im);
      }
      cur = ImageView{im.data.data(), im.height, im.width, im.channels};
      break;
    }
    case CropMode::CenterCrop: {
      CropBox b = center_crop_box(src.height, src.width, cfg.size, cfg.size);
      crop_resize(src, b, cfg.size, cfg.size, im);
      cur = ImageView{im.data.data(), im.height, im.width, im.channels};
      break;
    }
  }
  if (cfg.crop != CropMode::RandomCrop) flip = cfg.hflip && rng.bernoulli(0.5);
  if (extra) {
    if (cur.data != im.data.data()) {  // no crop: work on a copy of the source
      im.height = cur.height;
      im.width = cur.width;
      im.channels = cur.channels;
      im.data.assign(cur.data, cur.data + (size_t)cur.height * cur.width * cur.channels);
    }
    if (flip) hflip_u8(im);  // here already: it commutes with the colour ops and the blur (augment.h)
    flip = false;
    if (color && (cfg.color_jitter_p >= 1 || rng.uniform() < cfg.color_jitter_p))
      color_jitter(im, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue, rng);
    if (cfg.grayscale_p > 0 && rng.uniform() < cfg.grayscale_p) to_grayscale(im);
    if (cfg.blur_p > 0 && rng.uniform() < cfg.blur_p)
      gaussian_blur(im, rng.uniform(cfg.blur_sigma_min, cfg.blur_sigma_max));
    if (cfg.autoaugment_cifar) autoaugment_cifar10(im, rng);
    if (cfg.cutout_holes > 0) cutout(im, cfg.cutout_holes, cfg.cutout_length, rng);
    cur = ImageView{im.data.data(), im.height, im.width, im.channels};
  }
  normalize_to_float(cur, flip, cfg.mean, cfg.std, out);
}

}  // namespace tailor::data
