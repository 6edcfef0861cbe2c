#include "data/autoaugment.h"

#include <cmath>

#include "data/pil_ops.h"

namespace tailor::data {

using O = AugOp;
const SubPolicy kCifar10Policy[kCifar10PolicyCount] = {
    {0.1, O::Invert, 7, 0.2, O::Contrast, 6},         {0.7, O::Rotate, 2, 0.3, O::TranslateX, 9},
    {0.8, O::Sharpness, 1, 0.9, O::Sharpness, 3},     {0.5, O::ShearY, 8, 0.7, O::TranslateY, 9},
    {0.5, O::AutoContrast, 8, 0.9, O::Equalize, 2},   {0.2, O::ShearY, 7, 0.3, O::Posterize, 7},
    {0.4, O::Color, 3, 0.6, O::Brightness, 7},        {0.3, O::Sharpness, 9, 0.7, O::Brightness, 9},
    {0.6, O::Equalize, 5, 0.5, O::Equalize, 1},       {0.6, O::Contrast, 7, 0.6, O::Sharpness, 5},
    {0.7, O::Color, 7, 0.5, O::TranslateX, 8},        {0.3, O::Equalize, 7, 0.4, O::AutoContrast, 8},
    {0.4, O::TranslateY, 3, 0.2, O::Sharpness, 6},    {0.9, O::Brightness, 6, 0.2, O::Color, 8},
    {0.5, O::Solarize, 2, 0.0, O::Invert, 3},         {0.2, O::Equalize, 0, 0.6, O::AutoContrast, 0},
    {0.2, O::Equalize, 8, 0.6, O::Equalize, 4},       {0.9, O::Color, 9, 0.6, O::Equalize, 6},
    {0.8, O::AutoContrast, 4, 0.2, O::Solarize, 8},   {0.1, O::Brightness, 3, 0.7, O::Color, 0},
    {0.4, O::Solarize, 5, 0.9, O::AutoContrast, 3},   {0.9, O::TranslateY, 9, 0.7, O::TranslateY, 9},
    {0.9, O::AutoContrast, 2, 0.8, O::Solarize, 3},   {0.8, O::Equalize, 8, 0.1, O::Invert, 3},
    {0.7, O::TranslateY, 9, 0.9, O::AutoContrast, 1},
};

// np.linspace(a, b, 10)[i]: i * ((b - a) / 9) + a, the last value exactly b.
static double linspace(double a, double b, int i) { return i == 9 ? b : i * ((b - a) / 9.0) + a; }

double autoaugment_magnitude(AugOp op, int level) {
  switch (op) {
    case O::ShearX: case O::ShearY: return linspace(0, 0.3, level);
    case O::TranslateX: case O::TranslateY: return linspace(0, 150.0 / 331.0, level);
    case O::Rotate: return linspace(0, 30, level);
    case O::Color: case O::Contrast: case O::Sharpness: case O::Brightness: return linspace(0.0, 0.9, level);
    case O::Posterize: return std::nearbyint(linspace(8, 4, level));
    case O::Solarize: return linspace(256, 0, level);
    default: return 0;
  }
}

void apply_aug_op(ImageU8& im, AugOp op, double m, int sign) {
  static const uint8_t fill[3] = {128, 128, 128};
  switch (op) {
    case O::ShearX: {
      double a[6] = {1, m * sign, 0, 0, 1, 0};
      affine_bicubic(im, a, fill);
      break;
    }
    case O::ShearY: {
      double a[6] = {1, 0, 0, m * sign, 1, 0};
      affine_bicubic(im, a, fill);
      break;
    }
    case O::TranslateX: {
      double a[6] = {1, 0, m * im.width * sign, 0, 1, 0};
      affine_nearest(im, a, fill);
      break;
    }
    case O::TranslateY: {
      double a[6] = {1, 0, 0, 0, 1, m * im.height * sign};
      affine_nearest(im, a, fill);
      break;
    }
    case O::Rotate: rotate_nearest(im, m * sign, fill); break;
    case O::Color: adjust_saturation(im, 1 + m * sign); break;
    case O::Posterize: posterize(im, (int)m); break;
    case O::Solarize: solarize(im, m); break;
    case O::Contrast: adjust_contrast(im, 1 + m * sign); break;
    case O::Sharpness: adjust_sharpness(im, 1 + m * sign); break;
    case O::Brightness: adjust_brightness(im, 1 + m * sign); break;
    case O::AutoContrast: autocontrast(im); break;
    case O::Equalize: equalize(im); break;
    case O::Invert: invert(im); break;
  }
}

void autoaugment_cifar10(ImageU8& im, CounterRng& rng) {
  const SubPolicy& sp = kCifar10Policy[rng.below(kCifar10PolicyCount)];
  if (rng.uniform() < sp.p1) apply_aug_op(im, sp.op1, autoaugment_magnitude(sp.op1, sp.mag1), rng.bernoulli(0.5) ? 1 : -1);
  if (rng.uniform() < sp.p2) apply_aug_op(im, sp.op2, autoaugment_magnitude(sp.op2, sp.mag2), rng.bernoulli(0.5) ? 1 : -1);
}

}  // namespace tailor::data
