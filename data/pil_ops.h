// uint8 HWC image operations with the arithmetic of Pillow 9 (the library torchvision's PIL transforms
// call), so that augmentations can be checked bit for bit against PIL. Channels: 1 (L) or 3 (RGB).
#pragma once
#include <cstddef>
#include <cstdint>

#include "data/dataset.h"

namespace tailor::data {

// Image.resize((out_w, out_h), BILINEAR) of the src rectangle (row_stride bytes between rows): Pillow's
// two-pass separable resampling with a triangle filter widened by the downscale factor (antialiased),
// 22-bit fixed-point coefficients, horizontal pass first. Writes out_h*out_w*c bytes.
void resize_bilinear(const uint8_t* src, int h, int w, int c, size_t row_stride, int out_h, int out_w, uint8_t* out);
// The wh x ww window at (wy, wx) of that out_h x out_w result (Resize then CenterCrop without computing the
// pixels the crop drops; identical values). Writes wh*ww*c bytes.
void resize_bilinear_window(const uint8_t* src, int h, int w, int c, size_t row_stride, int out_h, int out_w, int wy,
                            int wx, int wh, int ww, uint8_t* out);

// Image.blend(degenerate, img, alpha) into img: trunc(clamp(float(d + alpha * (x - d)), 0, 255)).
void pil_blend(const uint8_t* degenerate, uint8_t* img, size_t n, float alpha);
// ImageEnhance.{Brightness, Contrast, Color, Sharpness}(img).enhance(factor), in place.
void adjust_brightness(ImageU8& im, double factor);
void adjust_contrast(ImageU8& im, double factor);
void adjust_saturation(ImageU8& im, double factor);  // ImageEnhance.Color
void adjust_sharpness(ImageU8& im, double factor);
// ImageOps.{autocontrast (cutoff 0), equalize, posterize, solarize, invert}, per channel, in place.
void autocontrast(ImageU8& im);
void equalize(ImageU8& im);
void posterize(ImageU8& im, int bits);
void solarize(ImageU8& im, double threshold);
void invert(ImageU8& im);
// img.transform(size, AFFINE, m) with NEAREST / BICUBIC sampling: output pixel (x, y) reads the input at
// (m0 (x+.5) + m1 (y+.5) + m2, m3 (x+.5) + m4 (y+.5) + m5); outside pixels get `fill` (c values).
void affine_nearest(ImageU8& im, const double m[6], const uint8_t* fill);
void affine_bicubic(ImageU8& im, const double m[6], const uint8_t* fill);
// img.rotate(degrees) (counter-clockwise, about the centre, NEAREST), outside filled with `fill`.
void rotate_nearest(ImageU8& im, double degrees, const uint8_t* fill);

}  // namespace tailor::data
