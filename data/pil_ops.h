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
// torchvision to_grayscale(img, 3) (RandomGrayscale): PIL convert("L"), L = (19595 R + 38470 G + 7471 B + 2^15) >> 16
// in integers, copied into the three channels, in place. A one-channel image is left as it is.
void to_grayscale(ImageU8& im);
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

// (data/pil_blur_hsv.cpp)
// img.filter(ImageFilter.BoxBlur(radius)) with `passes` passes (Pillow: 1): per pass and direction (rows, then
// columns), out[x] = (ww * sum_{|k-x| <= r} in[k] + fw * (in[x-r-1] + in[x+r+1]) + 2^23) >> 24 in uint32, r = (int)radius,
// ww = (uint32)(2^24 / (2 radius + 1)) in float, fw = (2^24 - (2r + 1) ww) / 2, indices clamped to the edge pixels.
void box_blur(ImageU8& im, float radius, int passes = 1);
// img.filter(ImageFilter.GaussianBlur(radius = sigma)) (MoCo v2's GaussianBlur): Pillow's three extended box
// blurs (Gwosdek et al. 2011) in float: s2 = sigma^2 / 3, L = sqrt(12 s2 + 1), l = floor((L - 1) / 2),
// a = (2l + 1)(l(l + 1) - 3 s2) / (6 (s2 - (l + 1)^2)), box_blur(l + a, 3). sigma is rounded to float as PIL does.
void gaussian_blur(ImageU8& im, double sigma);
// PIL convert("HSV") / HSV convert("RGB") of n pixels (Convert.c, colorsys.py's formulas in float with
// truncation to 0..255: H = 255 frac(h / 6 + 1), S = 255 (max - min) / max, V = max; back: i = floor(6 H / 255),
// p, q, t = round(V (1 - S'(...)))). in and out may alias.
void rgb_to_hsv(const uint8_t* rgb, uint8_t* hsv, size_t n);
void hsv_to_rgb(const uint8_t* hsv, uint8_t* rgb, size_t n);
// torchvision F.adjust_hue on a PIL image (factor in [-0.5, 0.5]): RGB -> HSV, H += uint8(trunc(255 factor))
// modulo 256, HSV -> RGB, in place (the round trip happens even for a zero shift, as torchvision's). L: unchanged.
void adjust_hue(ImageU8& im, double factor);

}  // namespace tailor::data
