// Pillow 9's box and Gaussian blurs (libImaging/BoxBlur.c) and its RGB <-> HSV conversions (Convert.c), with
// torchvision's adjust_hue on top; declared in data/pil_ops.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "data/pil_ops.h"

namespace tailor::data {

// ---------------------------------------------------------------- blur (Pillow BoxBlur.c)
namespace {

// One pass along n rows of `lanes` independent lines each (row k of the lines at d + k * stride, the lanes
// contiguous; the result replaces d). Per line: the sliding window sum acc(x) = sum_{k = x-r}^{x+r} in[clamp(k)]
// (edges replicated, as ImagingLineBoxBlur's three loops, whose uint32 sums are exact and equal),
// out[x] = (acc(x) ww + (in[clamp(x-r-1)] + in[clamp(x+r+1)]) fw + 2^23) >> 24, all in uint32.
void box_pass(uint8_t* d, int n, size_t lanes, size_t stride, int r, uint32_t ww, uint32_t fw,
              std::vector<uint32_t>& acc_buf, std::vector<uint8_t>& tmp) {
  const int last = n - 1;
  auto row = [&](int k) -> const uint8_t* { return d + (size_t)std::clamp(k, 0, last) * stride; };
  acc_buf.resize(lanes);
  tmp.resize((size_t)n * lanes);
  uint32_t* __restrict acc = acc_buf.data();
  // acc of x = -1: r + 1 copies of row 0, rows 0 .. edge_a - 2, and the rest of the window past the end
  const int edge_a = std::min(r + 1, n);
  const uint8_t* first = row(0);
  const uint8_t* end = row(last);
  for (size_t j = 0; j < lanes; ++j)
    acc[j] = first[j] * (uint32_t)(r + 1) + end[j] * (uint32_t)(r - edge_a + 1);
  for (int k = 0; k < edge_a - 1; ++k) {
    const uint8_t* p = row(k);
    for (size_t j = 0; j < lanes; ++j) acc[j] += p[j];
  }
  for (int x = 0; x < n; ++x) {
    const uint8_t* __restrict sub = row(x - r - 1);
    const uint8_t* __restrict add = row(x + r);
    const uint8_t* __restrict far = row(x + r + 1);
    uint8_t* __restrict o = tmp.data() + (size_t)x * lanes;
    for (size_t j = 0; j < lanes; ++j) {
      acc[j] += (uint32_t)add[j] - (uint32_t)sub[j];
      const uint32_t bulk = acc[j] * ww + ((uint32_t)sub[j] + (uint32_t)far[j]) * fw;
      o[j] = (uint8_t)((bulk + (1u << 23)) >> 24);
    }
  }
  for (int x = 0; x < n; ++x) std::memcpy(d + (size_t)x * stride, tmp.data() + (size_t)x * lanes, lanes);
}

// out (W x H) = the transpose of in (H x W), C bytes per pixel.
template <int C>
void transpose_px(const uint8_t* __restrict in, int h, int w, uint8_t* __restrict out) {
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < C; ++c) out[((size_t)x * h + y) * C + c] = in[((size_t)y * w + x) * C + c];
}

void transpose(const uint8_t* in, int h, int w, int c, uint8_t* out) {
  if (c == 3) return transpose_px<3>(in, h, w, out);
  if (c == 1) return transpose_px<1>(in, h, w, out);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) std::memcpy(out + ((size_t)x * h + y) * c, in + ((size_t)y * w + x) * c, (size_t)c);
}

}  // namespace

void box_blur(ImageU8& im, float radius, int passes) {
  if (passes < 1) throw std::runtime_error("box_blur: the number of passes must be at least 1");
  const int H = im.height, W = im.width, C = im.channels;
  if (H <= 0 || W <= 0) return;
  const int r = (int)radius;
  const uint32_t ww = (uint32_t)(16777216.0f / (radius * 2 + 1));  // float division, truncated
  const uint32_t fw = ((1u << 24) - (uint32_t)(r * 2 + 1) * ww) / 2;
  // All passes along the rows, then all along the columns (Pillow blurs rows, transposes, blurs rows again).
  // A pass runs down the columns, every column at once: the row passes run on the transposed image.
  thread_local std::vector<uint32_t> acc;  // reused: fresh buffers of this size would cost page faults per call
  thread_local std::vector<uint8_t> tmp, t;
  t.resize((size_t)W * H * C);
  transpose(im.data.data(), H, W, C, t.data());
  for (int p = 0; p < passes; ++p) box_pass(t.data(), W, (size_t)H * C, (size_t)H * C, r, ww, fw, acc, tmp);
  transpose(t.data(), W, H, C, im.data.data());
  for (int p = 0; p < passes; ++p) box_pass(im.data.data(), H, (size_t)W * C, (size_t)W * C, r, ww, fw, acc, tmp);
}

// Pillow's float arithmetic is compiled without fused multiply-add (see pil_ops.cpp). From here on: the box blur
// above is integer arithmetic (its one float expression, radius * 2 + 1, has an exact product), and the pragma
// would keep GCC from vectorising its passes.
#pragma GCC optimize("fp-contract=off")

void gaussian_blur(ImageU8& im, double sigma) {
  // ImagingGaussianBlur with Pillow's float / double mix (C promotion rules), three passes
  const int passes = 3;
  const float radius = (float)sigma;
  const float sigma2 = radius * radius / passes;
  const float L = (float)std::sqrt(12.0 * sigma2 + 1.0);
  const float l = (float)std::floor((L - 1.0) / 2.0);
  float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
  a /= 6 * (sigma2 - (l + 1) * (l + 1));
  box_blur(im, l + a, passes);
}

// ---------------------------------------------------------------- HSV (Pillow Convert.c)
namespace {

inline uint8_t clip8(int v) { return (uint8_t)(v <= 0 ? 0 : (v < 256 ? v : 255)); }

// C's round() (half away from zero) of 0 <= y < 2^52, without the library call: y - floor(y) is exact.
inline int round_nonneg(double y) {
  const double f = std::floor(y);
  return (int)f + (int)(y - f >= 0.5);  // no branch: the half is a coin toss on real images
}

// rgb2hsv_row: h in [-1, 5] from the channel distances to the maximum (which channel is the maximum picks the
// formula), stored as trunc(255 frac(h / 6 + 1)); S = trunc(255 (max - min) / max), V = max. Grey: H = S = 0.
inline void rgb_to_hsv_px(const uint8_t* in, uint8_t* out) {
  const uint8_t r = in[0], g = in[1], b = in[2];
  const uint8_t maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
  uint8_t uh = 0, us = 0;
  if (minc != maxc) {
    const float cr = (float)(maxc - minc);
    const float s = cr / (float)maxc;
    const float rc = (float)(maxc - r) / cr, gc = (float)(maxc - g) / cr, bc = (float)(maxc - b) / cr;
    float h;
    if (r == maxc) h = bc - gc;
    else if (g == maxc) h = (float)(2.0 + rc - bc);
    else h = (float)(4.0 + gc - rc);
    const double x = h / 6.0 + 1.0;  // in [5/6, 11/6]: fmod(x, 1.0) is x - 1 from 1 on (exact)
    h = (float)(x >= 1.0 ? x - 1.0 : x);
    uh = clip8((int)(h * 255.0));
    us = clip8((int)(s * 255.0));
  }
  out[0] = uh;
  out[1] = us;
  out[2] = maxc;
}

// hsv2rgb's per-value parts, once: the sector i = floor(6 H / 255) and its remainder f of each H, s = S / 255 of
// each S, with Convert.c's float / double steps (the per-pixel arithmetic below is then division-free).
struct HsvTables {
  int sector[256];
  float frac[256], sat[256];
  HsvTables() {
    for (int k = 0; k < 256; ++k) {
      const double h6 = (float)k * 6.0 / 255.0;
      const int i = (int)h6;  // floor of a non-negative value
      sector[k] = i % 6;
      frac[k] = (float)(h6 - (float)i);
      sat[k] = (float)((float)k / 255.0);
    }
  }
};

const HsvTables& hsv_tables() {
  static const HsvTables t;
  return t;
}

// hsv2rgb: p = round(V (1 - s)), q = round(V (1 - s f)) (s f in float), t = round(V (1 - s (1 - f))), round half
// away from zero; (R, G, B) = (V, t, p), (q, V, p), (p, V, t), (p, q, V), (t, p, V), (V, p, q) by sector.
inline void hsv_to_rgb_px(const HsvTables& tb, const uint8_t* in, uint8_t* out) {
  const uint8_t h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  const float f = tb.frac[h], fs = tb.sat[s];
  const uint8_t p = clip8(round_nonneg((float)v * (1.0 - fs)));
  const uint8_t q = clip8(round_nonneg((float)v * (1.0 - fs * f)));
  const uint8_t t = clip8(round_nonneg((float)v * (1.0 - fs * (1.0 - f))));
  static const uint8_t pick[6][3] = {{0, 3, 1}, {2, 0, 1}, {1, 0, 3}, {1, 2, 0}, {3, 1, 0}, {0, 1, 2}};
  const uint8_t vals[4] = {v, p, q, t};
  const uint8_t* k = pick[tb.sector[h]];
  out[0] = vals[k[0]];
  out[1] = vals[k[1]];
  out[2] = vals[k[2]];
}

}  // namespace

void rgb_to_hsv(const uint8_t* rgb, uint8_t* hsv, size_t n) {
  for (size_t i = 0; i < n; ++i) rgb_to_hsv_px(rgb + i * 3, hsv + i * 3);
}

void hsv_to_rgb(const uint8_t* hsv, uint8_t* rgb, size_t n) {
  const HsvTables& tb = hsv_tables();
  for (size_t i = 0; i < n; ++i) hsv_to_rgb_px(tb, hsv + i * 3, rgb + i * 3);
}

void adjust_hue(ImageU8& im, double factor) {
  if (factor < -0.5 || factor > 0.5) throw std::runtime_error("adjust_hue: factor " + std::to_string(factor) +
                                                              " outside [-0.5, 0.5]");
  if (im.channels != 3) return;
  const uint8_t shift = (uint8_t)(int)(factor * 255);  // numpy's uint8 cast: truncation, then modulo 256
  const HsvTables& tb = hsv_tables();
  uint8_t* p = im.data.data();
  for (size_t i = 0, np = (size_t)im.height * im.width; i < np; ++i, p += 3) {
    uint8_t hsv[3];
    rgb_to_hsv_px(p, hsv);
    hsv[0] = (uint8_t)(hsv[0] + shift);
    hsv_to_rgb_px(tb, hsv, p);
  }
}

}  // namespace tailor::data
