// Helpers of the augmentation tests: the synthetic image of tests/gen_data_fixtures.py, hex pixels, flips.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/pil_ops.h"

namespace tailor::test {

using data::ImageU8;
using data::ImageView;

inline ImageU8 synth(int w, int h) {
  ImageU8 im;
  im.width = w;
  im.height = h;
  im.channels = 3;
  im.data.resize((size_t)w * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) im.data[((size_t)y * w + x) * 3 + c] = (uint8_t)((37 * x + 91 * y + 53 * c + 7 * ((x * y) % 17)) % 256);
  return im;
}

inline std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = (uint8_t)std::stoi(s.substr(2 * i, 2), nullptr, 16);
  return out;
}

inline ImageView view(const ImageU8& im) { return ImageView{im.data.data(), im.height, im.width, im.channels}; }

inline int max_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return 999;
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs((int)a[i] - (int)b[i]));
  return m;
}

inline void hflip(ImageU8& im) {
  ImageU8 f = im;
  const int W = im.width, C = im.channels;
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < W; ++x)
      for (int c = 0; c < C; ++c) f.data[((size_t)y * W + x) * C + c] = im.data[((size_t)y * W + (W - 1 - x)) * C + c];
  im = f;
}

// The four ColorJitter ops by index (torchvision's fn_idx: 0 brightness, 1 contrast, 2 saturation, 3 hue).
inline void jitter_op(ImageU8& im, int k, const double f[4]) {
  if (k == 0) adjust_brightness(im, f[0]);
  if (k == 1) adjust_contrast(im, f[1]);
  if (k == 2) adjust_saturation(im, f[2]);
  if (k == 3) adjust_hue(im, f[3]);
}

}  // namespace tailor::test
